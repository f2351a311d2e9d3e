// Package logtest holds what tests need to assert on log output: a buffer
// that many goroutines (handlers, plugins, the bot) may write to at once.
package logtest

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is an io.Writer for a slog handler that tests can read while the
// code under test is still writing.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it is safe for concurrent use.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count reports how many times substr occurs in what was written so far.
func (b *Buffer) Count(substr string) int { return strings.Count(b.String(), substr) }
