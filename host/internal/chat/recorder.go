package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/tzurot-go/tzurot/host/internal/metrics"
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
//
// A batch still failing because the database is away when the retry policy
// gives up is not dropped: it goes to the spool, in memory, which a flusher
// keeps writing (with backoff) until the database is back, so a reply posted
// during an outage is billed and mapped once it ends. The spool is bounded
// (maxSpool records); a record beyond it, or one still spooled when Close
// gives up, is logged at error level with everything needed to write it by
// hand (docs/pipeline.md, "The database going away").
type recorder struct {
	w        ReplyWriter
	metrics  *metrics.Metrics // counts usage tokens; nil: not counted
	log      *slog.Logger
	retry    RetryPolicy
	maxBatch int
	maxSpool int

	mu      sync.Mutex
	queue   []*pendingRecord
	closed  bool
	wake    chan struct{}
	stopped chan struct{}

	spoolMu    sync.Mutex
	spool      []store.ReplyRecord
	spoolWake  chan struct{}
	flushQuit  chan struct{} // closed when Close gives up on the spool
	flushDone  chan struct{}
	spoolEmpty *sync.Cond // signalled whenever the spool empties (guarded by spoolMu)
}

type pendingRecord struct {
	rec  store.ReplyRecord
	ctx  context.Context
	done chan error
}

// errRecorderClosed is returned for records offered after Close.
var errRecorderClosed = errors.New("the reply recorder is shut down")

// errSpooled is returned for a record that could not be written because the
// database is away: it is kept in memory and written when the database is
// back.
var errSpooled = errors.New("the database is unreachable: the record is kept in memory and will be written when it is back")

// errSpoolFull is returned for a record the database could not take when
// the spool was full: it is logged (with its numbers) and dropped.
var errSpoolFull = errors.New("the database is unreachable and the in-memory spool is full: the record was logged and dropped")

// DefaultMaxSpool bounds the reply records kept in memory while the
// database is away (a record is a few hundred bytes).
const DefaultMaxSpool = 10000

func newRecorder(w ReplyWriter, log *slog.Logger, retry RetryPolicy, maxBatch, maxSpool int) *recorder {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	if maxSpool <= 0 {
		maxSpool = DefaultMaxSpool
	}
	r := &recorder{w: w, log: log, retry: retry, maxBatch: maxBatch, maxSpool: maxSpool,
		wake: make(chan struct{}, 1), stopped: make(chan struct{}),
		spoolWake: make(chan struct{}, 1), flushQuit: make(chan struct{}), flushDone: make(chan struct{})}
	r.spoolEmpty = sync.NewCond(&r.spoolMu)
	go r.run()
	go r.flush()
	return r
}

// Record queues rec and waits until it is written (or ctx ends, in which case
// the write still happens in the background).
func (r *recorder) Record(ctx context.Context, rec store.ReplyRecord) error {
	for _, u := range rec.Usage {
		r.metrics.Usage(u.Provider, u.Kind, int64(u.InputTokens), int64(u.OutputTokens), int64(u.ReasoningTokens))
	}
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

// Close stops taking records and returns once every queued and spooled
// record has been written (or ctx ends; spooled records left then are
// logged, one error line each, and lost).
func (r *recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.wake)
	}
	r.mu.Unlock()
	select {
	case <-r.stopped:
	case <-ctx.Done():
		r.giveUp()
		return ctx.Err()
	}
	empty := make(chan struct{})
	go func() {
		r.spoolMu.Lock()
		for len(r.spool) > 0 {
			r.spoolEmpty.Wait()
		}
		r.spoolMu.Unlock()
		close(empty)
	}()
	select {
	case <-empty:
		r.stopFlusher()
		return nil
	case <-ctx.Done():
		r.giveUp()
		return fmt.Errorf("reply records still in memory at shutdown: %w", ctx.Err())
	}
}

// stopFlusher ends the flusher goroutine once.
func (r *recorder) stopFlusher() {
	r.spoolMu.Lock()
	select {
	case <-r.flushQuit:
	default:
		close(r.flushQuit)
	}
	r.spoolMu.Unlock()
	<-r.flushDone
}

// giveUp stops flushing and logs every record left in the spool: they are
// lost with this process, and the log is where an operator finds them.
func (r *recorder) giveUp() {
	r.stopFlusher()
	r.spoolMu.Lock()
	left := r.spool
	r.spool = nil
	r.spoolEmpty.Broadcast()
	r.spoolMu.Unlock()
	for _, rec := range left {
		r.logLost("reply record lost at shutdown: the database never came back", rec)
	}
}

