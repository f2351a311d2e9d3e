package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tzurot-go/tzurot/host/internal/chunk"
	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// job is one personality answering one message.
type job struct {
	p       *Pipeline
	msg     Message
	trig    trigger.Trigger
	content string
	ref     string
	log     *slog.Logger
	stats   ReplyStats

	user        store.User
	personality *store.Personality
	provider    string
	keys        keyUse

	// heard is the message's recording and its transcription (nil when
	// the message has none); transcript is set once it is what the
	// personality answers.
	heard      *heard
	transcript string
	// files are what tools attached (agent.go), posted with the reply.
	files []ToolFile
	// memory is what retrieval found for this reply (empty without one);
	// memoryCh delivers it while the retrieval runs.
	memory   memory.Blocks
	memoryCh chan memory.Blocks
	// ledger, for a reply run by a job, keeps a retried job from posting it
	// twice (nil in a single process).
	ledger Ledger
	// live is the reply shown while it is written (live.go); nil when it
	// is posted whole.
	live *liveText
}

// run answers the message in three steps: load what the reply needs, take
// the rate-limit slot, reply. The slot is taken only once the load
// succeeded, so a reply that cannot even start (a deleted personality, the
// database gone) never spends the user's budget.
func (j *job) run(ctx context.Context) {
	if j.ledger != nil {
		// A retried job: the reply an earlier attempt posted (or died
		// posting) is not made again, so it is neither posted nor metered
		// twice.
		done, err := j.ledger.Posted(ctx, j.stats.RequestID)
		if err != nil {
			j.fail(ctx, botFailure(codeDatabase, fmt.Errorf("read the reply's delivery record: %w", err)))
			return
		}
		if done {
			j.log.Info("reply already posted by an earlier attempt; not posted again")
			j.stats.Err = errAlreadyPosted
			return
		}
	}
	if !j.load(ctx) {
		return
	}
	if !j.admit(ctx) {
		return
	}
	if !j.listen(ctx) {
		return
	}
	j.reply(ctx)
}

// load reads the user and the personality (with the user's LLM config). The
// personality read needs the user's internal id (their LLM override wins).
// That id never changes, so for a user seen before both reads go out at
// once; only a first contact (or a user deleted and created again) waits for
// the user row. It answers the failure itself and reports whether to go on.
func (j *job) load(ctx context.Context) bool {
	p, msg := j.p, j.msg
	var (
		user store.User
		pers store.Personality
	)
	knownID, known := p.userIDs.get(msg.Author.ID)
	// Memory retrieval needs the user's id: for a user seen before it
	// starts now, beside both reads, otherwise as soon as the user row is
	// there. It runs on while the rate limit, transcription and key steps
	// go on; only the prompt waits for it (request), so it never adds a
	// round trip of its own.
	if known {
		j.startRetrieve(ctx, knownID)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		u, err := retry2(gctx, p.cfg.Retry, func(ctx context.Context) (store.User, error) {
			return p.store.UserByDiscordID(ctx, msg.Author.ID)
		})
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		user = u
		return nil
	})
	if known {
		g.Go(func() (err error) {
			pers, err = j.loadPersonality(gctx, knownID)
			return err
		})
	}
	err := g.Wait()
	if err == nil {
		j.user = user
		p.userIDs.put(msg.Author.ID, user.ID)
		if !known || knownID != user.ID {
			j.startRetrieve(ctx, user.ID)
			pers, err = j.loadPersonality(ctx, user.ID)
		}
	}
	switch {
	case errors.Is(err, store.ErrPersonalityAbsent):
		// Deleted since the index or the message mapping was loaded: forget
		// it and stay silent, as for any name that is not a personality.
		p.mentions.index.DeletePersonality(j.trig.PersonalityID)
		j.log.Info("triggered personality no longer exists; ignored", slog.String("reason", j.trig.Reason.String()))
		j.stats.Err, j.stats.Outcome = err, "ignored"
		return false
	case err != nil:
		j.fail(ctx, botFailure(codeDatabase, err))
		return false
	}
	j.personality = &pers
	return true
}

