package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

var (
	intruderOnce sync.Once
	intruderErr  error
)

// intruderPath builds testdata/intruder once per test binary.
func intruderPath(t testing.TB) string {
	t.Helper()
	out := filepath.Join(wasmDir, "intruder.wasm")
	intruderOnce.Do(func() { intruderErr = plugintest.BuildTo(filepath.Join("testdata", "intruder"), out) })
	if intruderErr != nil {
		t.Fatal(intruderErr)
	}
	return out
}

// intruderHost starts a host with the intruder plugin as entry "intruder",
// one instance, and extra lines in its table.
func intruderHost(t testing.TB, extra, limits string, keys KeySource) (*Host, *logBuffer) {
	t.Helper()
	return testHost(t, fmt.Sprintf(`
[plugins.intruder]
path = %q
key_slot = "intruder"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["api.example.com:443"]
%s
[plugins.intruder.limits]
pool_size = 1
%s
`, intruderPath(t), extra, limits), keys)
}

// A key made of digits, in text made of letters: any digit left in the
// result is a piece of the key.
const digitKey = "0123456789012345678"

func keyedState() *callState {
	return &callState{keyLoaded: true, key: digitKey, keyOK: true}
}

func TestPluginErrorScrubbedBeforeCut(t *testing.T) {
	st := keyedState()
	for n := maxErrorText - len(digitKey) - 2; n <= maxErrorText+2; n++ {
		msg := strings.Repeat("a", n) + digitKey + strings.Repeat("b", 40)
		for _, typed := range []string{`{"code":"invalid_key","message":"` + msg + `"}`, msg} {
			e := st.pluginError(typed)
			if strings.ContainsAny(e.Message, "0123456789") {
				t.Fatalf("key at offset %d: error message keeps part of the key: ...%s", n, e.Message[max(0, len(e.Message)-40):])
			}
			if len(e.Message) > maxErrorText+len("…") {
				t.Fatalf("offset %d: message of %d bytes, want at most %d", n, len(e.Message), maxErrorText)
			}
		}
	}
}

func TestLogMessageScrubbedBeforeCut(t *testing.T) {
	st := keyedState()
	for n := maxLogMessage - len(digitKey) - 2; n <= maxLogMessage+2; n++ {
		got := st.logMessage(strings.Repeat("a", n) + digitKey + strings.Repeat("b", 40))
		if strings.ContainsAny(got, "0123456789") {
			t.Fatalf("key at offset %d: log message keeps part of the key: ...%s", n, got[max(0, len(got)-40):])
		}
	}
}

func TestLogAttrsScrubbed(t *testing.T) {
	st := keyedState()
	long := strings.Repeat("a", maxLogMessage-5) + digitKey
	attrs := st.logAttrs(map[string]string{"name-" + digitKey: "v", "value": "v-" + digitKey, "long": long})
	var b strings.Builder
	for _, a := range attrs {
		b.WriteString(a.String())
	}
	if i := strings.IndexAny(b.String(), "0123456789"); i >= 0 {
		t.Errorf("attributes keep part of the key: ...%s", b.String()[max(0, i-20):])
	}
	if !strings.Contains(b.String(), "name-[redacted]=v") || !strings.Contains(b.String(), "value=v-[redacted]") {
		t.Errorf("attribute name or value not scrubbed: %s", strings.ReplaceAll(b.String(), strings.Repeat("a", 100), ""))
	}
}

func TestStdioCutScrubsKeyStart(t *testing.T) {
	st := keyedState()
	got := scrubCutTail(strings.Repeat("a", 100)+digitKey[:6], st.secrets())
	if strings.ContainsAny(got, "0123456789") || !strings.HasSuffix(got, "[redacted]") {
		t.Errorf("cut text = %q", got)
	}
	// A short tail is not taken for a key.
	if got := scrubCutTail("version 012", st.secrets()); got != "version 012" {
		t.Errorf("short tail masked: %q", got)
	}
}

