// Package discord connects the host to Discord through disgo v0.19.6.
//
// A Bot receives messages (gateway mode) and interactions (gateway or HTTP-interactions mode),
// turns each message into a message.Message (the pipeline's own type) and hands it to a Handler on a worker goroutine, and
// a Sender posts replies as personalities through channel webhooks. Shutdown closes things in the
// only order that cannot hang: stop intake (gateway, HTTP endpoint), drain the handlers, then
// close the REST client with a deadline. disgo's own REST rate limiter hangs in Close and races
// under concurrent requests, so the bot installs its own (ratelimit.go). See docs/discord.md.
package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/disgoorg/disgo"
	"github.com/disgoorg/disgo/bot"
	"github.com/disgoorg/disgo/cache"
	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/events"
	"github.com/disgoorg/disgo/gateway"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/disgo/sharding"
	"github.com/disgoorg/snowflake/v2"

	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/metrics"
)

// Intents the bot identifies with: guild list and channels (thread parents), guild and DM
// messages, and the privileged message content intent (enable it in the developer portal).
const Intents = gateway.IntentGuilds | gateway.IntentGuildMessages | gateway.IntentDirectMessages |
	gateway.IntentMessageContent

// Compression is the gateway transport compression.
type Compression string

// Gateway compression choices. ZstdStream is disgo's default and the cheapest on bandwidth.
const (
	CompressionZstdStream Compression = "zstd-stream"
	CompressionZlibStream Compression = "zlib-stream"
	CompressionNone       Compression = "none"
)

// Defaults for New.
const (
	DefaultWorkers      = 32
	DefaultMaxPending   = 1000
	DefaultReplayWindow = 5 * time.Minute
	// restCloseTimeout bounds disgo's REST Close at the end of Shutdown.
	restCloseTimeout = 2 * time.Second
)

type config struct {
	restURL        string
	gatewayURL     string
	compression    Compression
	logger         *slog.Logger
	httpClient     *http.Client
	metrics        *metrics.Metrics
	workers        int
	maxPending     int
	interactions   bot.EventListener
	publicKey      string
	replayWindow   time.Duration
	noGateway      bool
	downloadHosts  []string
	maxDownload    int64
	maxUpload      int64
	now            func() time.Time
	typingInterval time.Duration
	sendRetry      SendRetry
	channelOrder   bool
	shardIDs       []int
	shardCount     int
	live           LiveEdits
}

// Option configures New.
type Option func(*config)

// WithRESTURL points REST at another base URL (a fake Discord in tests), e.g.
// "http://127.0.0.1:1234/api/v10". Empty means Discord.
func WithRESTURL(url string) Option {
	return func(c *config) { c.restURL = strings.TrimSuffix(url, "/") }
}

// WithGatewayURL overrides the websocket URL that GET /gateway returns.
func WithGatewayURL(url string) Option { return func(c *config) { c.gatewayURL = url } }

