package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lmittmann/tint"
)

// dropTime keeps outputs comparable between two handlers.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

// outputs are the two handlers the process uses, by name.
var outputs = map[string]func(w io.Writer) slog.Handler{
	"json": func(w io.Writer) slog.Handler {
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime})
	},
	"tint": func(w io.Writer) slog.Handler {
		return tint.NewTextHandler(w, &tint.Options{Level: slog.LevelDebug, NoColor: true, ReplaceAttr: dropTime})
	},
}

// Types a caller might log.
type providerRequest struct {
	URL     string
	APIKey  string
	Headers map[string][]string
	Note    string
	Tokens  int `json:"output_tokens"`
}

type keyHolder struct{ key string }

func (k keyHolder) String() string { return "holder(" + k.key + ")" }

type textKey struct{ key string }

func (k textKey) MarshalText() ([]byte, error) { return []byte("text:" + k.key), nil }

type lazyKey struct{ key string }

func (k lazyKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("detail", "uses "+k.key), slog.Int("n", 3))
}

type userID string

func TestHandlerMasksSecretsEverywhereInARecord(t *testing.T) {
	const vaultKey = "zAi-plain-4f8e1b2c9d7a6e5f0011" // no known shape: only the registry knows it
	for name, output := range outputs {
		t.Run(name, func(t *testing.T) {
			secrets := NewSecrets(0)
			secrets.Observe(vaultKey)
			var buf bytes.Buffer
			logger := slog.New(NewHandler(output(&buf), New(secrets)))

			logger = logger.With("boot_key", vaultKey, slog.Group("discord", "token", discordToken))
			logger = logger.WithGroup("call-" + vaultKey)
			err := fmt.Errorf("chat: %w", errors.New("provider rejected "+openRouterKey))
			logger.Error("calling provider with "+anthropicKey,
				"err", err,
				"plain", "vault gave "+vaultKey,
				"api_key", "anything-at-all",
				"output_tokens", 42,
				"req", providerRequest{
					URL:     "postgres://tzurot:db-pa55word@db/tzurot",
					APIKey:  "short1",
					Headers: map[string][]string{"Authorization": {"Bearer " + jwtToken}},
					Note:    vaultKey,
					Tokens:  7,
				},
				"ptr", &providerRequest{Note: googleKey},
				"map", map[string]any{"password": "hunter2-hunter2", "count": 3},
				"list", []any{openAIKey, 5},
				"bytes", []byte("raw "+vaultKey),
				"stringer", keyHolder{vaultKey},
				"text", textKey{vaultKey},
				"lazy", lazyKey{vaultKey},
				"named", userID(vaultKey),
				slog.Group("nested", slog.Group("deeper", "secret_value", "x", "note", openRouterKey)),
			)

			out := buf.String()
			for _, leak := range []string{
				vaultKey, discordToken, anthropicKey[7:], openRouterKey[6:], openAIKey[3:], googleKey[4:],
				jwtToken, "db-pa55word", "short1", "hunter2-hunter2", "anything-at-all",
			} {
				if strings.Contains(out, leak) {
					t.Errorf("output leaks %q:\n%s", leak, out)
				}
			}
			for _, kept := range []string{"calling provider with sk-ant-" + Mask, "output_tokens", "42", "postgres://tzurot:***@db/tzurot", "chat: provider rejected sk-or-" + Mask} {
				if !strings.Contains(out, kept) {
					t.Errorf("output lacks %q:\n%s", kept, out)
				}
			}
		})
	}
}