// startRetrieve begins reading the personality's memory for userID; the
// prompt collects it with memoryBlocks. A later start replaces an earlier
// one (whose result, on a buffered channel, is dropped).
func (j *job) startRetrieve(ctx context.Context, userID int64) {
	if j.p.memory == nil {
		return
	}
	ch := make(chan memory.Blocks, 1)
	j.memoryCh = ch
	go func() { ch <- j.retrieve(ctx, userID) }()
}

// memoryBlocks waits for the retrieval startRetrieve began (once).
func (j *job) memoryBlocks() memory.Blocks {
	if j.memoryCh != nil {
		j.memory = <-j.memoryCh
		j.memoryCh = nil
	}
	return j.memory
}

// memoryHistory is how many cached channel messages the memory search
// reads besides the message itself.
const memoryHistory = 10

// retrieve finds the personality's memories, knowledge, the user's persona
// and examples for this reply. Memory is a nicety: a failure is logged and
// the reply goes on without it.
func (j *job) retrieve(ctx context.Context, userID int64) memory.Blocks {
	p, msg := j.p, j.msg
	if p.memory == nil {
		return memory.Blocks{}
	}
	var text strings.Builder
	for _, h := range p.history.peek(msg.ChannelID, msg.ID, memoryHistory) {
		text.WriteString(h.Content)
		text.WriteString("\n")
	}
	text.WriteString(j.content)
	b, err := p.memory.Retrieve(ctx, memory.Query{
		PersonalityID: j.trig.PersonalityID, UserID: userID,
		ChannelID: msg.ChannelID, GuildID: msg.GuildID, IsDM: msg.IsDM(),
		Text: text.String(),
	})
	if err != nil {
		if ctx.Err() == nil {
			j.log.Warn("cannot read the personality's memory; answering without it", slog.Any("err", err))
		}
		return memory.Blocks{}
	}
	return b
}

func (j *job) loadPersonality(ctx context.Context, userID int64) (store.Personality, error) {
	pers, err := retry2(ctx, j.p.cfg.Retry, func(ctx context.Context) (store.Personality, error) {
		return j.p.store.PersonalityByID(ctx, j.trig.PersonalityID, userID)
	})
	if err != nil {
		return pers, fmt.Errorf("load personality: %w", err)
	}
	return pers, nil
}

// admit takes the user's (and the server's) rate-limit slot, at the
// pipeline's clock. A refused message gets a friendly notice (at most one
// per window per user) and no reply.
func (j *job) admit(ctx context.Context) bool {
	p, msg := j.p, j.msg
	if p.limiter == nil {
		return true
	}
	now := p.now()
	v, err := retry2(ctx, p.cfg.Retry, func(ctx context.Context) (ratelimit.Verdict, error) {
		return p.limiter.Admit(ctx, now, msg.Author.ID, msg.GuildID)
	})
	if err != nil {
		j.fail(ctx, botFailure(codeDatabase, fmt.Errorf("rate limit: %w", err)))
		return false
	}
	if v.Allowed {
		return true
	}
	j.stats.Err, j.stats.Outcome = fmt.Errorf("rate limited (%s)", v.Scope), "rate_limited"
	p.metrics.RateLimited(v.Scope)
	j.log.Info("rate limited", slog.String("scope", v.Scope), slog.Duration("retry_after", v.RetryAfter))
	if p.notices.allow("rate:"+msg.Author.ID, max(v.RetryAfter, 10*time.Second)) {
		if _, err := p.sender.Reply(ctx, msg.ChannelID, msg.ID, v.Message()); err != nil {
			j.log.Warn("cannot post the rate-limit notice", slog.Any("err", err))
		}
	}
	return false
}

