package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func TestChatRoundTrip(t *testing.T) {
	keys := &MemoryKeys{}
	keys.Set("u1", "openai", "sk-user1")
	h, _ := testHost(t, echoEntry("openai", ""), keys)

	var chunks []string
	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "r1", OnChunk: func(s string) { chunks = append(chunks, s) }})
	resp, usage, err := h.Chat(ctx, "openai", abi.ChatRequest{
		Model:    "m1",
		Messages: []abi.Message{{Role: abi.RoleUser, Content: "hello there world"}},
		Stream:   true,
	})
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if resp.Content != "hello there world" || resp.Model != "m1" {
		t.Errorf("response = %+v", resp)
	}
	if got := strings.Join(chunks, ""); got != "hello there world " {
		t.Errorf("streamed chunks = %q", got)
	}
	if len(usage) != 1 {
		t.Fatalf("usage rows = %d, want 1", len(usage))
	}
	u := usage[0]
	// The plugin claimed provider "claimed-by-plugin"; the host decides.
	if u.Provider != "openai" || u.Plugin != "openai" || u.Kind != abi.UsageText || u.InputTokens != 17 || u.Model != "m1" {
		t.Errorf("usage = %+v", u)
	}
	st := statusOf(t, h, "openai")
	if st.State != StateLoaded || st.Calls != 1 || st.Errors != 0 || st.Description == nil || st.Description.Name != "echo" {
		t.Errorf("status = %+v", st)
	}
	if !strings.Contains(string(st.Description.ParametersSchema), "temperature") {
		t.Errorf("description lost its parameters schema: %s", st.Description.ParametersSchema)
	}
}

