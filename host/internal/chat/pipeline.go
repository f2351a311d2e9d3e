// Package chat is the pipeline that turns a Discord message into a
// personality's reply:
//
//	message -> trigger (reply / @mention / active channel / DM)
//	  -> user and personality (with the user's LLM config) -> rate limits
//	  -> context: prompt fields, the time in the user's zone, recent channel
//	     messages and referenced messages, within a token budget
//	  -> plugin call (plugin.Host.Chat) for the call's user, personality and
//	     request id; the plugin gets the user's key (or the host's fallback
//	     key where allowed) from the key source, never from the pipeline
//	  -> reply posted as the personality, split at 2,000 characters, typing
//	     shown meanwhile -> usage, message ids, reasoning recorded
//	  -> on failure: the personality's error message with a reference id in
//	     the channel, the real cause in a DM to the user whose key it was.
//
// Handlers never crash the bot (panics are recovered and answered like any
// failure), database calls ride out a database restart (retried with
// backoff; every write is idempotent by request id), and nothing a user
// typed is needed to identify a job: jobs carry ids, never keys.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/chunk"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Plugins is the part of plugin.Host the pipeline uses.
type Plugins interface {
	Chat(ctx context.Context, name string, req abi.ChatRequest) (abi.ChatResponse, []abi.Usage, error)
	Status() []plugin.PluginStatus
}

// Sender posts to Discord; *discord.Sender implements it.
type Sender interface {
	SendAsPersonality(ctx context.Context, channelID, threadParentID, name, avatarURL, text string) ([]string, error)
	Reply(ctx context.Context, channelID, replyToID, text string) ([]string, error)
	NotifyUser(ctx context.Context, userID, text string) ([]string, error)
	SendTyping(ctx context.Context, channelID string) (stop func())
}

// Store is the part of *store.Store the pipeline uses.
type Store interface {
	UserByDiscordID(ctx context.Context, discordID string) (store.User, error)
	PersonalityByID(ctx context.Context, id, userID int64) (store.Personality, error)
	PersonalityForMessage(ctx context.Context, messageID string) (int64, bool, error)
	ActivatedPersonality(ctx context.Context, channelID string) (int64, bool, error)
	DMSession(ctx context.Context, userID int64) (int64, bool, error)
	ReplyWriter
	MentionSource
}

// Config tunes the pipeline. Zero values take the defaults noted.
type Config struct {
	// DefaultProvider and DefaultModel serve personalities without an LLM
	// config (default provider "openrouter"; an empty model lets the plugin
	// use its default_model).
	DefaultProvider string
	DefaultModel    string
	// HistoryMessages is how many recent channel messages the context may
	// hold (default 20; the token budget may hold fewer).
	HistoryMessages int
	// ContextTokens is the token budget of a whole prompt (default 8000),
	// lowered to 3/4 of the model's context window when that is smaller.
	ContextTokens int
	// ReplyTimeout bounds one reply from trigger to post (default 3 min).
	ReplyTimeout time.Duration
	// MaxPersonalities caps the personalities answering one message
	// (default trigger.DefaultMaxPersonalities).
	MaxPersonalities int
	// Fallback says who may use the host's keys; the key source applies it.
	Fallback Fallback
	// Retry bounds how long database calls are retried.
	Retry RetryPolicy
	// HistoryChannels bounds the channels whose messages are cached
	// (default 2000); HistoryTTL is how long a cached channel is trusted
	// before it is read again from Discord (default 5 min).
	HistoryChannels int
	HistoryTTL      time.Duration
	// MentionPoll is how often the mention index checks the database for
	// changes made by other processes (default 10 s; negative turns it off).
	MentionPoll time.Duration
	// BotUserID is the bot's own user id (its messages in DMs are the
	// personalities' replies there).
	BotUserID string
	// RecordBatch caps the replies written in one commit (default 256).
	RecordBatch int
	// OnReply, when set, is called after every reply attempt (for the load
	// command and tests).
	OnReply func(ReplyStats)
}

func (c *Config) defaults() {
	if c.DefaultProvider == "" {
		c.DefaultProvider = "openrouter"
	}
	if c.HistoryMessages == 0 {
		c.HistoryMessages = 20
	}
	if c.ContextTokens <= 0 {
		c.ContextTokens = 8000
	}
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = 3 * time.Minute
	}
	if c.Retry == (RetryPolicy{}) {
		c.Retry = DefaultRetryPolicy()
	}
	if c.HistoryChannels <= 0 {
		c.HistoryChannels = 2000
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = 5 * time.Minute
	}
	if c.MentionPoll == 0 {
		c.MentionPoll = 10 * time.Second
	}
}

