package ratelimit_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSettingsFromEnv(t *testing.T) {
	s, err := ratelimit.SettingsFromEnv(env(nil))
	if err != nil || s != ratelimit.DefaultSettings() {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	s, err = ratelimit.SettingsFromEnv(env(map[string]string{
		ratelimit.EnvUserPerMinute: "0", ratelimit.EnvGuildPerMinute: " 300 ",
		ratelimit.EnvUserTokensPerDay: "50000", ratelimit.EnvGuildTokensPerDay: "1000000",
	}))
	want := ratelimit.Settings{UserPerMinute: 0, GuildPerMinute: 300, UserTokensPerDay: 50000, GuildTokensPerDay: 1000000}
	if err != nil || s != want {
		t.Fatalf("got %+v %v, want %+v", s, err, want)
	}
	for _, bad := range []string{"-1", "ten", "1.5"} {
		_, err := ratelimit.SettingsFromEnv(env(map[string]string{ratelimit.EnvUserPerMinute: bad}))
		if err == nil || !strings.Contains(err.Error(), ratelimit.EnvUserPerMinute) || !strings.Contains(err.Error(), "whole number") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// midMinute is a fixed time well inside a minute window (and a day window):
// a burst at this time cannot cross a boundary, whatever the wall clock says.
var midMinute = time.Date(2026, 12, 2, 10, 30, 20, 0, time.UTC)

func TestRequestsPerMinuteAcrossLimiters(t *testing.T) {
	ctx := context.Background()
	now := midMinute
	s := store.New(pgtest.New(t), nil, nil)
	settings := ratelimit.Settings{UserPerMinute: 5, GuildPerMinute: 8}
	// Two limiters on one database stand for two processes.
	a, b := ratelimit.New(s, settings), ratelimit.New(s, settings)

	var mu sync.Mutex
	allowed := map[string]int{}
	var refused []ratelimit.Verdict
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			user := []string{"1001", "1002"}[i%2]
			v, err := l.Admit(ctx, now, user, "9000")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if v.Allowed {
				allowed[user]++
			} else {
				refused = append(refused, v)
			}
		}()
	}
	wg.Wait()
	// Each user may take 5, the guild 8 in all: 8 admitted, whoever came first.
	if total := allowed["1001"] + allowed["1002"]; total != 8 || allowed["1001"] > 5 || allowed["1002"] > 5 {
		t.Fatalf("admitted %v, want 8 in all and at most 5 each", allowed)
	}
	for _, v := range refused {
		if v.Scope != ratelimit.ScopeUserRPM && v.Scope != ratelimit.ScopeGuildRPM {
			t.Fatalf("refused by %q", v.Scope)
		}
		if v.RetryAfter != 40*time.Second {
			t.Fatalf("retry after %v", v.RetryAfter)
		}
		if !strings.Contains(v.Message(), "Try again in") {
			t.Fatalf("message %q", v.Message())
		}
	}
	// In DMs there is no guild: only the user's own limit applies.
	v, err := a.Admit(ctx, now, "1003", "")
	if err != nil || !v.Allowed {
		t.Fatalf("a DM from a fresh user: %+v %v", v, err)
	}
}

func TestTokensPerDayChargedAfterTheReply(t *testing.T) {
	ctx := context.Background()
	s := store.New(pgtest.New(t), nil, nil)
	l := ratelimit.New(s, ratelimit.Settings{UserTokensPerDay: 1000})
	now := midMinute
	v, err := l.Admit(ctx, now, "2001", "9001")
	if err != nil || !v.Allowed {
		t.Fatalf("first request: %+v %v", v, err)
	}
	// The reply used 1200 tokens: over budget once, then refused until midnight UTC.
	if err := l.Charge(ctx, now, "2001", "9001", 1200); err != nil {
		t.Fatal(err)
	}
	v, err = l.Admit(ctx, now, "2001", "9001")
	if err != nil || v.Allowed || v.Scope != ratelimit.ScopeUserTPD || v.Limit != 1000 {
		t.Fatalf("after the budget was spent: %+v %v", v, err)
	}
	if v.RetryAfter != 13*time.Hour+29*time.Minute+40*time.Second || !strings.Contains(v.Message(), "midnight UTC") {
		t.Fatalf("verdict %+v %q", v, v.Message())
	}
	// Another user is unaffected; raising the limit at run time lets the first back in.
	if v, _ := l.Admit(ctx, now, "2002", "9001"); !v.Allowed {
		t.Fatal("another user was refused")
	}
	l.SetSettings(ratelimit.Settings{UserTokensPerDay: 5000})
	if v, _ := l.Admit(ctx, now, "2001", "9001"); !v.Allowed {
		t.Fatal("still refused after the limit was raised")
	}
	if got := l.Charges(now, "2001", "9001", 10); len(got) != 1 || got[0].Cost != 9 || got[0].Scope != ratelimit.ScopeUserTPD {
		t.Fatalf("charges %+v", got)
	}
}

// TestWindowsFollowTheCallersClock puts requests on both sides of a minute
// boundary and of midnight UTC on purpose: the window is the one the
// caller's time falls in, whatever the database's clock says.
func TestWindowsFollowTheCallersClock(t *testing.T) {
	ctx := context.Background()
	s := store.New(pgtest.New(t), nil, nil)
	l := ratelimit.New(s, ratelimit.Settings{UserPerMinute: 2, UserTokensPerDay: 100})

	lastSecond := time.Date(2026, 12, 1, 23, 59, 59, 500_000_000, time.UTC)
	for i := range 2 {
		if v, err := l.Admit(ctx, lastSecond, "3001", ""); err != nil || !v.Allowed {
			t.Fatalf("request %d in the last second of the minute: %+v %v", i, v, err)
		}
	}
	v, err := l.Admit(ctx, lastSecond, "3001", "")
	if err != nil || v.Allowed || v.Scope != ratelimit.ScopeUserRPM || v.RetryAfter != 500*time.Millisecond {
		t.Fatalf("third request of the minute: %+v %v, want refused for 500ms", v, err)
	}
	// The day's token budget is spent too (charged at the same time).
	if err := l.Charge(ctx, lastSecond, "3001", "", 150); err != nil {
		t.Fatal(err)
	}

	// A tenth of a second later it is a new minute and a new day (UTC):
	// both windows start again.
	nextDay := time.Date(2026, 12, 2, 0, 0, 0, 100_000_000, time.UTC)
	for i := range 2 {
		if v, err := l.Admit(ctx, nextDay, "3001", ""); err != nil || !v.Allowed {
			t.Fatalf("request %d of the new minute: %+v %v", i, v, err)
		}
	}
	if v, err := l.Admit(ctx, nextDay, "3001", ""); err != nil || v.Allowed || v.Scope != ratelimit.ScopeUserRPM {
		t.Fatalf("third request of the new minute: %+v %v", v, err)
	}

	// A caller whose clock is behind (another process) does not drag the
	// window back: it counts against the current one.
	if v, err := l.Admit(ctx, lastSecond, "3001", ""); err != nil || v.Allowed {
		t.Fatalf("a late clock reopened the old window: %+v %v", v, err)
	}

	// Spending the new day's budget refuses until the next midnight.
	if err := l.Charge(ctx, nextDay, "3001", "", 150); err != nil {
		t.Fatal(err)
	}
	later := nextDay.Add(2 * time.Minute)
	v, err = l.Admit(ctx, later, "3001", "")
	if err != nil || v.Allowed || v.Scope != ratelimit.ScopeUserTPD || v.RetryAfter != 24*time.Hour-2*time.Minute-100*time.Millisecond {
		t.Fatalf("after the day's budget: %+v %v", v, err)
	}
}

// TestAUserOverTheirLimitDoesNotEatTheServers: the user's and the server's
// limits are taken in one statement, but in order: a request the user's own
// limit refuses takes nothing from the server's budget, so one spammer
// cannot lock everyone else in the server out.
func TestAUserOverTheirLimitDoesNotEatTheServers(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	l := ratelimit.New(store.New(pool, nil, nil), ratelimit.Settings{UserPerMinute: 2, GuildPerMinute: 3})
	now := midMinute
	for i := range 6 {
		v, err := l.Admit(ctx, now, "4001", "9100")
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 2; v.Allowed != want || (!want && v.Scope != ratelimit.ScopeUserRPM) {
			t.Fatalf("spammer's request %d: %+v, want allowed=%v (else refused by their own limit)", i, v, want)
		}
	}
	// The server has one request left, which another member gets.
	if v, err := l.Admit(ctx, now, "4002", "9100"); err != nil || !v.Allowed {
		t.Fatalf("another member after the spammer: %+v %v", v, err)
	}
	v, err := l.Admit(ctx, now, "4002", "9100")
	if err != nil || v.Allowed || v.Scope != ratelimit.ScopeGuildRPM || v.Limit != 3 || v.RetryAfter != 40*time.Second {
		t.Fatalf("the member's second request: %+v %v, want refused by the server's limit of 3 for 40s", v, err)
	}
	var guildUsed int64
	if err := pool.QueryRow(ctx, `SELECT used FROM rate_limit_counters WHERE scope = $1 AND key = '9100'`, ratelimit.ScopeGuildRPM).Scan(&guildUsed); err != nil {
		t.Fatal(err)
	}
	if guildUsed != 3 {
		t.Fatalf("the server's counter says %d, want 3 (the spammer's refused requests took nothing from it)", guildUsed)
	}
}
