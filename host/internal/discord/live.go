package discord

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"

	"github.com/tzurot-go/tzurot/host/internal/chunk"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

// codeUnknownMessage is Discord's JSON error code for a message that does not exist (deleted).
const codeUnknownMessage = 10008

// LiveEdits paces a live reply (a personality's message edited while the model writes it).
type LiveEdits struct {
	// Interval is the least time between two updates of one live reply: the text that arrives
	// meanwhile is coalesced into the next edit. Default 1 s.
	Interval time.Duration
	// PerWebhook requests (posts, edits, deletes of live replies) at most in any window of
	// Window through one webhook, shared by every live reply in its channel. Discord does not
	// publish its webhook limit; bots observe 5 per 2 s, the default. Going over it costs a 429
	// and a wait; the REST client reads the 429's headers and waits as told.
	PerWebhook int
	Window     time.Duration
}

// DefaultLiveEdits is one update a second per reply, five requests per two seconds per webhook.
func DefaultLiveEdits() LiveEdits {
	return LiveEdits{Interval: time.Second, PerWebhook: 5, Window: 2 * time.Second}
}

// webhookPacer spaces the live replies' requests per webhook (a sliding window).
type webhookPacer struct {
	cfg   LiveEdits
	mu    sync.Mutex
	calls map[string][]time.Time
}

func newWebhookPacer(cfg LiveEdits) *webhookPacer {
	if cfg.PerWebhook <= 0 {
		cfg.PerWebhook = DefaultLiveEdits().PerWebhook
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultLiveEdits().Window
	}
	return &webhookPacer{cfg: cfg, calls: map[string][]time.Time{}}
}

