// Package queue joins gateway and worker processes through River, a job queue on the PostgreSQL
// the host already uses (docs/scaling.md). A gateway process decides who answers a message and
// inserts a reply job in the same transaction as the row recording the message (transactional
// enqueue); a worker process runs the job: the chat pipeline answers the message from the job's
// snapshot and posts through webhooks. A single process (serve --role all) uses none of this.
//
// Order: replies to one channel are posted in the order the messages arrived. Every recorded
// message has a sequence number (its Discord snowflake, which grows with time); a worker answers a
// message only when no earlier message of the channel is still pending, and otherwise snoozes the
// job for a moment (OrderSnooze). A message is done once answered, or once its job gave up.
//
// Exactly once: each reply's delivery record (reply_deliveries, keyed by the request id) is
// claimed before the reply is posted; a job retried after a crash finds it and posts nothing.
// Usage rows are keyed by the same request id, so a reply is metered once.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/tzurot-go/tzurot/host/internal/chat"
)

// QueueReplies is the River queue reply jobs go to.
const QueueReplies = "replies"

// Defaults for Config.
const (
	// DefaultJobTimeout fits a slow LLM call with tools and speech (River's own default of one
	// minute does not).
	DefaultJobTimeout  = 5 * time.Minute
	DefaultMaxAttempts = 5
	DefaultWorkers     = 32
	DefaultOrderSnooze = 100 * time.Millisecond
	// fetchPoll is how often a worker looks for jobs that became available without a
	// notification: a snoozed job (River's default of one second would add up to a second to
	// every reply waiting for its channel's previous one).
	fetchPoll = 100 * time.Millisecond
	// DefaultOrderWait bounds how long a pending earlier message holds a channel's later ones:
	// longer than a job's whole retry budget is ever expected to take.
	DefaultOrderWait = 30 * time.Minute
)

// Config tunes the queue. The zero value takes the defaults.
type Config struct {
	// JobTimeout cancels a reply job running longer (default DefaultJobTimeout).
	JobTimeout time.Duration
	// RescueAfter is when a job whose worker died (SIGKILL, a lost machine) is run again by
	// another worker; at least JobTimeout (default JobTimeout + 1 minute).
	RescueAfter time.Duration
	// MaxAttempts bounds how often a failing job is tried; after the last the user gets the
	// error message with its reference id (default DefaultMaxAttempts).
	MaxAttempts int
	// Workers is how many reply jobs one worker process runs at once (default DefaultWorkers).
	Workers int
	// OrderSnooze is how long a job waits before looking again when an earlier message of its
	// channel is still pending (default DefaultOrderSnooze).
	OrderSnooze time.Duration
	// OrderWait is how old a pending earlier message may be and still hold its channel (default
	// DefaultOrderWait): a message whose job was deleted by hand must not block it forever.
	OrderWait time.Duration
	// RetryBase is the first retry's delay (default River's attempt^4 seconds policy).
	RetryBase time.Duration
}

