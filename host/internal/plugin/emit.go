package plugin

import (
	"context"
	"log/slog"
)

// Caps on what one call may push through emit (streamed partial text).
// Streaming is a preview: the final ChatResponse holds the whole text, so
// dropping emits loses nothing the user keeps. Without caps a plugin could
// push a 50 MB chunk or 100,000 chunks at the caller (Discord edits).
const (
	maxEmitBytes    = 64 << 10 // one emit
	maxEmitsPerCall = 10_000
	// The bytes of all of a call's emits are capped at the plugin's
	// max_response_bytes, like its answer.
)

// emitBudget counts one call's emits. Once an emit is over a cap, it and
// every later emit of the call are dropped (a stream with holes would be
// worse than one that stops), and the call ends with one log line.
type emitBudget struct {
	count, bytes int64
	stopped      string // why emits are being dropped; "" while they flow
	dropped      int64
	droppedBytes int64
}

// admit reports whether an emit of n bytes may be forwarded and counts it.
func (b *emitBudget) admit(n, maxCallBytes int64) bool {
	if b.stopped == "" {
		switch {
		case n > maxEmitBytes:
			b.stopped = "an emit was larger than the per-emit cap"
		case b.count >= maxEmitsPerCall:
			b.stopped = "the call emitted more chunks than the per-call cap"
		case b.bytes+n > maxCallBytes:
			b.stopped = "the call emitted more bytes than max_response_bytes"
		}
	}
	if b.stopped != "" {
		b.dropped++
		b.droppedBytes += n
		return false
	}
	b.count++
	b.bytes += n
	return true
}

// report logs, once per call, that emits were dropped.
func (b *emitBudget) report(ctx context.Context, log *slog.Logger, requestID string, maxCallBytes int64) {
	if b.dropped == 0 {
		return
	}
	log.WarnContext(ctx, "plugin emits dropped", "request_id", requestID, "reason", b.stopped,
		"dropped", b.dropped, "bytes_dropped", b.droppedBytes, "forwarded", b.count,
		"max_emit_bytes", maxEmitBytes, "max_emits", maxEmitsPerCall, "max_response_bytes", maxCallBytes)
}
