package plugin

import (
	"context"
	"errors"
	"fmt"
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
	h, logs := intruderHost(t, "", "", keys)
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
