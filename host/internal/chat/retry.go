package chat

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5/pgconn"
)

// RetryPolicy bounds how long the pipeline keeps retrying a database call
// that failed because the database went away (restart, failover, a killed
// connection). Every call it retries is idempotent, so a retry after an
// unknown outcome writes nothing twice.
type RetryPolicy struct {
	// Initial is the first wait; it doubles (with jitter) up to Max.
	Initial time.Duration
	Max     time.Duration
	// Total is how long to keep trying before giving up.
	Total time.Duration
}

// DefaultRetryPolicy rides out a PostgreSQL restart (a few seconds) without
// holding a reply for long after the database is really gone.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Initial: 20 * time.Millisecond, Max: 2 * time.Second, Total: 60 * time.Second}
}

// Do runs op until it succeeds, fails with an error that does not mean "the
// database went away", ctx ends or the policy's total time is spent. Only
// give it idempotent operations.
func (r RetryPolicy) Do(ctx context.Context, op func(context.Context) error) error {
	return r.do(ctx, op)
}

func (r RetryPolicy) do(ctx context.Context, op func(context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = r.Initial, r.Max, r.Total
	return backoff.Retry(func() error {
		err := op(ctx)
		if err == nil || !transient(err) || ctx.Err() != nil {
			if err != nil {
				return backoff.Permanent(err)
			}
			return nil
		}
		return err
	}, backoff.WithContext(b, ctx))
}

// retry2 is do for calls that return a value.
func retry2[T any](ctx context.Context, r RetryPolicy, op func(context.Context) (T, error)) (T, error) {
	var out T
	err := r.do(ctx, func(ctx context.Context) error {
		v, err := op(ctx)
		if err == nil {
			out = v
		}
		return err
	})
	return out, err
}

// transient reports whether err says the database was unreachable or went
// away mid-call, as opposed to refusing the request.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// Could not connect: the database is down, restarting or refusing
		// connections for now (55000 "not currently accepting connections",
		// 57P03). Only a wrong password or a missing database will not pass.
		if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "28") || pe.Code == "3D000") {
			return false
		}
		return true
	}
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutdown, crash, starting up
			return true
		case pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock
			return true
		case pe.Code == "53300": // too many connections
			return true
		}
		return false
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	// pgx reports a connection that died under it in words only.
	// A closed pool means this process is shutting down: not worth waiting.
	msg := err.Error()
	if strings.Contains(msg, "closed pool") {
		return false
	}
	for _, s := range []string{"conn closed", "connection reset", "broken pipe", "unexpected EOF", "failed to connect", "server closed the connection"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
