package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/disgoorg/disgo/bot"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/commands"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/embedding"
	"github.com/tzurot-go/tzurot/host/internal/former"
	"github.com/tzurot-go/tzurot/host/internal/logging"
	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/metrics"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/queue"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/redact"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
	"github.com/tzurot-go/tzurot/schema"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Options adapt Serve to its caller. The zero value serves the real
// environment on stderr.
type Options struct {
	// Getenv and Environ read the environment (os.Getenv, os.Environ).
	Getenv  func(string) string
	Environ func() []string
	// Stderr receives the log (os.Stderr).
	Stderr io.Writer
	// Logger replaces the logger built from LOG_LEVEL / LOG_FORMAT (tests).
	Logger *slog.Logger
	// Secrets is the redactor's registry of exact secrets; nil makes one.
	Secrets *redact.Secrets
	// Reload delivers SIGHUP: each value reloads plugins.toml.
	Reload <-chan os.Signal
	// Discord adds options to the Discord bot (tests point it at a fake).
	Discord []discord.Option
	// Started, when set, is called once the bot is up (tests).
	Started func(*App)
	// NoGatewayConnect builds the gateway client but does not connect it:
	// tests inject gateway events instead (disgo's websocket code races
	// under -race when a connection closes).
	NoGatewayConnect bool
}

// Serve runs the bot until ctx is cancelled (SIGINT/SIGTERM), then shuts
// down within TZUROT_SHUTDOWN_TIMEOUT. It refuses to start without a master
// key, a database, a bot token or a readable plugins.toml, saying which.
func Serve(ctx context.Context, opts Options) error {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Secrets == nil {
		opts.Secrets = redact.NewSecrets(0)
	}
	logger := opts.Logger
	if logger == nil {
		var err error
		logger, err = logging.New(opts.Stderr, logging.Options{Getenv: opts.Getenv, Environ: opts.Environ, Secrets: opts.Secrets})
		if err != nil {
			return err
		}
	}
	// Every missing setting at once, with the way out, rather than one per
	// start (the same list as `tzurot doctor`).
	if missing := MissingSettings(opts.Getenv); len(missing) > 0 {
		return &MissingError{Missing: missing}
	}
	// Fail closed: no master key, no bot (users' keys must never be stored
	// unprotected). Every key the vault opens is registered for redaction.
	v, err := vault.FromEnv(opts.Getenv, vault.WithObserver(opts.Secrets.Observe))
	if err != nil {
		return err
	}
	cfg, err := ConfigFromEnv(opts.Getenv, opts.Environ(), opts.Secrets.Observe)
	if err != nil {
		return err
	}
	// The metrics address is taken before anything slow, so a port in use
	// fails the start at once; /readyz says "starting" until the bot is up.
	var msrv *metrics.Server
	if cfg.MetricsAddr != "" {
		cfg.Metrics = metrics.New(prometheus.NewRegistry())
		if msrv, err = metrics.Listen(cfg.MetricsAddr, cfg.Metrics); err != nil {
			return fmt.Errorf("%s: %w", EnvMetricsAddr, err)
		}
		defer func() {
			// Last: a scrape during shutdown still gets an answer.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = msrv.Close(cctx)
		}()
		logger.Info("serving metrics and health", slog.String("addr", msrv.Addr().String()))
	}
	// A fresh machine has no database yet: create it rather than make the
	// self-hoster run createdb first.
	if err := schema.EnsureDatabase(ctx, cfg.DatabaseURL, logger); err != nil {
		return err
	}
	// The database answers: the gateway may connect while it migrates (see
	// earlyBot). Not before, so a process that cannot reach its database
	// never identifies to Discord (identifies are limited per day).
	eb, err := openBot(ctx, cfg, logger, !opts.NoGatewayConnect, opts.Discord)
	if err != nil {
		return err
	}
	// Every process may migrate at start: an advisory lock makes them take
	// turns, and the second finds nothing to do.
	if err := schema.Migrate(ctx, cfg.DatabaseURL, logger); err != nil {
		eb.abort()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = eb.bot.Shutdown(cctx)
		return err
	}
	a, err := startWith(ctx, cfg, v, logger, eb)
	if err != nil {
		return err
	}
	if msrv != nil {
		a.MetricsAddr = msrv.Addr()
		msrv.SetReady(a.Ready)
	}
	if opts.Started != nil {
		opts.Started(a)
	}
	logger.Info("tzurot is running", slog.String("role", string(cfg.Role)), slog.Bool("gateway", cfg.Gateway), slog.String("interactions", cfg.InteractionsAddr))
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-opts.Reload:
			if err := a.ReloadPlugins(ctx); err != nil {
				logger.Error("plugins.toml not reloaded; the running plugins stay", slog.Any("err", err))
			}
		}
	}
	logger.Info("shutting down", slog.Duration("deadline", cfg.ShutdownTimeout))
	if msrv != nil {
		msrv.Stopping()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	return a.Shutdown(sctx)
}

