//go:build !wasip1

package main

import (
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

func TestReverseProvider(t *testing.T) {
	wasm := plugintest.Build(t, ".")
	h := plugintest.New(t, wasm, plugintest.Options{
		Config: map[string]string{"prefix": "» "},
		Key:    "rev-123",
		Keys:   map[string]string{"bob": "sk-not-a-reverse-key"},
	})
	if !h.HasExport(abi.MarkerExport) {
		t.Fatal("the ABI marker must be exported")
	}
	if d := h.Describe(); d.Name != "reverse" || d.ABI != 1 || !d.NeedsKey {
		t.Fatalf("describe = %+v", d)
	}

	resp, e := h.Chat(abi.ChatRequest{Stream: true, Messages: []abi.Message{
		{Role: abi.RoleSystem, Content: "ignored"},
		{Role: abi.RoleUser, Content: "Grüße an alle ✓"},
	}})
	if e != nil {
		t.Fatal(e)
	}
	if resp.Content != "» ✓ ella na eßürG" {
		t.Fatalf("content = %q", resp.Content)
	}
	if got := strings.Join(h.Chunks(), ""); got != "✓ ella na eßürG " {
		t.Fatalf("streamed %q", got)
	}
	if u := h.Usage(); len(u) != 1 || u[0].InputTokens != 4 || u[0].Model != "reverse-1" {
		t.Fatalf("usage = %+v", u)
	}
	if l := h.Logs(); len(l) != 1 || l[0].Attrs["words"] != "4" {
		t.Fatalf("logs = %+v", l)
	}

	if _, e := h.Chat(abi.ChatRequest{Messages: []abi.Message{{Role: abi.RoleSystem, Content: "x"}}}); e == nil || e.Code != abi.ErrBadRequest {
		t.Fatalf("no user message: %+v", e)
	}

	for user, want := range map[string]string{plugintest.DefaultUser: abi.KeyValid, "bob": abi.KeyInvalid} {
		if r, e := h.As(user).ValidateKey(); e != nil || r.Status != want {
			t.Errorf("%s: %+v %v, want %s", user, r, e, want)
		}
	}
	if _, e := h.As("carol").ValidateKey(); e == nil || e.Code != abi.ErrNoKey {
		t.Fatalf("carol has no key: %+v", e)
	}
}