// The same through a real plugin: a key placed just across each cut (the
// 1,000-byte error, the 2,000-byte log message, the 16 KiB stdout/stderr
// capture) never reaches the user or the log, not even its first bytes; nor
// does a key in a log attribute's name or value.
func TestHostileKeyAcrossCuts(t *testing.T) {
	const key = "sk-QZXJVWKQZXJVWKQZXJ"
	keys := &MemoryKeys{}
	keys.Set("u1", "intruder", key)
	h, logs := intruderHost(t, "raw_key = true", "", keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "cut-1"})

	_, err := h.Call(ctx, "intruder", "errkey", []byte(fmt.Sprint(maxErrorText-6)))
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrInvalidKey {
		t.Fatalf("errkey: %v", err)
	}
	if strings.Contains(aerr.Message, "sk-Q") {
		t.Errorf("the error shown to the user keeps the key's start: ...%s", aerr.Message[len(aerr.Message)-30:])
	}
	if _, err := h.Call(ctx, "intruder", "logkeyat", []byte(fmt.Sprint(maxLogMessage-6))); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, "intruder", "stderrkey", []byte(fmt.Sprint(maxStdioBytes-6))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name-[redacted]", "value=v-[redacted]", "plugin output truncated"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "sk-Q") {
		i := strings.Index(logs.String(), "sk-Q")
		t.Errorf("the log keeps the key's start: ...%s...", logs.String()[max(0, i-60):i+10])
	}
}

// keyFP is the echo plugin's fingerprint of a key (see its whoami).
func keyFP(k string) string {
	s := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(s[:8])
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// api_key is a grant: without raw_key in plugins.toml a plugin gets no raw
// key (and the log says why); with it, the key it returns is scrubbed.
func TestRawKeyIsAGrant(t *testing.T) {
	const key = "sk-raw-grant-key-0001"
	keys := &MemoryKeys{}
	keys.Set("u1", "intruder", key)
	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "raw-1"})

	h, logs := intruderHost(t, "", "", keys)
	if out, err := h.Call(ctx, "intruder", "whoami", nil); err != nil || string(out) != "none" {
		t.Errorf("api_key without raw_key gave %q, %v; want none", out, err)
	}
	if !strings.Contains(logs.String(), "does not grant (raw_key)") || !strings.Contains(logs.String(), "request_id=raw-1") {
		t.Errorf("no warning about the missing grant:\n%s", logs)
	}

	h, _ = intruderHost(t, "raw_key = true", "", keys)
	out, err := h.Call(ctx, "intruder", "whoami", nil)
	if err != nil || string(out) != "[redacted]" {
		t.Errorf("api_key with raw_key: output %q, %v; want the served key scrubbed", out, err)
	}
	if out, _ := h.Call(ctx, "intruder", "whoami_rev", nil); string(out) != reverse(key) {
		t.Errorf("the granted plugin did not get the key: %q", out)
	}
}

// An instance that read a user's raw key never serves another user: a
// plugin keeping the key in a global (pool of one) cannot hand it to the
// next caller, even transformed so that no scrubbing recognises it.
func TestRawKeyInstanceServesOneUser(t *testing.T) {
	keys := &MemoryKeys{}
	keys.Set("alice", "intruder", "sk-alice-secret-0001")
	keys.Set("bob", "intruder", "sk-bob-secret-000002")
	h, _ := intruderHost(t, "raw_key = true", "", keys)
	l := pluginOf(t, h, "intruder")
	alice := WithCall(context.Background(), Call{UserID: "alice"})
	bob := WithCall(context.Background(), Call{UserID: "bob"})

	if out, err := h.Call(alice, "intruder", "whoami_rev", nil); err != nil || string(out) != reverse("sk-alice-secret-0001") {
		t.Fatalf("alice: %q, %v", out, err)
	}
	if out, err := h.Call(bob, "intruder", "whoami_rev", nil); err != nil || string(out) != reverse("sk-bob-secret-000002") {
		t.Fatalf("bob got %q, %v; want his own key (alice's instance must not serve him)", out, err)
	}
	// The same user keeps a warm instance.
	if out, _ := h.Call(bob, "intruder", "whoami_rev", nil); string(out) != reverse("sk-bob-secret-000002") || l.pool.idleCount() != 1 {
		t.Errorf("bob's second call: %q, idle %d", out, l.pool.idleCount())
	}
	// A call with a key in the context that reads no key (validate_key for
	// alice) gets a fresh instance too, not bob's.
	res, err := h.ValidateKey(alice, "intruder", "sk-alice-candidate-03")
	if err != nil || strings.Contains(res.Message, "bob") || res.Message != "rejected [redacted]" {
		t.Errorf("validate_key for alice: %+v, %v", res, err)
	}
}