// App is a running host.
type App struct {
	Config   Config
	Log      *slog.Logger
	Store    *store.Store
	Plugins  *plugin.Host
	Bot      *discord.Bot
	Pipeline *chat.Pipeline
	Commands *commands.Commands
	Limiter  *ratelimit.Limiter
	// Queue joins gateway and worker processes (nil for --role all).
	Queue *queue.Queue
	// Memory is what personalities remember and know (retrieval for every
	// reply; full text unless a vector searcher is added).
	Memory *memory.Store
	// presence lets Memory skip retrieval for those with nothing to find.
	presence *memory.Presence
	// Embeddings searches memories by meaning (nil without
	// TZUROT_EMBED_PLUGIN); Former forms new memories (nil when
	// TZUROT_MEMORY_FORMATION is off). Both work in the background.
	Embeddings     *embedding.Service
	Former         *former.Former
	stopBackground context.CancelFunc
	bg             context.Context // ended by stopBackground
	background     sync.WaitGroup
	// InteractionsAddr is where HTTP interactions are served (nil if not).
	InteractionsAddr net.Addr
	// MetricsAddr is where /metrics, /healthz and /readyz are served (nil
	// if not; set by Serve).
	MetricsAddr net.Addr

	pool, fastPool *pgxpool.Pool
	// schemaDB is pool as database/sql, for /readyz's schema check (which
	// then opens no connection of its own).
	schemaDB *sql.DB
	// Cache is the store's invalidation listener (one LISTEN connection);
	// stopCache ends it, cacheDone is closed when it has.
	Cache     *cache.Listener
	stopCache context.CancelFunc
	cacheDone chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// relay holds what the bot hands its events to, set once after the bot is
// built: messageRelay and eventRelay let the bot be built, and its gateway
// connect, before the pipeline and the commands that need its sender and
// client exist. An event that arrives first waits (on a bot worker) until
// start has set them, or has failed (set to nil: then it is dropped).
type relay[T any] struct {
	ready chan struct{} // closed by set
	once  sync.Once
	v     T
}

func newRelay[T any]() relay[T] { return relay[T]{ready: make(chan struct{})} }

func (r *relay[T]) set(v T) {
	r.once.Do(func() { r.v = v; close(r.ready) })
}

// wait returns the value once it is set, or false when done closes first.
func (r *relay[T]) wait(done <-chan struct{}) (T, bool) {
	select {
	case <-r.ready:
		return r.v, true
	case <-done:
		var zero T
		return zero, false
	}
}

type messageRelay struct{ relay[discord.Handler] }

func newMessageRelay() *messageRelay { return &messageRelay{newRelay[discord.Handler]()} }

func (r *messageRelay) HandleMessage(ctx context.Context, m message.Message) {
	if h, ok := r.wait(ctx.Done()); ok && h != nil {
		h.HandleMessage(ctx, m)
	}
}

type eventRelay struct{ relay[bot.EventListener] }

func newEventRelay() *eventRelay { return &eventRelay{newRelay[bot.EventListener]()} }

func (r *eventRelay) OnEvent(e bot.Event) {
	if l, _ := r.wait(nil); l != nil {
		l.OnEvent(e)
	}
}

// Start opens everything and connects to Discord. On error, what was opened
// is closed again. The database must be migrated (schema.Migrate).
func Start(ctx context.Context, cfg Config, v *vault.Vault, logger *slog.Logger, discordOpts ...discord.Option) (*App, error) {
	return start(ctx, cfg, v, logger, true, discordOpts...)
}

// start builds the bot, connects it to the gateway when connect (and
// cfg.Gateway) are set, and starts the rest.
func start(ctx context.Context, cfg Config, v *vault.Vault, logger *slog.Logger, connect bool, discordOpts ...discord.Option) (*App, error) {
	eb, err := openBot(ctx, cfg, logger, connect, discordOpts)
	if err != nil {
		return nil, err
	}
	return startWith(ctx, cfg, v, logger, eb)
}

// earlyBot is the bot, built and connecting to the gateway before the rest
// of the host starts. Why: disgo v0.19.6 waits a whole second before its
// first connection attempt (gateway.doReconnect sleeps before it dials),
// so serve migrates the database and sets up the pools, plugins, pipeline
// and commands during that second instead of after it (docs/performance.md,
// "Start to ready"). Events that arrive before the handlers are set wait
// in the relays.
type earlyBot struct {
	bot    *discord.Bot
	msgs   *messageRelay
	events *eventRelay
	opened chan error // Open's result; nil when not connecting
	cancel context.CancelFunc
	// plugins is plugins.toml, read and checked before the bot was built.
	plugins *plugin.Config
}

// readPluginsConfig reads plugins.toml and checks what the rest of the
// settings ask of it.
func readPluginsConfig(cfg Config) (*plugin.Config, error) {
	pc, err := plugin.LoadConfig(cfg.PluginsFile)
	if err != nil {
		return nil, fmt.Errorf("read %s (set %s to use another file): %w", cfg.PluginsFile, EnvPlugins, err)
	}
	if mc := cfg.Memory; mc.EmbedPlugin != "" {
		if e, ok := pc.Plugins[mc.EmbedPlugin]; !ok || !slices.Contains(e.Capabilities, abi.CapEmbed) {
			return nil, fmt.Errorf("%s=%q must name a plugins.toml entry whose capabilities include %q", EnvEmbedPlugin, mc.EmbedPlugin, abi.CapEmbed)
		}
	}
	return pc, nil
}

func openBot(ctx context.Context, cfg Config, logger *slog.Logger, connect bool, discordOpts []discord.Option) (*earlyBot, error) {
	eb := &earlyBot{msgs: newMessageRelay(), events: newEventRelay(), cancel: func() {}}
	// plugins.toml first: a start refused for a mistake in it must not
	// have talked to Discord (New asks it where the gateway is).
	var err error
	if eb.plugins, err = readPluginsConfig(cfg); err != nil {
		return nil, err
	}
	if eb.bot, err = discord.New(cfg.DiscordToken, eb.msgs, discordOptions(cfg, logger, eb.events, discordOpts)...); err != nil {
		return nil, err
	}
	if cfg.Gateway && connect {
		var octx context.Context
		octx, eb.cancel = context.WithCancel(ctx)
		eb.opened = make(chan error, 1)
		go func() { eb.opened <- eb.bot.Open(octx) }()
	}
	return eb, nil
}

// connected waits for the gateway connection (nil when not connecting).
func (eb *earlyBot) connected() error {
	if eb.opened == nil {
		return nil
	}
	err := <-eb.opened
	eb.opened = nil
	return err
}

// abort stops the connection attempt and lets waiting events go (they are
// dropped); the caller then shuts the bot down.
func (eb *earlyBot) abort() {
	eb.msgs.set(nil)
	eb.events.set(nil)
	eb.cancel()
	if eb.opened != nil {
		<-eb.opened
		eb.opened = nil
	}
}

// startWith starts the host around eb, whose gateway may be connecting.
func startWith(ctx context.Context, cfg Config, v *vault.Vault, logger *slog.Logger, eb *earlyBot) (_ *App, err error) {
	a := &App{Config: cfg, Log: logger, Bot: eb.bot}
	msgs, events := eb.msgs, eb.events
	defer func() {
		if err != nil {
			eb.abort()
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			a.closeAll(cctx)
		}
	}()

	// The main pool, and a small one whose commits do not wait for the WAL
	// flush: rate-limit counters only. A PostgreSQL crash can lose their
	// last fraction of a second of increments, which only lets a few
	// requests through a limit; in exchange a limit check costs a round trip
	// instead of a disk flush.
	if a.pool, err = newPool(ctx, cfg.DatabaseURL, cfg.DBMaxConns, false); err != nil {
		return nil, err
	}
	if a.fastPool, err = newPool(ctx, cfg.DatabaseURL, defaultRateLimitConns, true); err != nil {
		return nil, err
	}
	a.schemaDB = stdlib.OpenDBFromPool(a.pool)

	cfg.Metrics.DatabasePools(map[string]*pgxpool.Pool{"main": a.pool, "ratelimit": a.fastPool})
	a.Store = store.New(a.pool, v, logger)
	// Users, personalities and sealed keys are cached in memory; every
	// change, by any process, drops its entries through LISTEN/NOTIFY
	// (docs/pipeline.md, Caches). Until the listener is connected the store
	// reads the database every time.
	// Presence (who has no memory content) is dropped the same way, by
	// the listener and by the store's own writes.
	a.presence = memory.NewPresence(cfg.CacheEntries)
	a.Store.AlsoTell(a.presence)
	a.Cache = cache.NewListener(a.pool.Config().ConnConfig, logger, a.Store.EnableCache(cfg.CacheEntries), a.presence)
	cctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopCache, a.cacheDone = stop, make(chan struct{})
	go func() {
		defer close(a.cacheDone)
		a.Cache.Run(cctx)
	}()
	a.Limiter = ratelimit.New(store.New(a.fastPool, nil, logger), cfg.Limits)

	pcfgPlugins := eb.plugins
	keys := &chat.KeySource{Own: a.Store, Fallback: cfg.Chat.Fallback}
	if a.Plugins, err = plugin.NewHost(ctx, plugin.Options{Config: pcfgPlugins, Keys: keys, Logger: logger, Metrics: cfg.Metrics}); err != nil {
		return nil, err
	}
	if cfg.Metrics != nil {
		cfg.Metrics.PluginPools(a.Plugins.PoolStats)
	}
	if err := a.startMemory(cfg, pcfgPlugins, logger); err != nil {
		return nil, err
	}

	if cfg.Role == RoleGateway {
		if a.Queue, err = queue.NewGateway(a.pool, cfg.Queue, logger); err != nil {
			return nil, err
		}
	}

	chatCfg := cfg.Chat
	chatCfg.BotUserID = a.Bot.ApplicationID()
	sender := a.Bot.NewSender(newWebhookStore(a.Store, chat.DefaultRetryPolicy(), logger))
	if a.Pipeline, err = chat.New(ctx, chat.Deps{
		Store: a.Store, Plugins: a.Plugins, Sender: sender, Reader: a.Bot.Reader(),
		Limiter: a.Limiter, Keys: keys, Logger: logger,
		Voice: chat.HostVoice{Host: a.Plugins}, Download: a.Bot.Download,
		// The agent loop: tools of plugins granted "tool", each personality's
		// grants from personality_tools (deny by default).
		Tools: &chat.PluginTools{Host: a.Plugins}, ToolGrants: a.Store,
		Images: a.Store, ImageGen: &chat.PluginImages{Host: a.Plugins},
		// Memories, knowledge, personas and examples in every reply; every
		// posted reply is told to memory formation.
		Memory: a.Memory, Exchanges: exchangeSink(a.Former),
		// Tools may make adult content only in age-restricted channels.
		Channels: a.Bot,
		// A gateway hands every triggered message to the workers.
		Dispatch: dispatcher(a.Queue),
		Metrics:  cfg.Metrics,
	}, chatCfg); err != nil {
		return nil, err
	}
	if cfg.Role == RoleWorker {
		if a.Queue, err = queue.NewWorker(a.pool, a.Pipeline, cfg.Queue, logger); err != nil {
			return nil, err
		}
	}

	fallback := cfg.Chat.Fallback
	if a.Commands, err = commands.New(commands.Deps{
		Store: a.Store, Plugins: a.Plugins, Aliases: a.Pipeline.Mentions(), ReloadPlugins: a.ReloadPlugins,
		RateLimits: a.Limiter, OwnerIDs: cfg.Commands.OwnerIDs, Logger: logger,
		// Voice samples are fetched by the bot's own CDN download, capped at
		// the sample limit (10 MB) rather than the message attachments' cap.
		Download: a.Bot.DownloadAtMost,
		KeyFallback: func(userID, guildID, slot string) bool {
			return fallback.Keys[slot] != "" && fallback.Allowed(userID, guildID)
		},
		Images: imageDeps(cfg.Images, a.Plugins, sender),
	}); err != nil {
		return nil, err
	}
	msgs.set(a.Pipeline)
	events.set(a.Commands.Router())

	if cfg.Role != RoleWorker {
		// Slash commands belong to the processes that receive them.
		if err := a.Commands.Register(a.Bot.Client(), cfg.Commands.DevGuildID); err != nil {
			return nil, err
		}
	}
	if cfg.InteractionsAddr != "" {
		if a.InteractionsAddr, err = a.Bot.ServeInteractions(cfg.InteractionsAddr, cfg.InteractionsPath); err != nil {
			return nil, err
		}
	}
	if err := eb.connected(); err != nil {
		return nil, err
	}
	if a.Queue != nil {
		if err := a.Queue.Start(ctx); err != nil {
			return nil, err
		}
	}
	// Ready for events. Plugins listed from the describe cache compile and
	// start now, in the background; a call that comes first waits for its
	// own plugin's compile (docs/operations.md, "Start-up").
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		began := time.Now()
		if err := a.Plugins.WarmUp(a.bg); err != nil {
			if a.bg.Err() == nil {
				logger.Error("plugins failed after start and are refused; `tzurot plugins list` says why", slog.Any("err", err))
			}
			return
		}
		logger.Info("plugins compiled and warm", slog.Duration("took", time.Since(began)))
	}()
	return a, nil
}

