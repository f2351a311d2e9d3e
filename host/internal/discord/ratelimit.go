package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/disgoorg/disgo/rest"
)

// rateLimiter replaces disgo v0.19.6's default REST rate limiter, which has two defects that
// matter here:
//
//   - a data race: its Wait reads a bucket's fields (for a debug log) before locking the bucket,
//     while Unlock writes them, so two concurrent requests on one route (two replies through one
//     webhook) trip `go test -race`, and its global reset time is read and written unlocked;
//   - a hang: its Close locks the bucket map and never unlocks it, so a request in flight (or any
//     request after Close) blocks forever, and its cleanup goroutine leaks.
//
// This one keeps disgo's behaviour (one request at a time per route and major parameter, wait
// for the bucket's reset when Remaining hits 0, a global pause on global or Cloudflare 429s, up to
// rest.MaxRetries retries of a 429) with all shared state under one mutex, and a Close that waits
// for requests in flight until its context ends and then makes later requests fail fast.
type rateLimiter struct {
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	global    time.Time // no request before this (global or Cloudflare limit)
	buckets   map[string]*bucket
	held      map[*rest.CompiledEndpoint]*bucket // requests between Wait and Unlock
	closed    bool
	lastSweep time.Time
}

// bucket is one route's limit. sem is held from Wait to Unlock: one request at a time, as in
// disgo. remaining and reset are guarded by rateLimiter.mu.
type bucket struct {
	sem       chan struct{}
	remaining int
	reset     time.Time
}

var errRESTClosed = errors.New("the Discord REST client is closed")

func newRateLimiter(log *slog.Logger) *rateLimiter {
	return &rateLimiter{log: log, now: time.Now, buckets: map[string]*bucket{}, held: map[*rest.CompiledEndpoint]*bucket{}}
}

var _ rest.RateLimiter = (*rateLimiter)(nil)

func (l *rateLimiter) MaxRetries() int { return rest.MaxRetries }

func bucketKey(ep *rest.CompiledEndpoint) string {
	return ep.Endpoint.Method + "+" + ep.Endpoint.Route + "+" + ep.MajorParams
}

func (l *rateLimiter) bucket(key string) (*bucket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errRESTClosed
	}
	now := l.now()
	if now.Sub(l.lastSweep) > time.Minute {
		// Drop idle buckets (per-channel and per-webhook routes would otherwise pile up).
		for k, b := range l.buckets {
			if now.After(b.reset) && len(b.sem) == 0 {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{sem: make(chan struct{}, 1), remaining: 1}
		l.buckets[key] = b
	}
	return b, nil
}

// Wait locks the endpoint's bucket and sleeps until a request is allowed.
func (l *rateLimiter) Wait(ctx context.Context, ep *rest.CompiledEndpoint) error {
	b, err := l.bucket(bucketKey(ep))
	if err != nil {
		return err
	}
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.now()
	until := l.global
	if b.remaining <= 0 && b.reset.After(until) {
		until = b.reset
	}
	l.mu.Unlock()
	if until.After(now) {
		if deadline, ok := ctx.Deadline(); ok && until.After(deadline) {
			<-b.sem
			return fmt.Errorf("discord rate limit lasts until %s, past the request's deadline: %w", until.Format(time.TimeOnly), context.DeadlineExceeded)
		}
		timer := time.NewTimer(until.Sub(now))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			<-b.sem
			return ctx.Err()
		}
	}
	// Unlock must release this very bucket, even if the map changed meanwhile.
	l.mu.Lock()
	l.held[ep] = b
	l.mu.Unlock()
	return nil
}

// Unlock records the response's rate-limit headers and releases the bucket.
func (l *rateLimiter) Unlock(ep *rest.CompiledEndpoint, rs *http.Response) error {
	l.mu.Lock()
	b := l.held[ep]
	delete(l.held, ep)
	l.mu.Unlock()
	if b == nil {
		return nil
	}
	defer func() { <-b.sem }()
	if rs == nil || rs.Header.Get("X-RateLimit-Bucket") == "" {
		return nil
	}
	h := rs.Header
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if rs.StatusCode == http.StatusTooManyRequests {
		secs, err := strconv.ParseFloat(h.Get("Retry-After"), 64)
		if err != nil {
			return fmt.Errorf("discord answered 429 with an unreadable Retry-After %q: %w", h.Get("Retry-After"), err)
		}
		reset := now.Add(time.Duration(secs * float64(time.Second)))
		// A 429 without Discord's Via header comes from Cloudflare and applies to everything.
		if h.Get("X-RateLimit-Global") != "" || h.Get("X-RateLimit-Scope") == "global" || h.Get("Via") == "" {
			l.global = reset
			l.log.Warn("discord global rate limit", slog.Float64("retry_after_seconds", secs))
		} else {
			b.remaining, b.reset = 0, reset
			l.log.Warn("discord rate limit", slog.String("route", ep.Endpoint.Route), slog.Float64("retry_after_seconds", secs))
		}
		return nil
	}
	if v, err := strconv.Atoi(h.Get("X-RateLimit-Remaining")); err == nil {
		b.remaining = v
	}
	if v, err := strconv.ParseFloat(h.Get("X-RateLimit-Reset-After"), 64); err == nil {
		b.reset = now.Add(time.Duration(v * float64(time.Second)))
	}
	return nil
}

// Reset forgets every bucket and the global pause.
func (l *rateLimiter) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.global = time.Time{}
	clear(l.buckets) // held buckets stay in l.held until their Unlock
}

// Close waits (until ctx ends) for requests in flight, and makes later requests fail.
func (l *rateLimiter) Close(ctx context.Context) {
	l.mu.Lock()
	l.closed = true
	buckets := make([]*bucket, 0, len(l.buckets))
	for _, b := range l.buckets {
		buckets = append(buckets, b)
	}
	l.mu.Unlock()
	for _, b := range buckets {
		select {
		case b.sem <- struct{}{}:
			<-b.sem
		case <-ctx.Done():
			return
		}
	}
}
