package discord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"
	"golang.org/x/sync/singleflight"

	"github.com/tzurot-go/tzurot/host/internal/chunk"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

// Discord JSON error codes the sender reacts to.
const (
	codeUnknownChannel      = 10003
	codeUnknownWebhook      = 10015
	codeMissingAccess       = 50001
	codeCannotDMUser        = 50007
	codeMissingPermissions  = 50013
	codeInvalidWebhookToken = 50027
)

// Errors a caller may want to tell apart (use errors.Is).
var (
	// ErrEmptyReply means the text had nothing to post.
	ErrEmptyReply = errors.New("the reply is empty")
	// ErrDMsClosed means the user does not accept direct messages from the bot.
	ErrDMsClosed = errors.New("the user does not accept direct messages from the bot")
)

// DefaultWebhookName is the name of the webhooks the bot creates; each message overrides it with
// the personality's name.
const DefaultWebhookName = "Tzurot"

// Sender posts messages: as a personality through channel webhooks, as the bot, and as direct
// messages. It is safe for concurrent use.
type Sender struct {
	b           *Bot
	store       WebhookStore
	webhookName string
	lookups     singleflight.Group // one webhook lookup/creation per channel at a time
	pace        *webhookPacer      // live replies' requests per webhook (live.go)
}

// NewSender returns a Sender that caches channel webhooks in store.
func (b *Bot) NewSender(store WebhookStore) *Sender {
	return &Sender{b: b, store: store, webhookName: DefaultWebhookName, pace: newWebhookPacer(b.cfg.live)}
}

func (s *Sender) restErr(err error) error { return s.b.redact.Error(err) }

// SendAsPersonality posts text as a personality (name and avatar) in channelID and returns the
// ids of the posted messages, one per part: replies longer than 2,000 characters are split (see
// package chunk). For a thread, pass the thread as channelID and its parent as threadParentID:
// webhooks live on the parent and post into the thread with thread_id. If the channel's webhook
// was deleted, it is recreated once. Transient Discord failures are retried (see SendRetry and
// executeReliably); a part given up on fails with a *DeliveryError (ErrDiscordUnavailable). When
// a later part fails, the ids of the parts already posted are returned with the error.
func (s *Sender) SendAsPersonality(ctx context.Context, channelID, threadParentID, name, avatarURL, text string) ([]string, error) {
	return s.SendAsPersonalityWith(ctx, channelID, threadParentID, name, avatarURL, text, nil)
}

// SendAsPersonalityWith is SendAsPersonality with something attached to the last part: last is
// called once every part before it is posted (so it may wait, for speech say, without delaying
// them) and its File goes with the last part, its Note after the last part's text (see LastPart).
func (s *Sender) SendAsPersonalityWith(ctx context.Context, channelID, threadParentID, name, avatarURL, text string, last message.LastPart) ([]string, error) {
	var resolve func(context.Context) *lastPart
	if last != nil {
		resolve = func(ctx context.Context) *lastPart { return s.resolveLast(ctx, last) }
	}
	return s.sendAsPersonality(ctx, channelID, threadParentID, name, avatarURL, text, resolve, false)
}