// discordOptions are the bot's options from cfg, then extra.
func discordOptions(cfg Config, logger *slog.Logger, events bot.EventListener, extra []discord.Option) []discord.Option {
	opts := []discord.Option{discord.WithLogger(logger), discord.WithWorkers(cfg.Workers), discord.WithInteractionListener(events),
		discord.WithMetrics(cfg.Metrics)}
	if cfg.PublicKey != "" {
		opts = append(opts, discord.WithHTTPInteractions(cfg.PublicKey))
	}
	if !cfg.Gateway {
		opts = append(opts, discord.WithoutGateway())
	}
	if cfg.ShardCount > 0 {
		opts = append(opts, discord.WithShards(cfg.ShardIDs, cfg.ShardCount))
	}
	if cfg.Role == RoleGateway {
		// Recorded in arrival order, so the workers answer in that order.
		opts = append(opts, discord.WithChannelOrder())
	}
	if cfg.DiscordRESTURL != "" {
		opts = append(opts, discord.WithRESTURL(cfg.DiscordRESTURL))
	}
	return append(opts, extra...)
}

// dispatcher is q as the pipeline's Dispatcher, or nil (answer in this
// process) when there is no queue: a nil *Queue must not become a non-nil
// interface.
func dispatcher(q *queue.Queue) chat.Dispatcher {
	if q == nil {
		return nil
	}
	return q
}