// reply asks the personality's provider for the answer, posts it and
// records it. Every failure is answered (see fail).
func (j *job) reply(ctx context.Context) {
	p, msg, pers := j.p, j.msg, j.personality
	stopTyping := p.sender.SendTyping(ctx, msg.ChannelID)
	defer stopTyping()

	provider, model := pers.LLM.Provider, pers.LLM.Model
	if provider == "" {
		provider, model = p.cfg.DefaultProvider, p.cfg.DefaultModel
	}
	j.provider = provider
	st, ok := p.pluginFor(provider)
	if !ok {
		j.fail(ctx, failure{code: codeNoPlugin, cause: fmt.Errorf("no loaded plugin serves provider %q (check plugins.toml: `tzurot plugins list`)", provider)})
		return
	}
	pluginName, slot := st.Name, st.KeySlot
	j.stats.Plugin = pluginName
	// The stored parameters were checked when they were saved, but against
	// the plugin of that day: an upgrade may have tightened its rules, and
	// imported personalities were never checked. A call the provider would
	// refuse is not made; the user is told which field to change.
	if err := st.Rules.Check(model, pers.LLM.AdvancedParameters); err != nil {
		j.fail(ctx, paramsFailure(err, pluginName, model))
		return
	}

	req, err := j.request(ctx, model)
	if err != nil {
		j.fail(ctx, failure{code: codeContext, cause: err})
		return
	}

	j.keys.allowFallback = p.cfg.Fallback.Allowed(msg.Author.ID, msg.GuildID)
	// The voice decision and its key read run beside the chat call, so a
	// spoken reply costs no extra round trip before the model is asked.
	speech := j.planSpeech(ctx)
	if !j.readKey(ctx, slot) {
		return
	}
	defer j.keys.done()
	callCtx := plugin.WithCall(withKeyUse(ctx, &j.keys), plugin.Call{
		UserID:        msg.Author.ID,
		PersonalityID: strconv.FormatInt(pers.ID, 10),
		RequestID:     j.stats.RequestID,
	})
	start := time.Now()
	j.live = j.startLive(ctx)
	if j.live != nil {
		defer j.live.live.Stop()
	}
	// The agent loop (agent.go): one chat call when no tool is offered.
	loop, err := j.converse(callCtx, j.tools(ctx), req, j.live.liveChat(func(ctx context.Context, req abi.ChatRequest) (abi.ChatResponse, []abi.Usage, error) {
		return p.plugins.Chat(ctx, pluginName, req)
	}))
	resp, usage := loop.resp, loop.usage
	j.stats.PluginTime = time.Since(start)
	if err != nil && j.live != nil {
		j.live.live.Stop()
		if j.live.live.Shown() {
			j.streamCut(ctx, j.live, req, usage, err)
			return
		}
	}
	if err != nil {
		if len(usage) > 0 {
			// Earlier steps of the loop were done (and may have been billed).
			j.record(ctx, nil, resp, usage, store.DeliveryNone)
		}
		j.callFailed(ctx, err)
		return
	}
	text := strings.TrimSpace(resp.Content)
	if text == "" && loop.notice != "" {
		text = loop.notice
	}
	j.files = loop.files
	if text == "" && len(j.files) == 0 {
		// The provider did the work (and may have charged for it): count it.
		j.record(ctx, nil, resp, usage, store.DeliveryNone)
		j.fail(ctx, failure{code: codeEmpty, cause: fmt.Errorf("the model %q returned an empty reply (finish reason %q)", resp.Model, resp.FinishReason),
			forUser: fmt.Sprintf("The model (%s) answered with nothing at all. Try again, or choose another model.", resp.Model)})
		return
	}
	j.deliver(ctx, text, resp, usage, speech)
}

// readKey reads the user's key for the plugin's slot before the call, so
// the database gets the whole retry window, not what is left of the
// plugin's call_timeout. It answers a failure itself and reports whether to
// go on.
func (j *job) readKey(ctx context.Context, slot string) bool {
	if j.p.keys == nil || slot == "" {
		return true
	}
	if err := j.p.keys.prepare(ctx, &j.keys, j.msg.Author.ID, slot); err != nil {
		j.fail(ctx, botFailure(codeDatabase, fmt.Errorf("read the API key: %w", err)))
		return false
	}
	return true
}

// callFailed answers a failed plugin call. A failure of the bot's own key
// store is the bot's, whatever the plugin made of it (it can only see "the
// host could not read the key store" and report some provider error).
func (j *job) callFailed(ctx context.Context, err error) {
	if kerr := j.keys.storeErr(); kerr != nil {
		j.fail(ctx, botFailure(codeDatabase, fmt.Errorf("read the API key: %w (the plugin then reported: %v)", kerr, err)))
		return
	}
	f := classify(err, j.provider)
	if f.code == abi.ErrNoKey || j.keys.used.Load() == keyMissing {
		j.noKey(ctx, err)
		return
	}
	j.fail(ctx, f)
}

