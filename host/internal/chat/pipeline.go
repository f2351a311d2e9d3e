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
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/metrics"
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
	// SendAsPersonalityWith and ReplyWith attach what last returns (a
	// spoken reply's audio, or the notice replacing it) to the last part.
	SendAsPersonalityWith(ctx context.Context, channelID, threadParentID, name, avatarURL, text string, last LastPart) ([]string, error)
	Reply(ctx context.Context, channelID, replyToID, text string) ([]string, error)
	ReplyWith(ctx context.Context, channelID, replyToID, text string, last LastPart) ([]string, error)
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
	// MaxSpool bounds the reply records kept in memory while the database
	// is away (default DefaultMaxSpool).
	MaxSpool int
	// Stream asks provider plugins to stream their answer (ChatRequest
	// Stream) and shows replies live (TZUROT_STREAM_REPLIES): the
	// personality's message is posted with the first words and edited as
	// text arrives (live.go); a personality's own stream_replies wins. For
	// a stream, http_timeout runs between two events, not over the whole
	// answer, so a model that thinks for minutes is not cut off.
	Stream bool
	// OnReply, when set, is called after every reply attempt (for the load
	// command and tests).
	OnReply func(ReplyStats)
	// SpeechTimeout bounds a reply's speech call (default
	// DefaultSpeechTimeout): the last part of a spoken reply waits for the
	// audio at most this long after the text is known.
	SpeechTimeout time.Duration
	// SpeechMaxChars cuts the text sent for speech (at a sentence end) to
	// this many characters (default DefaultSpeechMaxChars).
	SpeechMaxChars int
	// TranscribePlugin names the plugins.toml entry that transcribes voice
	// messages; "" means the first loaded entry granting voice.transcribe.
	TranscribePlugin string
	// Rand draws a number in [0, 1) for voice_frequency (default
	// math/rand/v2's Float64); tests inject a seeded source.
	Rand func() float64
	// Tools switches and bounds the agent loop (docs/tools.md).
	Tools ToolsConfig
	// UploadLimit is the most bytes of files one reply may attach (default
	// discord.DefaultUploadLimit); larger images are left off with a notice.
	UploadLimit int64
	// Now is the pipeline's clock (default time.Now). Rate-limit windows
	// and daily token budgets are counted in its time, not the database's,
	// so a test can put requests on either side of a window boundary.
	Now func() time.Time
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
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SpeechTimeout <= 0 {
		c.SpeechTimeout = DefaultSpeechTimeout
	}
	if c.SpeechMaxChars <= 0 {
		c.SpeechMaxChars = DefaultSpeechMaxChars
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	c.Tools.defaults()
}

// Deps are the parts the pipeline joins.
type Deps struct {
	Store   Store
	Plugins Plugins
	Sender  Sender
	Reader  Reader
	// Limiter enforces rate limits; nil means none.
	Limiter *ratelimit.Limiter
	// Keys, when set, is the key source the plugin host was given: the
	// pipeline then reads the user's key before each plugin call, with the
	// retry window (see KeySource.prepare). When nil, the key is read only
	// inside the call, bounded by the plugin's call_timeout.
	Keys   *KeySource
	Logger *slog.Logger
	// Voice speaks replies and transcribes voice messages (HostVoice over
	// the plugin host); nil turns both off.
	Voice Voice
	// Download fetches attachments for transcription ((*discord.Bot).Download).
	Download Downloader
	// Metrics counts replies, their latency, rate-limit refusals and usage
	// tokens; nil counts nothing.
	Metrics *metrics.Metrics
	// Tools runs tool plugins (PluginTools adapts *plugin.Host); ToolGrants
	// says which tools each personality may call; Channels tells
	// age-restricted channels apart. Without Tools and ToolGrants no reply
	// offers a tool; without Channels no tool call is NSFW-allowed.
	Tools      ToolHost
	ToolGrants ToolGrants
	Channels   ChannelInfo
	// Images and ImageGen serve the built-in generate_image tool (the
	// personality's image config; PluginImages adapts *plugin.Host).
	// Without both it is never offered.
	Images   ImageConfigs
	ImageGen ImageGenerator
	// Dispatch, when set, hands every message that triggers a personality
	// to a worker process instead of answering it here (serve --role
	// gateway; docs/scaling.md). Nil answers in this process.
	Dispatch Dispatcher
	// Exchanges hears about every posted reply (memory formation); nil
	// means nobody listens.
	Exchanges ExchangeSink
	// Memory finds what a personality remembers and knows for a reply
	// (*memory.Store); nil means replies use no memory.
	Memory Memory
}

