// Package app wires the host together for `tzurot serve` and `tzurot bench`:
// configuration from the environment, the logger, migrations, the database
// pools, the vault, the store, the plugin host, the Discord bot, the chat
// pipeline and the slash commands; SIGHUP reloads plugins.toml; shutdown
// stops everything in an order that loses no reply.
package app

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/commands"
	"github.com/tzurot-go/tzurot/host/internal/config"
	"github.com/tzurot-go/tzurot/host/internal/embedding"
	"github.com/tzurot-go/tzurot/host/internal/metrics"
	"github.com/tzurot-go/tzurot/host/internal/queue"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
)

// Environment variables read by ConfigFromEnv (the vault reads
// APP_MASTER_KEY and APP_MASTER_KEY_PREVIOUS itself, the logger LOG_LEVEL,
// LOG_FORMAT and NO_COLOR, the commands TZUROT_OWNER_IDS and
// TZUROT_DEV_GUILD_ID, the rate limiter TZUROT_RATE_*, the fallback policy
// TZUROT_FALLBACK_*, the agent loop TZUROT_TOOLS and TZUROT_TOOL_*). docs/pipeline.md lists them all.
const (
	EnvDiscordToken       = "DISCORD_TOKEN"
	EnvDiscordPublicKey   = "DISCORD_PUBLIC_KEY"
	EnvPlugins            = "TZUROT_PLUGINS"
	EnvGateway            = "TZUROT_GATEWAY"
	EnvInteractionsAddr   = "TZUROT_INTERACTIONS_ADDR"
	EnvInteractionsPath   = "TZUROT_INTERACTIONS_PATH"
	EnvDefaultProvider    = "TZUROT_DEFAULT_PROVIDER"
	EnvDefaultModel       = "TZUROT_DEFAULT_MODEL"
	EnvHistoryMessages    = "TZUROT_HISTORY_MESSAGES"
	EnvContextTokens      = "TZUROT_CONTEXT_TOKENS"
	EnvReplyTimeout       = "TZUROT_REPLY_TIMEOUT"
	EnvMaxPersonalities   = "TZUROT_MAX_PERSONALITIES"
	EnvWorkers            = "TZUROT_WORKERS"
	EnvDBMaxConns         = "TZUROT_DB_MAX_CONNS"
	EnvShutdownTimeout    = "TZUROT_SHUTDOWN_TIMEOUT"
	EnvMentionPoll        = "TZUROT_MENTION_POLL"
	EnvStreamReplies      = "TZUROT_STREAM_REPLIES"
	EnvSpeechTimeout      = "TZUROT_SPEECH_TIMEOUT"
	EnvTranscribePlugin   = "TZUROT_TRANSCRIBE_PLUGIN"
	EnvRole               = "TZUROT_ROLE"
	EnvShards             = "TZUROT_SHARDS"
	EnvShardCount         = "TZUROT_SHARD_COUNT"
	EnvDiscordRESTURL     = "TZUROT_DISCORD_REST_URL"
	EnvJobTimeout         = "TZUROT_JOB_TIMEOUT"
	EnvJobRescue          = "TZUROT_JOB_RESCUE_AFTER"
	EnvJobAttempts        = "TZUROT_JOB_ATTEMPTS"
	EnvJobWorkers         = "TZUROT_JOB_WORKERS"
	EnvMetricsAddr        = "TZUROT_METRICS_ADDR"
	EnvEmbedPlugin        = "TZUROT_EMBED_PLUGIN"
	EnvEmbedModel         = "TZUROT_EMBED_MODEL"
	EnvEmbedDimensions    = "TZUROT_EMBED_DIMENSIONS"
	EnvEmbedPGVector      = "TZUROT_EMBED_PGVECTOR"
	EnvMemoryIdle         = "TZUROT_MEMORY_IDLE"
	EnvMemoryFormation    = "TZUROT_MEMORY_FORMATION"
	DefaultPluginsFile    = "plugins.toml"
	DefaultInteractions   = "/interactions"
	DefaultShutdown       = 30 * time.Second
	DefaultWorkers        = 64
	DefaultDBMaxConns     = 16
	defaultRateLimitConns = 4
)

// Role is what a serve process does (docs/scaling.md).
type Role string

