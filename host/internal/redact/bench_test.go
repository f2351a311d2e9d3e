package redact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fullRegistry is a registry at its default bound, holding 100,000
// OpenRouter-shaped keys (all sharing the "sk-or-v1-" prefix), built once.
var fullRegistry = sync.OnceValue(func() *Secrets {
	full := NewSecrets(0)
	for i := range DefaultMaxSecrets {
		full.Observe(fmt.Sprintf("sk-or-v1-%064x", i*7919+13))
	}
	return full
})

// typicalAttrs is what a chat reply logs: ids, a model, counts, a latency.
var typicalAttrs = []slog.Attr{
	slog.String("plugin", "openrouter"),
	slog.String("user_id", "123456789012345678"),
	slog.String("model", "anthropic/claude-sonnet-4"),
	slog.Int("input_tokens", 1534),
	slog.Int("output_tokens", 212),
	slog.Duration("latency", 812*time.Millisecond),
}

type usageRecord struct {
	Provider     string `json:"provider"`
	Model        string `json:"model"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
}

// BenchmarkHandler measures one log record through the plain handler and
// through the redacting one, for both output formats.
//
//	go test -run '^$' -bench BenchmarkHandler -benchmem ./host/internal/redact/
func BenchmarkHandler(b *testing.B) {
	full := fullRegistry()
	errAttr := slog.Any("err", errors.New("provider returned 429: rate limited, retry after 2s"))
	structAttr := slog.Any("usage", usageRecord{"openrouter", "anthropic/claude-sonnet-4", 1534, 212})
	cases := []struct {
		name    string
		secrets *Secrets // nil: no redaction at all
		redact  bool
		msg     string
		attrs   []slog.Attr
	}{
		{"plain/typical", nil, false, "chat reply sent", typicalAttrs},
		{"redacting/typical", NewSecrets(0), true, "chat reply sent", typicalAttrs},
		{"redacting/typical,100k-secrets", full, true, "chat reply sent", typicalAttrs},
		{"plain/error", nil, false, "provider call failed", append(typicalAttrs[:3:3], errAttr)},
		{"redacting/error", full, true, "provider call failed", append(typicalAttrs[:3:3], errAttr)},
		{"plain/struct", nil, false, "usage recorded", []slog.Attr{structAttr}},
		{"redacting/struct", full, true, "usage recorded", []slog.Attr{structAttr}},
		{"redacting/key-in-message", full, true, "retrying with sk-or-v1-" + strings.Repeat("0", 63) + "d", typicalAttrs},
	}
	for format, output := range outputs {
		for _, c := range cases {
			b.Run(format+"/"+c.name, func(b *testing.B) {
				h := output(io.Discard)
				if c.redact {
					h = NewHandler(h, New(c.secrets))
				}
				logger := slog.New(h)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					logger.LogAttrs(ctx, slog.LevelInfo, c.msg, c.attrs...)
				}
			})
		}
	}
}

// BenchmarkString measures the text redactor alone on lines of two sizes.
//
//	go test -run '^$' -bench BenchmarkString -benchmem ./host/internal/redact/
func BenchmarkString(b *testing.B) {
	full := fullRegistry()
	short := "plugin openrouter answered in 812ms with 212 tokens"
	long := strings.Repeat(`{"role":"user","content":"tell me about the weather in Paris, please"},`, 30)
	for _, c := range []struct {
		name    string
		secrets *Secrets
		text    string
	}{
		{"short,no-secrets", NewSecrets(0), short},
		{"short,100k-secrets", full, short},
		{"2KB-json,no-secrets", NewSecrets(0), long},
		{"2KB-json,100k-secrets", full, long},
		// Text built to make a careless scanner quadratic.
		{"90KB-hostile,100k-secrets", full, strings.Repeat("password=", 10_000)},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := New(c.secrets)
			b.SetBytes(int64(len(c.text)))
			b.ReportAllocs()
			for b.Loop() {
				_ = r.String(c.text)
			}
		})
	}
}

// BenchmarkObserve measures what the vault pays per decrypted key: a key
// seen before (the usual case) and a new one, in a full registry.
//
//	go test -run '^$' -bench BenchmarkObserve -benchmem ./host/internal/redact/
func BenchmarkObserve(b *testing.B) {
	secrets := NewSecrets(0)
	for i := range DefaultMaxSecrets {
		secrets.Observe(fmt.Sprintf("sk-or-v1-%064x", i))
	}
	b.Run("known", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			secrets.Observe(fmt.Sprintf("sk-or-v1-%064x", DefaultMaxSecrets-1-i%1000))
			i++
		}
	})
	b.Run("new,evicting", func(b *testing.B) {
		b.ReportAllocs()
		i := DefaultMaxSecrets
		for b.Loop() {
			secrets.Observe(fmt.Sprintf("sk-or-v1-%064x", i))
			i++
		}
	})
}