// Memory is retrieval for one reply (host/internal/memory).
type Memory interface {
	Retrieve(ctx context.Context, q memory.Query) (memory.Blocks, error)
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
	// Plugin is the provider plugin entry asked ("" if none was reached).
	Plugin string
	// Outcome is "posted", "partial", or why there was no reply: a failure
	// code (failure.go, the provider's error code), "rate_limited",
	// "no_key", "ignored". A bounded set: it is a metrics label.
	Outcome string
}

// outcome is Outcome, or what Err says when no step named one.
func (s ReplyStats) outcome() string {
	switch {
	case s.Outcome != "":
		return s.Outcome
	case s.Err != nil:
		return "failed"
	}
	return "posted"
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
	keys     *KeySource
	voice    Voice
	memory   Memory
	download Downloader
	log      *slog.Logger
	detector *trigger.Detector
	mentions *mentions
	history  *history
	recorder *recorder
	notices  throttle
	userIDs  idCache
	// Agent loop parts (agent.go); nil when not configured.
	toolHost ToolHost
	grants   ToolGrants
	channels ChannelInfo
	images   ImageConfigs
	metrics  *metrics.Metrics
	imageGen ImageGenerator
	dispatch Dispatcher
	// exchanges hears about posted replies (exchange.go); nil for none.
	exchanges ExchangeSink

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
	p := &Pipeline{cfg: cfg, store: d.Store, plugins: d.Plugins, sender: d.Sender, limiter: d.Limiter, keys: d.Keys,
		voice: d.Voice, memory: d.Memory, download: d.Download, log: log,
		toolHost: d.Tools, grants: d.ToolGrants, channels: d.Channels,
		images: d.Images, imageGen: d.ImageGen, dispatch: d.Dispatch, exchanges: d.Exchanges}
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
	p.recorder = newRecorder(d.Store, log, cfg.Retry, cfg.RecordBatch, cfg.MaxSpool)
	p.metrics, p.recorder.metrics = d.Metrics, d.Metrics
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

// now is the pipeline's clock.
func (p *Pipeline) now() time.Time { return p.cfg.Now() }

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
// failure is answered in the channel and logged. With a Dispatcher (a
// gateway process) the answer is handed to a worker instead (Deps.Dispatch).
func (p *Pipeline) HandleMessage(ctx context.Context, msg Message) {
	received := time.Now()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("message handler panicked", slog.String("message_id", msg.ID),
				slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
		}
	}()
	plan, ok := p.Plan(ctx, msg)
	if !ok {
		return
	}
	plan.Received = received
	if p.dispatch != nil {
		if err := p.dispatch.Dispatch(ctx, plan); err != nil {
			// Not handed over (the database is away past the retries): answer
			// here rather than drop the message silently.
			p.log.Error("cannot hand the message to a worker; answering it here", slog.String("message_id", msg.ID), slog.Any("err", err))
			p.Answer(ctx, plan, nil)
		}
		return
	}
	p.Answer(ctx, plan, nil)
}

// Plan is what answering one message takes: the message snapshot, who
// answers it and what they answer (mentions stripped). It holds no secret,
// so a gateway process can hand it to a worker as a job's arguments.
type Plan struct {
	Message  Message           `json:"message"`
	Triggers []trigger.Trigger `json:"triggers"`
	Content  string            `json:"content"`
	// Received is when the gateway got the message.
	Received time.Time `json:"received"`
}

// Dispatcher hands a plan to a worker process (a River job inserted with
// the row recording the message). Nil answers in this process.
type Dispatcher interface {
	Dispatch(ctx context.Context, plan Plan) error
}

// Ledger records which replies were posted, so a job retried after a crash
// never posts a reply twice. Request ids are the pipeline's (message id and
// personality id).
type Ledger interface {
	// Posted reports whether requestID was claimed before (by an earlier
	// attempt): its reply is out, or its attempt died while posting it.
	Posted(ctx context.Context, requestID string) (bool, error)
	// Claim records that requestID is about to be posted; false means an
	// earlier attempt claimed it and nothing may be posted.
	Claim(ctx context.Context, requestID, channelID string) (bool, error)
	// Finish records the posted message ids.
	Finish(ctx context.Context, requestID string, messageIDs []string) error
}