// The roles. RoleAll is one process doing everything, with no job queue: the default.
const (
	RoleAll     Role = "all"
	RoleGateway Role = "gateway"
	RoleWorker  Role = "worker"
)

// ParseRole checks a --role / TZUROT_ROLE value ("" is RoleAll).
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case "":
		return RoleAll, nil
	case RoleAll, RoleGateway, RoleWorker:
		return r, nil
	}
	return "", fmt.Errorf("role %q is not one of all, gateway, worker (all: one process does everything; gateway: holds the Discord connection and queues replies; worker: writes and posts the queued replies)", s)
}

// Config is everything serve needs from the environment, parsed and checked.
// Secrets in it (the bot token, fallback keys) must never be logged.
type Config struct {
	DiscordToken string
	DatabaseURL  string
	PluginsFile  string
	// Gateway connects to Discord's gateway (messages, and interactions
	// unless the HTTP endpoint takes them). Off runs commands over HTTP only.
	Gateway bool
	// InteractionsAddr, when set, serves Discord's HTTP interactions there
	// (with PublicKey), at InteractionsPath.
	InteractionsAddr string
	InteractionsPath string
	PublicKey        string
	// Workers bounds the Discord events handled at once.
	Workers int
	// DBMaxConns bounds the main database pool.
	DBMaxConns int32
	// CacheEntries bounds each of the store's in-memory caches (0:
	// store.DefaultCacheEntries).
	CacheEntries    int
	ShutdownTimeout time.Duration
	// MetricsAddr, when set, serves /metrics, /healthz and /readyz there
	// (docs/operations.md).
	MetricsAddr string
	// Metrics is not read from the environment: Serve makes it when
	// MetricsAddr is set; nil counts nothing.
	Metrics *metrics.Metrics

	// DiscordRESTURL replaces Discord's REST base URL (a proxy, or a fake
	// Discord in tests that run the real binary). Empty means Discord.
	DiscordRESTURL string
	// Role is all (one process), gateway or worker (TZUROT_ROLE, serve --role).
	Role Role
	// ShardIDs and ShardCount, when ShardCount > 0, connect only those shards
	// (TZUROT_SHARDS, TZUROT_SHARD_COUNT; serve --shards, --shard-count).
	ShardIDs   []int
	ShardCount int
	// Queue tunes the reply jobs of the gateway and worker roles.
	Queue queue.Config

	Chat     chat.Config
	Limits   ratelimit.Settings
	Commands commands.Settings
	// Images is TZUROT_IMAGE_PLUGIN and TZUROT_IMAGES (docs/images.md);
	// start fills in the plugin host and the sender.
	Images commands.ImageDeps
	// Memory is the embedding and formation setup (docs/pipeline.md,
	// "Memory embeddings" and "Forming memories").
	Memory MemoryConfig
}

// MemoryConfig is TZUROT_EMBED_* and TZUROT_MEMORY_*.
type MemoryConfig struct {
	// EmbedPlugin is the plugins.toml entry granted llm.embed that embeds
	// memories; "" leaves memory search full text only.
	EmbedPlugin     string
	EmbedModel      string
	EmbedDimensions int
	// EmbedPGVector is embedding.PGVectorAuto (search in PostgreSQL when
	// its vector extension is there) or embedding.PGVectorOff.
	EmbedPGVector string
	// Formation forms memories from conversations (default on; each
	// personality and user can still turn it off).
	Formation bool
	// Idle is how long a conversation is quiet before it is summarised.
	Idle time.Duration
}