// logLost writes one record to the log at error level, with what it takes
// to write it by hand: request ids, user, personality, tokens, delivery and
// message ids (never text).
func (r *recorder) logLost(msg string, rec store.ReplyRecord) {
	attrs := []any{}
	for _, u := range rec.Usage {
		attrs = append(attrs, slog.Group("usage", slog.String("request_id", u.RequestID), slog.Int64("user_id", u.UserID),
			slog.Int64("personality_id", u.PersonalityID), slog.String("provider", u.Provider), slog.String("model", u.Model),
			slog.Int("input_tokens", u.InputTokens), slog.Int("output_tokens", u.OutputTokens), slog.Int("reasoning_tokens", u.ReasoningTokens),
			slog.String("delivery", u.Delivery)))
	}
	for _, m := range rec.Messages {
		attrs = append(attrs, slog.Group("message", slog.String("message_id", m.MessageID), slog.Int64("personality_id", m.PersonalityID),
			slog.String("channel_id", m.ChannelID), slog.Int64("user_id", m.UserID)))
	}
	r.log.Error(msg, attrs...)
}

// toSpool keeps records the database could not take; those beyond the bound
// are logged and dropped. It returns how many (from the first) it kept.
func (r *recorder) toSpool(recs []store.ReplyRecord) int {
	r.spoolMu.Lock()
	room := r.maxSpool - len(r.spool)
	select {
	case <-r.flushQuit:
		room = 0 // shutting down: nobody will flush them
	default:
	}
	keep := recs[:min(max(room, 0), len(recs))]
	r.spool = append(r.spool, keep...)
	n := len(r.spool)
	r.spoolMu.Unlock()
	for _, rec := range recs[len(keep):] {
		r.logLost("reply record dropped: the database is away and the in-memory spool is full", rec)
	}
	if len(keep) > 0 {
		r.log.Warn("database unreachable: reply records kept in memory until it is back", slog.Int("records", len(keep)), slog.Int("spooled", n))
	}
	select {
	case r.spoolWake <- struct{}{}:
	default:
	}
	return len(keep)
}

// writeSpooled writes a batch from the spool. It fails only while the
// database is away; records the database refuses are logged and dropped.
func (r *recorder) writeSpooled(ctx context.Context, batch []store.ReplyRecord) error {
	err := r.w.RecordReplies(ctx, batch)
	if err == nil || transient(err) || ctx.Err() != nil {
		return err
	}
	// Refused (not away): write one by one, so one bad record cannot keep
	// the others out.
	for _, rec := range batch {
		if err := r.w.RecordReplies(ctx, []store.ReplyRecord{rec}); err != nil {
			if transient(err) || ctx.Err() != nil {
				return err
			}
			r.log.Error("a spooled reply record was refused by the database", slog.Any("err", err))
			r.logLost("reply record refused", rec)
		}
	}
	return nil
}

// flush writes the spool whenever it has records, retrying until the
// database is back or Close gives up.
func (r *recorder) flush() {
	defer close(r.flushDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.flushQuit
		cancel()
	}()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = r.retry.Initial, r.retry.Max, 0
	for {
		select {
		case <-r.spoolWake:
		case <-r.flushQuit:
			return
		}
		b.Reset()
		for {
			r.spoolMu.Lock()
			batch := slices.Clone(r.spool[:min(len(r.spool), r.maxBatch)])
			r.spoolMu.Unlock()
			if len(batch) == 0 {
				break
			}
			if err := r.writeSpooled(ctx, batch); err == nil {
				r.spoolMu.Lock()
				r.spool = r.spool[len(batch):]
				left := len(r.spool)
				if left == 0 {
					r.spool = nil
					r.spoolEmpty.Broadcast()
				}
				r.spoolMu.Unlock()
				r.log.Info("spooled reply records written: the database is back", slog.Int("records", len(batch)), slog.Int("left", left))
				b.Reset()
				continue
			}
			select {
			case <-time.After(b.NextBackOff()):
			case <-r.flushQuit:
				return
			}
		}
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
	if err != nil && transient(err) {
		// The database is still away: keep the records for later.
		kept := r.toSpool(recs)
		for i, p := range batch {
			if i < kept {
				p.done <- errSpooled
			} else {
				p.done <- errSpoolFull
			}
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