// A key a plugin never read itself but saw echoed back by a server (header
// injection into a host that reflects it) is scrubbed from every later call
// of that instance, another user's included.
func TestReflectedKeyScrubbedForNextUser(t *testing.T) {
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Authorization"))
	})
	keys := &MemoryKeys{}
	keys.Set("alice", "intruder", "sk-alice-reflected-01")
	keys.Set("bob", "intruder", "sk-bob-reflected-0002")
	h, logs := testHost(t, fmt.Sprintf(`
[plugins.intruder]
path = %q
key_slot = "intruder"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
[plugins.intruder.limits]
pool_size = 1
`, intruderPath(t), hostPort(t, s)), keys)
	alice := WithCall(context.Background(), Call{UserID: "alice"})
	bob := WithCall(context.Background(), Call{UserID: "bob", OnChunk: func(string) {}})
	if out, err := h.Call(alice, "intruder", "reflect", []byte(s.URL)); err != nil || string(out) != "[redacted]" {
		t.Fatalf("alice reflect: %q, %v", out, err)
	}
	out, err := h.Call(bob, "intruder", "whoami", nil)
	if err != nil || string(out) != "[redacted]" {
		t.Errorf("bob got %q, %v; want alice's key scrubbed", out, err)
	}
	resp, usage, err := h.Chat(bob, "intruder", abi.ChatRequest{Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	all := fmt.Sprintf("%+v %+v %s", resp, usage, logs)
	if strings.Contains(all, "sk-alice") {
		t.Errorf("alice's key reached bob's reply, usage or the log: %s", all)
	}
}

// Every field a plugin returns, emits or records is scrubbed of the key.
func TestKeyScrubbedFromEveryField(t *testing.T) {
	const key = "sk-every-field-key-77"
	keys := &MemoryKeys{}
	keys.Set("u1", "intruder", key)
	h, logs := intruderHost(t, "raw_key = true", "", keys)
	var mu sync.Mutex
	var chunks []string
	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "fields-1", OnChunk: func(s string) {
		mu.Lock()
		chunks = append(chunks, s)
		mu.Unlock()
	}})
	resp, usage, err := h.Chat(ctx, "intruder", abi.ChatRequest{Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) != 1 || len(usage) != 1 {
		t.Fatalf("response %+v, usage %+v", resp, usage)
	}
	mu.Lock()
	emitted := strings.Join(chunks, "")
	mu.Unlock()
	_, errCall := h.Call(ctx, "intruder", "errkey", []byte("3"))
	res, errValidate := h.ValidateKey(ctx, "intruder", "sk-candidate-key-0088")
	if errValidate != nil {
		t.Fatal(errValidate)
	}
	for field, got := range map[string]string{
		"content":              resp.Content,
		"reasoning (escaped)":  resp.Reasoning,
		"model":                resp.Model,
		"tool call id":         resp.ToolCalls[0].ID,
		"tool call name":       resp.ToolCalls[0].Name,
		"tool call arguments":  resp.ToolCalls[0].Arguments,
		"response usage model": resp.Usage.Model,
		"recorded usage model": usage[0].Model,
		"emitted text":         emitted,
		"error message":        fmt.Sprint(errCall),
		"validate_key message": res.Message,
		"log":                  logs.String(),
	} {
		if strings.Contains(got, "sk-every") || strings.Contains(got, "sk-candidate") || !strings.Contains(got, "[redacted]") {
			t.Errorf("%s = %q, want the key replaced by [redacted]", field, got)
		}
	}
	if emitted != "streamed [redacted] done" {
		t.Errorf("emitted %q (in %d chunks)", emitted, len(chunks))
	}
}

