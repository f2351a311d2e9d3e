package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReplyRecord is everything the chat pipeline writes after posting one reply.
// RecordReplies writes many of them in one transaction (one commit, one round
// trip), which is what lets the pipeline go past the ~500 replies/s that one
// commit per row allows.
//
// Every part is idempotent, so a batch whose outcome is unknown (the
// connection died around COMMIT) can simply be written again:
//   - usage rows are keyed by request id (ON CONFLICT DO NOTHING);
//   - charges are applied only for usage rows this call inserted, so a rerun
//     never charges twice;
//   - message mappings are keyed by message id, reasoning by request id, the
//     DM session by user (last write wins).
//
// Rows that refer to a personality or user deleted meanwhile are written
// without the link (usage) or skipped (mappings, reasoning, DM session)
// instead of failing the whole batch.
type ReplyRecord struct {
	Usage     []Usage
	Messages  []WebhookMessage
	Reasoning *Reasoning
	// Charges are added to rate-limit counters, each tied to one of Usage's
	// request ids: a charge is applied only when that usage row is new.
	Charges []RateCharge
	// DMSession, when set, records the personality the user talks to in DMs.
	DMSession *DMSessionUpdate
}

// RateCharge adds Cost to the (Scope, Key) counter of the Window that At
// falls in, like ChargeRateLimit, once per RequestID. At is the caller's
// clock (the pipeline's); a zero At means the time of the write.
type RateCharge struct {
	RequestID string
	Scope     string
	Key       string
	Window    time.Duration
	Cost      int64
	At        time.Time
}

// DMSessionUpdate sets the personality of a user's DM session.
type DMSessionUpdate struct {
	UserID        int64
	PersonalityID int64
}

// The statements of RecordReplies. They take arrays (unnest) so a batch of
// any size is one statement per table.
const (
	// Usage rows for a missing user or personality keep their numbers
	// without the link (as ON DELETE would have done); rate-limit charges
	// follow the rows actually inserted.
	recordUsageSQL = `
WITH u AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                         $7::int[], $8::int[], $9::int[], $10::int[], $11::int[], $12::int[], $13::text[], $20::int[])
        AS t(request_id, user_id, personality_id, provider, model, kind,
             input_tokens, output_tokens, reasoning_tokens, characters, images, latency_ms, delivery, audio_ms)
), ins AS (
    INSERT INTO usage_logs (request_id, user_id, personality_id, provider, model, kind,
                            input_tokens, output_tokens, reasoning_tokens, characters, images, latency_ms, delivery, audio_ms)
    SELECT u.request_id, us.id, p.id, u.provider, u.model, u.kind,
           u.input_tokens, u.output_tokens, u.reasoning_tokens, u.characters, u.images, u.latency_ms, u.delivery, u.audio_ms
    FROM u
    LEFT JOIN users us ON us.id = u.user_id
    LEFT JOIN personalities p ON p.id = u.personality_id
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id
), c AS (
    SELECT * FROM unnest($14::text[], $15::text[], $16::text[], $17::bigint[], $18::bigint[], $19::timestamptz[])
        AS t(request_id, scope, key, window_us, cost, at)
)
INSERT INTO rate_limit_counters AS r (scope, key, window_start, used)
SELECT c.scope, c.key,
       max(date_bin(make_interval(secs => c.window_us / 1e6), c.at, timestamptz '2000-01-01 00:00:00+00')),
       sum(c.cost)::bigint
FROM c JOIN ins ON ins.request_id = c.request_id
GROUP BY c.scope, c.key, c.window_us
ON CONFLICT (scope, key) DO UPDATE SET
    window_start = GREATEST(r.window_start, excluded.window_start),
    used = CASE WHEN r.window_start < excluded.window_start THEN excluded.used ELSE r.used + excluded.used END`

	recordMessagesSQL = `
INSERT INTO webhook_messages (message_id, personality_id, channel_id, user_id, request_id)
SELECT m.message_id, p.id, m.channel_id, us.id, NULLIF(m.request_id, '')
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[]) AS m(message_id, personality_id, channel_id, user_id, request_id)
JOIN personalities p ON p.id = m.personality_id
LEFT JOIN users us ON us.id = m.user_id
ON CONFLICT (message_id) DO NOTHING`

	recordReasoningSQL = `
INSERT INTO reply_reasoning (request_id, user_id, personality_id, message_id, reasoning)
SELECT r.request_id, us.id, p.id, NULLIF(r.message_id, ''), r.reasoning
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS r(request_id, user_id, personality_id, message_id, reasoning)
JOIN users us ON us.id = r.user_id
LEFT JOIN personalities p ON p.id = r.personality_id
ON CONFLICT (request_id) DO UPDATE SET
    message_id = COALESCE(excluded.message_id, reply_reasoning.message_id),
    reasoning = excluded.reasoning`

	recordDMSessionsSQL = `
INSERT INTO dm_sessions (user_id, personality_id)
SELECT us.id, p.id
FROM unnest($1::bigint[], $2::bigint[]) AS d(user_id, personality_id)
JOIN users us ON us.id = d.user_id
JOIN personalities p ON p.id = d.personality_id
ON CONFLICT (user_id) DO UPDATE SET personality_id = excluded.personality_id, updated_at = now()`
)

