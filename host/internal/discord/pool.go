package discord

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// pool runs event handlers off the gateway's read loop. disgo calls listeners on the goroutine
// that reads the websocket, and a handler that waits on a model would stall heartbeat ACKs until
// disgo declares the connection a zombie. So every event becomes a tracked goroutine:
//
//   - at most `workers` handlers run at once (a semaphore), so a burst cannot start thousands of
//     model calls;
//   - at most `maxPending` events wait for a slot; beyond that new events are dropped with a
//     warning rather than growing memory without bound (Discord does not redeliver, but a bot
//     that far behind is better off skipping than falling further behind);
//   - shutdown stops new submissions and waits for the running and waiting ones (drain).
type pool struct {
	log        *slog.Logger
	sem        chan struct{}
	maxPending int
	ctx        context.Context // handlers' context, cancelled when drain gives up

	mu      sync.Mutex
	closed  bool
	pending int // submitted and not yet finished
	wg      sync.WaitGroup
}

func newPool(ctx context.Context, log *slog.Logger, workers, maxPending int) *pool {
	return &pool{log: log, sem: make(chan struct{}, workers), maxPending: maxPending, ctx: ctx}
}

// submit runs f on a worker. It never blocks; it returns false when the event was dropped
// (pool closed or too many pending).
func (p *pool) submit(what string, f func(ctx context.Context)) bool {
	return p.submitAfter(what, nil, f)
}

// submitAfter is submit, but f waits for after to be closed (or the pool's context to end)
// before it takes a worker slot: events chained this way run one after another in submission
// order, and a waiting event never holds a slot its predecessor needs.
func (p *pool) submitAfter(what string, after <-chan struct{}, f func(ctx context.Context)) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.log.Debug("event arrived during shutdown; dropped", slog.String("event", what))
		return false
	}
	if p.pending >= p.maxPending {
		p.mu.Unlock()
		p.log.Warn("too many events waiting for a worker; event dropped",
			slog.String("event", what), slog.Int("pending", p.maxPending))
		return false
	}
	p.pending++
	p.wg.Add(1)
	p.mu.Unlock()

	go func() {
		defer func() {
			p.mu.Lock()
			p.pending--
			p.mu.Unlock()
			p.wg.Done()
		}()
		if after != nil {
			select {
			case <-after:
			case <-p.ctx.Done():
				return
			}
		}
		select {
		case p.sem <- struct{}{}:
		case <-p.ctx.Done():
			return
		}
		defer func() { <-p.sem }()
		defer func() {
			if r := recover(); r != nil {
				p.log.Error("event handler panicked", slog.String("event", what),
					slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
			}
		}()
		f(p.ctx)
	}()
	return true
}

// close stops new submissions. It is idempotent.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// wait blocks until every submitted handler has returned or ctx is done; it reports how many
// were still running.
func (p *pool) wait(ctx context.Context) (unfinished int) {
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.pending
	}
}
