package discord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"

	"github.com/tzurot-go/tzurot/host/internal/message"
)

// SendRetry bounds how a personality's post is retried when Discord fails transiently: a 5xx, a
// network error, or a 429 that outlasted disgo's own retries. Waits start at Initial and double
// (with jitter) up to Max; after Total the post is given up and reported as lost.
type SendRetry struct {
	Initial, Max, Total time.Duration
}

// DefaultSendRetry rides out a Discord hiccup (a few seconds) without holding a reply for long
// once Discord is really down.
func DefaultSendRetry() SendRetry {
	return SendRetry{Initial: 250 * time.Millisecond, Max: 4 * time.Second, Total: 30 * time.Second}
}

// postClockSkew is how far Discord's clock may be behind ours: a message of ours found when
// reading the channel back must be newer than the first attempt less this.
const postClockSkew = 10 * time.Second

// readBackLimit is how many of the channel's newest messages are searched for a post whose
// outcome is unknown. Plenty for the seconds a retry takes even in a busy channel.
const readBackLimit = 50

// sendFault says what a failed post means for a retry.
type sendFault int

const (
	faultPermanent sendFault = iota // Discord refused: retrying cannot help
	faultNotSent                    // nothing was posted (429): retry as is
	faultUnknown                    // 5xx or network error: the message may have been posted
)

// classifySend tells what a failed post means, with the cause in words.
func classifySend(err error) (sendFault, string) {
	if errors.Is(err, errRESTClosed) || errors.Is(err, context.Canceled) {
		return faultPermanent, ""
	}
	var re *rest.Error
	if errors.As(err, &re) && re.Response != nil {
		switch st := re.Response.StatusCode; {
		case st == http.StatusTooManyRequests:
			return faultNotSent, "Discord kept rate limiting the bot (HTTP 429)"
		case st >= 500:
			return faultUnknown, "Discord answered HTTP " + re.Response.Status
		}
		return faultPermanent, ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return faultUnknown, "Discord did not answer in time"
	}
	// Anything else failed on the way (refused, reset, dropped): the request may or may not
	// have reached Discord.
	return faultUnknown, "the connection to Discord failed"
}

