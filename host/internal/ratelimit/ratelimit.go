// Package ratelimit enforces the per-user and per-guild limits of the chat
// pipeline: requests per minute and tokens per day. The counters live in
// PostgreSQL (store.TakeRateLimit), so every process sharing the database
// shares the budget; the limits themselves come from the environment and can
// be changed while running (SetSettings).
//
// Windows are fixed and aligned: a minute window starts on the minute, a day
// window at 00:00 UTC. Which window a request falls in is decided by the time
// the caller passes (the pipeline's clock), never by the database's now(), so
// tests can put a burst on either side of a boundary on purpose. A request is admitted only if every configured limit
// has room. Token limits are checked before the call (is any budget left?)
// and charged after it, when the real count is known, so one long reply can
// overshoot a daily budget once; the next request is then refused.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// Environment variables read by SettingsFromEnv. 0 turns a limit off.
const (
	EnvUserPerMinute     = "TZUROT_RATE_USER_PER_MINUTE"
	EnvGuildPerMinute    = "TZUROT_RATE_GUILD_PER_MINUTE"
	EnvUserTokensPerDay  = "TZUROT_RATE_USER_TOKENS_PER_DAY"
	EnvGuildTokensPerDay = "TZUROT_RATE_GUILD_TOKENS_PER_DAY"
)

// Defaults: generous enough for conversation, tight enough that one user
// cannot flood a server. Token budgets are off by default because with BYOK
// each user pays for their own tokens.
const (
	DefaultUserPerMinute  = 10
	DefaultGuildPerMinute = 60
)

// Scopes of the counters (the store's free-form scope names).
const (
	ScopeUserRPM  = "user-rpm"
	ScopeGuildRPM = "guild-rpm"
	ScopeUserTPD  = "user-tpd"
	ScopeGuildTPD = "guild-tpd"
)

const (
	minute = time.Minute
	day    = 24 * time.Hour
)

// Settings are the limits in force. A zero field means "no limit".
type Settings struct {
	UserPerMinute     int64
	GuildPerMinute    int64
	UserTokensPerDay  int64
	GuildTokensPerDay int64
}

// DefaultSettings returns the limits used when the environment sets none.
func DefaultSettings() Settings {
	return Settings{UserPerMinute: DefaultUserPerMinute, GuildPerMinute: DefaultGuildPerMinute}
}

// SettingsFromEnv reads the limits; unset variables keep their defaults.
// getenv is os.Getenv in production.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := DefaultSettings()
	for _, f := range []struct {
		name string
		dst  *int64
	}{
		{EnvUserPerMinute, &s.UserPerMinute},
		{EnvGuildPerMinute, &s.GuildPerMinute},
		{EnvUserTokensPerDay, &s.UserTokensPerDay},
		{EnvGuildTokensPerDay, &s.GuildTokensPerDay},
	} {
		raw := strings.TrimSpace(getenv(f.name))
		if raw == "" {
			continue
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return Settings{}, fmt.Errorf("%s=%q is not a whole number of 0 or more (0 turns the limit off)", f.name, raw)
		}
		*f.dst = n
	}
	return s, nil
}

// Counters is where the counts live; *store.Store implements it.
type Counters interface {
	// TakeRateLimits takes from each budget in order in one statement, a
	// budget only when every one before it had room; refused is the index
	// of the first without room, or -1.
	TakeRateLimits(ctx context.Context, now time.Time, takes []store.RateTake) (refused int, retryAfter time.Duration, err error)
	ChargeRateLimit(ctx context.Context, now time.Time, scope, key string, window time.Duration, cost int64) error
}

// Limiter checks and charges the limits. It is safe for concurrent use.
type Limiter struct {
	counters Counters
	settings atomic.Pointer[Settings]
}

// New returns a Limiter over counters with the given settings.
func New(counters Counters, s Settings) *Limiter {
	l := &Limiter{counters: counters}
	l.settings.Store(&s)
	return l
}

// Settings returns the limits in force.
func (l *Limiter) Settings() Settings { return *l.settings.Load() }

// SetSettings changes the limits for every later request.
func (l *Limiter) SetSettings(s Settings) { l.settings.Store(&s) }

// Verdict is the outcome of Admit.
type Verdict struct {
	Allowed bool
	// Scope names the limit that refused (ScopeUserRPM, ...); empty when allowed.
	Scope string
	// Limit is the refusing limit's value.
	Limit int64
	// RetryAfter is when the refusing window resets.
	RetryAfter time.Duration
}

