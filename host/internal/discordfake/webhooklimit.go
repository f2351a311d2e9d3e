package discordfake

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// hookLimit is Discord's rate limit per webhook: at most N requests (executes, edits, deletes of
// its messages) in any window of Per. Discord does not publish it; 5 per 2 s is what bots observe.
type hookLimit struct {
	N   int
	Per time.Duration
}

// DefaultWebhookRateLimit is the per-webhook limit bots observe on Discord: 5 requests per 2 s.
var DefaultWebhookRateLimit = hookLimit{N: 5, Per: 2 * time.Second}

// WithWebhookRateLimit makes every webhook take at most n requests per window, answering the
// rest with 429 and Discord's headers (Retry-After, X-RateLimit-Remaining 0,
// X-RateLimit-Reset-After) as Discord does; successful requests carry the bucket's real
// X-RateLimit-Limit, -Remaining and -Reset-After, so a client that reads them never hits a 429.
// Off by default: tests that post thousands of replies through one webhook (tzurot bench) would
// otherwise measure the limit, not the bot.
func WithWebhookRateLimit(n int, per time.Duration) Option {
	return func(s *Server) { s.hookLimit = hookLimit{N: n, Per: per} }
}

// WebhookRateLimited returns how many webhook requests the per-webhook limit refused with 429.
func (s *Server) WebhookRateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hook429s
}

// webhookAllow applies the per-webhook limit to a request of webhook id. It writes the 429 and
// returns false when the request is over it; otherwise it counts the request and sets the
// bucket's headers.
func (s *Server) webhookAllow(w http.ResponseWriter, id string) bool {
	s.mu.Lock()
	lim := s.hookLimit
	if lim.N <= 0 {
		s.mu.Unlock()
		return true
	}
	now := time.Now()
	if s.hookCalls == nil {
		s.hookCalls = map[string][]time.Time{}
	}
	calls := s.hookCalls[id]
	for len(calls) > 0 && now.Sub(calls[0]) >= lim.Per {
		calls = calls[1:]
	}
	allowed := len(calls) < lim.N
	if allowed {
		calls = append(calls, now)
	} else {
		s.hook429s++
	}
	s.hookCalls[id] = calls
	// The window frees its oldest slot at resetAfter.
	resetAfter := lim.Per - now.Sub(calls[0])
	remaining := lim.N - len(calls)
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-RateLimit-Bucket", "webhook-"+id)
	h.Set("X-RateLimit-Limit", strconv.Itoa(lim.N))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset-After", fmt.Sprintf("%.3f", resetAfter.Seconds()))
	h.Set("X-RateLimit-Reset", fmt.Sprintf("%.3f", float64(now.Add(resetAfter).UnixMilli())/1000))
	if allowed {
		return true
	}
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(resetAfter.Seconds()))))
	h.Set("X-RateLimit-Scope", "shared")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"message": "You are being rate limited.", "retry_after": math.Round(resetAfter.Seconds()*1000) / 1000, "global": false,
	})
	return false
}

// Edit is one edit of a message, as the message read after it.
type Edit struct {
	Content string
	Files   int // files the edit attached
	At      time.Time
}

// Edits returns the edits of message id, oldest first.
func (s *Server) Edits(messageID string) []Edit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Edit(nil), s.edits[messageID]...)
}
