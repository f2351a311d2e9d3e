package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// modelsHost starts a host whose plugin "cat" (the echo test plugin) lists
// models by fetching list from a loopback server with the caller's key
// injected, the way a provider plugin does. grant says whether plugins.toml
// grants llm.models.
func modelsHost(t *testing.T, grant bool, list func(key string) any) (*Host, *logBuffer) {
	t.Helper()
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !strings.HasPrefix(key, "sk-") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list(key))
	})
	caps := `"llm.chat", "llm.validate_key"`
	if grant {
		caps += `, "llm.models"`
	}
	keys := &MemoryKeys{}
	keys.Set("alice", "cat", "sk-alice-0123456789abcdefghij")
	return testHost(t, fmt.Sprintf(`
[plugins.cat]
path = "{echo}"
key_slot = "cat"
capabilities = [%s]
allowed_hosts = [%q]
allow_private = true
[plugins.cat.config]
describe_caps = "llm.chat,llm.validate_key,llm.models"
models_url = "%s/v1/models"
`, caps, hostPort(t, srv), srv.URL), keys)
}

// TestModelsCleansTheList: whatever a plugin or its provider sends, the
// list autocomplete gets holds usable ids only, no key, no control
// characters, bounded names, no repeats.
func TestModelsCleansTheList(t *testing.T) {
	h, _ := modelsHost(t, true, func(key string) any {
		return map[string]any{"models": []any{
			map[string]any{"id": "m-small", "name": "Small", "context_tokens": 8192},
			map[string]any{"id": "m-echo", "name": "Made for " + key, "reasoning": true},
			map[string]any{"id": key, "name": "the key as an id"},
			map[string]any{"id": "bad\u0000id"},
			map[string]any{"id": "with space"},
			map[string]any{"id": "tab\tid"},
			map[string]any{"id": strings.Repeat("x", MaxModelIDBytes+1)},
			map[string]any{"id": "m-small", "name": "a repeat"},
			map[string]any{"id": "m-long-name", "name": strings.Repeat("é", 200)},
			map[string]any{"id": "m-bell", "name": "ding\u0007dong"},
			map[string]any{"id": "m-negative", "context_tokens": -5},
			map[string]any{"id": ""},
		}}
	})
	ctx := WithCall(context.Background(), Call{UserID: "alice"})
	got, err := h.Models(ctx, "cat")
	if err != nil {
		t.Fatal(err)
	}
	want := []abi.Model{
		{ID: "m-small", Name: "Small", ContextTokens: 8192},
		{ID: "m-echo", Name: "Made for ", Reasoning: true},
		{ID: "m-long-name", Name: strings.Repeat("é", MaxModelNameBytes/2)},
		{ID: "m-bell"},
		{ID: "m-negative"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d models %+v\nwant %+v", len(got), got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.ContextTokens != w.ContextTokens || g.Reasoning != w.Reasoning ||
			(w.ID != "m-echo" && g.Name != w.Name) {
			t.Errorf("model %d = %+v, want %+v", i, g, w)
		}
	}
	for _, m := range got {
		if strings.Contains(m.ID+m.Name, "0123456789abcdef") {
			t.Errorf("the key is in the list: %+v", m)
		}
	}
	if !strings.HasPrefix(got[1].Name, "Made for ") {
		t.Errorf("scrubbed name = %q", got[1].Name)
	}
}

// TestModelsIsCapped: a provider that lists a million models fills no
// memory: the list stops at MaxModels.
func TestModelsIsCapped(t *testing.T) {
	h, _ := modelsHost(t, true, func(string) any {
		list := make([]abi.Model, MaxModels+500)
		for i := range list {
			list[i] = abi.Model{ID: fmt.Sprintf("m-%05d", i)}
		}
		return abi.ModelList{Models: list}
	})
	got, err := h.Models(WithCall(context.Background(), Call{UserID: "alice"}), "cat")
	if err != nil || len(got) != MaxModels || got[MaxModels-1].ID != fmt.Sprintf("m-%05d", MaxModels-1) {
		t.Fatalf("got %d models, %v", len(got), err)
	}
}

// TestModelsErrors: not granted, no key, and an answer that is not a list
// each come back as a typed error, never a panic or an empty success.
func TestModelsErrors(t *testing.T) {
	t.Run("not granted", func(t *testing.T) {
		// The plugin asks for llm.models; plugins.toml does not grant it. It
		// still loads (an old plugins.toml must keep chat working) and the
		// capability stays off.
		h, logs := modelsHost(t, false, func(string) any { return abi.ModelList{} })
		if st := statusOf(t, h, "cat"); st.State != StateLoaded {
			t.Fatalf("plugin refused: %s", st.Reason)
		}
		if !strings.Contains(logs.String(), "they stay off") || !strings.Contains(logs.String(), "llm.models") {
			t.Errorf("no log line says llm.models is off:\n%s", logs.String())
		}
		_, err := h.Models(WithCall(context.Background(), Call{UserID: "alice"}), "cat")
		var aerr *abi.Error
		if !errors.As(err, &aerr) || aerr.Code != abi.ErrDenied {
			t.Fatalf("err = %v, want denied", err)
		}
	})
	t.Run("no key", func(t *testing.T) {
		h, _ := modelsHost(t, true, func(string) any { return abi.ModelList{} })
		_, err := h.Models(WithCall(context.Background(), Call{UserID: "bob"}), "cat")
		var aerr *abi.Error
		if !errors.As(err, &aerr) || (aerr.Code != abi.ErrNoKey && aerr.Code != abi.ErrInvalidKey) {
			t.Fatalf("err = %v, want no_key or invalid_key", err)
		}
	})
	t.Run("not a list", func(t *testing.T) {
		h, _ := modelsHost(t, true, func(string) any { return map[string]any{"data": []string{"gpt-4o"}} })
		_, err := h.Models(WithCall(context.Background(), Call{UserID: "alice"}), "cat")
		var aerr *abi.Error
		if !errors.As(err, &aerr) || aerr.Code != abi.ErrInternal || !strings.Contains(aerr.Message, "not a model list") {
			t.Fatalf("err = %v, want internal: not a model list", err)
		}
	})
	t.Run("unknown plugin", func(t *testing.T) {
		h, _ := modelsHost(t, true, func(string) any { return abi.ModelList{} })
		_, err := h.Models(context.Background(), "nope")
		var aerr *abi.Error
		if !errors.As(err, &aerr) || aerr.Code != abi.ErrUnavailable {
			t.Fatalf("err = %v, want unavailable", err)
		}
	})
}
