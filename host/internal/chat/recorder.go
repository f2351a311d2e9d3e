package chat

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// ReplyWriter persists what a reply leaves behind; *store.Store implements it.
type ReplyWriter interface {
	RecordReplies(ctx context.Context, recs []store.ReplyRecord) error
}

// recorder writes reply records with group commit: every record that
// arrives while a write is in flight joins the next one, so under load one
// commit carries many replies (a commit costs ~0.4 ms of WAL flush; a
// round trip with many rows costs little more than with one). Callers wait
// for their own record to be durable.
//
// A batch that fails because the database went away is retried with backoff
// (the writes are idempotent, see store.RecordReplies). A batch the database
// refuses is split and written one record at a time, so one bad record
// cannot take the others down with it.
type recorder struct {
	w        ReplyWriter
	log      *slog.Logger
	retry    RetryPolicy
	maxBatch int

	mu      sync.Mutex
	queue   []*pendingRecord
	closed  bool
	wake    chan struct{}
	stopped chan struct{}
}

type pendingRecord struct {
	rec  store.ReplyRecord
	ctx  context.Context
	done chan error
}

// errRecorderClosed is returned for records offered after Close.
var errRecorderClosed = errors.New("the reply recorder is shut down")

func newRecorder(w ReplyWriter, log *slog.Logger, retry RetryPolicy, maxBatch int) *recorder {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	r := &recorder{w: w, log: log, retry: retry, maxBatch: maxBatch,
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go r.run()
	return r
}

// Record queues rec and waits until it is written (or ctx ends, in which case
// the write still happens in the background).
func (r *recorder) Record(ctx context.Context, rec store.ReplyRecord) error {
	p := &pendingRecord{rec: rec, ctx: context.WithoutCancel(ctx), done: make(chan error, 1)}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errRecorderClosed
	}
	r.queue = append(r.queue, p)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking records and returns once every queued record has been
// written (or ctx ends).
func (r *recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.wake)
	}
	r.mu.Unlock()
	select {
	case <-r.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *recorder) run() {
	defer close(r.stopped)
	for {
		_, open := <-r.wake
		for {
			r.mu.Lock()
			n := min(len(r.queue), r.maxBatch)
			batch := r.queue[:n:n]
			r.queue = r.queue[n:]
			r.mu.Unlock()
			if n == 0 {
				break
			}
			r.write(batch)
		}
		if !open {
			return
		}
	}
}

// write persists a batch, retrying while the database is away, and splits
// it when the database refuses it.
func (r *recorder) write(batch []*pendingRecord) {
	recs := make([]store.ReplyRecord, len(batch))
	for i, p := range batch {
		recs[i] = p.rec
	}
	// The batch outlives any one caller: it uses no caller's cancellation.
	err := r.retry.do(context.Background(), func(ctx context.Context) error {
		return r.w.RecordReplies(ctx, recs)
	})
	if err != nil && len(batch) > 1 && !transient(err) {
		r.log.Warn("a batch of reply records was refused; writing them one by one", slog.Int("records", len(batch)), slog.Any("err", err))
		for _, p := range batch {
			r.write([]*pendingRecord{p})
		}
		return
	}
	if err != nil {
		r.log.Error("reply record not written", slog.Int("records", len(batch)), slog.Any("err", err))
	}
	for _, p := range batch {
		p.done <- err
	}
}
