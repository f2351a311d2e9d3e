package plugin

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// TestABIv1FixturesStillLoad loads plugins built before any ABI v1 addition
// (their bytes are kept in testdata/abiv1, never rebuilt) and calls them.
// Capabilities and host functions are only ever added to ABI v1; if this
// test fails, a change broke every third-party plugin already shipped.
func TestABIv1FixturesStillLoad(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "abiv1"))
	if err != nil {
		t.Fatal(err)
	}
	keys := &MemoryKeys{}
	keys.Set("u1", "reverse", "sk-fixture")
	h, _ := testHost(t, `
[plugins.reverse]
path = "`+filepath.Join(dir, "go-provider-v1.wasm")+`"
sha256 = "32c373d77b00d4234d9e28e3c7c30c90acf9e21b4cce704778c8dcea18ee2fe5"
key_slot = "reverse"
capabilities = ["llm.chat", "llm.validate_key"]
[plugins.reverse.config]
prefix = "old: "

[plugins.asecho]
path = "`+filepath.Join(dir, "as-provider-v1.wasm")+`"
sha256 = "5897fff9b5223e42ee5e509c9cbfc25cd98712f9302b704c7d82dbc0007d645e"
capabilities = ["llm.chat"]
[plugins.asecho.config]
prefix = "as: "
`, keys)

	for _, name := range []string{"reverse", "asecho"} {
		if st := statusOf(t, h, name); st.State != StateLoaded {
			t.Fatalf("ABI v1 fixture %s did not load: %+v", name, st)
		}
	}

	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "fixture-1"})
	resp, usage, err := h.Chat(ctx, "reverse", abi.ChatRequest{
		Messages: []abi.Message{{Role: abi.RoleUser, Content: "hello world"}},
	})
	if err != nil {
		t.Fatalf("chat with the old Go plugin: %v", err)
	}
	if resp.Content != "old: dlrow olleh" {
		t.Errorf("old Go plugin replied %q, want %q", resp.Content, "old: dlrow olleh")
	}
	if len(usage) != 1 || usage[0].InputTokens != 2 || usage[0].Provider != "reverse" {
		t.Errorf("old Go plugin usage = %+v", usage)
	}

	resp, _, err = h.Chat(WithCall(context.Background(), Call{UserID: "u1", RequestID: "fixture-2"}), "asecho", abi.ChatRequest{
		Messages: []abi.Message{{Role: abi.RoleUser, Content: "Grüße ✓"}},
	})
	if err != nil {
		t.Fatalf("chat with the old AssemblyScript plugin: %v", err)
	}
	if !strings.HasPrefix(resp.Content, "as: ") || !strings.Contains(resp.Content, "Grüße ✓") {
		t.Errorf("old AssemblyScript plugin replied %q", resp.Content)
	}
}