// Plan decides whether msg is answered and by whom. It observes msg for the
// channel history either way.
func (p *Pipeline) Plan(ctx context.Context, msg Message) (Plan, bool) {
	p.history.observe(msg)
	if msg.Author.Bot || msg.WebhookID != "" {
		return Plan{}, false
	}
	dec, err := p.detector.Decide(ctx, msg)
	if err != nil {
		p.log.Warn("some trigger lookups failed", slog.String("message_id", msg.ID), slog.Any("err", err))
	}
	if len(dec.Triggers) == 0 {
		return Plan{}, false
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
			return Plan{}, false
		}
		content = mentionOnlyText
	}
	return Plan{Message: msg, Triggers: dec.Triggers, Content: content, Received: time.Now()}, true
}

// Answer runs every reply of plan in turn. With a ledger (a worker running
// a job) a reply already posted by an earlier attempt is skipped, and a
// reply is claimed before it is posted.
func (p *Pipeline) Answer(ctx context.Context, plan Plan, ledger Ledger) {
	if plan.Received.IsZero() {
		plan.Received = time.Now()
	}
	// One transcription serves every personality that answers the message.
	rec := recording(plan.Message)
	for _, t := range plan.Triggers {
		p.replySafely(ctx, plan.Message, t, plan.Content, plan.Received, rec, ledger)
	}
}

// RequestID is the id of the reply personalityID gives to messageID: the key
// of its usage rows and of its delivery record.
func RequestID(messageID string, personalityID int64) string {
	return messageID + "-" + strconv.FormatInt(personalityID, 10)
}

// FailPlan answers every reply of plan with the bot's error message and its
// reference id, without trying again: a job that kept failing before it
// could answer (its retries are used up).
func (p *Pipeline) FailPlan(ctx context.Context, plan Plan, cause error, ledger Ledger) {
	for _, t := range plan.Triggers {
		j := p.newJob(plan.Message, t, plan.Content, plan.Received, nil, ledger)
		if ledger != nil {
			if done, err := ledger.Posted(ctx, j.stats.RequestID); err == nil && done {
				continue
			}
		}
		j.fail(ctx, botFailure(codeGaveUp, cause))
		p.metrics.Reply(j.stats.Plugin, j.stats.outcome(), 0, 0)
	}
}

// replySafely runs one reply, turning a panic into an answered failure.
func (p *Pipeline) replySafely(ctx context.Context, msg Message, t trigger.Trigger, content string, received time.Time, rec *heard, ledger Ledger) {
	j := p.newJob(msg, t, content, received, rec, ledger)
	defer func() {
		if r := recover(); r != nil {
			j.log.Error("reply panicked", slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
			j.fail(context.WithoutCancel(ctx), botFailure(codePanic, fmt.Errorf("panic: %v", r)))
		}
		if !j.stats.Sending.IsZero() {
			p.metrics.Reply(j.stats.Plugin, j.stats.outcome(), j.stats.Sending.Sub(j.stats.Received), j.stats.Overhead())
		} else {
			p.metrics.Reply(j.stats.Plugin, j.stats.outcome(), 0, 0)
		}
		if p.cfg.OnReply != nil {
			p.cfg.OnReply(j.stats)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ReplyTimeout)
	defer cancel()
	j.run(ctx)
}

func (p *Pipeline) newJob(msg Message, t trigger.Trigger, content string, received time.Time, rec *heard, ledger Ledger) *job {
	j := &job{p: p, msg: msg, trig: t, content: content, heard: rec, ledger: ledger,
		stats: ReplyStats{Received: received, PersonalityID: t.PersonalityID}}
	j.stats.RequestID = RequestID(msg.ID, t.PersonalityID)
	j.ref = RefID(j.stats.RequestID)
	j.log = p.log.With(slog.String("request_id", j.stats.RequestID), slog.String("ref", j.ref),
		slog.Int64("personality_id", t.PersonalityID), slog.String("user_id", msg.Author.ID),
		slog.String("channel_id", msg.ChannelID))
	return j
}
