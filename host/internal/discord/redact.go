package discord

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
)

// Discord credentials travel in places a log line or an error message can reach: webhook and
// interaction tokens are path segments of their URLs (so net/http's *url.Error repeats them),
// webhook JSON carries "token", and disgo's debug log prints request URLs, response bodies and the
// IDENTIFY payload with the bot token. redactor masks all three before text leaves this package.
// The process-wide log handler (package redact) masks by shape as well; this is the Discord-aware
// layer underneath it.
var (
	tokenInPath = regexp.MustCompile(`(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9_\-.]+`)
	tokenInJSON = regexp.MustCompile(`("token"\s*:\s*")[^"]*(")`)
)

const masked = "[redacted]"

type redactor struct {
	botToken string
}

// String masks Discord credentials in s.
func (r redactor) String(s string) string {
	if r.botToken != "" && strings.Contains(s, r.botToken) {
		s = strings.ReplaceAll(s, r.botToken, masked)
	}
	if strings.Contains(s, "/webhooks/") || strings.Contains(s, "/interactions/") {
		s = tokenInPath.ReplaceAllString(s, "${1}"+masked)
	}
	if strings.Contains(s, `"token"`) {
		s = tokenInJSON.ReplaceAllString(s, "${1}"+masked+"${2}")
	}
	return s
}

// Error returns err with its message masked. errors.Is and errors.As still see the original.
func (r redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := r.String(msg); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactingHandler masks Discord credentials in every record passed to the handler it wraps.
// It is the logger given to disgo.
type redactingHandler struct {
	next slog.Handler
	r    redactor
}

// Enabled never lets disgo's debug records through: at debug disgo prints whole request and
// interaction bodies, and a modal submit body carries the API key a user typed into /wallet set.
// Token masking cannot know every provider's key shape, so those records are dropped instead.
func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && h.next.Enabled(ctx, l)
}

func (h redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return redactingHandler{next: h.next.WithAttrs(clean), r: h.r}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{next: h.next.WithGroup(name), r: h.r}
}

func (h redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = h.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.Any(a.Key, h.r.Error(err))
		}
		return slog.String(a.Key, h.r.String(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