// wait blocks until the webhook may take one more request and counts it.
func (p *webhookPacer) wait(ctx context.Context, hookID string) error {
	for {
		p.mu.Lock()
		now := time.Now()
		calls := p.calls[hookID]
		for len(calls) > 0 && now.Sub(calls[0]) >= p.cfg.Window {
			calls = calls[1:]
		}
		if len(calls) < p.cfg.PerWebhook {
			p.calls[hookID] = append(calls, now)
			if len(p.calls) > 1000 {
				p.sweepLocked(now)
			}
			p.mu.Unlock()
			return nil
		}
		p.calls[hookID] = calls
		wait := p.cfg.Window - now.Sub(calls[0])
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// sweepLocked forgets webhooks idle for a whole window.
func (p *webhookPacer) sweepLocked(now time.Time) {
	for id, calls := range p.calls {
		if len(calls) == 0 || now.Sub(calls[len(calls)-1]) >= p.cfg.Window {
			delete(p.calls, id)
		}
	}
}

// LiveReply is a personality's reply shown while it is written: the first text posts the
// message, later text edits it (coalesced, at most one request in flight, paced per webhook),
// text past 2,000 characters goes on in further messages (package chunk: code blocks are never
// broken), and Finish makes every part say exactly the final text. Update never blocks, so the
// plugin's stream is never held up by Discord.
type LiveReply struct {
	s                      *Sender
	channelID, hookChannel string
	threadID               snowflake.ID
	msg                    discord.WebhookMessageCreate
	interval               time.Duration
	log                    *slog.Logger
	kick, stop, done       chan struct{}
	mu                     sync.Mutex
	text                   string
	firstShown             time.Time
	stopOnce               sync.Once
	hook                   Webhook // owned by the loop, then by Finish
	parts                  []livePart
	failed                 error
	lastSync               time.Time
}

type livePart struct {
	id      snowflake.ID
	content string
}

// StartLive begins a live reply as a personality in channelID (for a thread: the thread, with
// its parent as threadParentID). Nothing is posted until the first Update. ctx bounds the live
// edits (not Finish, which takes its own).
func (s *Sender) StartLive(ctx context.Context, channelID, threadParentID, name, avatarURL string) (message.LiveReply, error) {
	r := &LiveReply{s: s, channelID: channelID, hookChannel: channelID, interval: s.b.cfg.live.Interval,
		log:  s.b.log.With(slog.String("channel_id", channelID)),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if r.interval <= 0 {
		r.interval = DefaultLiveEdits().Interval
	}
	if threadParentID != "" {
		id, err := snowflake.Parse(channelID)
		if err != nil {
			return nil, fmt.Errorf("thread id %q is not a Discord id: %w", channelID, err)
		}
		r.hookChannel, r.threadID = threadParentID, id
	}
	r.msg = discord.WebhookMessageCreate{
		Username:        WebhookUsername(name),
		AllowedMentions: personalityMentions(),
	}
	if u, err := url.Parse(avatarURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		r.msg.AvatarURL = avatarURL
	}
	go r.loop(ctx)
	return r, nil
}

// personalityMentions is what a personality's message may ping: users it talks to, never
// @everyone, @here or roles. Every post and every edit states it.
func personalityMentions() *discord.AllowedMentions {
	return &discord.AllowedMentions{Parse: []discord.AllowedMentionType{discord.AllowedMentionTypeUsers}}
}

// Update sets the reply's whole text so far (not a delta). It returns at once.
func (r *LiveReply) Update(text string) {
	r.mu.Lock()
	r.text = text
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// FirstShown is when the first text was posted (zero if none yet).
func (r *LiveReply) FirstShown() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstShown
}

// Shown reports whether part of the reply is in the channel. Call it after Stop.
func (r *LiveReply) Shown() bool { return len(r.parts) > 0 }

// Stop ends the live edits and waits for the one in flight. Finish calls it; call it alone to
// abandon a reply that was never shown.
func (r *LiveReply) Stop() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

func (r *LiveReply) loop(ctx context.Context) {
	defer close(r.done)
	for {
		select {
		case <-r.kick:
		case <-r.stop:
			return
		case <-ctx.Done():
			return
		}
		if r.failed != nil {
			continue
		}
		if wait := time.Until(r.lastSync.Add(r.interval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.stop:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		r.mu.Lock()
		text := r.text
		r.mu.Unlock()
		r.lastSync = time.Now()
		if err := r.sync(ctx, text, nil, false); err != nil {
			// Live edits stop; Finish still tries to show the final text.
			r.failed = err
			if ctx.Err() == nil {
				r.log.Warn("live reply: an update failed; the reply will be posted when complete", slog.Any("err", err))
			}
		}
	}
}

// Finish stops the live edits and makes the reply say exactly text, with what last supplies
// (a file, a note) on the last part, as SendAsPersonalityWith does. It returns the ids of every
// message of the reply, in order. When nothing was shown yet, it simply posts the reply.
func (r *LiveReply) Finish(ctx context.Context, text string, last message.LastPart) ([]string, error) {
	r.Stop()
	if len(r.parts) == 0 {
		var resolve func(context.Context) *lastPart
		if last != nil {
			resolve = func(ctx context.Context) *lastPart { return r.s.resolveLast(ctx, last) }
		}
		threadParent := ""
		if r.threadID != 0 {
			threadParent = r.hookChannel
		}
		return r.s.sendAsPersonality(ctx, r.channelID, threadParent, r.msg.Username, r.msg.AvatarURL, text, resolve, false)
	}
	err := r.sync(ctx, text, last, true)
	ids := make([]string, 0, len(r.parts))
	for _, p := range r.parts {
		ids = append(ids, p.id.String())
	}
	return ids, err
}

// sync makes the posted parts say text: parts that changed are edited, new ones posted, and
// (final only) parts beyond the text deleted. Every request waits for the webhook's pace.
func (r *LiveReply) sync(ctx context.Context, text string, last message.LastPart, final bool) error {
	parts := nonBlank(chunk.Split(text))
	if len(parts) == 0 {
		if final {
			return ErrEmptyReply
		}
		return nil
	}
	if r.hook.ID == "" {
		hook, err := r.s.webhook(ctx, r.hookChannel)
		if err != nil {
			return err
		}
		r.hook = hook
	}
	var tail *lastPart
	for i := 0; i < len(parts); {
		if final && last != nil && tail == nil && i == len(parts)-1 {
			tail = r.s.resolveLast(ctx, last)
			parts = append(parts[:i], tail.parts(parts[i])...)
		}
		var files []*message.File
		if tail != nil && i == len(parts)-1 {
			files = tail.files
		}
		if i < len(r.parts) && r.parts[i].content == parts[i] && len(files) == 0 {
			i++
			continue
		}
		if err := r.s.pace.wait(ctx, r.hook.ID); err != nil {
			return err
		}
		var err error
		if i < len(r.parts) {
			err = r.edit(ctx, i, parts[i], files)
		} else {
			err = r.post(ctx, parts[i], files)
		}
		if err != nil && len(files) > 0 && isTooLarge(err) {
			r.log.Info("Discord refused the attachment as too large; posting the text with a notice instead", slog.Int("bytes", totalBytes(files)))
			parts = append(parts[:i], tail.tooLarge(parts[i])...)
			continue
		}
		if err != nil {
			return fmt.Errorf("live reply, part %d of %d as %q in channel %s: %w", i+1, len(parts), r.msg.Username, r.channelID, r.s.explain(err))
		}
		for _, f := range files {
			f.Attached = true
		}
		i++
	}
	if final {
		// The final text needs fewer messages than were shown (rare: a split point moved).
		for len(r.parts) > len(parts) {
			p := r.parts[len(r.parts)-1]
			if err := r.s.pace.wait(ctx, r.hook.ID); err != nil {
				return err
			}
			if err := r.deleteMsg(ctx, p.id); err != nil && !isDiscordError(err, codeUnknownMessage) {
				return fmt.Errorf("live reply: delete a surplus part in channel %s: %w", r.channelID, err)
			}
			r.parts = r.parts[:len(r.parts)-1]
		}
	}
	return nil
}

// post sends a new part through the webhook.
func (r *LiveReply) post(ctx context.Context, content string, files []*message.File) error {
	msg := r.msg
	msg.Content = content
	m, err := r.s.executeReliably(ctx, r.hook, msg, files, r.threadID, r.channelID)
	if err != nil {
		return err
	}
	r.parts = append(r.parts, livePart{id: m.ID, content: content})
	r.mu.Lock()
	if r.firstShown.IsZero() {
		r.firstShown = time.Now()
	}
	r.mu.Unlock()
	return nil
}

// edit makes part i say content (with files attached). An edit is idempotent, so transient
// failures (5xx, network) are retried within the SendRetry budget; 429s are waited out by the
// REST client, which reads their headers. A part someone deleted is posted again.
func (r *LiveReply) edit(ctx context.Context, i int, content string, files []*message.File) error {
	hookID, err := snowflake.Parse(r.hook.ID)
	if err != nil {
		return fmt.Errorf("stored webhook id %q is not a Discord id: %w", r.hook.ID, err)
	}
	cfg := r.s.b.cfg.sendRetry
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = cfg.Initial, cfg.Max, 0
	b.Reset()
	start := time.Now()
	for attempts := 1; ; attempts++ {
		upd := discord.WebhookMessageUpdate{Content: &content, AllowedMentions: personalityMentions()}
		if len(files) > 0 {
			upd.Files = disgoFiles(files)
		}
		_, err = r.s.b.client.Rest.UpdateWebhookMessage(hookID, r.hook.Token, r.parts[i].id, upd,
			rest.UpdateWebhookMessageParams{ThreadID: r.threadID}, rest.WithCtx(ctx))
		err = r.s.restErr(err)
		if err == nil {
			r.parts[i].content = content
			return nil
		}
		if isDiscordError(err, codeUnknownMessage) {
			// Deleted while it was being written (a moderator, say): post this part anew in
			// its place, so the reply stays whole.
			r.log.Info("live reply: a part was deleted; posting it again")
			msg := r.msg
			msg.Content = content
			m, perr := r.s.executeReliably(ctx, r.hook, msg, files, r.threadID, r.channelID)
			if perr != nil {
				return perr
			}
			r.parts[i] = livePart{id: m.ID, content: content}
			return nil
		}
		fault, why := classifySend(err)
		wait := b.NextBackOff()
		if fault == faultPermanent || ctx.Err() != nil {
			return err
		}
		if time.Since(start)+wait > cfg.Total {
			return &message.DeliveryError{Cause: why, Attempts: attempts, Elapsed: time.Since(start), Err: err}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

func (r *LiveReply) deleteMsg(ctx context.Context, id snowflake.ID) error {
	hookID, err := snowflake.Parse(r.hook.ID)
	if err != nil {
		return fmt.Errorf("stored webhook id %q is not a Discord id: %w", r.hook.ID, err)
	}
	return r.s.restErr(r.s.b.client.Rest.DeleteWebhookMessage(hookID, r.hook.Token, id, r.threadID, rest.WithCtx(ctx)))
}
