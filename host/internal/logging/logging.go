// Package logging builds the process logger: tint on a terminal, JSON
// otherwise, with every line passed through the secret redactor.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"
	"golang.org/x/term"

	"github.com/tzurot-go/tzurot/host/internal/redact"
)

// Options configure New. The zero value reads the real environment.
type Options struct {
	// Getenv reads LOG_LEVEL, LOG_FORMAT and NO_COLOR; nil means os.Getenv.
	Getenv func(string) string
	// Environ lists the NAME=value pairs scanned for credentials to
	// register with Secrets (see ObserveEnvironment); nil means os.Environ.
	Environ func() []string
	// Secrets is the registry of exact secrets to mask. Pass the one the
	// vault reports its decrypted keys to; nil makes a private one that
	// only holds the credentials found in the environment.
	Secrets *redact.Secrets
	// AddSource adds the file:line of each log call.
	AddSource bool
}

// Format is how log lines are written.
type Format string

const (
	// FormatText is tint's coloured one-line format, for people.
	FormatText Format = "text"
	// FormatJSON is one JSON object per line, for log collectors.
	FormatJSON Format = "json"
)

// New returns the process logger writing to w.
//
// LOG_FORMAT=text|json chooses the format; unset, it is text when w is a
// terminal and JSON otherwise. LOG_LEVEL=debug|info|warn|error (with an
// optional offset such as warn+2) sets the level; unset, it is info.
// Colours are used only on a terminal and never when NO_COLOR is set.
//
// Before the logger is returned, the credentials in the environment are
// registered with opts.Secrets, so they are masked from the first line on.
func New(w io.Writer, opts Options) (*slog.Logger, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ
	}
	level, err := ParseLevel(getenv("LOG_LEVEL"))
	if err != nil {
		return nil, err
	}
	terminal := isTerminal(w)
	format, err := ParseFormat(getenv("LOG_FORMAT"), terminal)
	if err != nil {
		return nil, err
	}

	secrets := opts.Secrets
	if secrets == nil {
		secrets = redact.NewSecrets(0)
	}
	masked := ObserveEnvironment(secrets, environ())

	var next slog.Handler
	switch format {
	case FormatText:
		next = tint.NewTextHandler(w, &tint.Options{
			Level:       level,
			AddSource:   opts.AddSource,
			NoColor:     !terminal || getenv("NO_COLOR") != "",
			ReplaceAttr: errorsInRed,
		})
	default:
		next = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, AddSource: opts.AddSource})
	}
	logger := slog.New(redact.NewHandler(next, redact.New(secrets)))
	logger.Debug("log redaction ready", "masked_env_vars", strings.Join(masked, ","))
	return logger, nil
}

// ParseLevel reads a LOG_LEVEL value; empty means info.
func ParseLevel(s string) (slog.Level, error) {
	if strings.TrimSpace(s) == "" {
		return slog.LevelInfo, nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL=%q is not a log level: use debug, info, warn or error", s)
	}
	return level, nil
}

// ParseFormat reads a LOG_FORMAT value; empty (or "auto") means text on
// a terminal and JSON otherwise.
func ParseFormat(s string, terminal bool) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		if terminal {
			return FormatText, nil
		}
		return FormatJSON, nil
	case "text", "tint":
		return FormatText, nil
	case "json":
		return FormatJSON, nil
	}
	return "", fmt.Errorf("LOG_FORMAT=%q is not a log format: use text or json (or leave it unset to choose by terminal)", s)
}

// isTerminal reports whether w is a terminal (os.Stderr in a shell, not
// in a container's log pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// errorsInRed makes tint print error values in red, as tint.Err would;
// redaction replaces errors with their redacted text, which loses
// tint.Err's own colouring.
func errorsInRed(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindAny {
		if _, ok := a.Value.Any().(error); ok {
			return tint.Attr(9, a)
		}
	}
	return a
}