// Message says in plain words why a request was refused and when to try
// again. It is empty for an admitted request.
func (v Verdict) Message() string {
	if v.Allowed {
		return ""
	}
	wait := humanDuration(v.RetryAfter)
	switch v.Scope {
	case ScopeUserRPM:
		return fmt.Sprintf("You're sending messages faster than I can keep up with (at most %d a minute). Try again in %s.", v.Limit, wait)
	case ScopeGuildRPM:
		return fmt.Sprintf("This server is sending more messages than it may (at most %d a minute for everyone). Try again in %s.", v.Limit, wait)
	case ScopeUserTPD:
		return fmt.Sprintf("You've used today's budget of %d tokens. It resets in %s (at midnight UTC).", v.Limit, wait)
	case ScopeGuildTPD:
		return fmt.Sprintf("This server has used today's budget of %d tokens. It resets in %s (at midnight UTC).", v.Limit, wait)
	}
	return fmt.Sprintf("Too many requests right now. Try again in %s.", wait)
}

// humanDuration rounds up to whole seconds, minutes or hours.
func humanDuration(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "a second"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	case d < time.Hour:
		m := int((d + time.Minute - 1) / time.Minute)
		if m == 1 {
			return "a minute"
		}
		return fmt.Sprintf("%d minutes", m)
	}
	h := int((d + time.Hour - 1) / time.Hour)
	if h == 1 {
		return "an hour"
	}
	return fmt.Sprintf("%d hours", h)
}

type check struct {
	scope  string
	key    string
	window time.Duration
	limit  int64
}

// checks lists the limits that apply to a request, request counts first so
// a refused request costs no token-budget write.
func (s Settings) checks(userID, guildID string) []check {
	var out []check
	add := func(scope, key string, window time.Duration, limit int64) {
		if limit > 0 && key != "" {
			out = append(out, check{scope, key, window, limit})
		}
	}
	add(ScopeUserRPM, userID, minute, s.UserPerMinute)
	add(ScopeGuildRPM, guildID, minute, s.GuildPerMinute)
	add(ScopeUserTPD, userID, day, s.UserTokensPerDay)
	add(ScopeGuildTPD, guildID, day, s.GuildTokensPerDay)
	return out
}

// Admit takes one request from the user's (and, when guildID is not empty,
// the guild's) budgets. Token budgets are only checked here: admitted means
// at least one token is left (that token is taken and counted against the
// reply's charge). Limits are taken in order, the user's first, in one
// statement (one round trip): a later limit is taken only when every earlier
// one had room, so a user over their own limit never eats the guild's
// budget (one spammer cannot lock a server out). When a later one refuses,
// the earlier ones stay taken, which errs on the side of the limit. now
// picks the windows (see the package comment).
func (l *Limiter) Admit(ctx context.Context, now time.Time, userID, guildID string) (Verdict, error) {
	checks := l.Settings().checks(userID, guildID)
	if len(checks) == 0 {
		return Verdict{Allowed: true}, nil
	}
	takes := make([]store.RateTake, len(checks))
	for i, c := range checks {
		takes[i] = store.RateTake{Scope: c.scope, Key: c.key, Window: c.window, Limit: c.limit, Cost: 1}
	}
	refused, retry, err := l.counters.TakeRateLimits(ctx, now, takes)
	if err != nil {
		return Verdict{}, fmt.Errorf("rate limit: %w", err)
	}
	if refused < 0 {
		return Verdict{Allowed: true}, nil
	}
	c := checks[refused]
	return Verdict{Scope: c.scope, Limit: c.limit, RetryAfter: retry}, nil
}

// Charge adds the tokens a reply used to the daily budgets of the day now
// falls in (less the one token Admit already took).
func (l *Limiter) Charge(ctx context.Context, now time.Time, userID, guildID string, tokens int64) error {
	if tokens <= 1 {
		return nil
	}
	s := l.Settings()
	for _, c := range []check{
		{ScopeUserTPD, userID, day, s.UserTokensPerDay},
		{ScopeGuildTPD, guildID, day, s.GuildTokensPerDay},
	} {
		if c.limit <= 0 || c.key == "" {
			continue
		}
		if err := l.counters.ChargeRateLimit(ctx, now, c.scope, c.key, c.window, tokens-1); err != nil {
			return fmt.Errorf("rate limit %s: %w", c.scope, err)
		}
	}
	return nil
}

// Charges returns what Charge would write, for callers that batch the
// writes of a reply (see chat's recorder).
func (l *Limiter) Charges(now time.Time, userID, guildID string, tokens int64) []Charge {
	if tokens <= 1 {
		return nil
	}
	s := l.Settings()
	var out []Charge
	if s.UserTokensPerDay > 0 && userID != "" {
		out = append(out, Charge{Scope: ScopeUserTPD, Key: userID, Window: day, Cost: tokens - 1, At: now})
	}
	if s.GuildTokensPerDay > 0 && guildID != "" {
		out = append(out, Charge{Scope: ScopeGuildTPD, Key: guildID, Window: day, Cost: tokens - 1, At: now})
	}
	return out
}

// Charge is one after-the-fact addition to a counter, in the window At
// falls in.
type Charge struct {
	Scope  string
	Key    string
	Window time.Duration
	Cost   int64
	At     time.Time
}
