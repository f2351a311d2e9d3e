package discord

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/disgoorg/disgo/rest"
)

func testLimiter() *rateLimiter {
	return newRateLimiter(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func response(status int, headers map[string]string) *http.Response {
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: status, Header: h}
}

func TestRateLimiterOneRequestPerRouteAtATime(t *testing.T) {
	l := testLimiter()
	first := rest.CreateMessage.Compile(nil, 1)
	if err := l.Wait(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	// While the first request holds the channel's bucket, a second one cannot start.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(cancelled, rest.CreateMessage.Compile(nil, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("second request on a busy route: %v, want it to wait", err)
	}
	// Another channel is another bucket.
	other := rest.CreateMessage.Compile(nil, 2)
	if err := l.Wait(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(other, nil); err != nil {
		t.Fatal(err)
	}
	ok := response(200, map[string]string{"X-RateLimit-Bucket": "b", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset-After": "1", "Via": "1.1 google"})
	if err := l.Unlock(first, ok); err != nil {
		t.Fatal(err)
	}
	second := rest.CreateMessage.Compile(nil, 1)
	if err := l.Wait(context.Background(), second); err != nil {
		t.Fatalf("after the first request finished: %v", err)
	}
	_ = l.Unlock(second, nil)
}

func TestRateLimiter429(t *testing.T) {
	l := testLimiter()
	deadline := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	ep := rest.CreateMessage.Compile(nil, 1)
	if err := l.Wait(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	limited := response(429, map[string]string{"X-RateLimit-Bucket": "b", "Retry-After": "30", "Via": "1.1 google"})
	if err := l.Unlock(ep, limited); err != nil {
		t.Fatal(err)
	}
	// The route is limited for 30 s: a request that must finish within 1 s gives up at once.
	if err := l.Wait(deadline(), rest.CreateMessage.Compile(nil, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("limited route: %v", err)
	}
	other := rest.CreateMessage.Compile(nil, 2)
	if err := l.Wait(deadline(), other); err != nil {
		t.Fatalf("another route is not limited: %v", err)
	}
	// A 429 without Discord's Via header is Cloudflare's and stops everything.
	if err := l.Unlock(other, response(429, map[string]string{"X-RateLimit-Bucket": "c", "Retry-After": "30"})); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(deadline(), rest.SendTyping.Compile(nil, 3)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after a global limit: %v", err)
	}
}

func TestRateLimiterCloseDoesNotHang(t *testing.T) {
	l := testLimiter()
	inFlight := rest.CreateMessage.Compile(nil, 1)
	if err := l.Wait(context.Background(), inFlight); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Close(ctx) // returns although a request never finished (disgo's own limiter hangs here)
	if err := l.Wait(context.Background(), rest.CreateMessage.Compile(nil, 2)); !errors.Is(err, errRESTClosed) {
		t.Fatalf("request after Close: %v", err)
	}
	if err := l.Unlock(inFlight, nil); err != nil {
		t.Fatal(err)
	}
}
