//go:build !wasip1

package main

import (
	"fmt"
	"os"
)

// main exists on native platforms only so `go build ./...` and the
// host-side tests of the request logic compile; the plugin itself is
// built with GOOS=wasip1 (see main.go).
func main() {
	fmt.Fprintln(os.Stderr, "images is a tzurot plugin: build it with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o images.wasm .")
	os.Exit(2)
}