// Deps are the parts the pipeline joins.
type Deps struct {
	Store   Store
	Plugins Plugins
	Sender  Sender
	Reader  Reader
	// Limiter enforces rate limits; nil means none.
	Limiter *ratelimit.Limiter
	Logger  *slog.Logger
}

// ReplyStats describes one reply attempt.
type ReplyStats struct {
	RequestID     string
	PersonalityID int64
	// Received is when the pipeline got the message; Sending when it called
	// Discord to post the reply (zero if it never did).
	Received, Sending time.Time
	// PluginTime is the time spent in the plugin call (the provider's answer
	// included).
	PluginTime time.Duration
	// Err is nil for a reply that was posted.
	Err error
}

// Overhead is the host's own time for a reply: message in to reply out,
// minus the plugin call.
func (s ReplyStats) Overhead() time.Duration {
	if s.Sending.IsZero() {
		return 0
	}
	return s.Sending.Sub(s.Received) - s.PluginTime
}

// Pipeline answers messages. It implements discord.Handler.
type Pipeline struct {
	cfg      Config
	store    Store
	plugins  Plugins
	sender   Sender
	limiter  *ratelimit.Limiter
	log      *slog.Logger
	detector *trigger.Detector
	mentions *mentions
	history  *history
	recorder *recorder
	notices  throttle
	userIDs  idCache

	stopPoll context.CancelFunc
	wg       sync.WaitGroup
}

// New builds a pipeline and loads the mention index (so it fails early if
// the database is unreachable). Call Close when done.
func New(ctx context.Context, d Deps, cfg Config) (*Pipeline, error) {
	cfg.defaults()
	if d.Store == nil || d.Plugins == nil || d.Sender == nil || d.Reader == nil {
		return nil, errors.New("chat: store, plugins, sender and reader are all required")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "chat")
	p := &Pipeline{cfg: cfg, store: d.Store, plugins: d.Plugins, sender: d.Sender, limiter: d.Limiter, log: log}
	p.mentions = &mentions{src: d.Store, index: trigger.NewAliasIndex(), log: log, retry: cfg.Retry}
	if err := p.mentions.refresh(ctx, true); err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	det, err := trigger.New(trigger.Config{
		Aliases:          p.mentions.index,
		Owners:           retryingLookups{p},
		Channels:         retryingLookups{p},
		DMs:              retryingLookups{p},
		BotUserID:        cfg.BotUserID,
		MaxPersonalities: cfg.MaxPersonalities,
	})
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	p.detector = det
	p.history = newHistory(d.Reader, max(cfg.HistoryMessages, 0), cfg.HistoryChannels, cfg.HistoryTTL)
	p.recorder = newRecorder(d.Store, log, cfg.Retry, cfg.RecordBatch)
	pollCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.stopPoll = cancel
	if cfg.MentionPoll > 0 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.mentions.poll(pollCtx, cfg.MentionPoll)
		}()
	}
	return p, nil
}

// RefreshMentions reloads the mention index now. Call it after changing a
// personality's names or aliases in this process; other processes pick the
// change up by polling.
func (p *Pipeline) RefreshMentions(ctx context.Context) error {
	return p.mentions.refresh(ctx, true)
}

// Mentions exposes the mention index (for commands that update it in place).
func (p *Pipeline) Mentions() *trigger.AliasIndex { return p.mentions.index }

// Close stops polling and waits until every reply record is written (or ctx
// ends). Call it after the Discord side stopped delivering messages.
func (p *Pipeline) Close(ctx context.Context) error {
	p.stopPoll()
	p.wg.Wait()
	return p.recorder.Close(ctx)
}

