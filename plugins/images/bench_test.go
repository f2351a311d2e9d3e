//go:build !wasip1

package main

import (
	"bytes"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// BenchmarkGenerateImage measures one generate_image call of the real
// plugin under the fake host against a loopback fake images API answering
// one large PNG (1024x1024, about 3 MiB, about 4 MiB of base64 JSON): the
// host HTTP round trip with the answer kept host-side, the bulk read of
// the JSON into the plugin, JSON decoding, base64 decoding, the header
// read and blob_create of the image. Bytes/s is of the decoded image.
func BenchmarkGenerateImage(b *testing.B) {
	h, _ := setup(b, apiImages, plugintest.Options{MaxResponseBytes: 32 << 20})
	want := bigPNG()
	req := abi.ImageRequest{Prompt: "a big cat", Model: "big"}
	b.SetBytes(int64(len(want)))
	b.ReportAllocs()
	for b.Loop() {
		res := h.Call(abi.GenerateImageExport, req)
		if res.Err != nil || res.Trap != nil {
			b.Fatalf("generate_image: %v %v", res.Err, res.Trap)
		}
		found := false
		for _, blob := range res.Blobs {
			found = found || bytes.Equal(blob, want)
		}
		if !found {
			b.Fatal("the image did not come back intact")
		}
	}
}