// sendAsPersonality posts text in parts; resolve, when set, supplies what goes with the last
// part. withFiles lets a message without text go out when it carries files (an image alone).
func (s *Sender) sendAsPersonality(ctx context.Context, channelID, threadParentID, name, avatarURL, text string, resolve func(context.Context) *lastPart, withFiles bool) ([]string, error) {
	parts := nonBlank(chunk.Split(text))
	if len(parts) == 0 && withFiles {
		parts = []string{""} // the files alone are a message
	}
	if len(parts) == 0 {
		return nil, ErrEmptyReply
	}
	hookChannel, threadID := channelID, snowflake.ID(0)
	if threadParentID != "" {
		hookChannel = threadParentID
		id, err := snowflake.Parse(channelID)
		if err != nil {
			return nil, fmt.Errorf("thread id %q is not a Discord id: %w", channelID, err)
		}
		threadID = id
	}
	msg := discord.WebhookMessageCreate{
		Username: WebhookUsername(name),
		// Personalities may mention users they talk to, never @everyone, @here or roles.
		AllowedMentions: &discord.AllowedMentions{Parse: []discord.AllowedMentionType{discord.AllowedMentionTypeUsers}},
	}
	if u, err := url.Parse(avatarURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		msg.AvatarURL = avatarURL
	}

	hook, err := s.webhook(ctx, hookChannel)
	if err != nil {
		return nil, err
	}
	var ids []string
	recreated := false
	var tail *lastPart // what goes with the last part, once asked
	for i := 0; i < len(parts); {
		if i == len(parts)-1 && resolve != nil && tail == nil {
			tail = resolve(ctx)
			parts = append(parts[:i], tail.parts(parts[i])...)
		}
		var files []*message.File
		if tail != nil && i == len(parts)-1 {
			files = tail.files
		}
		msg.Content = parts[i]
		posted, err := s.executeReliably(ctx, hook, msg, files, threadID, channelID)
		if err != nil && len(files) > 0 && isTooLarge(err) {
			// Discord's limit for this channel is below what we assumed (an unboosted server
			// after a boost ended, say): post the text without the files, with the notice.
			s.b.log.Info("Discord refused the attachment as too large; posting the text with a notice instead",
				slog.String("channel_id", channelID), slog.Int("bytes", totalBytes(files)))
			parts = append(parts[:i], tail.tooLarge(msg.Content)...)
			continue
		}
		if err != nil && !recreated && (isDiscordError(err, codeUnknownWebhook) || isDiscordError(err, codeInvalidWebhookToken)) {
			// Someone deleted the webhook (or reset its token): forget it and make a new one.
			s.b.log.Info("channel webhook is gone; recreating it", slog.String("channel_id", hookChannel), slog.Any("webhook", hook))
			recreated = true
			if derr := s.store.DeleteChannelWebhook(ctx, hookChannel); derr != nil {
				return ids, fmt.Errorf("forget the deleted webhook of channel %s: %w", hookChannel, derr)
			}
			if hook, err = s.webhook(ctx, hookChannel); err != nil {
				return ids, err
			}
			continue
		}
		if err != nil {
			return ids, fmt.Errorf("post part %d of %d as %q in channel %s: %w", i+1, len(parts), msg.Username, channelID, s.explain(err))
		}
		for _, f := range files {
			f.Attached = true
		}
		ids = append(ids, posted.ID.String())
		i++
	}
	return ids, nil
}

func (s *Sender) execute(ctx context.Context, hook Webhook, msg discord.WebhookMessageCreate, files []*message.File, threadID snowflake.ID) (*discord.Message, error) {
	id, err := snowflake.Parse(hook.ID)
	if err != nil {
		return nil, fmt.Errorf("stored webhook id %q is not a Discord id: %w", hook.ID, err)
	}
	if len(files) > 0 {
		// Fresh readers per attempt: a retry must upload the whole files again.
		msg.Files = disgoFiles(files)
	}
	m, err := s.b.client.Rest.CreateWebhookMessage(id, hook.Token, msg,
		rest.CreateWebhookMessageParams{Wait: true, ThreadID: threadID}, rest.WithCtx(ctx))
	return m, s.restErr(err)
}

// webhook returns the channel's webhook: from the store, else one of ours already on the channel,
// else a new one. Concurrent callers for one channel share a single lookup, so a burst of
// replies creates one webhook, not several.
func (s *Sender) webhook(ctx context.Context, channelID string) (Webhook, error) {
	if w, ok, err := s.store.ChannelWebhook(ctx, channelID); err != nil {
		return Webhook{}, fmt.Errorf("load the webhook of channel %s: %w", channelID, err)
	} else if ok {
		return w, nil
	}
	v, err, _ := s.lookups.Do(channelID, func() (any, error) {
		// Another caller may have stored it while we waited.
		if w, ok, err := s.store.ChannelWebhook(ctx, channelID); err == nil && ok {
			return w, nil
		}
		w, err := s.findOrCreate(ctx, channelID)
		if err != nil {
			return Webhook{}, err
		}
		if err := s.store.PutChannelWebhook(ctx, channelID, w); err != nil {
			return Webhook{}, fmt.Errorf("remember the webhook of channel %s: %w", channelID, err)
		}
		return w, nil
	})
	if err != nil {
		return Webhook{}, err
	}
	return v.(Webhook), nil
}

