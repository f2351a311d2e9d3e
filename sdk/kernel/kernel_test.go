//go:build !wasip1

package kernel_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// lengths covers every remainder mod 8 and 64 on both sides of the
// unrolled loops, the under-8 byte path and a few KiB.
var lengths = func() []int {
	var l []int
	for n := 0; n <= 140; n++ {
		l = append(l, n)
	}
	return append(l, 1023, 1024, 1025, 4099)
}()

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestBytesCrossUnchanged(t *testing.T) {
	wasm := plugintest.Build(t, "testdata/roundtrip")
	keys := map[string]string{}
	for _, n := range lengths {
		if n > 0 {
			keys[fmt.Sprint("user-", n)] = string(bytes.Repeat([]byte("k"), n-1)) + "!"
		}
	}
	config := map[string]string{"empty": ""}
	for _, n := range lengths {
		if n > 0 {
			config[fmt.Sprint("key-", n)] = string(bytes.Repeat([]byte("v"), n))
		}
	}
	h := plugintest.New(t, wasm, plugintest.Options{Keys: keys, Config: config})
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range lengths {
		in := randomBytes(r, n)

		res := h.Call("echo", in)
		if res.Trap != nil || res.Err != nil || !bytes.Equal(res.Output, in) {
			t.Fatalf("echo of %d bytes: got %d bytes back (%v %v)", n, len(res.Output), res.Trap, res.Err)
		}

		text := string(bytes.ReplaceAll(in, []byte{0}, []byte{1})) // emit is text; keep it non-empty-safe
		res = h.Call("emit", text)
		if n == 0 {
			if len(res.Chunks) > 1 || (len(res.Chunks) == 1 && res.Chunks[0] != "") {
				t.Fatalf("emit of 0 bytes: chunks %q", res.Chunks)
			}
		} else if res.Trap != nil || len(res.Chunks) != 1 || res.Chunks[0] != text {
			t.Fatalf("emit of %d bytes: host got %d chunks (%v)", n, len(res.Chunks), res.Trap)
		}

		if n == 0 {
			continue
		}
		want := keys[fmt.Sprint("user-", n)]
		res = h.As(fmt.Sprint("user-", n)).Call("key", nil)
		if res.Trap != nil || string(res.Output) != want {
			t.Fatalf("key of %d bytes: got %q (%v)", n, res.Output, res.Trap)
		}
	}
	if res := h.As("nobody").Call("key", nil); string(res.Output) != "none" {
		t.Fatalf("no key: got %q", res.Output)
	}
	for name, want := range config {
		if want == "" {
			want = "absent"
		}
		if res := h.Call("config", name); string(res.Output) != want {
			t.Fatalf("config %s: got %d bytes, want %d", name, len(res.Output), len(want))
		}
	}
	if res := h.Call("config", "missing"); string(res.Output) != "absent" {
		t.Fatalf("missing config: got %q", res.Output)
	}
}
