// Package abijson encodes and decodes the ABI's wire types (package abi)
// without reflection, for plugins compiled to WebAssembly.
//
// Why it exists: a Go plugin runs under wazero with the host's call timeout
// on, which makes every taken branch of Go-compiled wasm an exit from the
// machine code to check the timeout (Go's wasm backend jumps between basic
// blocks through one loop per function, and wazero checks at every loop
// header). encoding/json, which walks its input a byte at a time through
// function calls, spends about 0.5 ms decoding a 1 KiB chat request that
// way. The code here reads and writes strings 8 bytes per step and keeps
// branches few, so the same request takes a few microseconds; see
// docs/performance.md.
//
// Every function gives exactly what encoding/json gives: the Append
// functions write the same bytes as json.Marshal, and the Decode functions
// return the same value (or the same error) as json.Unmarshal into a zero
// value. Input the fast path does not handle (null, keys that differ only
// in case, duplicate keys, numbers out of range, invalid JSON) is handed to
// encoding/json. Decoded strings share memory with the input: do not change
// the input slice afterwards.
//
// The SDK uses it for you; plugin authors need it only for a provider's
// own JSON on the hot path: Decoder (with OptFloat, OptInt, OptInt64 and
// OptBool for pointer fields) to read replies, AppendString, AppendFloat,
// AppendOptFloat and AppendOptInt to build requests by hand.
package abijson