func (s *Sender) findOrCreate(ctx context.Context, channelID string) (Webhook, error) {
	ch, err := snowflake.Parse(channelID)
	if err != nil {
		return Webhook{}, fmt.Errorf("channel id %q is not a Discord id: %w", channelID, err)
	}
	hooks, err := s.b.client.Rest.GetWebhooks(ch, rest.WithCtx(ctx))
	if err != nil {
		return Webhook{}, fmt.Errorf("list the webhooks of channel %s: %w", channelID, s.explain(s.restErr(err)))
	}
	for _, h := range hooks {
		// Reuse only webhooks this application made (others' tokens are not ours to use).
		if in, ok := h.(discord.IncomingWebhook); ok && in.ApplicationID != nil &&
			*in.ApplicationID == s.b.client.ApplicationID && in.Token != "" {
			return Webhook{ID: in.ID().String(), Token: in.Token}, nil
		}
	}
	created, err := s.b.client.Rest.CreateWebhook(ch, discord.WebhookCreate{Name: WebhookUsername(s.webhookName)}, rest.WithCtx(ctx))
	if err != nil {
		return Webhook{}, fmt.Errorf("create a webhook in channel %s: %w", channelID, s.explain(s.restErr(err)))
	}
	s.b.log.Info("created a channel webhook", slog.String("channel_id", channelID), slog.String("webhook_id", created.ID().String()))
	return Webhook{ID: created.ID().String(), Token: created.Token}, nil
}

// explain wraps Discord permission errors in the sentinel errors above, keeping the original.
func (s *Sender) explain(err error) error {
	switch {
	case isDiscordError(err, codeMissingPermissions):
		return fmt.Errorf("%w: %w", message.ErrNoWebhookPermission, err)
	case isDiscordError(err, codeMissingAccess), isDiscordError(err, codeUnknownChannel):
		return fmt.Errorf("%w: %w", message.ErrNoChannelAccess, err)
	case isDiscordError(err, codeCannotDMUser):
		return fmt.Errorf("%w: %w", ErrDMsClosed, err)
	}
	return err
}

// Reply posts text as the bot, as a reply to replyToID (the first part replies; the others
// follow). It does not ping the author. Use it for DMs, where webhooks do not exist, and for the
// bot's own messages.
func (s *Sender) Reply(ctx context.Context, channelID, replyToID, text string) ([]string, error) {
	ch, err := snowflake.Parse(channelID)
	if err != nil {
		return nil, fmt.Errorf("channel id %q is not a Discord id: %w", channelID, err)
	}
	var ref snowflake.ID
	if replyToID != "" {
		if ref, err = snowflake.Parse(replyToID); err != nil {
			return nil, fmt.Errorf("message id %q is not a Discord id: %w", replyToID, err)
		}
	}
	return s.postAsBot(ctx, ch, ref, text, nil)
}

// ReplyWith is Reply with something attached to the last part (see SendAsPersonalityWith).
func (s *Sender) ReplyWith(ctx context.Context, channelID, replyToID, text string, last message.LastPart) ([]string, error) {
	ch, err := snowflake.Parse(channelID)
	if err != nil {
		return nil, fmt.Errorf("channel id %q is not a Discord id: %w", channelID, err)
	}
	var ref snowflake.ID
	if replyToID != "" {
		if ref, err = snowflake.Parse(replyToID); err != nil {
			return nil, fmt.Errorf("message id %q is not a Discord id: %w", replyToID, err)
		}
	}
	return s.postAsBot(ctx, ch, ref, text, last)
}

func (s *Sender) postAsBot(ctx context.Context, ch, replyTo snowflake.ID, text string, last message.LastPart) ([]string, error) {
	parts := nonBlank(chunk.Split(text))
	if len(parts) == 0 {
		return nil, ErrEmptyReply
	}
	var (
		ids  []string
		tail *lastPart
	)
	for i := 0; i < len(parts); {
		if i == len(parts)-1 && last != nil && tail == nil {
			tail = s.resolveLast(ctx, last)
			parts = append(parts[:i], tail.parts(parts[i])...)
		}
		var files []*message.File
		if tail != nil && i == len(parts)-1 {
			files = tail.files
		}
		msg := discord.NewMessageCreate().WithContent(parts[i]).
			WithAllowedMentions(&discord.AllowedMentions{Parse: []discord.AllowedMentionType{discord.AllowedMentionTypeUsers}, RepliedUser: false})
		if i == 0 && replyTo != 0 {
			// If the message was deleted meanwhile, post anyway rather than fail.
			msg.MessageReference = &discord.MessageReference{MessageID: &replyTo, FailIfNotExists: false}
		}
		m, err := s.createReliably(ctx, ch, msg, files)
		if err != nil && len(files) > 0 && isTooLarge(err) {
			s.b.log.Info("Discord refused the attachment as too large; posting the text with a notice instead",
				slog.String("channel_id", ch.String()), slog.Int("bytes", totalBytes(files)))
			parts = append(parts[:i], tail.tooLarge(parts[i])...)
			continue
		}
		if err != nil {
			return ids, fmt.Errorf("post part %d of %d in channel %s: %w", i+1, len(parts), ch, s.explain(err))
		}
		for _, f := range files {
			f.Attached = true
		}
		ids = append(ids, m.ID.String())
		i++
	}
	return ids, nil
}

