// Package plugintest runs a built plugin .wasm under a fake host inside
// `go test`: fake keys, captured usage and logs, and HTTP sent to loopback
// servers the test starts. It runs on the host side (normal GOOS), never
// inside wasm.
package plugintest