// HandleMessage implements discord.Handler: it answers msg if it triggers
// any personality. It never panics and never returns an error: every
// failure is answered in the channel and logged.
func (p *Pipeline) HandleMessage(ctx context.Context, msg discord.IncomingMessage) {
	received := time.Now()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("message handler panicked", slog.String("message_id", msg.ID),
				slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
		}
	}()
	p.history.observe(msg)
	if msg.Author.Bot || msg.WebhookID != "" {
		return
	}
	dec, err := p.detector.Decide(ctx, msg)
	if err != nil {
		p.log.Warn("some trigger lookups failed", slog.String("message_id", msg.ID), slog.Any("err", err))
	}
	if len(dec.Triggers) == 0 {
		return
	}
	content := strings.TrimSpace(dec.Content)
	if content == "" && len(msg.Attachments) == 0 {
		mentioned := false
		for _, t := range dec.Triggers {
			mentioned = mentioned || t.Reason == trigger.ReasonMention
		}
		if !mentioned {
			// Nothing to answer: an empty message (a sticker, an embed) in
			// an active channel, or an empty reply.
			return
		}
		content = mentionOnlyText
	}
	for _, t := range dec.Triggers {
		p.replySafely(ctx, msg, t, content, received)
	}
}

// replySafely runs one reply, turning a panic into an answered failure.
func (p *Pipeline) replySafely(ctx context.Context, msg discord.IncomingMessage, t trigger.Trigger, content string, received time.Time) {
	j := &job{p: p, msg: msg, trig: t, content: content,
		stats: ReplyStats{Received: received, PersonalityID: t.PersonalityID}}
	j.stats.RequestID = msg.ID + "-" + strconv.FormatInt(t.PersonalityID, 10)
	j.ref = RefID(j.stats.RequestID)
	j.log = p.log.With(slog.String("request_id", j.stats.RequestID), slog.String("ref", j.ref),
		slog.Int64("personality_id", t.PersonalityID), slog.String("user_id", msg.Author.ID),
		slog.String("channel_id", msg.ChannelID))
	defer func() {
		if r := recover(); r != nil {
			j.log.Error("reply panicked", slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
			j.fail(context.WithoutCancel(ctx), failure{code: codePanic, cause: fmt.Errorf("panic: %v", r)})
		}
		if p.cfg.OnReply != nil {
			p.cfg.OnReply(j.stats)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ReplyTimeout)
	defer cancel()
	j.run(ctx)
}

// job is one personality answering one message.
type job struct {
	p       *Pipeline
	msg     discord.IncomingMessage
	trig    trigger.Trigger
	content string
	ref     string
	log     *slog.Logger
	stats   ReplyStats

	user        store.User
	personality *store.Personality
	provider    string
	keys        keyUse
}

func (j *job) run(ctx context.Context) {
	p := j.p
	msg := j.msg
	// The rate-limit check runs alongside the user and personality reads:
	// they do not depend on each other, and a reply waits for the slowest
	// instead of all three in a row.
	var (
		verdict   ratelimit.Verdict
		admitErr  error
		admitDone chan struct{}
	)
	if p.limiter != nil {
		admitDone = make(chan struct{})
		go func() {
			defer close(admitDone)
			verdict, admitErr = retry2(ctx, p.cfg.Retry, func(ctx context.Context) (ratelimit.Verdict, error) {
				return p.limiter.Admit(ctx, msg.Author.ID, msg.GuildID)
			})
		}()
	}
	// The personality read needs the user's internal id (their LLM override
	// wins). That id never changes, so for a user seen before both reads go
	// out at once; only a first contact (or a user deleted and created
	// again) waits for the user row.
	loadPersonality := func(userID int64) (store.Personality, error) {
		return retry2(ctx, p.cfg.Retry, func(ctx context.Context) (store.Personality, error) {
			return p.store.PersonalityByID(ctx, j.trig.PersonalityID, userID)
		})
	}
	var (
		pers     store.Personality
		persErr  error
		persDone chan struct{}
	)
	knownID, known := p.userIDs.get(msg.Author.ID)
	if known {
		persDone = make(chan struct{})
		go func() {
			defer close(persDone)
			pers, persErr = loadPersonality(knownID)
		}()
	}
	user, err := retry2(ctx, p.cfg.Retry, func(ctx context.Context) (store.User, error) {
		return p.store.UserByDiscordID(ctx, msg.Author.ID)
	})
	if persDone != nil {
		<-persDone
	}
	if err != nil {
		j.fail(ctx, failure{code: codeDatabase, cause: fmt.Errorf("load user: %w", err)})
		return
	}
	j.user = user
	p.userIDs.put(msg.Author.ID, user.ID)
	if !known || knownID != user.ID {
		pers, persErr = loadPersonality(user.ID)
	}
	err = persErr
	if errors.Is(err, store.ErrPersonalityAbsent) {
		// Deleted since the index or the message mapping was loaded: forget
		// it and stay silent, as for any name that is not a personality.
		p.mentions.index.DeletePersonality(j.trig.PersonalityID)
		j.log.Info("triggered personality no longer exists; ignored", slog.String("reason", j.trig.Reason.String()))
		j.stats.Err = err
		return
	}
	if err != nil {
		j.fail(ctx, failure{code: codeDatabase, cause: fmt.Errorf("load personality: %w", err)})
		return
	}
	j.personality = &pers

	if admitDone != nil {
		<-admitDone
		if admitErr != nil {
			j.fail(ctx, failure{code: codeDatabase, cause: fmt.Errorf("rate limit: %w", admitErr)})
			return
		}
		if v := verdict; !v.Allowed {
			j.stats.Err = fmt.Errorf("rate limited (%s)", v.Scope)
			j.log.Info("rate limited", slog.String("scope", v.Scope), slog.Duration("retry_after", v.RetryAfter))
			if p.notices.allow("rate:"+msg.Author.ID, max(v.RetryAfter, 10*time.Second)) {
				if _, err := p.sender.Reply(ctx, msg.ChannelID, msg.ID, v.Message()); err != nil {
					j.log.Warn("cannot post the rate-limit notice", slog.Any("err", err))
				}
			}
			return
		}
	}

	stopTyping := p.sender.SendTyping(ctx, msg.ChannelID)
	defer stopTyping()

	provider, model := pers.LLM.Provider, pers.LLM.Model
	if provider == "" {
		provider, model = p.cfg.DefaultProvider, p.cfg.DefaultModel
	}
	j.provider = provider
	pluginName, ok := p.pluginFor(provider)
	if !ok {
		j.fail(ctx, failure{code: codeNoPlugin, cause: fmt.Errorf("no loaded plugin serves provider %q (check plugins.toml: `tzurot plugins list`)", provider)})
		return
	}

	req, err := j.request(ctx, model)
	if err != nil {
		j.fail(ctx, failure{code: codeContext, cause: err})
		return
	}

	j.keys.allowFallback = p.cfg.Fallback.Allowed(msg.Author.ID, msg.GuildID)
	callCtx := plugin.WithCall(withKeyUse(ctx, &j.keys), plugin.Call{
		UserID:        msg.Author.ID,
		PersonalityID: strconv.FormatInt(pers.ID, 10),
		RequestID:     j.stats.RequestID,
	})
	start := time.Now()
	resp, usage, err := p.plugins.Chat(callCtx, pluginName, req)
	j.stats.PluginTime = time.Since(start)
	if err != nil {
		f := classify(err, provider)
		if f.code == abi.ErrNoKey || j.keys.used.Load() == keyMissing {
			j.noKey(ctx, err)
			return
		}
		j.fail(ctx, f)
		return
	}
	text := strings.TrimSpace(resp.Content)
	if text == "" {
		// The provider did the work (and may have charged for it): count it.
		j.record(ctx, nil, resp, usage)
		j.fail(ctx, failure{code: codeEmpty, cause: fmt.Errorf("the model %q returned an empty reply (finish reason %q)", resp.Model, resp.FinishReason),
			forUser: fmt.Sprintf("The model (%s) answered with nothing at all. Try again, or choose another model.", resp.Model)})
		return
	}

	ids, err := j.post(ctx, text)
	if err != nil && len(ids) == 0 {
		j.record(ctx, nil, resp, usage)
		j.fail(ctx, failure{code: codeSend, cause: err, forUser: "The bot could not post the reply in that channel (check its permissions there)."})
		return
	}
	if err != nil {
		j.log.Warn("part of the reply could not be posted", slog.Int("posted_parts", len(ids)), slog.Any("err", err))
	}
	j.remember(ids, text)
	j.record(ctx, ids, resp, usage)
	j.log.Debug("replied", slog.Int("parts", len(ids)), slog.Duration("plugin_time", j.stats.PluginTime),
		slog.Duration("overhead", j.stats.Overhead()))
}

// pluginFor finds the loaded plugin entry that serves provider: the entry of
// that name, else the first entry whose key slot is that provider.
func (p *Pipeline) pluginFor(provider string) (string, bool) {
	status := p.plugins.Status()
	chat := func(st plugin.PluginStatus) bool {
		if st.State != plugin.StateLoaded {
			return false
		}
		for _, c := range st.Capabilities {
			if c == abi.CapChat {
				return true
			}
		}
		return false
	}
	for _, st := range status {
		if st.Name == provider && chat(st) {
			return st.Name, true
		}
	}
	for _, st := range status {
		if st.KeySlot == provider && chat(st) {
			return st.Name, true
		}
	}
	return "", false
}

// request builds the chat request: prompt, history, references.
func (j *job) request(ctx context.Context, model string) (abi.ChatRequest, error) {
	p, msg, pers := j.p, j.msg, j.personality
	budget := p.cfg.ContextTokens
	if w := pers.LLM.ContextWindowTokens; w > 0 && w*3/4 < budget {
		budget = w * 3 / 4
	}
	hist, err := p.history.before(ctx, msg.ChannelID, msg.ID, p.cfg.HistoryMessages)
	if err != nil {
		// Context is a nicety: answer without it rather than not at all.
		j.log.Warn("cannot read the channel's recent messages; answering without them", slog.Any("err", err))
		hist = nil
	}
	in := promptInput{
		personality: *pers,
		user:        j.user,
		msg:         msg,
		content:     j.content,
		now:         time.Now(),
		history:     hist,
		refs:        j.references(ctx),
		budget:      budget,
	}
	req := abi.ChatRequest{
		Model:              model,
		Messages:           buildMessages(in, p.cfg.BotUserID),
		AdvancedParameters: pers.LLM.AdvancedParameters,
	}
	if len(req.AdvancedParameters) == 0 || string(req.AdvancedParameters) == "{}" {
		req.AdvancedParameters = nil
	}
	return req, nil
}

// references collects the replied-to message and linked messages, at most
// the LLM config's max_referenced_messages. A message the bot cannot read
// becomes a note, never a failure.
func (j *job) references(ctx context.Context) []reference {
	p, msg := j.p, j.msg
	limit := j.personality.LLM.MaxReferencedMessages
	if limit <= 0 {
		limit = 10
	}
	var refs []reference
	seen := map[string]bool{}
	if r := msg.Reference; r != nil && limit > 0 {
		seen[r.ID] = true
		if r.Author.ID == "" && r.Content == "" {
			refs = append(refs, reference{note: "the message being replied to could not be read (deleted, or in a channel the bot cannot see)"})
		} else {
			refs = append(refs, reference{how: "replied to", msg: discord.IncomingMessage{ID: r.ID, ChannelID: r.ChannelID, Author: r.Author, WebhookID: r.WebhookID, Content: r.Content}})
		}
	}
	for _, l := range findLinks(msg.Content, limit) {
		if len(refs) >= limit {
			break
		}
		if seen[l.messageID] {
			continue
		}
		seen[l.messageID] = true
		if l.guildID != msg.GuildID || (l.guildID == "" && l.channelID != msg.ChannelID) {
			// The bot may see other servers and other people's DMs; a link
			// must not carry their messages here.
			refs = append(refs, reference{note: "a linked message from another server or conversation was skipped"})
			continue
		}
		m, err := p.history.reader.Message(ctx, l.channelID, l.messageID)
		switch {
		case errors.Is(err, ErrNoAccess):
			j.log.Info("linked message not readable; skipped", slog.String("linked_channel_id", l.channelID), slog.String("linked_message_id", l.messageID))
			refs = append(refs, reference{note: "a linked message is in a channel the bot cannot read, so it was skipped"})
		case err != nil:
			j.log.Warn("cannot read a linked message; skipped", slog.String("linked_message_id", l.messageID), slog.Any("err", err))
			refs = append(refs, reference{note: "a linked message could not be loaded"})
		default:
			refs = append(refs, reference{how: "linked", msg: m})
		}
	}
	return refs
}

// post sends the reply: through the channel webhook as the personality in a
// server, as the bot (with the personality's name) in DMs.
func (j *job) post(ctx context.Context, text string) ([]string, error) {
	j.stats.Sending = time.Now()
	pers := j.personality
	name := personalityName(*pers)
	if j.msg.IsDM() {
		return j.p.sender.Reply(ctx, j.msg.ChannelID, j.msg.ID, dmPrefix(name)+text)
	}
	return j.p.sender.SendAsPersonality(ctx, j.msg.ChannelID, j.msg.ThreadParentID, name, pers.AvatarURL, text)
}

// remember puts the posted reply into the channel history at once, so the
// next reply has it as context even before (or without) Discord echoing it
// through the gateway.
func (j *job) remember(ids []string, text string) {
	name := personalityName(*j.personality)
	author := discord.User{Username: name, DisplayName: name}
	webhook := "self"
	if j.msg.IsDM() {
		text = dmPrefix(name) + text
		author, webhook = discord.User{ID: j.p.cfg.BotUserID, Username: name, Bot: true}, ""
	}
	parts := nonBlank(chunk.Split(text))
	for i, id := range ids {
		content := text
		if len(parts) == len(ids) {
			content = parts[i]
		} else if i > 0 {
			content = ""
		}
		j.p.history.observe(discord.IncomingMessage{ID: id, ChannelID: j.msg.ChannelID, GuildID: j.msg.GuildID,
			Author: author, WebhookID: webhook, Content: content, CreatedAt: time.Now()})
	}
}

func nonBlank(parts []string) []string {
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

// dmPrefix names the speaker of a reply the bot posts itself (in DMs, where
// webhooks do not exist).
func dmPrefix(name string) string { return "**" + name + ":** " }

// record writes usage, message ids, reasoning, charges and the DM session.
// It waits for the write: a reply is done when its traces are durable.
func (j *job) record(ctx context.Context, ids []string, resp abi.ChatResponse, usage []abi.Usage) {
	p, msg, pers := j.p, j.msg, j.personality
	rec := store.ReplyRecord{}
	var tokens int64
	for i, u := range usage {
		reqID := j.stats.RequestID
		if i > 0 {
			reqID += "#" + strconv.Itoa(i)
		}
		kind := u.Kind
		if kind == "" {
			kind = store.KindText
		}
		provider := u.Provider
		if provider == "" {
			provider = j.provider
		}
		rec.Usage = append(rec.Usage, store.Usage{
			RequestID: reqID, UserID: j.user.ID, PersonalityID: pers.ID,
			Provider: provider, Model: u.Model, Kind: kind,
			InputTokens: int(u.InputTokens), OutputTokens: int(u.OutputTokens + u.ReasoningTokens),
			Characters: int(u.Characters), Images: int(u.Images), Latency: j.stats.PluginTime,
		})
		tokens += u.InputTokens + u.OutputTokens + u.ReasoningTokens
	}
	if p.limiter != nil && len(rec.Usage) > 0 {
		for _, c := range p.limiter.Charges(msg.Author.ID, msg.GuildID, tokens) {
			rec.Charges = append(rec.Charges, store.RateCharge{RequestID: rec.Usage[0].RequestID, Scope: c.Scope, Key: c.Key, Window: c.Window, Cost: c.Cost})
		}
	}
	for _, id := range ids {
		rec.Messages = append(rec.Messages, store.WebhookMessage{MessageID: id, PersonalityID: pers.ID, ChannelID: msg.ChannelID, UserID: j.user.ID})
	}
	if r := strings.TrimSpace(resp.Reasoning); r != "" {
		first := ""
		if len(ids) > 0 {
			first = ids[0]
		}
		rec.Reasoning = &store.Reasoning{RequestID: j.stats.RequestID, UserID: j.user.ID, PersonalityID: pers.ID, MessageID: first, Text: r}
	}
	if msg.IsDM() {
		rec.DMSession = &store.DMSessionUpdate{UserID: j.user.ID, PersonalityID: pers.ID}
	}
	if err := p.recorder.Record(context.WithoutCancel(ctx), rec); err != nil {
		j.log.Error("reply posted but its usage and message ids were not recorded", slog.Any("err", err))
	}
}

// noKey tells the user how to add a key (in a DM; in the channel when DMs
// are closed), at most once a minute per user and provider.
func (j *job) noKey(ctx context.Context, err error) {
	j.stats.Err = err
	j.log.Info("no API key for the provider", slog.String("provider", j.provider))
	if !j.p.notices.allow("nokey:"+j.msg.Author.ID+":"+j.provider, time.Minute) {
		return
	}
	text := noKeyNotice(j.provider)
	if _, derr := j.p.sender.NotifyUser(ctx, j.msg.Author.ID, text); derr != nil {
		j.log.Info("cannot DM the key notice; posting it in the channel", slog.Any("err", derr))
		if _, rerr := j.p.sender.Reply(ctx, j.msg.ChannelID, j.msg.ID, text); rerr != nil {
			j.log.Warn("cannot post the key notice", slog.Any("err", rerr))
		}
	}
}

// fail answers a failed reply: the personality's error message and the
// reference in the channel, the cause in the log, and the cause in a DM to
// the user when it concerns their own key or request.
func (j *job) fail(ctx context.Context, f failure) {
	j.stats.Err = f.cause
	if ctx.Err() != nil {
		// The reply timed out or shutdown gave up on it: still answer.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	j.log.Error("reply failed", slog.String("code", f.code), slog.Any("err", f.cause))
	errMsg := ""
	name := "Tzurot"
	avatar := ""
	if j.personality != nil {
		if j.personality.ErrorMessage != nil {
			errMsg = *j.personality.ErrorMessage
		}
		name, avatar = personalityName(*j.personality), j.personality.AvatarURL
	}
	text := channelError(errMsg, j.ref)
	var err error
	j.stats.Sending = time.Time{}
	if j.msg.IsDM() || j.personality == nil {
		_, err = j.p.sender.Reply(ctx, j.msg.ChannelID, j.msg.ID, text)
	} else {
		_, err = j.p.sender.SendAsPersonality(ctx, j.msg.ChannelID, j.msg.ThreadParentID, name, avatar, text)
		if err != nil {
			_, err = j.p.sender.Reply(ctx, j.msg.ChannelID, j.msg.ID, text)
		}
	}
	if err != nil {
		j.log.Warn("cannot post the error message", slog.Any("err", err))
	}
	// The cause goes to the user whose key and request it concerns: not for
	// failures of the bot itself (database, configuration: the log has
	// them), and not when the host's own key failed (the host's business).
	if j.keys.used.Load() == keyFallback || f.forUser == "" {
		return
	}
	dm := fmt.Sprintf("%s could not answer your message (ref: %s). %s", name, j.ref, f.forUser)
	if _, err := j.p.sender.NotifyUser(ctx, j.msg.Author.ID, dm); err != nil {
		j.log.Info("cannot DM the cause of a failed reply", slog.Any("err", err))
	}
}

// idCache maps Discord user ids to the store's internal ids, which never
// change for a user. It is bounded: when full it starts over (a miss costs
// one sequential read, nothing else).
type idCache struct {
	mu sync.RWMutex
	m  map[string]int64
}

const maxCachedUserIDs = 100_000

func (c *idCache) get(discordID string) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.m[discordID]
	return id, ok
}

func (c *idCache) put(discordID string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedUserIDs {
		c.m = make(map[string]int64)
	}
	c.m[discordID] = id
}

// throttle lets a notice through at most once per period per key.
type throttle struct {
	mu   sync.Mutex
	next map[string]time.Time
}

func (t *throttle) allow(key string, period time.Duration) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next == nil {
		t.next = map[string]time.Time{}
	}
	if now.Before(t.next[key]) {
		return false
	}
	if len(t.next) > 10000 {
		for k, until := range t.next {
			if now.After(until) {
				delete(t.next, k)
			}
		}
	}
	t.next[key] = now.Add(period)
	return true
}

// retryingLookups gives the trigger detector store lookups that ride out a
// database restart.
type retryingLookups struct{ p *Pipeline }

func (r retryingLookups) PersonalityForMessage(ctx context.Context, messageID string) (int64, bool, error) {
	return r.lookup(ctx, func(ctx context.Context) (int64, bool, error) {
		return r.p.store.PersonalityForMessage(ctx, messageID)
	})
}

func (r retryingLookups) ActivatedPersonality(ctx context.Context, channelID string) (int64, bool, error) {
	return r.lookup(ctx, func(ctx context.Context) (int64, bool, error) {
		return r.p.store.ActivatedPersonality(ctx, channelID)
	})
}

func (r retryingLookups) LastDMPersonality(ctx context.Context, discordUserID string) (int64, bool, error) {
	return r.lookup(ctx, func(ctx context.Context) (int64, bool, error) {
		u, err := r.p.store.UserByDiscordID(ctx, discordUserID)
		if err != nil {
			return 0, false, err
		}
		return r.p.store.DMSession(ctx, u.ID)
	})
}

func (r retryingLookups) lookup(ctx context.Context, op func(context.Context) (int64, bool, error)) (int64, bool, error) {
	type res struct {
		id int64
		ok bool
	}
	v, err := retry2(ctx, r.p.cfg.Retry, func(ctx context.Context) (res, error) {
		id, ok, err := op(ctx)
		return res{id, ok}, err
	})
	return v.id, v.ok, err
}