func TestExposureScrub(t *testing.T) {
	e := newExposure()
	keys := []string{"sk-first-key-00001", "sk-second-key-0000002", "short"}
	for _, k := range keys {
		e.add(k)
	}
	e.add(keys[0]) // once only
	if e.count() != 2 {
		t.Fatalf("%d keys remembered, want 2 (short keys are not scrubbed)", e.count())
	}
	for in, want := range map[string]string{
		"":                     "",
		"sk-first-key-00001":   "[redacted]",
		"ask-first-key-00001b": "a[redacted]b",
		"sk-first-key-00001sk-second-key-0000002 short": "[redacted][redacted] short",
		"sk-first-key-0000 sk-first-key-00001x":         "sk-first-key-0000 [redacted]x",
		"no keys here at all":                           "no keys here at all",
	} {
		if got := e.scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
	// It keeps no plain text.
	if dump := fmt.Sprintf("%+v %+v", e, *e.set); strings.Contains(dump, "first") || strings.Contains(dump, "second") {
		t.Errorf("exposure holds plain text: %s", dump)
	}
}

// An instance served too many different keys (header injection for many
// users) is retired, so what it must scrub stays bounded.
func TestInstanceRetiredAfterManyKeys(t *testing.T) {
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	keys := &MemoryKeys{}
	h, _ := testHost(t, fmt.Sprintf(`
[plugins.intruder]
path = %q
key_slot = "intruder"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
[plugins.intruder.limits]
pool_size = 1
`, intruderPath(t), hostPort(t, s)), keys)
	l := pluginOf(t, h, "intruder")
	in, _ := json.Marshal(map[string]any{"n": 1, "url": s.URL, "auth": map[string]string{}})
	for i := range maxExposedKeys {
		user := fmt.Sprintf("user%d", i)
		keys.Set(user, "intruder", fmt.Sprintf("sk-many-users-key-%04d", i))
		if _, err := h.Call(WithCall(context.Background(), Call{UserID: user}), "intruder", "hammer", in); err != nil {
			t.Fatal(err)
		}
		wantIdle := 1
		if i == maxExposedKeys-1 {
			wantIdle = 0
		}
		if got := l.pool.idleCount(); got != wantIdle {
			t.Fatalf("after %d users: %d idle instances, want %d", i+1, got, wantIdle)
		}
	}
}

// Up to maxExposedKeys keys are all scrubbed, and a snapshot taken when a
// call ends (clone) is not changed by keys the instance is served later.
func TestExposureManyKeysAndSnapshots(t *testing.T) {
	e := newExposure()
	key := func(i int) string { return fmt.Sprintf("sk-user-%06d-secret", i) }
	for i := range maxExposedKeys / 2 {
		e.add(key(i))
	}
	snap := e.clone()
	for i := maxExposedKeys / 2; i < maxExposedKeys; i++ {
		e.add(key(i))
	}
	if e.count() != maxExposedKeys || snap.count() != maxExposedKeys/2 || !e.full() || snap.full() {
		t.Fatalf("count %d (full %v), snapshot %d (full %v)", e.count(), e.full(), snap.count(), snap.full())
	}
	for _, i := range []int{0, 1, maxExposedKeys/2 - 1, maxExposedKeys / 2, maxExposedKeys - 1} {
		in := "a " + key(i) + " b"
		if got := e.scrub(in); got != "a [redacted] b" {
			t.Errorf("key %d: scrub = %q", i, got)
		}
		want := "a [redacted] b"
		if i >= maxExposedKeys/2 {
			want = in // served after the snapshot
		}
		if got := snap.scrub(in); got != want {
			t.Errorf("key %d: snapshot scrub = %q, want %q", i, got, want)
		}
	}
}

// BenchmarkExposureScrub is the cost of scrubbing a 3 KiB reply on an
// instance that served maxExposedKeys users.
func BenchmarkExposureScrub(b *testing.B) {
	e := newExposure()
	for i := range maxExposedKeys {
		e.add(fmt.Sprintf("sk-user-%06d-secret", i))
	}
	reply := strings.Repeat("The lighthouse keeper wrote another line. ", 72)
	b.SetBytes(int64(len(reply)))
	for b.Loop() {
		if e.scrub(reply) != reply {
			b.Fatal("scrubbed a reply with no key")
		}
	}
}