// ConfigFromEnv reads and checks the configuration. environ is os.Environ
// (for TZUROT_FALLBACK_KEY_<SLOT>); observe is told every secret found, so
// the log redactor masks it. Every error names the variable and says what
// would be right.
func ConfigFromEnv(getenv func(string) string, environ []string, observe func(string)) (Config, error) {
	c := Config{
		PluginsFile:      DefaultPluginsFile,
		Gateway:          true,
		InteractionsPath: DefaultInteractions,
		Workers:          DefaultWorkers,
		DBMaxConns:       DefaultDBMaxConns,
		ShutdownTimeout:  DefaultShutdown,
	}
	c.DiscordToken = strings.TrimSpace(getenv(EnvDiscordToken))
	if c.DiscordToken == "" {
		return Config{}, ErrNoDiscordToken
	}
	if observe != nil {
		observe(c.DiscordToken)
	}
	dsn, err := config.DatabaseURL(getenv)
	if err != nil {
		return Config{}, err
	}
	c.DatabaseURL = dsn
	if p := strings.TrimSpace(getenv(EnvPlugins)); p != "" {
		c.PluginsFile = p
	}
	if c.Gateway, err = parseBool(getenv, EnvGateway, true); err != nil {
		return Config{}, err
	}
	c.InteractionsAddr = strings.TrimSpace(getenv(EnvInteractionsAddr))
	if u := strings.TrimSpace(getenv(EnvDiscordRESTURL)); u != "" {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return Config{}, fmt.Errorf("%s=%q must be an http(s) URL such as https://discord.com/api/v10", EnvDiscordRESTURL, u)
		}
		c.DiscordRESTURL = u
	}
	c.MetricsAddr = strings.TrimSpace(getenv(EnvMetricsAddr))
	c.PublicKey = strings.TrimSpace(getenv(EnvDiscordPublicKey))
	if p := strings.TrimSpace(getenv(EnvInteractionsPath)); p != "" {
		if !strings.HasPrefix(p, "/") {
			return Config{}, fmt.Errorf("%s=%q must start with /", EnvInteractionsPath, p)
		}
		c.InteractionsPath = p
	}
	if c.InteractionsAddr != "" && c.PublicKey == "" {
		return Config{}, fmt.Errorf("%s is set but %s is not: copy the Public Key from the General Information page of your application", EnvInteractionsAddr, EnvDiscordPublicKey)
	}
	if c.Role, err = ParseRole(getenv(EnvRole)); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvRole, err)
	}
	if c.ShardIDs, c.ShardCount, err = parseShards(getenv(EnvShards), getenv(EnvShardCount)); err != nil {
		return Config{}, err
	}
	if c.Role == RoleWorker {
		// A worker holds no Discord connection: it runs queued replies and
		// posts them over REST (webhooks).
		c.Gateway, c.InteractionsAddr = false, ""
	}
	if !c.Gateway && c.InteractionsAddr == "" && c.Role != RoleWorker {
		return Config{}, fmt.Errorf("%s=off leaves the bot deaf: set %s (and %s) to take commands over HTTP, or turn the gateway on", EnvGateway, EnvInteractionsAddr, EnvDiscordPublicKey)
	}

	ints := []struct {
		name    string
		dst     *int
		min     int
		meaning string
	}{
		{EnvHistoryMessages, &c.Chat.HistoryMessages, 0, "recent channel messages in a reply's context (0 for none)"},
		{EnvContextTokens, &c.Chat.ContextTokens, 256, "the token budget of a reply's context"},
		{EnvMaxPersonalities, &c.Chat.MaxPersonalities, 1, "personalities answering one message"},
		{EnvWorkers, &c.Workers, 1, "Discord events handled at once"},
		{EnvJobAttempts, &c.Queue.MaxAttempts, 1, "how often a failing reply job is tried"},
		{EnvJobWorkers, &c.Queue.Workers, 1, "reply jobs one worker process runs at once"},
	}
	for _, f := range ints {
		raw := strings.TrimSpace(getenv(f.name))
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < f.min {
			return Config{}, fmt.Errorf("%s=%q must be a whole number of at least %d (%s)", f.name, raw, f.min, f.meaning)
		}
		*f.dst = n
	}
	if raw := strings.TrimSpace(getenv(EnvDBMaxConns)); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 2 || n > 1000 {
			return Config{}, fmt.Errorf("%s=%q must be a whole number from 2 to 1000 (connections to PostgreSQL)", EnvDBMaxConns, raw)
		}
		c.DBMaxConns = int32(n)
	}
	durations := []struct {
		name string
		dst  *time.Duration
		min  time.Duration
	}{
		{EnvReplyTimeout, &c.Chat.ReplyTimeout, time.Second},
		{EnvShutdownTimeout, &c.ShutdownTimeout, time.Second},
		{EnvMentionPoll, &c.Chat.MentionPoll, time.Second},
		{EnvSpeechTimeout, &c.Chat.SpeechTimeout, time.Second},
		{EnvJobTimeout, &c.Queue.JobTimeout, time.Second},
		{EnvJobRescue, &c.Queue.RescueAfter, time.Second},
		{EnvMemoryIdle, &c.Memory.Idle, time.Second},
	}
	for _, f := range durations {
		raw := strings.TrimSpace(getenv(f.name))
		if raw == "" {
			continue
		}
		if f.name == EnvMentionPoll && (raw == "0" || raw == "off") {
			*f.dst = -1
			continue
		}
		d, err := time.ParseDuration(raw)
		if err != nil || d < f.min {
			return Config{}, fmt.Errorf("%s=%q must be a duration of at least %s, for example 90s or 2m", f.name, raw, f.min)
		}
		*f.dst = d
	}
	if c.Chat.Stream, err = parseBool(getenv, EnvStreamReplies, false); err != nil {
		return Config{}, err
	}
	c.Chat.DefaultProvider = strings.TrimSpace(getenv(EnvDefaultProvider))
	c.Chat.DefaultModel = strings.TrimSpace(getenv(EnvDefaultModel))
	c.Chat.TranscribePlugin = strings.TrimSpace(getenv(EnvTranscribePlugin))
	c.Memory.EmbedPlugin = strings.TrimSpace(getenv(EnvEmbedPlugin))
	c.Memory.EmbedModel = strings.TrimSpace(getenv(EnvEmbedModel))
	if raw := strings.TrimSpace(getenv(EnvEmbedDimensions)); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 8192 {
			return Config{}, fmt.Errorf("%s=%q must be a whole number from 1 to 8192 (the length of the vectors asked for; leave it unset for the model's own)", EnvEmbedDimensions, raw)
		}
		c.Memory.EmbedDimensions = n
	}
	switch raw := strings.ToLower(strings.TrimSpace(getenv(EnvEmbedPGVector))); raw {
	case "", "auto", "on":
		c.Memory.EmbedPGVector = embedding.PGVectorAuto
	case "off":
		c.Memory.EmbedPGVector = embedding.PGVectorOff
	default:
		return Config{}, fmt.Errorf("%s=%q must be auto (use PostgreSQL's vector extension when the server has it) or off (always search in the host)", EnvEmbedPGVector, getenv(EnvEmbedPGVector))
	}
	if c.Memory.Formation, err = parseBool(getenv, EnvMemoryFormation, true); err != nil {
		return Config{}, err
	}

	jobTimeout := c.Queue.JobTimeout
	if jobTimeout == 0 {
		jobTimeout = queue.DefaultJobTimeout
	}
	if c.Queue.RescueAfter > 0 && c.Queue.RescueAfter < jobTimeout {
		return Config{}, fmt.Errorf("%s=%s must be at least the job timeout (%s): a job still running would be run a second time", EnvJobRescue, c.Queue.RescueAfter, jobTimeout)
	}
	if c.Limits, err = ratelimit.SettingsFromEnv(getenv); err != nil {
		return Config{}, err
	}
	if c.Chat.Fallback, err = chat.FallbackFromEnv(environ, getenv, observe); err != nil {
		return Config{}, err
	}
	if c.Chat.Tools, err = chat.ToolsFromEnv(getenv); err != nil {
		return Config{}, err
	}
	if c.Commands, err = commands.SettingsFromEnv(getenv); err != nil {
		return Config{}, err
	}
	if c.Images, err = commands.ImageDepsFromEnv(getenv); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseShards reads TZUROT_SHARDS ("0-3", "0,2,4-5") and TZUROT_SHARD_COUNT. Neither set means
// one unsharded session; a count alone means every shard of it.
func parseShards(ids, count string) ([]int, int, error) {
	ids, count = strings.TrimSpace(ids), strings.TrimSpace(count)
	if ids == "" && count == "" {
		return nil, 0, nil
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return nil, 0, fmt.Errorf("%s=%q must be the total number of shards, a whole number of at least 1 (set it with %s)", EnvShardCount, count, EnvShards)
	}
	if ids == "" {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all, n, nil
	}
	var out []int
	for _, part := range strings.Split(ids, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= n {
			return nil, 0, fmt.Errorf("%s=%q: %q is not a shard or a range of shards from 0 to %d (e.g. 0-3 or 0,2,4-5)", EnvShards, ids, part, n-1)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, n, nil
}

func parseBool(getenv func(string) string, name string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(getenv(name))) {
	case "":
		return def, nil
	case "1", "on", "true", "yes":
		return true, nil
	case "0", "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q must be on or off", name, getenv(name))
}
