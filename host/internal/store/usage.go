package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tzurot-go/tzurot/host/internal/store/query"
)

// Usage kinds.
const (
	KindText  = "text"
	KindVoice = "voice"
	KindImage = "image"
	KindEmbed = "embed" // embedding calls for memory search (input tokens only)
)

// What became of the reply a usage row paid for (usage_logs.delivery).
const (
	DeliveryPosted  = "posted"  // every part is in Discord
	DeliveryPartial = "partial" // some parts are
	DeliveryLost    = "lost"    // none: Discord kept failing or refused the post
	DeliveryNone    = "none"    // nothing to post (an empty answer)
)

// Usage is one metered provider call.
type Usage struct {
	// RequestID makes the write idempotent: a retried job records once.
	RequestID     string
	UserID        int64 // internal id, 0 if none
	PersonalityID int64 // 0 if none
	Provider      string
	Model         string
	Kind          string
	InputTokens   int
	OutputTokens  int // reasoning included (docs/plugin-abi.md)
	// ReasoningTokens is the part of OutputTokens that was reasoning; never
	// more than OutputTokens.
	ReasoningTokens int
	Characters      int
	Images          int
	// AudioMS is milliseconds of audio processed (transcription, or speech
	// billed by time).
	AudioMS int
	Latency time.Duration
	// Delivery is one of the Delivery constants ("" means DeliveryPosted).
	Delivery string
}

// InsertUsage records u once per RequestID and reports whether this call
// wrote it.
func (s *Store) InsertUsage(ctx context.Context, u Usage) (bool, error) {
	if u.RequestID == "" {
		return false, fmt.Errorf("%w: usage needs a request id", ErrInvalidInput)
	}
	delivery := u.Delivery
	if delivery == "" {
		delivery = DeliveryPosted
	}
	n, err := s.q.InsertUsage(ctx, s.pool, query.InsertUsageParams{
		RequestID: u.RequestID, UserID: optionalID(u.UserID), PersonalityID: optionalID(u.PersonalityID),
		Provider: u.Provider, Model: u.Model, Kind: u.Kind,
		InputTokens: clampInt32(u.InputTokens), OutputTokens: clampInt32(u.OutputTokens),
		ReasoningTokens: min(clampInt32(max(u.ReasoningTokens, 0)), clampInt32(u.OutputTokens)),
		Characters:      clampInt32(u.Characters), Images: clampInt32(u.Images), AudioMs: clampInt32(max(u.AudioMS, 0)),
		LatencyMs: clampInt32(int(u.Latency.Milliseconds())), Delivery: delivery,
	})
	if err != nil {
		return false, fmt.Errorf("insert usage: %w", mapError(err))
	}
	return n > 0, nil
}

// UsageTotal sums usage for one provider, model and kind.
type UsageTotal struct {
	Provider, Model, Kind string
	Requests              int64
	Users                 int64 // global summaries only
	InputTokens           int64
	OutputTokens          int64 // reasoning included
	ReasoningTokens       int64 // the part of OutputTokens that was reasoning
	Characters            int64
	Images                int64
}

// UsageForUser sums the user's usage since a time (e.g. 24 h, 7 d, 30 d ago).
func (s *Store) UsageForUser(ctx context.Context, userID int64, since time.Time) ([]UsageTotal, error) {
	rows, err := s.q.UsageByUser(ctx, s.pool, query.UsageByUserParams{UserID: &userID, Since: since})
	if err != nil {
		return nil, fmt.Errorf("usage for user: %w", mapError(err))
	}
	out := make([]UsageTotal, len(rows))
	for i, r := range rows {
		out[i] = UsageTotal{Provider: r.Provider, Model: r.Model, Kind: r.Kind, Requests: r.Requests, Users: 1,
			InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, ReasoningTokens: r.ReasoningTokens, Characters: r.Characters, Images: r.Images}
	}
	return out, nil
}

// UsageGlobal sums everyone's usage since a time.
func (s *Store) UsageGlobal(ctx context.Context, since time.Time) ([]UsageTotal, error) {
	rows, err := s.q.UsageGlobal(ctx, s.pool, since)
	if err != nil {
		return nil, fmt.Errorf("global usage: %w", mapError(err))
	}
	out := make([]UsageTotal, len(rows))
	for i, r := range rows {
		out[i] = UsageTotal{Provider: r.Provider, Model: r.Model, Kind: r.Kind, Requests: r.Requests, Users: r.Users,
			InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, ReasoningTokens: r.ReasoningTokens, Characters: r.Characters, Images: r.Images}
	}
	return out, nil
}

// TakeRateLimit takes cost from the (scope, key) budget of limit per window,
// atomically across every process sharing the database. Windows are fixed and
// aligned (a minute window starts on the minute, a day window at 00:00 UTC)
// and chosen by now, the caller's clock: the database's own clock is not
// used, so a test decides which window each request falls in. When the
// budget would be exceeded nothing is taken: allowed is false and retryAfter
// says when the window resets (counted from now).
//
// Scopes are free-form names such as "user-rpm", "guild-rpm", "user-tpd".
func (s *Store) TakeRateLimit(ctx context.Context, now time.Time, scope, key string, window time.Duration, limit, cost int64) (allowed bool, retryAfter time.Duration, err error) {
	if window < time.Second || limit < 0 || cost < 0 || now.IsZero() {
		return false, 0, fmt.Errorf("%w: rate limit needs a time, a window of at least a second and a limit and cost not negative", ErrInvalidInput)
	}
	row, err := s.q.TakeRateLimit(ctx, s.pool, query.TakeRateLimitParams{
		WindowSize: interval(window), Now: now, Scope: scope, Key: key, Cost: cost, MaxPerWindow: limit,
	})
	if err != nil {
		return false, 0, fmt.Errorf("take rate limit: %w", mapError(err))
	}
	if row.Allowed {
		return true, 0, nil
	}
	return false, time.Duration(row.RetryAfterSeconds * float64(time.Second)).Round(time.Millisecond), nil
}