// RecordReplies writes recs in one transaction, sent as one pipelined batch.
// On error nothing was written, or (when the connection broke around the
// commit) everything was: in both cases writing the same records again is
// safe and correct. A record that breaks a rule of the database (a malformed
// id) fails the whole call; callers that batch unrelated replies should then
// retry them one at a time.
func (s *Store) RecordReplies(ctx context.Context, recs []ReplyRecord) error {
	if len(recs) == 0 {
		return nil
	}
	var (
		u       usageColumns
		c       chargeColumns
		m       messageColumns
		r       reasoningColumns
		dmUsers []int64
		dmPers  []int64
		seenReq = map[string]int{}
		dmIndex = map[int64]int{}
	)
	for _, rec := range recs {
		for _, x := range rec.Usage {
			if x.RequestID == "" {
				return fmt.Errorf("%w: usage needs a request id", ErrInvalidInput)
			}
			if _, dup := seenReq[x.RequestID]; dup {
				continue // the same row twice in one batch: once is enough
			}
			seenReq[x.RequestID] = len(u.requestID)
			u.add(x)
		}
		for _, x := range rec.Charges {
			c.add(x)
		}
		for _, x := range rec.Messages {
			// Every part of a reply with reasoning points at it, so "Show
			// reasoning" works on any part, not only the first.
			if rec.Reasoning != nil && x.RequestID == "" {
				x.RequestID = rec.Reasoning.RequestID
			}
			m.add(x)
		}
		if rec.Reasoning != nil {
			r.add(*rec.Reasoning)
		}
		if d := rec.DMSession; d != nil {
			// One row per user per statement: ON CONFLICT cannot touch a row twice.
			if i, ok := dmIndex[d.UserID]; ok {
				dmPers[i] = d.PersonalityID
			} else {
				dmIndex[d.UserID] = len(dmUsers)
				dmUsers = append(dmUsers, d.UserID)
				dmPers = append(dmPers, d.PersonalityID)
			}
		}
	}
	r.dedupe()

	// A pipelined batch runs in one implicit transaction (up to its single
	// Sync), so this is one round trip and one commit, all or nothing.
	b := &pgx.Batch{}
	if len(u.requestID) > 0 {
		b.Queue(recordUsageSQL, u.requestID, u.userID, u.personalityID, u.provider, u.model, u.kind,
			u.inputTokens, u.outputTokens, u.reasoningTokens, u.characters, u.images, u.latencyMs, u.delivery,
			c.requestID, c.scope, c.key, c.windowUs, c.cost, c.at, u.audioMs)
	}
	if len(m.messageID) > 0 {
		b.Queue(recordMessagesSQL, m.messageID, m.personalityID, m.channelID, m.userID, m.requestID)
	}
	if len(r.requestID) > 0 {
		b.Queue(recordReasoningSQL, r.requestID, r.userID, r.personalityID, r.messageID, r.text)
	}
	if len(dmUsers) > 0 {
		b.Queue(recordDMSessionsSQL, dmUsers, dmPers)
	}
	if b.Len() == 0 {
		return nil
	}
	// Keys served from the cache get their last_used_at stamp here, in the
	// same round trip (cached.go).
	var stampUsers []int64
	var stampProviders []string
	if s.cache != nil {
		if stampUsers, stampProviders = s.cache.stamper.take(); len(stampUsers) > 0 {
			b.Queue(stampKeysSQL, stampUsers, stampProviders)
		}
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		if len(stampUsers) > 0 {
			s.cache.stamper.putBack(stampUsers, stampProviders)
		}
		return fmt.Errorf("record replies: %w", mapError(err))
	}
	return nil
}