// executeReliably posts msg through the webhook, retrying transient failures within the
// SendRetry budget. Before retrying a post whose outcome is unknown (a 5xx or a network error
// after the request went out), it reads the channel's newest messages and returns the message
// if Discord did post it, so a reply is never posted twice where Discord lets the bot tell. When
// the channel cannot be read, it posts again: a duplicate is better than a lost reply.
// postChannel is where the message lands (the thread, for a thread).
func (s *Sender) executeReliably(ctx context.Context, hook Webhook, msg discord.WebhookMessageCreate, files []*message.File, threadID snowflake.ID, postChannel string) (*discord.Message, error) {
	cfg := s.b.cfg.sendRetry
	start := time.Now()
	floor := snowflake.New(start.Add(-postClockSkew))
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = cfg.Initial, cfg.Max, 0
	b.Reset()
	deadline := start.Add(cfg.Total)
	var (
		attempts int
		unknown  bool // an earlier attempt may have been posted
		lastErr  error
		cause    string
	)
	for {
		if unknown {
			m, found, err := s.findPosted(ctx, postChannel, hook, msg, floor)
			switch {
			case found:
				s.b.log.Info("Discord posted the message although the request failed; not posting it again",
					slog.String("channel_id", postChannel), slog.String("message_id", m.ID.String()), slog.Int("attempts", attempts))
				return m, nil
			case err != nil && ctx.Err() == nil:
				s.b.log.Warn("cannot read the channel back to see whether a failed post went through; posting again",
					slog.String("channel_id", postChannel), slog.Any("err", s.restErr(err)))
			}
		}
		if ctx.Err() != nil {
			break
		}
		attempts++
		m, err := s.execute(ctx, hook, msg, files, threadID)
		if err == nil {
			if attempts > 1 {
				s.b.log.Info("posted after Discord failed transiently", slog.String("channel_id", postChannel), slog.Int("attempts", attempts))
			}
			return m, nil
		}
		fault, why := classifySend(err)
		if fault == faultPermanent || ctx.Err() != nil {
			if unknown && ctx.Err() == nil {
				// Refused now, but an earlier attempt may have gone through.
				if m, found, _ := s.findPosted(ctx, postChannel, hook, msg, floor); found {
					return m, nil
				}
			}
			return nil, err
		}
		lastErr, cause = err, why
		unknown = unknown || fault == faultUnknown
		wait := b.NextBackOff()
		if time.Now().Add(wait).After(deadline) {
			break
		}
		s.b.log.Warn("Discord failed transiently; retrying the post", slog.String("channel_id", postChannel),
			slog.Int("attempt", attempts), slog.Duration("wait", wait), slog.Any("err", err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if lastErr == nil {
		return nil, ctx.Err()
	}
	if unknown {
		// One last look (with a little time of its own even if ctx ended): the last attempt may
		// have gone through.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		m, found, _ := s.findPosted(lctx, postChannel, hook, msg, floor)
		cancel()
		if found {
			return m, nil
		}
	}
	return nil, &message.DeliveryError{Cause: cause, Attempts: attempts, Elapsed: time.Since(start), Err: lastErr}
}

// findPosted looks among the channel's newest messages for msg posted by the webhook (same
// content and name) since floor.
func (s *Sender) findPosted(ctx context.Context, channelID string, hook Webhook, msg discord.WebhookMessageCreate, floor snowflake.ID) (*discord.Message, bool, error) {
	ch, err := snowflake.Parse(channelID)
	if err != nil {
		return nil, false, fmt.Errorf("channel id %q is not a Discord id: %w", channelID, err)
	}
	hookID, err := snowflake.Parse(hook.ID)
	if err != nil {
		return nil, false, fmt.Errorf("stored webhook id %q is not a Discord id: %w", hook.ID, err)
	}
	msgs, err := s.b.client.Rest.GetMessages(ch, 0, 0, 0, readBackLimit, rest.WithCtx(ctx))
	if err != nil {
		return nil, false, fmt.Errorf("read the newest messages of channel %s: %w", channelID, err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.ID < floor || m.WebhookID == nil || *m.WebhookID != hookID {
			continue
		}
		if m.Content == msg.Content && m.Author.Username == msg.Username {
			return m, true, nil
		}
	}
	return nil, false, nil
}

// createReliably posts msg as the bot, retrying transient failures within the SendRetry budget.
// Here Discord does let the bot tell: the message carries a random nonce with enforce_nonce, so
// a retry of a message Discord already created returns that message instead of a second one.
func (s *Sender) createReliably(ctx context.Context, ch snowflake.ID, msg discord.MessageCreate, files []*message.File) (*discord.Message, error) {
	cfg := s.b.cfg.sendRetry
	msg.Nonce, msg.EnforceNonce = newNonce(), true
	start := time.Now()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = cfg.Initial, cfg.Max, 0
	b.Reset()
	deadline := start.Add(cfg.Total)
	for attempts := 1; ; attempts++ {
		if len(files) > 0 {
			// Fresh readers per attempt: a retry must upload the whole files again.
			msg.Files = disgoFiles(files)
		}
		m, err := s.b.client.Rest.CreateMessage(ch, msg, rest.WithCtx(ctx))
		if err == nil {
			if attempts > 1 {
				s.b.log.Info("posted after Discord failed transiently", slog.String("channel_id", ch.String()), slog.Int("attempts", attempts))
			}
			return m, nil
		}
		err = s.restErr(err)
		fault, why := classifySend(err)
		wait := b.NextBackOff()
		if fault == faultPermanent || ctx.Err() != nil {
			return nil, err
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, &message.DeliveryError{Cause: why, Attempts: attempts, Elapsed: time.Since(start), Err: err}
		}
		s.b.log.Warn("Discord failed transiently; retrying the post", slog.String("channel_id", ch.String()),
			slog.Int("attempt", attempts), slog.Duration("wait", wait), slog.Any("err", err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// newNonce returns a random message nonce (Discord takes at most 25 characters).
func newNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
