package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateTake is one budget a request takes from: cost from the (Scope, Key)
// budget of Limit per Window (see TakeRateLimit).
type RateTake struct {
	Scope, Key  string
	Window      time.Duration
	Limit, Cost int64
}

// MaxRateTakes is the most budgets TakeRateLimits takes in one statement.
const MaxRateTakes = 8

// TakeRateLimits takes from each budget in order, in one statement (one
// round trip): a budget is taken from only if every one before it had room,
// so a user over their own limit never eats a server's budget. Budgets
// taken before a refusing one stay taken, which errs on the side of the
// limit. refused is the index of the first budget that had no room, or -1;
// retryAfter is when its window resets. Windows are chosen by now, the
// caller's clock, exactly as TakeRateLimit does.
func (s *Store) TakeRateLimits(ctx context.Context, now time.Time, takes []RateTake) (refused int, retryAfter time.Duration, err error) {
	if len(takes) == 0 {
		return -1, 0, nil
	}
	if len(takes) > MaxRateTakes || now.IsZero() {
		return 0, 0, fmt.Errorf("%w: rate limits need a time and at most %d budgets", ErrInvalidInput, MaxRateTakes)
	}
	args := make([]any, 0, 1+5*len(takes))
	args = append(args, now)
	for _, t := range takes {
		if t.Window < time.Second || t.Limit < 0 || t.Cost < 0 {
			return 0, 0, fmt.Errorf("%w: a rate limit needs a window of at least a second and a limit and cost not negative", ErrInvalidInput)
		}
		args = append(args, t.Scope, t.Key, interval(t.Window), t.Limit, t.Cost)
	}
	allowed := make([]bool, len(takes))
	retry := make([]float64, len(takes))
	dest := make([]any, 0, 2*len(takes))
	for i := range takes {
		dest = append(dest, &allowed[i])
	}
	for i := range takes {
		dest = append(dest, &retry[i])
	}
	if err := s.pool.QueryRow(ctx, takeRateLimitsSQL(len(takes)), args...).Scan(dest...); err != nil {
		return 0, 0, fmt.Errorf("take rate limits: %w", mapError(err))
	}
	for i, ok := range allowed {
		if !ok {
			return i, time.Duration(retry[i] * float64(time.Second)).Round(time.Millisecond), nil
		}
	}
	return -1, 0, nil
}

var rateSQL = struct {
	sync.Mutex
	byN map[int]string
}{byN: map[int]string{}}

// takeRateLimitsSQL builds the statement for n budgets: one data-modifying
// CTE per budget (the upsert of TakeRateLimit), each running only when the
// one before it returned its row. Parameters: $1 the caller's time, then
// per budget scope, key, window, limit, cost.
func takeRateLimitsSQL(n int) string {
	rateSQL.Lock()
	defer rateSQL.Unlock()
	if q, ok := rateSQL.byN[n]; ok {
		return q
	}
	const origin = "timestamptz '2000-01-01 00:00:00+00'"
	var b strings.Builder
	p := func(i, field int) string { return "$" + strconv.Itoa(2+5*i+field) }
	b.WriteString("WITH ")
	for i := range n {
		scope, key, window, limit, cost := p(i, 0), p(i, 1), p(i, 2), p(i, 3), p(i, 4)
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `t%d AS (
    INSERT INTO rate_limit_counters AS r (scope, key, window_start, used)
    SELECT %s::text, %s::text, date_bin(%s::interval, $1::timestamptz, %s), %s::bigint
    WHERE %s::bigint <= %s::bigint`, i, scope, key, window, origin, cost, cost, limit)
		if i > 0 {
			fmt.Fprintf(&b, " AND EXISTS (SELECT 1 FROM t%d)", i-1)
		}
		fmt.Fprintf(&b, `
    ON CONFLICT (scope, key) DO UPDATE SET
        window_start = GREATEST(r.window_start, excluded.window_start),
        used = CASE WHEN r.window_start < excluded.window_start THEN excluded.used ELSE r.used + excluded.used END
    WHERE r.window_start < excluded.window_start OR r.used + excluded.used <= %s::bigint
    RETURNING 1)`, limit)
	}
	b.WriteString("\nSELECT ")
	for i := range n {
		fmt.Fprintf(&b, "EXISTS (SELECT 1 FROM t%d), ", i)
	}
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		window := p(i, 2)
		fmt.Fprintf(&b, "date_part('epoch', date_bin(%s::interval, $1::timestamptz, %s) + %s::interval - $1::timestamptz)::float8", window, origin, window)
	}
	q := b.String()
	rateSQL.byN[n] = q
	return q
}
