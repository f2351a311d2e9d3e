package chat

// Streamed replies (docs/pipeline.md, "Streamed replies"): while a provider
// streams, the personality's webhook message appears with the first words
// and is edited as text arrives; the adapter's message.LiveReply does the pacing and the
// splitting, this file decides when a reply streams and what it shows.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// LiveSender starts live replies; the Discord adapter's Sender implements it. A Sender
// without it posts every reply once, whole.
type LiveSender interface {
	StartLive(ctx context.Context, channelID, threadParentID, name, avatarURL string) (message.LiveReply, error)
}

// liveText is the text a live reply shows: what the final call emitted so
// far, after a fixed prefix (the quoted transcript of a voice message).
type liveText struct {
	live   message.LiveReply
	prefix string
	mu     sync.Mutex
	b      strings.Builder
}

// reset starts over (a new chat call of the agent loop).
func (t *liveText) reset() {
	t.mu.Lock()
	t.b.Reset()
	t.mu.Unlock()
}

// add is the plugin call's OnChunk: it runs on the plugin's goroutine, so it
// only appends and hands the whole text to the live reply, which never
// blocks.
func (t *liveText) add(chunk string) {
	t.mu.Lock()
	t.b.WriteString(chunk)
	s := t.b.String()
	t.mu.Unlock()
	t.live.Update(t.prefix + s)
}

// streamed is the text emitted so far, without the prefix.
func (t *liveText) streamed() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// streams decides whether this reply is shown live: the personality's
// choice (personalities.stream_replies) when it made one, else the
// deployment's (TZUROT_STREAM_REPLIES). Never in DMs (the bot posts there
// itself, without a webhook), never in a worker process, and never without
// a sender that can.
func (j *job) streams() bool {
	if j.msg.IsDM() {
		return false
	}
	// A reply run as a queue job (a worker process, docs/scaling.md) is
	// posted whole: a live message is on screen before the delivery record
	// is claimed, so an attempt killed mid-stream would leave half a reply
	// beside the retry's. Exactly one reply wins over early words there.
	if j.ledger != nil {
		return false
	}
	if _, ok := j.p.sender.(LiveSender); !ok {
		return false
	}
	if s := j.personality.StreamReplies; s != nil {
		return *s
	}
	return j.p.cfg.Stream
}

// startLive begins the live reply, or returns nil when the reply is posted
// whole.
func (j *job) startLive(ctx context.Context) *liveText {
	if !j.streams() {
		return nil
	}
	live, err := j.p.sender.(LiveSender).StartLive(ctx, j.msg.ChannelID, j.msg.ThreadParentID, personalityName(*j.personality), j.personality.AvatarURL)
	if err != nil {
		j.log.Warn("cannot start a live reply; it will be posted when complete", slog.Any("err", err))
		return nil
	}
	t := &liveText{live: live}
	if j.transcript != "" {
		t.prefix = quoteTranscript(j.transcript) + "\n"
	}
	return t
}

// liveChat wraps a chat call so that its emitted text goes to the live
// reply, but only for a call that can only be the final answer: one that
// offers no tools (docs/tools.md: the agent loop's intermediate calls carry
// tool calls, not text for the user; a call offering tools may turn out to
// be one, so its text is never shown before it ends).
func (t *liveText) liveChat(chat chatFunc) chatFunc {
	if t == nil {
		return chat
	}
	return func(ctx context.Context, req abi.ChatRequest) (abi.ChatResponse, []abi.Usage, error) {
		if len(req.Tools) > 0 {
			return chat(ctx, req)
		}
		req.Stream = true
		t.reset()
		if c, ok := plugin.CallFrom(ctx); ok {
			c.OnChunk = t.add
			ctx = plugin.WithCall(ctx, c)
		}
		return chat(ctx, req)
	}
}

// streamCut ends a live reply whose provider call failed after part of it
// was shown: the message keeps the text so far and ends with the
// personality's error notice and reference, the usage is recorded once (the
// provider streamed those tokens and may bill them), and the cause goes to
// the user as for any failure.
func (j *job) streamCut(ctx context.Context, t *liveText, req abi.ChatRequest, usage []abi.Usage, err error) {
	f := classify(err, j.provider)
	if kerr := j.keys.storeErr(); kerr != nil {
		f = botFailure(codeDatabase, fmt.Errorf("read the API key: %w (the plugin then reported: %v)", kerr, err))
	}
	j.stats.Err = f.cause
	j.log.Error("reply failed after part of it was shown", slog.String("code", f.code), slog.Any("err", f.cause))
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	errMsg := ""
	if j.personality.ErrorMessage != nil {
		errMsg = *j.personality.ErrorMessage
	}
	shown := strings.TrimRight(t.prefix+t.streamed(), " \t\n")
	text := shown + "\n\n" + channelError(errMsg, j.ref)
	ids, perr := t.live.Finish(ctx, text, nil)
	delivery := store.DeliveryPartial
	if perr != nil {
		j.log.Warn("cannot end the live reply with the error notice", slog.Any("err", perr))
		if len(ids) == 0 {
			delivery = store.DeliveryLost
		}
	}
	if len(usage) == 0 {
		// The plugin reported nothing (its stream broke before the usage
		// event), but the provider produced what was shown: count it, at the
		// context budget's estimate (four characters a token).
		in := 0
		for _, m := range req.Messages {
			in += estimateTokens(m.Content)
		}
		usage = []abi.Usage{{Model: req.Model, InputTokens: int64(in), OutputTokens: int64(estimateTokens(t.streamed()))}}
		j.log.Info("the failed call reported no usage; recording an estimate", slog.Int64("input_tokens", usage[0].InputTokens), slog.Int64("output_tokens", usage[0].OutputTokens))
	}
	j.remember(ids, text)
	j.record(ctx, ids, abi.ChatResponse{Model: req.Model}, usage, delivery)
	if j.keys.used.Load() == keyFallback || f.forUser == "" {
		return
	}
	dm := fmt.Sprintf("%s could not finish its answer to your message (ref: %s). %s", personalityName(*j.personality), j.ref, f.forUser)
	if _, derr := j.p.sender.NotifyUser(ctx, j.msg.Author.ID, dm); derr != nil {
		j.log.Info("cannot DM the cause of a failed reply", slog.Any("err", derr))
	}
}
