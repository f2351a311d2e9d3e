// Package sdk is what a Go plugin author imports to write a tzurot plugin.
//
// It wraps github.com/extism/go-pdk so that a provider plugin is a few dozen
// lines: the SDK reads the JSON input, calls your function, writes the JSON
// output or a typed error, and offers the host functions of ABI v1
// (docs/plugin-abi.md) as plain Go calls:
//
//	//go:wasmexport describe
//	func describe() int32 { return sdk.Describe(abi.Description{Name: "echo", ...}) }
//
//	//go:wasmexport chat
//	func chat() int32 {
//		return sdk.Handle(func(req abi.ChatRequest) (abi.ChatResponse, error) {
//			return abi.ChatResponse{Content: req.Messages[len(req.Messages)-1].Content}, nil
//		})
//	}
//
//	func main() {}
//
// Importing the package also exports the ABI marker (tzurot_abi_v1), so a
// plugin never forgets it. Build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// Speed: under the host's call timeout every taken branch of a Go plugin
// costs a deadline check (docs/performance.md), so reflection-heavy code
// such as encoding/json runs about 100 times slower than natively. The SDK
// therefore handles the ABI's JSON with package abijson and moves bytes with
// package kernel; for a provider's own JSON on the hot path, use
// abijson.Decoder and abijson.AppendString (see plugins/openai/wire.go),
// and send large bodies as blobs.
//
// Package provider holds what provider plugins share when they turn a
// provider's answer into a user's words (masking key-shaped text, quoting
// a piece of a body).
//
// Everything that touches wasm builds only for GOOS=wasip1; the helpers in
// this file's siblings without a build constraint (errors) build anywhere so
// plugin logic can be unit-tested with a normal `go test`.
package sdk