// startMemory builds memory retrieval with its upgrades: the embedding
// search and backfill when TZUROT_EMBED_PLUGIN names an entry granted
// llm.embed, and memory formation unless TZUROT_MEMORY_FORMATION is off.
// Their goroutines stop in Shutdown before the plugin host closes.
func (a *App) startMemory(cfg Config, plugins *plugin.Config, logger *slog.Logger) error {
	bg, cancel := context.WithCancel(context.Background())
	a.bg, a.stopBackground = bg, cancel
	mc := cfg.Memory
	var vs memory.VectorSearcher
	if mc.EmbedPlugin != "" {
		pc, ok := plugins.Plugins[mc.EmbedPlugin]
		if !ok || !slices.Contains(pc.Capabilities, abi.CapEmbed) {
			return fmt.Errorf("%s=%q must name a plugins.toml entry whose capabilities include %q", EnvEmbedPlugin, mc.EmbedPlugin, abi.CapEmbed)
		}
		a.Embeddings = embedding.New(a.pool, a.Plugins, a.Store, embedding.Config{
			Plugin: mc.EmbedPlugin, Model: mc.EmbedModel, Dimensions: mc.EmbedDimensions, PGVector: mc.EmbedPGVector}, logger)
		// PostgreSQL's vector extension when the server has it; whatever
		// happens (not installed, not permitted, dropped), start goes on
		// and search runs in the host.
		pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
		a.Embeddings.StartPGVector(pctx)
		pcancel()
		vs = a.Embeddings
		a.background.Add(1)
		go func() { defer a.background.Done(); a.Embeddings.Run(bg) }()
	}
	a.Memory = memory.New(a.pool, vs).WithPresence(a.presence)
	// The words most of a personality's memories share, left out of the
	// search (memory/commonwords.go), read from PostgreSQL's statistics.
	a.background.Add(1)
	go func() { defer a.background.Done(); a.Memory.RunCommonWords(bg, logger) }()
	if mc.Formation {
		fc := former.Config{Idle: mc.Idle, DefaultProvider: cfg.Chat.DefaultProvider, DefaultModel: cfg.Chat.DefaultModel,
			Fallback: cfg.Chat.Fallback}
		if a.Embeddings != nil {
			fc.Stored = a.Embeddings.Kick
		}
		a.Former = former.New(a.pool, a.Plugins, a.Store, a.Memory, fc, logger)
		a.background.Add(1)
		go func() { defer a.background.Done(); a.Former.Run(bg) }()
	}
	return nil
}