// With the JSON handler a struct must still come out as a JSON object, with
// its numbers intact: dashboards query these fields.
func TestJSONOutputKeepsStructure(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(NewHandler(outputs["json"](&buf), New(nil)))
	logger.Info("usage",
		"req", providerRequest{URL: "https://openrouter.ai/api/v1", APIKey: "k-123", Tokens: 7},
		"usage", map[string]any{"input_tokens": 120, "output_tokens": 45, "token": "abc"},
		"latency", 1500*time.Millisecond,
	)
	var line struct {
		Req struct {
			URL          string
			APIKey       string
			OutputTokens int `json:"output_tokens"`
		}
		Usage   map[string]any
		Latency int64
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, buf.String())
	}
	if line.Req.URL != "https://openrouter.ai/api/v1" || line.Req.APIKey != Mask || line.Req.OutputTokens != 7 {
		t.Errorf("req = %+v", line.Req)
	}
	if line.Usage["input_tokens"] != 120.0 || line.Usage["output_tokens"] != 45.0 || line.Usage["token"] != Mask {
		t.Errorf("usage = %v", line.Usage)
	}
	if line.Latency != int64(1500*time.Millisecond) {
		t.Errorf("latency = %d", line.Latency)
	}
}

// Ordinary records must come out byte for byte as the plain handler writes
// them: redaction must never get in the way of reading logs.
func TestHandlerLeavesOrdinaryRecordsUnchanged(t *testing.T) {
	secrets := NewSecrets(0)
	secrets.Observe("a-registered-secret-nobody-logs")
	log := func(l *slog.Logger) {
		l = l.With("plugin", "openrouter", "request_id", "0f8fad5b-d9cb-469f-a165-70867728950e")
		l = l.WithGroup("chat")
		l.Info("skill issue: task-12 finished",
			"user", "123456789012345678",
			"input_tokens", 1534, "output_tokens", 212, "cached", true,
			"latency", 812*time.Millisecond, "at", time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC),
			"model", "anthropic/claude-sonnet-4",
			"url", "https://openrouter.ai/api/v1/chat/completions",
			"err", errors.New("context deadline exceeded"),
			"ip", net.IPv4(127, 0, 0, 1),
			slog.Group("usage", "cost_usd", 0.0031, "cache_key", "abc"),
		)
		l.Debug("risk-assessment-for-the-quarterly-plan", "max_tokens", 4096, "tokenizer", "cl100k")
	}
	for name, output := range outputs {
		t.Run(name, func(t *testing.T) {
			var plain, redacted bytes.Buffer
			log(slog.New(output(&plain)))
			log(slog.New(NewHandler(output(&redacted), New(secrets))))
			if plain.String() != redacted.String() {
				t.Errorf("redaction changed an ordinary record\nplain:    %s\nredacted: %s", plain.String(), redacted.String())
			}
		})
	}
}

func TestHandlerRespectsLevels(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}), New(nil))
	logger := slog.New(h)
	logger.Info("hidden")
	logger.Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
		t.Errorf("level not respected: %s", out)
	}
}

type panickyStringer struct{ p *int }

func (s panickyStringer) String() string { return fmt.Sprint(*s.p) }

func TestHandlerSurvivesPanickingValues(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(NewHandler(outputs["json"](&buf), New(nil)))
	var nilErr *net.OpError
	logger.Info("odd values", "s", panickyStringer{}, "nil", nilErr, "ch", make(chan int))
	if !strings.Contains(buf.String(), "odd values") || !strings.Contains(buf.String(), "!PANIC") {
		t.Errorf("record lost or panic not reported: %s", buf.String())
	}
}

// An *http.Request cannot be encoded as JSON (it has func fields), so it
// takes the %+v fallback; its headers must still come out masked.
func TestHTTPRequestValueIsMasked(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "https://bot:url-pa55word@api.example.com/v1/chat?key="+googleKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+openRouterKey)
	req.Header.Set("X-Api-Key", "plain-header-key-123")
	req.Header.Set("Cookie", "session=cookie-value-456")
	for name, output := range outputs {
		var buf bytes.Buffer
		slog.New(NewHandler(output(&buf), New(nil))).Info("outgoing", "req", req, "url", req.URL)
		out := buf.String()
		for _, leak := range []string{openRouterKey[6:], "plain-header-key-123", "cookie-value-456", googleKey[4:], "url-pa55word"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s output leaks %q: %s", name, leak, out)
			}
		}
		if !strings.Contains(out, "api.example.com") {
			t.Errorf("%s output lost the request: %s", name, out)
		}
	}
}
