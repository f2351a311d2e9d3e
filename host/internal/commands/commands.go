// Package commands is the bot's slash commands: /wallet (API keys through a
// modal, checked with the provider's plugin before they are stored),
// /timezone, /usage (with a PNG chart), /personality (create, edit, avatar,
// aliases, model and its parameters, voice, voice samples and cloning,
// channel activation, delete), /voice (the user's voice override), /admin
// (global usage, plugins, rate limits; bot owners only) and the message
// command "Show reasoning" (a reply's stored reasoning, to its asker only).
//
// It is built on disgo's handler.Mux and needs nothing from the gateway: the
// same Commands serves gateway events and HTTP interactions. Every handler
// runs on its own tracked goroutine (never on the gateway's read loop) and
// answers within Discord's 3 seconds, deferring first when the work may take
// longer (key checks, plugin reloads, charts). Close waits for the handlers
// still running.
//
// Wiring in `tzurot serve` (the user guide is docs/commands.md):
//
//	settings, err := commands.SettingsFromEnv(os.Getenv) // TZUROT_OWNER_IDS, TZUROT_DEV_GUILD_ID
//	cmds, err := commands.New(commands.Deps{Store: st, Plugins: pluginHost, Aliases: aliasIndex,
//		RateLimits: limiter, OwnerIDs: settings.OwnerIDs, Logger: log,
//		ReloadPlugins: func(ctx context.Context) error { ... plugin.LoadConfig + pluginHost.Reload ... }})
//	b, err := discord.New(token, pipeline, discord.WithInteractionListener(cmds.Router()), ...)
//	err = cmds.Register(b.Client(), settings.DevGuildID) // one bulk overwrite
//	...
//	_ = cmds.Close(ctx) // after the gateway closed, before the REST client
package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/disgoorg/disgo/bot"
	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/events"
	"github.com/disgoorg/disgo/handler"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"

	"github.com/tzurot-go/tzurot/host/internal/catalog"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Plugins is what the commands need from the plugin host; *plugin.Host
// implements it.
type Plugins interface {
	// Status lists the plugins.toml entries with their grants and health.
	Status() []plugin.PluginStatus
	// ValidateKey asks a plugin whether a key works.
	ValidateKey(ctx context.Context, name, candidateKey string) (abi.ValidateKeyResult, error)
	// ValidateVoiceSettings checks a voice settings object against the
	// plugin's voice_schema (a *plugin.SettingsError names each field).
	ValidateVoiceSettings(name string, settings json.RawMessage) error
	// CloneVoice builds a voice from samples (the audio of req.Samples[i] is
	// samples[i]) for the user in ctx (plugin.WithCall).
	CloneVoice(ctx context.Context, name string, req abi.CloneVoiceRequest, samples [][]byte) (abi.CloneVoiceResponse, []abi.Usage, error)
}

// AliasIndex is the trigger's in-memory alias index; *trigger.AliasIndex
// implements it. Commands that change aliases or names update it at once so
// the next message already sees the change.
type AliasIndex interface {
	Upsert(a trigger.Alias) error
	Delete(name string)
	DeletePersonality(personalityID int64)
}

// RateLimits is the chat pipeline's rate limiter; *ratelimit.Limiter
// implements it. Changes apply to the next request and last until restart
// (the environment holds the settings a restart begins with).
type RateLimits interface {
	Settings() ratelimit.Settings
	SetSettings(s ratelimit.Settings)
}