// exchangeSink is f as the pipeline's sink, nil (no interface holding a
// nil pointer) when formation is off.
func exchangeSink(f *former.Former) chat.ExchangeSink {
	if f == nil {
		return nil
	}
	return f
}

// newPool opens a pool on dsn. asyncCommit makes its commits not wait for
// the WAL flush (synchronous_commit=off).
func newPool(ctx context.Context, dsn string, maxConns int32, asyncCommit bool) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the input, which may hold a password.
		return nil, errors.New("DATABASE_URL is not a valid PostgreSQL connection string (value hidden)")
	}
	pcfg.MaxConns = maxConns
	if asyncCommit {
		pcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	return pool, nil
}

// ReloadPlugins re-reads plugins.toml and swaps the plugins in. Calls in
// flight finish on the old ones; if any enabled plugin is refused nothing
// changes and the error says why.
func (a *App) ReloadPlugins(ctx context.Context) error {
	cfg, err := plugin.LoadConfig(a.Config.PluginsFile)
	if err != nil {
		return fmt.Errorf("read %s: %w", a.Config.PluginsFile, err)
	}
	if err := a.Plugins.Reload(ctx, cfg); err != nil {
		return err
	}
	a.Log.Info("plugins.toml reloaded", slog.String("file", a.Config.PluginsFile))
	return nil
}

