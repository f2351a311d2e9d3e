package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wasmModule assembles a minimal module that imports one function of
// hostNamespace and exports the given functions, each () -> i32 returning 0:
// enough to look like a plugin built for another ABI major.
func wasmModule(hostNamespace string, exports ...string) []byte {
	vec := func(items ...[]byte) []byte {
		out := []byte{byte(len(items))}
		for _, it := range items {
			out = append(out, it...)
		}
		return out
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	section := func(id byte, body []byte) []byte { return append([]byte{id, byte(len(body))}, body...) }

	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, vec([]byte{0x60, 0, 1, 0x7f}, []byte{0x60, 1, 0x7e, 1, 0x7e}))...) // () -> i32, (i64) -> i64
	m = append(m, section(2, vec(append(append(name(hostNamespace), name("http_request")...), 0, 1)))...)
	var funcs, exps, bodies [][]byte
	for i, e := range exports {
		funcs = append(funcs, []byte{0})
		exps = append(exps, append(name(e), 0, byte(i+1))) // function 0 is the import
		bodies = append(bodies, []byte{4, 0, 0x41, 0, 0x0b})
	}
	m = append(m, section(3, vec(funcs...))...)
	m = append(m, section(7, vec(exps...))...)
	m = append(m, section(10, vec(bodies...))...)
	return m
}

// A plugin built for ABI v2 (or exporting some other marker) is refused
// with a message that names both versions and says what to do, not with
// the missing-import error its tzurot:host/v2 import would otherwise give.
func TestOtherABIMarkerIsRefusedPlainly(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		module []byte
		want   []string
	}{
		{"v2", wasmModule("tzurot:host/v2", "tzurot_abi_v2", "describe"),
			[]string{"built for tzurot plugin ABI v2 (it exports tzurot_abi_v2)", "this host speaks only ABI v1", "needs a newer tzurot host"}},
		{"v10", wasmModule("tzurot:host/v10", "describe", "tzurot_abi_v10"),
			[]string{"built for tzurot plugin ABI v10", "needs a newer tzurot host"}},
		{"beta", wasmModule("tzurot:host/v1", "tzurot_abi_beta", "describe"),
			[]string{"it exports tzurot_abi_beta, which is no ABI marker this host knows", "speaks only ABI v1 (marker tzurot_abi_v1)"}},
	} {
		path := filepath.Join(dir, c.name+".wasm")
		if err := os.WriteFile(path, c.module, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := CheckFile(context.Background(), path, "")
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: CheckFile = %v, want it to say %q", c.name, err, w)
			}
		}
		if err != nil && strings.Contains(err.Error(), "not exported in module") {
			t.Errorf("%s: the refusal is the confusing import error: %v", c.name, err)
		}
	}
}

func TestCheckMarker(t *testing.T) {
	// A plugin that speaks v1 and another major is this host's plugin.
	if err := checkMarker(wasmModule("tzurot:host/v1", "tzurot_abi_v2", "tzurot_abi_v1", "describe")); err != nil {
		t.Errorf("v1 and v2 markers: %v", err)
	}
	// No marker at all is reported later, after compiling, as before.
	if err := checkMarker(wasmModule("tzurot:host/v1", "describe")); err != nil {
		t.Errorf("no marker: %v", err)
	}
	// A module cut anywhere is read without a panic: either the export
	// section is whole (and the marker reported) or the bytes are left
	// for the compiler to describe.
	m := wasmModule("tzurot:host/v2", "tzurot_abi_v2")
	for n := 0; n < len(m); n++ {
		if err := checkMarker(m[:n]); err != nil && !strings.Contains(err.Error(), "ABI v2") {
			t.Errorf("module cut at %d bytes: %v", n, err)
		}
	}
	if names, ok := exportNames(wasmModule("tzurot:host/v1", "a", "bb")); !ok || strings.Join(names, ",") != "a,bb" {
		t.Errorf("exportNames = %q, %v", names, ok)
	}
}