func TestChatUsageFromResponse(t *testing.T) {
	// A plugin that reports usage only in its response still yields one
	// row, and the host, not the plugin, names the provider.
	keys := &MemoryKeys{}
	keys.Set("u1", "router-slot", "sk-1")
	h, _ := testHost(t, `
[plugins.router]
path = "{echo}"
key_slot = "router-slot"
raw_key = true
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["api.example.com:443"]
[plugins.router.config]
usage_in_response = "1"
`, keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1"})
	resp, usage, err := h.Chat(ctx, "router", abi.ChatRequest{Model: "m2", Messages: []abi.Message{{Role: "user", Content: "abcd"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := abi.Usage{Kind: abi.UsageText, Model: "m2", InputTokens: 4, OutputTokens: 4, Provider: "router-slot", Plugin: "router"}
	if len(usage) != 1 || usage[0] != want || resp.Usage != want {
		t.Fatalf("usage = %+v, response usage = %+v; want %+v", usage, resp.Usage, want)
	}
}

func TestChatWithoutKeyIsTypedError(t *testing.T) {
	h, _ := testHost(t, echoEntry("openai", ""), &MemoryKeys{})
	ctx := WithCall(context.Background(), Call{UserID: "nobody"})
	_, _, err := h.Chat(ctx, "openai", abi.ChatRequest{Messages: []abi.Message{{Role: "user", Content: "hi"}}})
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrNoKey {
		t.Fatalf("err = %v, want a no_key *abi.Error", err)
	}
	if aerr.Message != "no key for this user" {
		t.Errorf("message = %q", aerr.Message)
	}
}

func TestPluginErrors(t *testing.T) {
	h, _ := testHost(t, echoEntry("openai", ""), &MemoryKeys{})
	ctx := context.Background()

	_, err := h.Call(ctx, "openai", "typed_error", nil)
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrInvalidKey || aerr.Message != "the provider rejected the key" {
		t.Errorf("typed error = %v", err)
	}
	_, err = h.Call(ctx, "openai", "plain_error", nil)
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrInternal || aerr.Message != "something broke" {
		t.Errorf("plain error = %v", err)
	}
	_, err = h.Call(ctx, "openai", "no_such_export", nil)
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrInternal {
		t.Errorf("unknown export = %v", err)
	}
	_, err = h.Call(ctx, "openai", "_initialize", nil)
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrBadRequest {
		t.Errorf("_initialize = %v", err)
	}
	_, err = h.Call(ctx, "missing", "echo", nil)
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrUnavailable || !strings.Contains(aerr.Message, `no plugin named "missing"`) {
		t.Errorf("missing plugin = %v", err)
	}
	if st := statusOf(t, h, "openai"); st.Errors != 3 || st.Calls != 3 {
		t.Errorf("counters calls=%d errors=%d, want 3/3", st.Calls, st.Errors)
	}
	// Still works afterwards.
	out, err := h.Call(ctx, "openai", "echo", []byte("still here"))
	if err != nil || string(out) != "still here" {
		t.Errorf("echo after errors = %q, %v", out, err)
	}
}

func TestValidateKeyUsesCandidate(t *testing.T) {
	keys := &MemoryKeys{}
	keys.Set("u1", "openai", "sk-stored-bad")
	h, _ := testHost(t, echoEntry("openai", ""), keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1"})
	res, err := h.ValidateKey(ctx, "openai", "sk-good-123")
	if err != nil || res.Status != abi.KeyValid {
		t.Fatalf("good candidate: %+v, %v", res, err)
	}
	res, err = h.ValidateKey(ctx, "openai", "sk-bad")
	if err != nil || res.Status != abi.KeyInvalid || res.Message != "the provider said no" {
		t.Fatalf("bad candidate: %+v, %v", res, err)
	}
	// The candidate is for that one call only: the next call sees the stored key.
	out, err := h.Call(ctx, "openai", "whoami", nil)
	if err != nil || string(out) != keyFP("sk-stored-bad") {
		t.Fatalf("whoami after validate = %q, %v", out, err)
	}
	if _, err := h.ValidateKey(ctx, "openai", ""); err == nil {
		t.Error("an empty key was accepted for validation")
	}
}

func TestCapabilityNotGrantedIsDenied(t *testing.T) {
	// Granted chat only, and the plugin only asks for chat: validate_key is off.
	h, _ := testHost(t, `
[plugins.chatonly]
path = "{echo}"
key_slot = "chatonly"
capabilities = ["llm.chat"]
allowed_hosts = ["api.example.com:443"]
[plugins.chatonly.config]
describe_caps = "llm.chat"
`, &MemoryKeys{})
	_, err := h.ValidateKey(context.Background(), "chatonly", "sk-good")
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrDenied {
		t.Fatalf("validate_key without the capability: %v", err)
	}
}

// One user's key is never served to another user's call, even with many
// calls in flight on a shared pool (run with -race).
func TestKeysNeverCrossUsers(t *testing.T) {
	keys := &MemoryKeys{}
	const users = 6
	for i := range users {
		keys.Set(fmt.Sprintf("user%d", i), "openai", fmt.Sprintf("sk-key-of-user%d", i))
	}
	h, _ := testHost(t, echoEntry("openai", "[plugins.openai.limits]\npool_size = 3"), keys)
	var wg sync.WaitGroup
	errs := make(chan error, users*40)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user%d", i)
			for range 40 {
				ctx := WithCall(context.Background(), Call{UserID: user})
				out, err := h.Call(ctx, "openai", "whoami", nil)
				if err != nil {
					errs <- err
					return
				}
				if want := keyFP("sk-key-of-" + user); string(out) != want {
					errs <- fmt.Errorf("%s got key %q", user, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// No user in ctx: no key at all.
	out, err := h.Call(context.Background(), "openai", "whoami", nil)
	if err != nil || string(out) != "none" {
		t.Errorf("call without a user got %q, %v", out, err)
	}
}

func TestConfigReachesPlugin(t *testing.T) {
	h, _ := testHost(t, echoEntry("openai", "[plugins.openai.config]\nbase_url = \"https://api.example.com/v1\""), nil)
	out, err := h.Call(context.Background(), "openai", "config", []byte("base_url"))
	if err != nil || string(out) != "https://api.example.com/v1" {
		t.Fatalf("config = %q, %v", out, err)
	}
}

func TestRealClockAndRandomness(t *testing.T) {
	h, _ := testHost(t, echoEntry("openai", ""), nil)
	l := pluginOf(t, h, "openai")
	type sandbox struct {
		Unix int64  `json:"unix"`
		Rand string `json:"rand"`
	}
	// The first call of two fresh instances: with wazero's defaults both
	// would read the same "random" bytes and the year 2022.
	var res [2]sandbox
	for i := range res {
		inst, err := newInstance(context.Background(), l.shared.compiled)
		if err != nil {
			t.Fatal(err)
		}
		ctx := withState(context.Background(), &callState{p: l, inst: inst, blobs: NewBlobs()})
		_, out, err := inst.plugin.CallWithContext(ctx, "sandbox", nil)
		inst.close()
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &res[i]); err != nil {
			t.Fatal(err)
		}
	}
	if res[0].Rand == res[1].Rand {
		t.Errorf("two instances drew the same random bytes %q", res[0].Rand)
	}
	now := time.Now().Unix()
	for _, r := range res {
		if d := now - r.Unix; d < -3600 || d > 3600 {
			t.Errorf("guest clock says %s, host %s", time.Unix(r.Unix, 0), time.Unix(now, 0))
		}
	}
}