// WithCompression sets the gateway compression (default zstd-stream).
func WithCompression(comp Compression) Option { return func(c *config) { c.compression = comp } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithHTTPClient sets the HTTP client for REST calls and attachment downloads.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithMetrics counts REST calls and 429s (downloads from the CDN are not
// counted).
func WithMetrics(m *metrics.Metrics) Option { return func(c *config) { c.metrics = m } }

// WithWorkers caps how many handlers run at once (default 32).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithMaxPending caps how many events may wait for a worker before new ones are dropped
// (default 1000).
func WithMaxPending(n int) Option { return func(c *config) { c.maxPending = n } }

// WithInteractionListener receives interactions (slash commands, autocomplete, modals), for
// example a disgo handler.Mux. It runs on a worker like message handlers, in both modes.
func WithInteractionListener(l bot.EventListener) Option {
	return func(c *config) { c.interactions = l }
}

// WithHTTPInteractions enables the HTTP-interactions endpoint, verified with the application's
// public key (hex, from the developer portal). Serve it with ServeInteractions or mount
// InteractionsHandler.
func WithHTTPInteractions(publicKeyHex string) Option {
	return func(c *config) { c.publicKey = publicKeyHex }
}

// WithReplayWindow sets how old an interaction's X-Signature-Timestamp may be (default 5 minutes).
func WithReplayWindow(d time.Duration) Option { return func(c *config) { c.replayWindow = d } }

// WithoutGateway builds a bot that only serves HTTP interactions: no GET /gateway at start and no
// websocket. Messages are not received in this mode.
func WithoutGateway() Option { return func(c *config) { c.noGateway = true } }

// WithSendRetry bounds how a personality's post is retried when Discord fails transiently
// (default DefaultSendRetry).
func WithSendRetry(r SendRetry) Option { return func(c *config) { c.sendRetry = r } }

// WithLiveEdits sets how live replies pace their edits (see LiveEdits; default DefaultLiveEdits).
func WithLiveEdits(l LiveEdits) Option { return func(c *config) { c.live = l } }

// WithDownloadHosts sets the hosts Download may fetch from (default Discord's CDN hosts).
func WithDownloadHosts(hosts ...string) Option { return func(c *config) { c.downloadHosts = hosts } }

// WithMaxDownload caps attachment downloads in bytes (default 8 MiB, Discord's upload limit for
// bots without boosts).
func WithMaxDownload(n int64) Option { return func(c *config) { c.maxDownload = n } }

// WithMaxUpload sets the largest file the bot attaches to a message (default DefaultMaxUpload,
// Discord's limit for servers without boosts). A larger file is replaced by its notice.
func WithMaxUpload(n int64) Option { return func(c *config) { c.maxUpload = n } }

// WithShards connects only the given shards of shardCount (disgo's shard manager), so several
// gateway processes can share the bot's guilds: Discord sends each guild's events to shard
// (guild_id >> 22) % shardCount. Without it the bot connects one unsharded session. Discord
// requires sharding past 2,500 guilds.
func WithShards(ids []int, shardCount int) Option {
	return func(c *config) { c.shardIDs, c.shardCount = slices.Clone(ids), shardCount }
}

// WithChannelOrder hands a channel's messages to the handler one after another, in the order
// the gateway delivered them (messages of different channels still run side by side). A gateway
// process that queues replies for workers needs it: the queue orders a channel's replies by the
// order the messages were recorded, so they must be recorded in the order they arrived. A single
// process does not (it would serialise a busy channel's replies).
func WithChannelOrder() Option { return func(c *config) { c.channelOrder = true } }

// WithTypingInterval sets how often SendTyping renews the indicator (default 8 s; Discord shows
// it for about 10 s).
func WithTypingInterval(d time.Duration) Option { return func(c *config) { c.typingInterval = d } }

// Bot is a connection to Discord. Create it with New, start it with Open (gateway) and/or
// ServeInteractions (HTTP), stop it with Shutdown.
type Bot struct {
	client      *bot.Client
	cfg         config
	log         *slog.Logger
	redact      redactor
	handler     Handler
	pool        *pool
	ctx         context.Context // cancelled when shutdown gives up on handlers
	cancel      context.CancelFunc
	interaction http.Handler // nil unless WithHTTPInteractions

	// order chains each channel's message handlers (WithChannelOrder): the
	// channel's last submitted handler closes its channel when done.
	orderMu sync.Mutex
	order   map[string]chan struct{}

	mu       sync.Mutex
	httpSrv  *http.Server
	renewers sync.WaitGroup // typing renewers, stopped before REST closes
	shutdown bool
	closed   chan struct{}
}

// New builds a bot for token. In gateway mode (the default) it asks Discord (GET /gateway) where
// to connect, so it needs the REST URL to be reachable.
func New(token string, h Handler, opts ...Option) (*Bot, error) {
	token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(token), "Bot "))
	if token == "" {
		return nil, errors.New("discord: the bot token is empty; copy it from the Bot page of the Discord developer portal")
	}
	if h == nil {
		return nil, errors.New("discord: a message handler is required")
	}
	cfg := config{
		compression:    CompressionZstdStream,
		logger:         slog.Default(),
		workers:        DefaultWorkers,
		maxPending:     DefaultMaxPending,
		replayWindow:   DefaultReplayWindow,
		downloadHosts:  []string{"cdn.discordapp.com", "media.discordapp.net"},
		maxDownload:    8 << 20,
		maxUpload:      DefaultMaxUpload,
		now:            time.Now,
		typingInterval: 8 * time.Second,
		sendRetry:      DefaultSendRetry(),
		live:           DefaultLiveEdits(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.workers < 1 || cfg.maxPending < 1 {
		return nil, fmt.Errorf("discord: workers (%d) and max pending events (%d) must be at least 1", cfg.workers, cfg.maxPending)
	}
	if cfg.httpClient == nil {
		cfg.httpClient = &http.Client{Timeout: 30 * time.Second, Transport: restTransport(cfg.workers)}
	}

	b := &Bot{cfg: cfg, log: cfg.logger, redact: redactor{botToken: token}, handler: h, closed: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.pool = newPool(b.ctx, b.log, cfg.workers, cfg.maxPending)

	// disgo logs request URLs (webhook tokens), bodies and IDENTIFY (the bot token) at debug.
	disgoLog := slog.New(redactingHandler{next: cfg.logger.Handler(), r: b.redact})
	restClient := cfg.httpClient
	if cfg.metrics != nil {
		c := *restClient
		c.Transport = cfg.metrics.Transport(c.Transport)
		restClient = &c
	}
	restOpts := []rest.ClientConfigOpt{rest.WithHTTPClient(restClient), rest.WithRateLimiter(newRateLimiter(disgoLog))}
	if cfg.restURL != "" {
		restOpts = append(restOpts, rest.WithURL(cfg.restURL))
	}
	opts2 := []bot.ConfigOpt{
		bot.WithLogger(disgoLog),
		bot.WithRestClientConfigOpts(restOpts...),
		// disgo's default pings everyone, roles and users (see mentions.go).
		bot.WithRestConfigOpts(rest.WithDefaultAllowedMentions(noMentions())),
		bot.WithEventListeners(b),
		bot.WithCacheConfigOpts(cache.WithCaches(cache.FlagGuilds, cache.FlagChannels)),
	}
	if !cfg.noGateway {
		gwOpts := []gateway.ConfigOpt{gateway.WithIntents(Intents), gateway.WithCompression(gatewayCompression(cfg.compression))}
		if cfg.gatewayURL != "" {
			gwOpts = append(gwOpts, gateway.WithURL(cfg.gatewayURL))
		}
		if cfg.shardCount > 0 {
			for _, id := range cfg.shardIDs {
				if id < 0 || id >= cfg.shardCount {
					b.cancel()
					return nil, fmt.Errorf("discord: shard %d is not one of the %d shards (0 to %d)", id, cfg.shardCount, cfg.shardCount-1)
				}
			}
			opts2 = append(opts2, bot.WithShardManagerConfigOpts(sharding.WithShardIDs(cfg.shardIDs...),
				sharding.WithShardCount(cfg.shardCount), sharding.WithAutoScaling(false),
				sharding.WithLogger(disgoLog), sharding.WithGatewayConfigOpts(gwOpts...)))
		} else {
			opts2 = append(opts2, bot.WithGatewayConfigOpts(gwOpts...))
		}
	}
	client, err := disgo.New(token, opts2...)
	if err != nil {
		b.cancel()
		return nil, fmt.Errorf("discord: start client (check the bot token and that Discord is reachable): %w", b.redact.Error(err))
	}
	b.client = client

	if cfg.publicKey != "" {
		ih, err := newInteractionEndpoint(cfg.publicKey, cfg.replayWindow, cfg.now, disgoLog, withDefaultMentions(client.EventManager.HandleHTTPEvent))
		if err != nil {
			b.cancel()
			return nil, err
		}
		b.interaction = ih
	}
	return b, nil
}

func gatewayCompression(c Compression) gateway.CompressionType {
	switch c {
	case CompressionNone:
		return gateway.CompressionNone
	case CompressionZlibStream:
		return gateway.CompressionZlibStream
	}
	return gateway.CompressionZstdStream
}

// Client exposes the disgo client for code that registers commands or needs a REST call this
// package does not wrap. Do not close it; call Shutdown.
func (b *Bot) Client() *bot.Client { return b.client }

// ApplicationID is the bot's application id (also its user id).
func (b *Bot) ApplicationID() string { return b.client.ApplicationID.String() }

// GatewayReady reports whether the gateway connection is up (READY
// received and not since lost).
func (b *Bot) GatewayReady() bool {
	if b.client.ShardManager != nil {
		n := 0
		for sh := range b.client.ShardManager.Shards() {
			if sh.Status() != gateway.StatusReady {
				return false
			}
			n++
		}
		return n > 0
	}
	return b.client.Gateway != nil && b.client.Gateway.Status() == gateway.StatusReady
}

// Open connects the gateway and returns once Discord has sent READY.
func (b *Bot) Open(ctx context.Context) error {
	if b.cfg.noGateway {
		return errors.New("discord: this bot was built without a gateway (HTTP interactions only)")
	}
	if b.client.ShardManager != nil {
		// Opens every shard of this process (one IDENTIFY each, paced by disgo's identify
		// limiter) and returns without waiting for READY.
		if err := b.client.OpenShardManager(ctx); err != nil {
			return fmt.Errorf("discord: connect the shards: %w", b.redact.Error(err))
		}
		b.log.Info("connecting Discord shards", slog.String("application_id", b.ApplicationID()),
			slog.Any("shards", b.cfg.shardIDs), slog.Int("shard_count", b.cfg.shardCount))
		return nil
	}
	if err := b.client.OpenGateway(ctx); err != nil {
		return fmt.Errorf("discord: connect to the gateway: %w", b.redact.Error(err))
	}
	b.log.Info("connected to the Discord gateway", slog.String("application_id", b.ApplicationID()))
	return nil
}

// OnEvent implements bot.EventListener. It runs on disgo's gateway read loop (or the HTTP
// handler's goroutine), so it only copies what it needs and hands the work to the pool.
func (b *Bot) OnEvent(e bot.Event) {
	switch ev := e.(type) {
	case *events.MessageCreate:
		msg, guildID := ev.Message, ev.GuildID
		if !b.cfg.channelOrder {
			b.pool.submit("message", func(ctx context.Context) {
				b.handler.HandleMessage(ctx, b.convert(ctx, msg, guildID))
			})
			return
		}
		// On the read loop, so in the order Discord delivered them.
		ch := msg.ChannelID.String()
		mine := make(chan struct{})
		b.orderMu.Lock()
		if b.order == nil {
			b.order = map[string]chan struct{}{}
		}
		prev := b.order[ch]
		b.order[ch] = mine
		b.orderMu.Unlock()
		done := func() {
			close(mine)
			b.orderMu.Lock()
			if b.order[ch] == mine {
				delete(b.order, ch)
			}
			b.orderMu.Unlock()
		}
		if !b.pool.submitAfter("message", prev, func(ctx context.Context) {
			defer done()
			b.handler.HandleMessage(ctx, b.convert(ctx, msg, guildID))
		}) {
			done()
		}
	case *events.InteractionCreate:
		if b.cfg.interactions == nil {
			return
		}
		b.pool.submit("interaction", func(context.Context) { b.cfg.interactions.OnEvent(ev) })
	}
}

// convert builds the project's view of a message. It may call REST (thread parent, replied-to
// message) and so runs on a worker.
func (b *Bot) convert(ctx context.Context, m discord.Message, guildID *snowflake.ID) message.Message {
	in := message.Message{
		ID:        m.ID.String(),
		ChannelID: m.ChannelID.String(),
		Author:    userOf(m.Author, m.Member),
		Content:   m.Content,
		CreatedAt: m.CreatedAt,
	}
	if guildID != nil {
		in.GuildID = guildID.String()
		in.ThreadParentID = b.threadParent(ctx, m.ChannelID)
	}
	if m.WebhookID != nil {
		in.WebhookID = m.WebhookID.String()
	}
	for _, a := range m.Attachments {
		in.Attachments = append(in.Attachments, AttachmentFrom(a))
	}
	in.VoiceMessage = m.Flags.Has(discord.MessageFlagIsVoiceMessage)
	for _, u := range m.Mentions {
		in.Mentions = append(in.Mentions, userOf(u, nil))
	}
	if ref := m.MessageReference; ref != nil && ref.MessageID != nil && ref.Type == discord.MessageReferenceTypeDefault {
		in.Reference = b.referenced(ctx, m, *ref)
	}
	return in
}

func userOf(u discord.User, member *discord.Member) message.Author {
	out := message.Author{ID: u.ID.String(), Username: u.Username, DisplayName: u.Username, Bot: u.Bot || u.System}
	if u.GlobalName != nil && *u.GlobalName != "" {
		out.DisplayName = *u.GlobalName
	}
	if member != nil && member.Nick != nil && *member.Nick != "" {
		out.DisplayName = *member.Nick
	}
	return out
}

// threadParent returns the parent of a thread channel, or "" for other channels. The channel
// cache (filled by GUILD_CREATE and thread events) answers most lookups; otherwise one REST call,
// whose answer is cached.
func (b *Bot) threadParent(ctx context.Context, channelID snowflake.ID) string {
	ch, ok := b.client.Caches.Channel(channelID)
	if !ok {
		got, err := b.client.Rest.GetChannel(channelID, rest.WithCtx(ctx))
		if err != nil {
			b.log.Warn("cannot look up the message's channel; treating it as not a thread",
				slog.String("channel_id", channelID.String()), slog.Any("err", b.redact.Error(err)))
			return ""
		}
		gc, isGuild := got.(discord.GuildChannel)
		if !isGuild {
			return ""
		}
		b.client.Caches.AddChannel(gc)
		ch = gc
	}
	if th, ok := ch.(discord.GuildThread); ok && th.ParentID() != nil {
		return th.ParentID().String()
	}
	return ""
}

// referenced describes the message m replies to. Discord usually includes it; when it does not,
// one REST call fetches it, and if the bot cannot read it (deleted, or no access) only its id is
// known.
func (b *Bot) referenced(ctx context.Context, m discord.Message, ref discord.MessageReference) *message.Reference {
	channelID := m.ChannelID
	if ref.ChannelID != nil {
		channelID = *ref.ChannelID
	}
	out := &message.Reference{ID: ref.MessageID.String(), ChannelID: channelID.String()}
	rm := m.ReferencedMessage
	if rm == nil {
		got, err := b.client.Rest.GetMessage(channelID, *ref.MessageID, rest.WithCtx(ctx))
		if err != nil {
			b.log.Debug("cannot read the replied-to message", slog.String("message_id", out.ID),
				slog.Any("err", b.redact.Error(err)))
			return out
		}
		rm = got
	}
	out.Author = userOf(rm.Author, rm.Member)
	out.Content = rm.Content
	if rm.WebhookID != nil {
		out.WebhookID = rm.WebhookID.String()
	}
	return out
}

// ServeInteractions listens on addr (e.g. ":8080") and serves the HTTP-interactions endpoint at
// path (e.g. "/interactions"). It returns the bound address once listening.
func (b *Bot) ServeInteractions(addr, path string) (net.Addr, error) {
	if b.interaction == nil {
		return nil, errors.New("discord: HTTP interactions are not enabled (WithHTTPInteractions)")
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " {}") {
		return nil, fmt.Errorf("discord: the interactions path %q must start with / and hold no spaces or braces", path)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shutdown {
		return nil, errors.New("discord: the bot is shutting down")
	}
	if b.httpSrv != nil {
		return nil, errors.New("discord: the interactions endpoint is already being served")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("discord: listen for interactions on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+path, b.interaction)
	b.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	srv := b.httpSrv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("interactions endpoint stopped", slog.Any("err", err))
		}
	}()
	b.log.Info("serving Discord HTTP interactions", slog.String("addr", ln.Addr().String()), slog.String("path", path))
	return ln.Addr(), nil
}

// InteractionsHandler returns the verified, replay-protected HTTP-interactions handler, to mount
// on a server of your own (nil unless WithHTTPInteractions).
func (b *Bot) InteractionsHandler() http.Handler { return b.interaction }

// Shutdown stops the bot within ctx's deadline, in this order:
//
//  1. stop intake: close the interactions endpoint and the gateway, refuse new events;
//  2. drain: wait for running handlers until ctx is done, then cancel their context;
//  3. stop typing renewers;
//  4. close disgo's client (REST) with a short deadline of its own.
//
// REST closes last because draining handlers still post their replies. (With disgo's default
// rate limiter, closing REST under an in-flight request would also hang forever; ours fails fast,
// but the order stays.) Shutdown reports handlers it had to abandon. Calling it twice is harmless.
func (b *Bot) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.shutdown {
		b.mu.Unlock()
		<-b.closed
		return nil
	}
	b.shutdown = true
	srv := b.httpSrv
	b.mu.Unlock()
	defer close(b.closed)

	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			b.log.Warn("interactions endpoint did not stop cleanly", slog.Any("err", err))
			_ = srv.Close()
		}
	}
	if b.client.Gateway != nil {
		b.client.Gateway.Close(ctx)
	}
	if b.client.ShardManager != nil {
		b.client.ShardManager.Close(ctx)
	}
	b.pool.close()

	var errs []error
	if n := b.pool.wait(ctx); n > 0 {
		errs = append(errs, fmt.Errorf("discord: %d event handlers were still running at the shutdown deadline and were cancelled", n))
		b.cancel()
		// Give cancelled handlers a moment to unwind before REST closes under them.
		grace, stop := context.WithTimeout(context.Background(), restCloseTimeout)
		b.pool.wait(grace)
		stop()
	}
	b.cancel() // stops typing renewers
	b.renewers.Wait()

	closeCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), restCloseTimeout)
	defer stop()
	b.client.Close(closeCtx)
	b.log.Info("disconnected from Discord")
	return errors.Join(errs...)
}

// restTransport is the REST client's transport: keep-alive, HTTP/2 where
// Discord offers it (over TLS), and as many idle connections kept per host
// as there are workers that may call Discord at once. Go's default keeps
// two: under load every other call opened a new connection and closed it
// again (thousands of sockets in TIME_WAIT after a few thousand replies,
// and a TLS handshake each time against the real API).
func restTransport(workers int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = true
	t.MaxIdleConnsPerHost = max(workers, 2)
	t.MaxIdleConns = max(2*workers, 100)
	t.IdleConnTimeout = 90 * time.Second
	return t
}