// Deps are what New needs. Store and Plugins are required.
type Deps struct {
	Store   *store.Store
	Plugins Plugins
	// Aliases, when set, is kept in step with alias and name changes.
	Aliases AliasIndex
	// ReloadPlugins re-reads plugins.toml and swaps the plugins in (for
	// /admin plugins reload); nil turns that subcommand into an explanation.
	ReloadPlugins func(ctx context.Context) error
	// RateLimits is the chat pipeline's limiter (*ratelimit.Limiter), whose
	// settings /admin ratelimit shows and changes; nil turns those
	// subcommands into an explanation.
	RateLimits RateLimits
	// OwnerIDs are the Discord user ids of the bot's owners
	// (TZUROT_OWNER_IDS): they may run /admin and manage every personality.
	OwnerIDs []string
	// Logger receives one line per failed command; nil discards.
	Logger *slog.Logger
	// Now is the clock (time.Now when nil); tests pin it.
	Now func() time.Time
	// HandlerTimeout bounds one command's work (default 5 minutes; the
	// interaction token itself lasts 15).
	HandlerTimeout time.Duration
	// Download fetches an attachment from Discord's CDN, reading at most max
	// bytes (discord.Bot.DownloadAtMost; an oversized file's error matches
	// discord.ErrDownloadTooLarge). nil makes /personality voice-sample
	// upload explain that it cannot fetch files.
	Download func(ctx context.Context, url string, max int64) ([]byte, string, error)
	// KeyFallback reports whether the deployment's shared key for a key slot
	// covers the user (in the guild, "" for a DM): chat.Fallback's policy.
	// /voice status uses it; nil means no shared keys.
	KeyFallback func(discordUserID, guildID, slot string) bool
	// Models caches the providers' model lists for /personality llm's
	// model autocomplete. When nil and Plugins can list models
	// (*plugin.Host can), New makes one and Close closes it.
	Models *catalog.Catalog
	// ModelsWait is how long the model autocomplete waits for a list not
	// yet cached (default 2 s; Discord allows 3 s in all).
	ModelsWait time.Duration
	// Images serves /imagine, /personality image and /personality tools
	// (imagine.go); the zero value explains that images are not set up.
	Images ImageDeps
}

// Commands holds the slash command definitions and their handlers.
type Commands struct {
	store    *store.Store
	plugins  Plugins
	aliases  AliasIndex
	reload   func(ctx context.Context) error
	limits   RateLimits
	owners   map[string]bool
	log      *slog.Logger
	now      func() time.Time
	timeout  time.Duration
	mux      *handler.Mux
	images   ImageDeps
	zones    zoneIndex
	download func(ctx context.Context, url string, max int64) ([]byte, string, error)
	fallback func(discordUserID, guildID, slot string) bool
	baseCtx  context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup

	catalog *catalog.Catalog
	ownsCat bool // made by New, closed by Close
	// modelsWait and saveWait bound waits on a model list (see models.go).
	modelsWait, saveWait time.Duration
}

// New returns the commands. It does not talk to Discord; see Register.
func New(d Deps) (*Commands, error) {
	if d.Store == nil || d.Plugins == nil {
		return nil, errors.New("commands: a store and a plugin host are required")
	}
	c := &Commands{
		store: d.Store, plugins: d.Plugins, aliases: d.Aliases, reload: d.ReloadPlugins,
		limits: d.RateLimits, owners: map[string]bool{}, log: d.Logger, now: d.Now, timeout: d.HandlerTimeout,
		download: d.Download, fallback: d.KeyFallback,
		images: d.Images,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "commands")
	if c.now == nil {
		c.now = time.Now
	}
	if c.timeout <= 0 {
		c.timeout = 5 * time.Minute
	}
	for _, id := range d.OwnerIDs {
		if _, err := snowflake.Parse(id); err != nil {
			return nil, fmt.Errorf("commands: owner id %q is not a Discord user id", id)
		}
		c.owners[id] = true
	}
	c.catalog, c.modelsWait, c.saveWait = d.Models, d.ModelsWait, saveModelsWait
	if c.modelsWait <= 0 {
		c.modelsWait = defaultModelsWait
	}
	if c.catalog == nil {
		if l, ok := d.Plugins.(catalog.Lister); ok {
			c.catalog, c.ownsCat = catalog.New(l, catalog.Options{Logger: c.log}), true
		}
	}
	c.zones = newZoneIndex()
	c.baseCtx, c.cancel = context.WithCancel(context.Background())
	c.mux = c.routes()
	return c, nil
}

// Router returns the handler to add to the disgo client
// (bot.WithEventListeners(c.Router()) or client.AddEventListeners). It
// serves gateway and HTTP-interaction events alike.
func (c *Commands) Router() *handler.Mux { return c.mux }

// Register overwrites the application's commands with Definitions in one
// bulk request: in guildID only when it is set (development: changes show at
// once), else globally.
func (c *Commands) Register(client *bot.Client, guildID snowflake.ID) error {
	var guilds []snowflake.ID
	if guildID != 0 {
		guilds = []snowflake.ID{guildID}
	}
	if err := handler.SyncCommands(client, Definitions(), guilds); err != nil {
		return fmt.Errorf("register slash commands: %w", err)
	}
	return nil
}