func (c *Config) defaults() {
	if c.JobTimeout <= 0 {
		c.JobTimeout = DefaultJobTimeout
	}
	if c.RescueAfter < c.JobTimeout {
		c.RescueAfter = c.JobTimeout + time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.OrderSnooze <= 0 {
		c.OrderSnooze = DefaultOrderSnooze
	}
	if c.OrderWait <= 0 {
		c.OrderWait = DefaultOrderWait
	}
}

// ReplyArgs are a reply job's arguments: the message snapshot and who answers it, nothing else.
// Never a key or any secret: a worker reads keys itself, through the vault, when it calls the
// provider (a test reads river_job.args to hold this).
type ReplyArgs struct {
	Plan chat.Plan `json:"plan"`
	// Seq orders the channel's messages (the message's snowflake).
	Seq int64 `json:"seq"`
}

// Kind implements river.JobArgs.
func (ReplyArgs) Kind() string { return "reply" }

// Answerer is the part of the chat pipeline a worker runs (*chat.Pipeline).
type Answerer interface {
	Answer(ctx context.Context, plan chat.Plan, ledger chat.Ledger)
	FailPlan(ctx context.Context, plan chat.Plan, cause error, ledger chat.Ledger)
}

// Queue is a River client on the host's pool: insert-only in a gateway, working in a worker.
type Queue struct {
	pool    *pgxpool.Pool
	client  *river.Client[pgx.Tx]
	cfg     Config
	log     *slog.Logger
	working bool
}

// NewGateway returns a queue that only inserts jobs (Dispatch).
func NewGateway(pool *pgxpool.Pool, cfg Config, log *slog.Logger) (*Queue, error) {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger: log.With("component", "river"), MaxAttempts: cfg.MaxAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Queue{pool: pool, client: client, cfg: cfg, log: log.With("component", "queue")}, nil
}

// NewWorker returns a queue that runs reply jobs with a, once started.
func NewWorker(pool *pgxpool.Pool, a Answerer, cfg Config, log *slog.Logger) (*Queue, error) {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{pool: pool, cfg: cfg, log: log.With("component", "queue"), working: true}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &replyWorker{q: q, a: a}); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	rc := &river.Config{
		Logger:               log.With("component", "river"),
		Queues:               map[string]river.QueueConfig{QueueReplies: {MaxWorkers: cfg.Workers}},
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          cfg.MaxAttempts,
		FetchCooldown:        fetchPoll / 2,
		FetchPollInterval:    fetchPoll,
	}
	if cfg.RetryBase > 0 {
		rc.RetryPolicy = &linearRetry{base: cfg.RetryBase}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client = client
	return q, nil
}

// Start starts working jobs (a worker queue; a gateway's does nothing).
func (q *Queue) Start(ctx context.Context) error {
	if !q.working {
		return nil
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start the job queue: %w", err)
	}
	return nil
}

// Stop waits for the running jobs to finish (or ctx to end, when they are cancelled and go back
// to the queue for another worker).
func (q *Queue) Stop(ctx context.Context) error {
	if !q.working {
		return nil
	}
	err := q.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, q.client.StopAndCancel(cctx))
	}
	if err != nil {
		return fmt.Errorf("stop the job queue: %w", err)
	}
	return nil
}