// deliver posts the reply and records it with what became of it.
func (j *job) deliver(ctx context.Context, text string, resp abi.ChatResponse, usage []abi.Usage, speech *speechPlan) {
	switch post, err := j.claim(ctx); {
	case err != nil:
		j.record(ctx, nil, resp, usage, store.DeliveryLost)
		j.fail(ctx, botFailure(codeDatabase, fmt.Errorf("claim the reply's delivery record: %w", err)))
		return
	case !post:
		// An earlier attempt was posting it when it died: count the call
		// (once: usage rows are keyed by the request id) and post nothing.
		j.record(ctx, nil, resp, usage, store.DeliveryPosted)
		return
	}
	var (
		last  LastPart
		voice speechResult
	)
	var spoken <-chan speechResult
	if speech != nil {
		// The speech call starts now that the text is known; the parts
		// before the last are posted meanwhile, the last waits for it.
		spoken = j.speak(ctx, speech, text)
		last = j.lastPart(spoken, &voice)
	}
	if j.transcript != "" {
		text = quoteTranscript(j.transcript) + "\n" + text
		if j.msg.IsDM() {
			// After the speaker's name ("**Luna:** "), a quote must start
			// its own line to show as one.
			text = "\n" + text
		}
	}
	ids, err := j.post(ctx, text, last)
	j.finish(ctx, ids)
	switch {
	case speech != nil && voice.received:
		j.recordSpeech(ctx, voice)
	case speech != nil:
		// The post never reached the last part (or stopped waiting): the
		// speech may still be billed, so its usage is recorded when it ends.
		go func() { j.recordSpeech(context.WithoutCancel(ctx), <-spoken) }()
	}
	if err != nil && len(ids) == 0 {
		j.record(ctx, nil, resp, usage, store.DeliveryLost)
		j.fail(ctx, sendFailure(err))
		return
	}
	delivery := store.DeliveryPosted
	if err != nil {
		delivery, j.stats.Outcome = store.DeliveryPartial, "partial"
		j.log.Warn("part of the reply could not be posted", slog.Int("posted_parts", len(ids)), slog.Any("err", err))
		parts := len(nonBlank(chunk.Split(text)))
		dm := fmt.Sprintf("%s could not post all of its reply to your message (ref: %s): %d of %d parts are in the channel; the rest is lost because %s.",
			personalityName(*j.personality), j.ref, len(ids), parts, deliveryCause(err))
		if _, derr := j.p.sender.NotifyUser(ctx, j.msg.Author.ID, dm); derr != nil {
			j.log.Info("cannot DM that part of the reply was lost", slog.Any("err", derr))
		}
	}
	j.remember(ids, text)
	j.record(ctx, ids, resp, usage, delivery)
	j.notifyExchange(resp.Content)
	j.log.Debug("replied", slog.Int("parts", len(ids)), slog.Duration("plugin_time", j.stats.PluginTime),
		slog.Duration("overhead", j.stats.Overhead()))
}

// errAlreadyPosted is a job's stats.Err when its reply was out before.
var errAlreadyPosted = errors.New("the reply was posted by an earlier attempt of its job")

// claim records, for a reply run by a job, that it is about to be posted,
// and reports whether to post. An earlier attempt that claimed it died while
// posting (the reply may be in the channel): nothing is posted rather than
// risk a double.
func (j *job) claim(ctx context.Context) (bool, error) {
	if j.ledger == nil {
		return true, nil
	}
	ok, err := retry2(ctx, j.p.cfg.Retry, func(ctx context.Context) (bool, error) {
		return j.ledger.Claim(ctx, j.stats.RequestID, j.msg.ChannelID)
	})
	if err != nil {
		return false, err
	}
	if !ok {
		j.log.Warn("an earlier attempt of this reply's job died while posting it; not posted again")
		j.stats.Err = errAlreadyPosted
	}
	return ok, nil
}

// finish records the posted message ids in the delivery record.
func (j *job) finish(ctx context.Context, ids []string) {
	if j.ledger == nil {
		return
	}
	if _, err := retry2(context.WithoutCancel(ctx), j.p.cfg.Retry, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, j.ledger.Finish(ctx, j.stats.RequestID, ids)
	}); err != nil {
		// The claim stays: a retry still posts nothing.
		j.log.Warn("cannot finish the reply's delivery record", slog.Any("err", err))
	}
}