type usageColumns struct {
	requestID, provider, model, kind, delivery                                []string
	userID, personalityID                                                     []int64
	inputTokens, outputTokens, reasoningTokens, characters, images, latencyMs []int32
	audioMs                                                                   []int32
}

func (u *usageColumns) add(x Usage) {
	u.requestID = append(u.requestID, x.RequestID)
	u.userID = append(u.userID, x.UserID)
	u.personalityID = append(u.personalityID, x.PersonalityID)
	u.provider = append(u.provider, x.Provider)
	u.model = append(u.model, x.Model)
	kind := x.Kind
	if kind == "" {
		kind = KindText
	}
	u.kind = append(u.kind, kind)
	u.inputTokens = append(u.inputTokens, clampInt32(max(x.InputTokens, 0)))
	out := clampInt32(max(x.OutputTokens, 0))
	u.outputTokens = append(u.outputTokens, out)
	// Reasoning is part of output (docs/plugin-abi.md); the pipeline already
	// made it so, and the table insists.
	u.reasoningTokens = append(u.reasoningTokens, min(clampInt32(max(x.ReasoningTokens, 0)), out))
	delivery := x.Delivery
	if delivery == "" {
		delivery = DeliveryPosted
	}
	u.delivery = append(u.delivery, delivery)
	u.characters = append(u.characters, clampInt32(max(x.Characters, 0)))
	u.images = append(u.images, clampInt32(max(x.Images, 0)))
	u.audioMs = append(u.audioMs, clampInt32(max(x.AudioMS, 0)))
	u.latencyMs = append(u.latencyMs, clampInt32(max(int(x.Latency.Milliseconds()), 0)))
}

type chargeColumns struct {
	requestID, scope, key []string
	windowUs, cost        []int64
	at                    []time.Time
}

func (c *chargeColumns) add(x RateCharge) {
	if x.Cost <= 0 || x.Window < time.Second {
		return
	}
	c.requestID = append(c.requestID, x.RequestID)
	c.scope = append(c.scope, x.Scope)
	c.key = append(c.key, x.Key)
	c.windowUs = append(c.windowUs, x.Window.Microseconds())
	c.cost = append(c.cost, x.Cost)
	at := x.At
	if at.IsZero() {
		at = time.Now()
	}
	c.at = append(c.at, at)
}

type messageColumns struct {
	messageID, channelID, requestID []string
	personalityID, userID           []int64
	seen                            map[string]bool
}

func (m *messageColumns) add(x WebhookMessage) {
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	if m.seen[x.MessageID] {
		return
	}
	m.seen[x.MessageID] = true
	m.messageID = append(m.messageID, x.MessageID)
	m.channelID = append(m.channelID, x.ChannelID)
	m.personalityID = append(m.personalityID, x.PersonalityID)
	m.userID = append(m.userID, x.UserID)
	m.requestID = append(m.requestID, x.RequestID)
}

type reasoningColumns struct {
	requestID, messageID, text []string
	userID, personalityID      []int64
}

func (r *reasoningColumns) add(x Reasoning) {
	r.requestID = append(r.requestID, x.RequestID)
	r.userID = append(r.userID, x.UserID)
	r.personalityID = append(r.personalityID, x.PersonalityID)
	r.messageID = append(r.messageID, x.MessageID)
	r.text = append(r.text, x.Text)
}

// dedupe keeps the last row per request id (ON CONFLICT cannot touch a row
// twice in one statement).
func (r *reasoningColumns) dedupe() {
	last := map[string]int{}
	for i, id := range r.requestID {
		last[id] = i
	}
	if len(last) == len(r.requestID) {
		return
	}
	var out reasoningColumns
	for i, id := range r.requestID {
		if last[id] == i {
			out.add(Reasoning{RequestID: id, UserID: r.userID[i], PersonalityID: r.personalityID[i], MessageID: r.messageID[i], Text: r.text[i]})
		}
	}
	*r = out
}
