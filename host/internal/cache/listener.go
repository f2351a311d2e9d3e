package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channel is the PostgreSQL notification channel of migration 00015.
const Channel = "tzurot_cache"

// Kinds of notification (the payload is "<kind>:<id>").
const (
	KindUser        = 'u' // users.id: the user row or their preferences
	KindPersonality = 'p' // personalities.id: the personality or anything read with it
	KindKeys        = 'k' // users.id: that user's API keys
	// KindMemory: personalities.id: its memories, knowledge, training
	// examples or imported personalizations (migration 00018).
	KindMemory = 'm'
	// KindPersona: users.id: that user's personas (migration 00018).
	KindPersona = 'n'
)

// Subscriber is told about changes. Invalidate runs on the listener's
// goroutine: it must be quick and must not block.
type Subscriber interface {
	// Invalidate drops what is cached for the id (see the Kind constants).
	Invalidate(kind byte, id int64)
	// Reset drops everything; live says whether notifications are flowing.
	Reset(live bool)
}

// Listener holds the process's one LISTEN connection. Run it in its own
// goroutine; it reconnects until its context ends.
type Listener struct {
	connect func(context.Context) (*pgx.Conn, error)
	log     *slog.Logger
	subs    []Subscriber

	mu        sync.Mutex
	connected bool
	waiters   []chan struct{}
	// Received counts notifications (tests wait on it, never on time).
	received uint64
}

// NewListener returns a listener that connects with cfg (a copy is used).
func NewListener(cfg *pgx.ConnConfig, log *slog.Logger, subs ...Subscriber) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.Copy()
	cfg.Tracer = nil // the pool's query tracer (if any) is not for this connection
	return &Listener{
		connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) },
		log:     log.With("component", "cache"),
		subs:    subs,
	}
}

// Run listens until ctx ends. Every subscriber starts not live; it becomes
// live once LISTEN succeeded and goes back to not live (everything dropped)
// whenever the connection is lost, until it is back.
func (l *Listener) Run(ctx context.Context) {
	l.reset(false)
	defer l.reset(false)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := l.session(ctx, func() { backoff = 50 * time.Millisecond })
		l.reset(false)
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("cache invalidation connection lost; caching is off until it is back", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// session connects, listens and dispatches until the connection fails.
func (l *Listener) session(ctx context.Context, up func()) error {
	conn, err := l.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Anything may have changed while nobody listened.
	l.reset(true)
	up()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.dispatch(n.Payload)
	}
}

func (l *Listener) dispatch(payload string) {
	kind, idText, ok := strings.Cut(payload, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || len(kind) != 1 || err != nil {
		// Not ours to understand: drop everything rather than guess.
		l.log.Warn("unexpected cache notification; dropping every cached value", slog.String("payload", payload))
		l.reset(true)
	} else {
		for _, s := range l.subs {
			s.Invalidate(kind[0], id)
		}
	}
	l.mu.Lock()
	l.received++
	l.wake()
	l.mu.Unlock()
}

func (l *Listener) reset(live bool) {
	for _, s := range l.subs {
		s.Reset(live)
	}
	l.mu.Lock()
	l.connected = live
	l.wake()
	l.mu.Unlock()
}

// wake tells every Changed waiter (l.mu held).
func (l *Listener) wake() {
	for _, w := range l.waiters {
		close(w)
	}
	l.waiters = nil
}

// Changed returns a channel closed at the next notification or change of
// connection state, with the state as it is now: tests wait on it in a loop
// instead of sleeping.
func (l *Listener) Changed() (ch <-chan struct{}, connected bool, received uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := make(chan struct{})
	l.waiters = append(l.waiters, w)
	return w, l.connected, l.received
}

// WaitConnected blocks until the listener is connected (or ctx ends).
func (l *Listener) WaitConnected(ctx context.Context) error {
	for {
		ch, connected, _ := l.Changed()
		if connected {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errors.Join(errors.New("cache listener: not connected"), ctx.Err())
		}
	}
}