// NotifyUser sends text to a user as a direct message. Plain messages cannot be ephemeral, so a
// notice meant for one person (an error about their API key, say) goes to their DMs. It returns
// ErrDMsClosed (wrapped) when the user does not accept DMs from the bot.
func (s *Sender) NotifyUser(ctx context.Context, userID, text string) ([]string, error) {
	u, err := snowflake.Parse(userID)
	if err != nil {
		return nil, fmt.Errorf("user id %q is not a Discord id: %w", userID, err)
	}
	dm, err := s.b.client.Rest.CreateDMChannel(u, rest.WithCtx(ctx))
	if err != nil {
		return nil, fmt.Errorf("open a direct message with user %s: %w", userID, s.explain(s.restErr(err)))
	}
	return s.postAsBot(ctx, dm.ID(), 0, text, nil)
}

// SendTyping shows "... is typing" in a channel until stop is called (or ctx or the bot ends).
// The first indicator is sent before SendTyping returns; a renewer re-sends it every typing
// interval because Discord clears it after about 10 seconds. stop is idempotent and returns once
// the renewer has exited, so no indicator is sent after it. A failed indicator is logged, never
// fatal.
func (s *Sender) SendTyping(ctx context.Context, channelID string) (stop func()) {
	ch, err := snowflake.Parse(channelID)
	b := s.b
	b.mu.Lock()
	if err != nil || b.shutdown {
		b.mu.Unlock()
		return func() {}
	}
	b.renewers.Add(1)
	b.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	send := func() {
		if err := b.client.Rest.SendTyping(ch, rest.WithCtx(ctx)); err != nil && ctx.Err() == nil {
			b.log.Debug("typing indicator failed", slog.String("channel_id", channelID), slog.Any("err", s.restErr(err)))
		}
	}
	send()
	done := make(chan struct{})
	go func() {
		defer b.renewers.Done()
		defer close(done)
		ticker := time.NewTicker(b.cfg.typingInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.ctx.Done():
				return
			case <-ticker.C:
				send()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// Download fetches an attachment from Discord's CDN (or the hosts set with WithDownloadHosts),
// without the bot token, refusing files over the size cap. It returns the bytes and content type.
func (b *Bot) Download(ctx context.Context, rawURL string) ([]byte, string, error) {
	return b.DownloadAtMost(ctx, rawURL, b.cfg.maxDownload)
}

// DownloadAtMost is Download with its own cap, for callers whose limit is not the message
// attachments' (voice samples may be 10 MB). It stops reading at max+1 bytes, so a file that
// lies about its size costs at most that much.
func (b *Bot) DownloadAtMost(ctx context.Context, rawURL string, max int64) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, "", fmt.Errorf("attachment URL %q is not an http(s) URL", rawURL)
	}
	allowed := false
	for _, h := range b.cfg.downloadHosts {
		if strings.EqualFold(u.Host, h) || strings.EqualFold(u.Hostname(), h) {
			allowed = true
		}
	}
	if !allowed {
		return nil, "", fmt.Errorf("attachment host %q is not a Discord CDN host", u.Host)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("build attachment request: %w", err)
	}
	resp, err := b.cfg.httpClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("download attachment: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("download attachment: Discord's CDN answered %s (the link may have expired)", resp.Status)
	}
	if resp.ContentLength > max {
		return nil, "", fmt.Errorf("%w: it is larger than %d MiB", message.ErrDownloadTooLarge, max>>20)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, "", fmt.Errorf("download attachment: %w", err)
	}
	if int64(len(data)) > max {
		return nil, "", fmt.Errorf("%w: it is larger than %d MiB", message.ErrDownloadTooLarge, max>>20)
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// nonBlank drops whitespace-only parts: Discord refuses empty messages.
func nonBlank(parts []string) []string {
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

// isDiscordError reports whether err is a Discord REST error with the JSON error code.
func isDiscordError(err error, code int) bool {
	var re *rest.Error
	return errors.As(err, &re) && int(re.Code) == code
}
