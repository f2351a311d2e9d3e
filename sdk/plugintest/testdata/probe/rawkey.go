//go:build wasip1

package main

import (
	"github.com/extism/go-pdk"

	"github.com/tzurot-go/tzurot/sdk"
)

// The SDK never names a slot (plugins.toml binds it). This raw import lets
// the probe try to read another slot, to show the host refuses.
//
//go:wasmimport tzurot:host/v1 api_key
func rawAPIKey(slot uint64) uint64

//go:wasmexport key_for_slot
func keyForSlot() int32 {
	return sdk.Handle(func(slot string) (Result, error) {
		m := pdk.AllocateString(slot)
		off := rawAPIKey(m.Offset())
		if off == 0 {
			return Result{}, nil
		}
		k := pdk.FindMemory(off)
		return Result{Key: string(k.ReadBytes()), HasKey: true}, nil
	})
}