// Close stops accepting interactions and waits (up to ctx) for the running
// handlers; then it cancels what is left.
func (c *Commands) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	done := make(chan struct{})
	go func() { c.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("commands: handlers still running at shutdown: %w", ctx.Err())
	}
	c.cancel()
	if c.ownsCat {
		c.catalog.Close() // stops model-list fetches still running
	}
	return err
}

// Wait blocks until no handler is running. Tests use it after injecting an
// interaction.
func (c *Commands) Wait() { c.inflight.Wait() }

// track runs each interaction on its own goroutine, counted for Close, with
// a panic turned into a log line.
func (c *Commands) track(next handler.Handler) handler.Handler {
	return func(e *handler.InteractionEvent) error {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil
		}
		c.inflight.Add(1)
		c.mu.Unlock()
		go func() {
			defer c.inflight.Done()
			defer func() {
				if r := recover(); r != nil {
					c.log.Error("command handler panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				}
			}()
			ctx, cancel := context.WithTimeout(c.baseCtx, c.timeout)
			defer cancel()
			e.Ctx = ctx
			if err := next(e); err != nil {
				c.log.ErrorContext(ctx, "command failed", "err", err)
			}
		}()
		return nil
	}
}

// isOwner reports whether the Discord user is one of the bot's owners.
func (c *Commands) isOwner(discordID string) bool { return c.owners[discordID] }

// ---- replies ------------------------------------------------------------------------------

// userError is a message for the user: bad input, a refused permission,
// something that does not exist. It is shown as it is, ephemerally.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

// sendError is a failure to answer Discord (the token expired, Discord is
// down): it is logged, never answered again.
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// sayf makes a userError.
func sayf(format string, args ...any) error { return &userError{msg: fmt.Sprintf(format, args...)} }

// reply answers one interaction. Every reply is ephemeral: commands deal
// with keys, usage and settings, which are nobody else's business.
type reply struct {
	e responder
	// respond is the event's raw responder (e.Respond), for the deferral:
	// DeferCreateMessage cannot say which mentions the answer allows.
	respond  events.InteractionResponderFunc
	deferred bool
	// update, when set, answers a button click by replacing the message the
	// button was on (its buttons removed) instead of sending a new one.
	update func(discord.MessageUpdate) error
}

// responder is what command and modal events have in common.
type responder interface {
	CreateMessage(msg discord.MessageCreate, opts ...rest.RequestOpt) error
	UpdateInteractionResponse(upd discord.MessageUpdate, opts ...rest.RequestOpt) (*discord.Message, error)
}

// noMentions pings nobody. Every answer states it: a body without
// allowed_mentions gets disgo's default (everyone, roles and users), so an
// answer quoting "@everyone" (a personality's name, an error message) would
// ping the whole server. The lists are empty, not null, so Discord reads
// them as "none".
func noMentions() *discord.AllowedMentions {
	return &discord.AllowedMentions{Parse: []discord.AllowedMentionType{}, Roles: []snowflake.ID{}, Users: []snowflake.ID{}}
}

// Defer acknowledges now (Discord shows "thinking...") for work that may
// take longer than 3 seconds.
func (r *reply) Defer() error {
	thinking := discord.MessageCreate{Flags: discord.MessageFlagEphemeral, AllowedMentions: noMentions()}
	if err := r.respond(discord.InteractionResponseTypeDeferredCreateMessage, thinking); err != nil {
		return &sendError{fmt.Errorf("defer interaction: %w", err)}
	}
	r.deferred = true
	return nil
}

// Send shows content (and files) to the user.
func (r *reply) Send(content string, files ...*discord.File) error {
	content = truncate(content, 2000)
	if r.update != nil {
		upd := discord.NewMessageUpdate().WithContent(content).WithAllowedMentions(noMentions()).
			ClearComponents() // no buttons left: the question was answered
		if err := r.update(upd); err != nil {
			return &sendError{fmt.Errorf("update interaction message: %w", err)}
		}
		return nil
	}
	if r.deferred {
		upd := discord.NewMessageUpdate().WithContent(content).WithAllowedMentions(noMentions())
		if len(files) > 0 {
			upd = upd.WithFiles(files...)
		}
		if _, err := r.e.UpdateInteractionResponse(upd); err != nil {
			return &sendError{fmt.Errorf("edit interaction response: %w", err)}
		}
		return nil
	}
	msg := discord.NewMessageCreate().WithContent(content).WithEphemeral(true).
		WithAllowedMentions(noMentions())
	if len(files) > 0 {
		msg = msg.WithFiles(files...)
	}
	if err := r.e.CreateMessage(msg); err != nil {
		return &sendError{fmt.Errorf("reply to interaction: %w", err)}
	}
	return nil
}

// finish turns a handler's error into what the user sees: a userError as
// written, anything else as a short apology with a reference id that is
// also in the log line (the error itself may hold details the user should
// not see).
func (c *Commands) finish(ctx context.Context, r *reply, what string, err error) error {
	if err == nil {
		return nil
	}
	var se *sendError
	if errors.As(err, &se) {
		// Discord did not take an answer; a second one would fail the same way.
		return err
	}
	var ue *userError
	if errors.As(err, &ue) {
		return r.Send(ue.msg)
	}
	ref := newRef()
	c.log.ErrorContext(ctx, "command failed", "command", what, "ref", ref, "err", err)
	return r.Send(fmt.Sprintf("Something went wrong on our side, and nothing was changed. If it keeps happening, tell the bot's owner the reference `%s`.", ref))
}

func newRef() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// command adapts a slash command handler: it gets a reply and the invoking
// user, and its error is shown by finish.
func (c *Commands) command(name string, h func(ctx context.Context, e *handler.CommandEvent, r *reply) error) handler.CommandHandler {
	return func(e *handler.CommandEvent) error {
		r := &reply{e: e, respond: e.Respond}
		return c.finish(e.Ctx, r, name, h(e.Ctx, e, r))
	}
}

// modal adapts a modal submit handler like command.
func (c *Commands) modal(name string, h func(ctx context.Context, e *handler.ModalEvent, r *reply) error) handler.ModalHandler {
	return func(e *handler.ModalEvent) error {
		r := &reply{e: e, respond: e.Respond}
		return c.finish(e.Ctx, r, name, h(e.Ctx, e, r))
	}
}

// ownerOnly refuses everyone but the bot's owners, server-side: default
// member permissions only hide a command, and a guild admin can show it to
// anyone.
func (c *Commands) ownerOnly(name string, h func(ctx context.Context, e *handler.CommandEvent, r *reply) error) handler.CommandHandler {
	return c.command(name, func(ctx context.Context, e *handler.CommandEvent, r *reply) error {
		if !c.isOwner(e.User().ID.String()) {
			return sayf("Only the bot's owners can use `/admin`. Nothing was changed.")
		}
		return h(ctx, e, r)
	})
}

// choices caps autocomplete choices at Discord's 25.
func choices(names []string, values []string) []discord.AutocompleteChoice {
	out := make([]discord.AutocompleteChoice, 0, min(len(names), 25))
	for i := range names {
		if len(out) == 25 {
			break
		}
		out = append(out, discord.AutocompleteChoiceString{Name: truncate(names[i], 100), Value: values[i]})
	}
	return out
}

// routes builds the mux: one route per subcommand, autocomplete and modal.
func (c *Commands) routes() *handler.Mux {
	m := handler.New()
	m.DefaultContext(func() context.Context { return c.baseCtx })
	m.Use(c.track)
	m.NotFound(c.notFound)

	m.Route("/wallet", func(r handler.Router) {
		r.Command("/set", c.command("wallet set", c.walletSet))
		r.Command("/list", c.command("wallet list", c.walletList))
		r.Command("/remove", c.command("wallet remove", c.walletRemove))
		r.Command("/test", c.command("wallet test", c.walletTest))
		r.Autocomplete("/set", c.autocompleteProviders(false))
		r.Autocomplete("/test", c.autocompleteProviders(true))
		r.Autocomplete("/remove", c.autocompleteProviders(true))
	})
	m.Modal(walletModalPrefix+"/{provider}/{stamp}", c.modal("wallet key", c.walletKeySubmit))

	m.Route("/timezone", func(r handler.Router) {
		r.Command("/set", c.command("timezone set", c.timezoneSet))
		r.Command("/get", c.command("timezone get", c.timezoneGet))
		r.Autocomplete("/set", c.autocompleteZones)
	})

	m.Command("/usage", c.command("usage", c.usage))
	m.Command("/"+showReasoningName, c.command("show reasoning", c.showReasoning))

	m.Route("/personality", func(r handler.Router) {
		r.Command("/create", c.command("personality create", c.personalityCreate))
		r.Command("/edit", c.command("personality edit", c.personalityEdit))
		r.Command("/avatar", c.command("personality avatar", c.personalityAvatar))
		r.Command("/alias/add", c.command("personality alias add", c.aliasAdd))
		r.Command("/alias/remove", c.command("personality alias remove", c.aliasRemove))
		r.Command("/llm", c.command("personality llm", c.personalityLLM))
		r.Command("/activate", c.command("personality activate", c.personalityActivate))
		r.Command("/deactivate", c.command("personality deactivate", c.personalityDeactivate))
		r.Command("/delete", c.command("personality delete", c.personalityDelete))
		r.Command("/voice", c.command("personality voice", c.personalityVoice))
		r.Command("/voice-clone", c.command("personality voice-clone", c.voiceClone))
		r.Command("/voice-sample/upload", c.command("personality voice-sample upload", c.sampleUpload))
		r.Command("/voice-sample/list", c.command("personality voice-sample list", c.sampleList))
		r.Command("/voice-sample/remove", c.command("personality voice-sample remove", c.sampleRemove))
		for _, sub := range []string{"/edit", "/avatar", "/alias/add", "/alias/remove", "/llm", "/activate", "/delete",
			"/voice", "/voice-clone", "/voice-sample/upload", "/voice-sample/list", "/voice-sample/remove"} {
			r.Autocomplete(sub, c.autocompletePersonality)
		}
		r.Command("/image", c.command("personality image", c.personalityImage))
		r.Command("/tools", c.command("personality tools", c.personalityTools))
		r.Autocomplete("/image", c.autocompleteImageOptions)
		r.Autocomplete("/tools", c.autocompleteImageOptions)
	})
	c.imageRoutes(m)
	c.memoryRoutes(m)

	m.Route("/voice", func(r handler.Router) {
		r.Command("/enable", c.command("voice enable", c.voiceEnable))
		r.Command("/disable", c.command("voice disable", c.voiceDisable))
		r.Command("/reset", c.command("voice reset", c.voiceReset))
		r.Command("/status", c.command("voice status", c.voiceStatus))
		r.Autocomplete("/status", c.autocompletePersonality)
	})

	m.Route("/admin", func(r handler.Router) {
		r.Command("/usage", c.ownerOnly("admin usage", c.adminUsage))
		r.Command("/plugins/list", c.ownerOnly("admin plugins list", c.adminPluginsList))
		r.Command("/plugins/reload", c.ownerOnly("admin plugins reload", c.adminPluginsReload))
		r.Command("/ratelimit/show", c.ownerOnly("admin ratelimit show", c.adminRateLimitShow))
		r.Command("/ratelimit/set", c.ownerOnly("admin ratelimit set", c.adminRateLimitSet))
	})
	return m
}

// notFound answers interactions no route knows: a command removed in an
// update but still cached by the user's client, or a form from before a
// restart that changed its shape. Without an answer Discord only says "The
// application did not respond".
func (c *Commands) notFound(e *handler.InteractionEvent) error {
	switch e.Type() {
	case discord.InteractionTypeApplicationCommand, discord.InteractionTypeModalSubmit, discord.InteractionTypeComponent:
		r := &reply{e: e, respond: e.Respond}
		return r.Send("This command or form is no longer available (the bot was updated). Run the command again; if it is gone, it was removed. Nothing was changed.")
	case discord.InteractionTypeAutocomplete:
		// Typing in an option of a stale or unknown command. Unanswered, the
		// user's suggestions spin until Discord gives up, and in HTTP mode
		// disgo holds the request open until it times out (408 after 3
		// seconds). An empty list says "nothing to suggest" at once; the
		// command itself then gets the answer above.
		return e.Respond(discord.InteractionResponseTypeAutocompleteResult,
			discord.AutocompleteResult{Choices: []discord.AutocompleteChoice{}})
	}
	return nil
}

// loadedPlugins returns the loaded plugins' status, sorted by name.
func (c *Commands) loadedPlugins() []plugin.PluginStatus {
	var out []plugin.PluginStatus
	for _, st := range c.plugins.Status() {
		if st.State == plugin.StateLoaded && st.Description != nil {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b plugin.PluginStatus) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// grants reports whether a loaded plugin both offers and is granted cap.
func grants(st plugin.PluginStatus, capability string) bool {
	return slices.Contains(st.Capabilities, capability) && st.Description != nil &&
		slices.Contains(st.Description.Capabilities, capability)
}