// Shutdown stops the host within ctx's deadline, in the order that loses
// nothing:
//
//  1. slash commands stop taking new interactions and finish the running
//     ones (they still need Discord's REST API);
//  2. a worker's job queue stops taking jobs and waits for the running
//     ones (cut off at the deadline, they go back to the queue);
//  3. the bot stops intake (HTTP endpoint, gateway), waits for the message
//     handlers (replies in progress are posted), stops typing indicators
//     and closes its REST client;
//  4. the pipeline writes the last usage rows and message ids;
//  5. the plugin host waits for calls and frees the compiled plugins;
//  6. the database pools close.
//
// Calling it twice is harmless.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() {
		a.shutdownErr = a.closeAll(ctx)
		if a.shutdownErr != nil {
			a.Log.Error("shutdown was not clean", slog.Any("err", a.shutdownErr))
		} else {
			a.Log.Info("shut down cleanly")
		}
	})
	return a.shutdownErr
}

// closeAll closes whatever was opened, in shutdown order (see Shutdown).
func (a *App) closeAll(ctx context.Context) error {
	var errs []error
	run := func(f func(context.Context) error) {
		if f != nil {
			if err := f(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if a.Commands != nil {
		run(a.Commands.Close)
	}
	if a.Queue != nil {
		// Running jobs finish (they still post through the bot); jobs cut
		// off at the deadline go back to the queue for another worker.
		run(a.Queue.Stop)
	}
	if a.Bot != nil {
		run(a.Bot.Shutdown)
	}
	if a.Pipeline != nil {
		run(a.Pipeline.Close)
	}
	// Background memory work stops before the plugins it calls.
	if a.stopBackground != nil {
		a.stopBackground()
		a.background.Wait()
	}
	if a.Plugins != nil {
		run(a.Plugins.Close)
	}
	if a.stopCache != nil {
		a.stopCache()
		<-a.cacheDone
	}
	if a.fastPool != nil {
		a.fastPool.Close()
	}
	if a.schemaDB != nil {
		_ = a.schemaDB.Close() // not the pool's connections: those close next
	}
	if a.pool != nil {
		a.pool.Close()
	}
	return errors.Join(errs...)
}

// imageDeps completes the image settings with the plugin host (which draws)
// and the sender (which posts as the personality). CallContext stays unset
// until the chat package exports its fallback-key policy for callers
// outside the pipeline: /imagine uses the caller's own key meanwhile.
func imageDeps(d commands.ImageDeps, h *plugin.Host, s *discord.Sender) commands.ImageDeps {
	d.Host, d.Poster = h, s
	return d
}
