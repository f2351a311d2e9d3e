package discord

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/disgoorg/disgo/httpserver"
)

// maxInteractionBody caps an interaction POST. Real ones are a few KiB; resolved data for a
// command with many options stays well under this.
const maxInteractionBody = 1 << 20

// clockSkew is how far in the future an X-Signature-Timestamp may be, for clocks that disagree
// by a little.
const clockSkew = 30 * time.Second

// interactionEndpoint serves Discord's HTTP interactions. disgo's handler verifies the ed25519
// signature but not the timestamp, so a captured request could be replayed forever. In front of
// it this endpoint:
//
//  1. verifies the signature itself (so unsigned junk cannot fill the replay cache);
//  2. rejects timestamps older than the window or more than clockSkew in the future;
//  3. rejects a signature it has already seen within the window (a replay).
//
// Rejections answer 401, as Discord expects for requests that fail verification.
type interactionEndpoint struct {
	key    httpserver.PublicKey
	window time.Duration
	now    func() time.Time
	log    *slog.Logger
	next   http.Handler

	mu        sync.Mutex
	seen      map[string]time.Time // signature -> when it stops mattering (timestamp + window)
	lastSweep time.Time
}

func newInteractionEndpoint(publicKeyHex string, window time.Duration, now func() time.Time, log *slog.Logger,
	handle httpserver.EventHandlerFunc) (*interactionEndpoint, error) {
	key, err := hex.DecodeString(publicKeyHex)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("discord: the interactions public key must be the 64 hex characters from the developer portal's General Information page")
	}
	if window <= 0 {
		window = DefaultReplayWindow
	}
	return &interactionEndpoint{
		key: key, window: window, now: now, log: log, seen: map[string]time.Time{},
		next: httpserver.HandleInteraction(httpserver.DefaultVerifier{}, key, log, handle),
	}, nil
}

func (e *interactionEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInteractionBody))
	if err != nil {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !httpserver.VerifyRequest(httpserver.DefaultVerifier{}, r, e.key) {
		e.reject(w, r, "invalid signature")
		return
	}
	sig := r.Header.Get("X-Signature-Ed25519")
	ts, err := strconv.ParseInt(r.Header.Get("X-Signature-Timestamp"), 10, 64)
	if err != nil {
		e.reject(w, r, "timestamp is not a number")
		return
	}
	sent := time.Unix(ts, 0)
	now := e.now()
	switch {
	case now.Sub(sent) > e.window:
		e.reject(w, r, "timestamp too old")
		return
	case sent.Sub(now) > clockSkew:
		e.reject(w, r, "timestamp in the future")
		return
	}
	if !e.firstSighting(sig, sent.Add(e.window), now) {
		e.reject(w, r, "replayed request")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	e.next.ServeHTTP(w, r)
}

// firstSighting records sig and reports whether it was new. Entries are swept once they are
// older than the window: by then the timestamp check rejects a replay anyway.
func (e *interactionEndpoint) firstSighting(sig string, expires, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.Sub(e.lastSweep) > e.window/4 {
		for s, exp := range e.seen {
			if now.After(exp) {
				delete(e.seen, s)
			}
		}
		e.lastSweep = now
	}
	if _, dup := e.seen[sig]; dup {
		return false
	}
	e.seen[sig] = expires
	return true
}

func (e *interactionEndpoint) reject(w http.ResponseWriter, r *http.Request, why string) {
	e.log.Warn("rejected an HTTP interaction", slog.String("reason", why), slog.String("remote", r.RemoteAddr))
	http.Error(w, "invalid request signature", http.StatusUnauthorized)
}