// ChargeRateLimit adds cost to the window that now falls in, without
// refusing: for costs known only afterwards (tokens of a finished reply).
func (s *Store) ChargeRateLimit(ctx context.Context, now time.Time, scope, key string, window time.Duration, cost int64) error {
	if window < time.Second || cost < 0 || now.IsZero() {
		return fmt.Errorf("%w: rate limit charge needs a time, a window of at least a second and a cost not negative", ErrInvalidInput)
	}
	err := s.q.ChargeRateLimit(ctx, s.pool, query.ChargeRateLimitParams{WindowSize: interval(window), Now: now, Scope: scope, Key: key, Cost: cost})
	if err != nil {
		return fmt.Errorf("charge rate limit: %w", mapError(err))
	}
	return nil
}

// PruneRateLimits deletes counters whose window started before the given
// time; run it now and then (counters of active keys are reused, not added).
func (s *Store) PruneRateLimits(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.q.PruneRateLimits(ctx, s.pool, before)
	if err != nil {
		return 0, fmt.Errorf("prune rate limits: %w", mapError(err))
	}
	return n, nil
}

// Reasoning is what a model "thought" for one reply.
type Reasoning struct {
	RequestID     string
	UserID        int64 // internal id of the user who asked
	PersonalityID int64
	MessageID     string // first Discord message of the reply ("" if not yet posted)
	Text          string
	CreatedAt     time.Time
}

// SaveReasoning stores (or completes, e.g. with the message id once posted)
// the reasoning of a reply.
func (s *Store) SaveReasoning(ctx context.Context, r Reasoning) error {
	var msg *string
	if r.MessageID != "" {
		msg = &r.MessageID
	}
	err := s.q.SaveReasoning(ctx, s.pool, query.SaveReasoningParams{
		RequestID: r.RequestID, UserID: r.UserID, PersonalityID: optionalID(r.PersonalityID), MessageID: msg, Reasoning: r.Text,
	})
	if err != nil {
		return fmt.Errorf("save reasoning: %w", mapError(err))
	}
	return nil
}

// ReasoningForMessage returns the reasoning behind a reply message, but only
// to the Discord user who asked for that reply.
func (s *Store) ReasoningForMessage(ctx context.Context, messageID, discordUserID string) (Reasoning, bool, error) {
	row, err := s.q.ReasoningForMessage(ctx, s.pool, query.ReasoningForMessageParams{MessageID: &messageID, DiscordID: discordUserID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Reasoning{}, false, nil
	}
	if err != nil {
		return Reasoning{}, false, fmt.Errorf("reasoning for message: %w", mapError(err))
	}
	return Reasoning{RequestID: row.RequestID, PersonalityID: deref(row.PersonalityID), MessageID: messageID,
		Text: row.Reasoning, CreatedAt: row.CreatedAt}, true, nil
}

// ReplyReasoning is the reasoning behind a reply with the Discord id of the
// user who asked for it.
type ReplyReasoning struct {
	Reasoning
	AskerDiscordID string
}

// ReasoningForReplyMessage returns the reasoning behind the reply that
// messageID is a part of (any part, not only the first), with who asked,
// for any caller: the caller must show it to the asker only. ok is false
// when the message has no stored reasoning.
func (s *Store) ReasoningForReplyMessage(ctx context.Context, messageID string) (ReplyReasoning, bool, error) {
	row, err := s.q.ReasoningForReplyMessage(ctx, s.pool, messageID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReplyReasoning{}, false, nil
	}
	if err != nil {
		return ReplyReasoning{}, false, fmt.Errorf("reasoning for reply message: %w", mapError(err))
	}
	return ReplyReasoning{
		Reasoning: Reasoning{RequestID: row.RequestID, PersonalityID: deref(row.PersonalityID),
			Text: row.Reasoning, CreatedAt: row.CreatedAt},
		AskerDiscordID: row.DiscordID,
	}, true, nil
}

// ReasoningForRequest is ReasoningForMessage by request id.
func (s *Store) ReasoningForRequest(ctx context.Context, requestID, discordUserID string) (Reasoning, bool, error) {
	row, err := s.q.ReasoningForRequest(ctx, s.pool, query.ReasoningForRequestParams{RequestID: requestID, DiscordID: discordUserID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Reasoning{}, false, nil
	}
	if err != nil {
		return Reasoning{}, false, fmt.Errorf("reasoning for request: %w", mapError(err))
	}
	return Reasoning{RequestID: row.RequestID, PersonalityID: deref(row.PersonalityID), Text: row.Reasoning, CreatedAt: row.CreatedAt}, true, nil
}

func interval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}

func clampInt32(n int) int32 {
	switch {
	case n > 1<<31-1:
		return 1<<31 - 1
	case n < -1<<31:
		return -1 << 31
	}
	return int32(n)
}