// pluginFor finds the status of the loaded plugin entry that serves
// provider: the entry of that name, else the first entry whose key slot is
// that provider.
func (p *Pipeline) pluginFor(provider string) (plugin.PluginStatus, bool) {
	return ChatPluginFor(p.plugins.Status(), provider)
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
		memory:      j.memoryBlocks(),
	}
	req := abi.ChatRequest{
		Model:              model,
		Messages:           buildMessages(in, p.cfg.BotUserID),
		AdvancedParameters: pers.LLM.AdvancedParameters,
		Stream:             p.cfg.Stream,
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
			refs = append(refs, reference{how: "replied to", msg: Message{ID: r.ID, ChannelID: r.ChannelID, Author: r.Author, WebhookID: r.WebhookID, Content: r.Content}})
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
func (j *job) post(ctx context.Context, text string, last LastPart) ([]string, error) {
	// Files from tools take the last part; a spoken reply's audio does not
	// join them (docs/tools.md).
	if ids, ok, err := j.postFiles(ctx, text); ok {
		return ids, err
	}
	j.stats.Sending = time.Now()
	pers := j.personality
	name := personalityName(*pers)
	if j.live != nil {
		// The parts shown so far are edited to say exactly text; new parts
		// are posted; the last carries the audio.
		return j.live.live.Finish(ctx, text, last)
	}
	if j.msg.IsDM() {
		if last != nil {
			return j.p.sender.ReplyWith(ctx, j.msg.ChannelID, j.msg.ID, dmPrefix(name)+text, last)
		}
		return j.p.sender.Reply(ctx, j.msg.ChannelID, j.msg.ID, dmPrefix(name)+text)
	}
	if last != nil {
		return j.p.sender.SendAsPersonalityWith(ctx, j.msg.ChannelID, j.msg.ThreadParentID, name, pers.AvatarURL, text, last)
	}
	return j.p.sender.SendAsPersonality(ctx, j.msg.ChannelID, j.msg.ThreadParentID, name, pers.AvatarURL, text)
}

// remember puts the posted reply into the channel history at once, so the
// next reply has it as context even before (or without) Discord echoing it
// through the gateway.
func (j *job) remember(ids []string, text string) {
	name := personalityName(*j.personality)
	author := Author{Username: name, DisplayName: name}
	webhook := "self"
	if j.msg.IsDM() {
		text = dmPrefix(name) + text
		author, webhook = Author{ID: j.p.cfg.BotUserID, Username: name, Bot: true}, ""
	}
	parts := nonBlank(chunk.Split(text))
	for i, id := range ids {
		content := text
		if len(parts) == len(ids) {
			content = parts[i]
		} else if i > 0 {
			content = ""
		}
		j.p.history.observe(Message{ID: id, ChannelID: j.msg.ChannelID, GuildID: j.msg.GuildID,
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
// delivery (store.Delivery*) says what became of the reply the usage paid
// for.
func (j *job) record(ctx context.Context, ids []string, resp abi.ChatResponse, usage []abi.Usage, delivery string) {
	p, msg, pers := j.p, j.msg, j.personality
	rec := store.ReplyRecord{Usage: j.usageRows(j.stats.RequestID, usage, store.KindText, j.provider, j.stats.PluginTime, delivery)}
	var tokens int64
	for _, u := range rec.Usage {
		tokens += int64(u.InputTokens + u.OutputTokens)
	}
	if p.limiter != nil && len(rec.Usage) > 0 {
		for _, c := range p.limiter.Charges(p.now(), msg.Author.ID, msg.GuildID, tokens) {
			rec.Charges = append(rec.Charges, store.RateCharge{RequestID: rec.Usage[0].RequestID, Scope: c.Scope, Key: c.Key, Window: c.Window, Cost: c.Cost, At: c.At})
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
	switch err := p.recorder.Record(context.WithoutCancel(ctx), rec); {
	case errors.Is(err, errSpooled):
		j.log.Warn("the database is away: the reply's usage and message ids are kept in memory and will be written when it is back")
	case err != nil:
		j.log.Error("reply posted but its usage and message ids were not recorded", slog.Any("err", err))
	}
}

// usageRows turns a call's usage into rows: the first under reqID, the
// others under reqID#1, #2... (idempotent per request), kind and provider
// defaulting to those given.
func (j *job) usageRows(reqID string, usage []abi.Usage, kind, provider string, latency time.Duration, delivery string) []store.Usage {
	var rows []store.Usage
	for i, u := range usage {
		id := reqID
		if i > 0 {
			id += "#" + strconv.Itoa(i)
		}
		k := u.Kind
		if k == "" {
			k = kind
		}
		prov := u.Provider
		if prov == "" {
			prov = provider
		}
		output, reasoning, broken := meteredOutput(u)
		if broken {
			j.log.Warn("the plugin reported more reasoning tokens than output tokens (output must include reasoning); counting them on top of output",
				slog.String("plugin", u.Plugin), slog.Int64("output_tokens", u.OutputTokens), slog.Int64("reasoning_tokens", u.ReasoningTokens))
		}
		rows = append(rows, store.Usage{
			RequestID: id, UserID: j.user.ID, PersonalityID: j.personality.ID,
			Provider: prov, Model: u.Model, Kind: k,
			InputTokens: int(u.InputTokens), OutputTokens: int(output), ReasoningTokens: int(reasoning),
			Characters: int(u.Characters), Images: int(u.Images), AudioMS: int(u.AudioMS), Latency: latency, Delivery: delivery,
		})
	}
	return rows
}

// noKey tells the user how to add a key (in a DM; in the channel when DMs
// are closed), at most once a minute per user and provider.
func (j *job) noKey(ctx context.Context, err error) {
	j.stats.Err, j.stats.Outcome = err, "no_key"
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
	j.stats.Err, j.stats.Outcome = f.cause, f.code
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
	var (
		err       error
		asPersona []string
	)
	j.stats.Sending = time.Time{}
	if j.msg.IsDM() || j.personality == nil {
		_, err = j.p.sender.Reply(ctx, j.msg.ChannelID, j.msg.ID, text)
	} else {
		asPersona, err = j.p.sender.SendAsPersonality(ctx, j.msg.ChannelID, j.msg.ThreadParentID, name, avatar, text)
		if err != nil {
			_, err = j.p.sender.Reply(ctx, j.msg.ChannelID, j.msg.ID, text)
		}
	}
	if err != nil {
		j.log.Warn("cannot post the error message", slog.Any("err", err))
	}
	if len(asPersona) > 0 {
		// Replying to the error message ("try again") wakes the personality.
		rec := store.ReplyRecord{}
		for _, id := range asPersona {
			rec.Messages = append(rec.Messages, store.WebhookMessage{MessageID: id, PersonalityID: j.personality.ID, ChannelID: j.msg.ChannelID, UserID: j.user.ID})
		}
		if err := j.p.recorder.Record(context.WithoutCancel(ctx), rec); err != nil {
			j.log.Warn("the error message's id was not recorded", slog.Any("err", err))
		}
	}
	// The cause goes to the user whose key and request it concerns (for
	// failures of the bot itself, only that it was the bot's, never a
	// provider's), but not when the host's own key failed (the host's
	// business): the log has the rest.
	if j.keys.used.Load() == keyFallback || f.forUser == "" {
		return
	}
	dm := fmt.Sprintf("%s could not answer your message (ref: %s). %s", name, j.ref, f.forUser)
	if _, err := j.p.sender.NotifyUser(ctx, j.msg.Author.ID, dm); err != nil {
		j.log.Info("cannot DM the cause of a failed reply", slog.Any("err", err))
	}
}

// meteredOutput applies the ABI's rule for a usage record's tokens
// (docs/plugin-abi.md, Usage): output_tokens INCLUDES the reasoning tokens,
// and reasoning_tokens says how many of them were reasoning, so reasoning is
// never added to anything. A plugin that reports more reasoning than output
// has broken the rule the only way that can be seen: it counted reasoning
// outside output (the other convention some APIs use). Its reasoning is then
// added to its output, so a reply is charged for what the provider billed,
// and never for less (broken is true, for a warning).
func meteredOutput(u abi.Usage) (output, reasoning int64, broken bool) {
	output, reasoning = max(u.OutputTokens, 0), max(u.ReasoningTokens, 0)
	if reasoning > output {
		return output + reasoning, reasoning, true
	}
	return output, reasoning, false
}