// Dispatch implements chat.Dispatcher: it records the message and inserts its reply job in one
// transaction. A message recorded before (a gateway resuming its session and replaying events)
// is not enqueued twice.
func (q *Queue) Dispatch(ctx context.Context, plan chat.Plan) error {
	seq, err := strconv.ParseInt(plan.Message.ID, 10, 64)
	if err != nil {
		return fmt.Errorf("message id %q is not a Discord id: %w", plan.Message.ID, err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(lastErr, ctx.Err())
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		if lastErr = q.dispatch(ctx, plan, seq); lastErr == nil {
			return nil
		}
		q.log.Warn("cannot enqueue a reply job; trying again", slog.String("message_id", plan.Message.ID), slog.Any("err", lastErr))
	}
	return lastErr
}

func (q *Queue) dispatch(ctx context.Context, plan chat.Plan, seq int64) error {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tag, err := tx.Exec(ctx, `INSERT INTO incoming_messages (message_id, channel_id, seq) VALUES ($1, $2, $3)
		ON CONFLICT (message_id) DO NOTHING`, plan.Message.ID, plan.Message.ChannelID, seq)
	if err != nil {
		return fmt.Errorf("record the message: %w", err)
	}
	if tag.RowsAffected() == 0 {
		q.log.Info("message was handed to the workers before; not again", slog.String("message_id", plan.Message.ID))
		return nil
	}
	if _, err := q.client.InsertTx(ctx, tx, ReplyArgs{Plan: plan, Seq: seq}, &river.InsertOpts{Queue: QueueReplies, MaxAttempts: q.cfg.MaxAttempts}); err != nil {
		return fmt.Errorf("insert the reply job: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// replyWorker runs reply jobs.
type replyWorker struct {
	river.WorkerDefaults[ReplyArgs]
	q *Queue
	a Answerer
}

// Timeout implements river.Worker.
func (w *replyWorker) Timeout(*river.Job[ReplyArgs]) time.Duration { return w.q.cfg.JobTimeout }

// Work implements river.Worker.
func (w *replyWorker) Work(ctx context.Context, job *river.Job[ReplyArgs]) (err error) {
	plan := job.Args.Plan
	log := w.q.log.With(slog.String("message_id", plan.Message.ID), slog.Int64("job_id", job.ID), slog.Int("attempt", job.Attempt))
	defer func() {
		if r := recover(); r != nil {
			log.Error("reply job panicked", slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("reply job panicked: %v", r)
		}
		var snooze *river.JobSnoozeError
		if err == nil || errors.As(err, &snooze) || job.Attempt < job.MaxAttempts {
			return
		}
		// The last attempt failed: tell the user (with the reference id), and let the channel's
		// later messages go on.
		log.Error("reply job gave up", slog.Any("err", err))
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		w.a.FailPlan(fctx, plan, err, ledger{w.q.pool})
		if derr := w.q.done(fctx, plan.Message.ID); derr != nil {
			log.Error("cannot mark the message done", slog.Any("err", derr))
		}
	}()
	if err := job.Args.check(); err != nil {
		return err
	}
	wait, err := w.q.earlierPending(ctx, plan.Message.ChannelID, job.Args.Seq)
	if err != nil {
		return fmt.Errorf("check the channel's order: %w", err)
	}
	if wait {
		return river.JobSnooze(w.q.cfg.OrderSnooze)
	}
	w.a.Answer(ctx, plan, ledger{w.q.pool})
	if err := w.q.done(ctx, plan.Message.ID); err != nil {
		// Tried again; the delivery records keep the replies from being posted twice.
		return fmt.Errorf("mark the message done: %w", err)
	}
	return nil
}

// check refuses arguments no reply can come from (a hand-made or corrupted job).
func (a ReplyArgs) check() error {
	if a.Plan.Message.ID == "" || a.Plan.Message.ChannelID == "" || len(a.Plan.Triggers) == 0 {
		return errors.New("the job names no message, channel or personality")
	}
	return nil
}

// earlierPending reports whether an earlier message of the channel is still waiting for its
// replies (and is recent enough to wait for).
func (q *Queue) earlierPending(ctx context.Context, channelID string, seq int64) (bool, error) {
	var wait bool
	err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM incoming_messages
		WHERE channel_id = $1 AND seq < $2 AND done_at IS NULL AND received_at > now() - $3::interval)`,
		channelID, seq, q.cfg.OrderWait.String()).Scan(&wait)
	return wait, err
}

// done marks a message answered (or given up on).
func (q *Queue) done(ctx context.Context, messageID string) error {
	_, err := q.pool.Exec(ctx, `UPDATE incoming_messages SET done_at = now() WHERE message_id = $1 AND done_at IS NULL`, messageID)
	return err
}

// ledger implements chat.Ledger on reply_deliveries.
type ledger struct{ pool *pgxpool.Pool }

func (l ledger) Posted(ctx context.Context, requestID string) (bool, error) {
	var found bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reply_deliveries WHERE request_id = $1)`, requestID).Scan(&found)
	return found, err
}

func (l ledger) Claim(ctx context.Context, requestID, channelID string) (bool, error) {
	tag, err := l.pool.Exec(ctx, `INSERT INTO reply_deliveries (request_id, channel_id) VALUES ($1, $2)
		ON CONFLICT (request_id) DO NOTHING`, requestID, channelID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (l ledger) Finish(ctx context.Context, requestID string, messageIDs []string) error {
	state := "posted"
	if len(messageIDs) == 0 {
		state = "failed"
	}
	if messageIDs == nil {
		messageIDs = []string{}
	}
	_, err := l.pool.Exec(ctx, `UPDATE reply_deliveries SET state = $2, message_ids = $3, finished_at = now() WHERE request_id = $1`,
		requestID, state, messageIDs)
	return err
}

// linearRetry retries after base, 2×base, ... (tests and small deployments that want a failing
// job's few attempts close together).
type linearRetry struct{ base time.Duration }

func (r *linearRetry) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(time.Duration(job.Attempt) * r.base)
}
