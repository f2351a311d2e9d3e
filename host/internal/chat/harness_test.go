package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/logtest"

	"github.com/disgoorg/disgo/gateway"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The real plugins, built once per test binary.
var (
	openaiWasm     string
	anthropicWasm  string
	geminiWasm     string
	hostileWasm    string
	elevenlabsWasm string
	speechWasm     string
	cacheDir       string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chat-test-wasm")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := plugintest.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	openaiWasm = filepath.Join(dir, "openai.wasm")
	hostileWasm = filepath.Join(dir, "hostile.wasm")
	anthropicWasm = filepath.Join(dir, "anthropic.wasm")
	geminiWasm = filepath.Join(dir, "gemini.wasm")
	elevenlabsWasm = filepath.Join(dir, "elevenlabs.wasm")
	speechWasm = filepath.Join(dir, "openai-speech.wasm")
	for src, out := range map[string]string{
		filepath.Join(root, "plugins", "openai"): openaiWasm, filepath.Join("testdata", "hostile"): hostileWasm,
		filepath.Join(root, "plugins", "anthropic"): anthropicWasm, filepath.Join(root, "plugins", "gemini"): geminiWasm,
		filepath.Join(root, "plugins", "elevenlabs"): elevenlabsWasm, filepath.Join(root, "plugins", "openai-speech"): speechWasm,
	} {
		if err := plugintest.BuildTo(src, out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	// Compiling a plugin under -race takes seconds; keep compiled code between
	// runs (keyed by module hash and wazero version, like Go's build cache).
	cacheDir = filepath.Join(dir, "cache")
	if uc, err := os.UserCacheDir(); err == nil {
		cacheDir = filepath.Join(uc, "tzurot", "chat-test-wasm-cache")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ---- fake OpenAI-compatible provider ------------------------------------------------------

// providerRequest is one chat completion request the fake received.
type providerRequest struct {
	Raw           []byte `json:"-"` // the whole body
	Auth          string
	Model         string
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
}

// system and last return the first and the last message's text.
func (r providerRequest) system() string { return r.Messages[0].Content }
func (r providerRequest) last() string   { return r.Messages[len(r.Messages)-1].Content }

// fakeProvider is an OpenAI-compatible chat completions server on 127.0.0.1.
// By default it answers at once with "echo: <last user message>"; a test can
// queue other behaviours.
type fakeProvider struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []providerRequest
	queue    []http.HandlerFunc
	calls    atomic.Int64
	// reasoning, when set, is returned as the reply's reasoning.
	reasoning string
}

func newFakeProvider(t testing.TB) *fakeProvider {
	f := &fakeProvider{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	var req providerRequest
	_ = json.Unmarshal(body, &req)
	req.Auth = r.Header.Get("Authorization")
	req.Raw = body
	f.mu.Lock()
	f.requests = append(f.requests, req)
	var h http.HandlerFunc
	if len(f.queue) > 0 {
		h, f.queue = f.queue[0], f.queue[1:]
	}
	reasoning := f.reasoning
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	last := ""
	if len(req.Messages) > 0 {
		last = req.last()
	}
	if req.Stream {
		streamAnswer(w, "echo: "+last, reasoning)
		return
	}
	answer(w, "echo: "+last, reasoning)
}

// streamAnswer writes a successful completion as OpenAI streams it: SSE
// chunks with deltas (reasoning first, then the text in two pieces), the
// finish reason, a usage chunk (stream_options.include_usage) and [DONE].
func streamAnswer(w http.ResponseWriter, content, reasoning string) {
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta map[string]any, finish any, usage any) {
		c := map[string]any{"id": "cmpl-1", "object": "chat.completion.chunk", "model": "test-model", "choices": []any{}}
		if delta != nil {
			c["choices"] = []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}
		}
		if usage != nil {
			c["usage"] = usage
		}
		b, _ := json.Marshal(c)
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil, nil)
	if reasoning != "" {
		chunk(map[string]any{"reasoning": reasoning}, nil, nil)
	}
	half := len(content) / 2
	chunk(map[string]any{"content": content[:half]}, nil, nil)
	chunk(map[string]any{"content": content[half:]}, nil, nil)
	chunk(map[string]any{}, "stop", nil)
	chunk(nil, nil, map[string]any{"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49})
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// answer writes a successful completion.
func answer(w http.ResponseWriter, content, reasoning string) {
	answerUsage(w, content, reasoning, map[string]any{"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49})
}

// answerUsage writes a successful completion with the provider's usage object as given.
func answerUsage(w http.ResponseWriter, content, reasoning string, usage map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	msg := map[string]any{"role": "assistant", "content": content}
	if reasoning != "" {
		msg["reasoning"] = reasoning
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "cmpl-1", "object": "chat.completion", "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": "stop"}},
		"usage":   usage,
	})
}

// then queues behaviours for the next requests.
func (f *fakeProvider) then(hs ...http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, hs...)
}

func (f *fakeProvider) received() []providerRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]providerRequest(nil), f.requests...)
}

func (f *fakeProvider) hostPort() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// ---- the whole pipeline -------------------------------------------------------------------

const (
	guildID   = "800000000000000001"
	userID    = "700000000000000001"
	userKey   = "sk-test-user-key-0123456789abcdef"
	hostKey   = "sk-test-host-fallback-key-fedcba9876543210"
	modelName = "test-model"
)

type harness struct {
	t        testing.TB
	ctx      context.Context
	fake     *discordfake.Server
	bot      *discord.Bot
	store    *store.Store
	provider *fakeProvider
	host     *plugin.Host
	pipeline *chat.Pipeline
	logs     *logBuffer
	channel  discordfake.Channel

	handled chan string // ids of messages whose handling finished
	replies chan chat.ReplyStats

	// With harnessOptions.cached: the database, the round trips of the
	// store's pool and the store's cache listener.
	dsn      string
	vault    *vault.Vault
	trips    *pgtest.RoundTrips
	listener *cache.Listener
}

type harnessOptions struct {
	limits   *ratelimit.Settings
	fallback chat.Fallback
	// pluginsTOML replaces the default plugins.toml ({openai}, {hostile},
	// {provider} are substituted).
	pluginsTOML string
	config      func(*chat.Config)
	// keys adjusts the key source the plugin host reads keys through.
	keys func(*chat.KeySource)
	// deps adjusts the pipeline's parts (tools, grants) once the plugin
	// host runs.
	deps func(*chat.Deps, *plugin.Host)
	// cached runs the store with its in-memory caches and their listener,
	// as serve does, on a one-connection pool whose round trips are counted.
	cached bool
	// poolConns sizes that pool (default 1, which makes round trips
	// countable one reply at a time).
	poolConns int32
	// fake and bot add options to the fake Discord and the bot.
	fake []discordfake.Option
	bot  []discord.Option
}

const defaultPluginsTOML = `
[plugins.openrouter]
path = "{openai}"
key_slot = "openrouter"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["{provider}"]
allow_private = true
[plugins.openrouter.limits]
call_timeout = "20s"
http_timeout = "1s"
http_attempts = 3
pool_size = 8
[plugins.openrouter.config]
base_url = "http://{provider}/v1"
default_model = "test-model"
flavor = "openai"

[plugins.hostile]
path = "{hostile}"
capabilities = ["llm.chat"]
[plugins.hostile.limits]
call_timeout = "10s"
`

// logBuffer collects every log line (debug included) for assertions.
type logBuffer = logtest.Buffer

// handlerFunc lets the bot be built before the pipeline it delivers to.
type forward struct {
	mu sync.RWMutex
	h  discord.Handler
	// done is told the id of every message whose handling returned.
	done chan string
}

func (f *forward) HandleMessage(ctx context.Context, m chat.Message) {
	f.mu.RLock()
	h := f.h
	f.mu.RUnlock()
	if h != nil {
		h.HandleMessage(ctx, m)
	}
	f.done <- m.ID
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, ctx: ctx, logs: &logBuffer{}, handled: make(chan string, 1000), replies: make(chan chat.ReplyStats, 1000)}
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	h.fake = discordfake.New(t, o.fake...)
	h.channel = h.fake.AddTextChannel(guildID)
	fw := &forward{done: h.handled}
	u := strings.TrimPrefix(h.fake.URL, "http://")
	b, err := discord.New(h.fake.Token, fw, append([]discord.Option{discord.WithRESTURL(h.fake.RESTURL()),
		discord.WithCompression(discord.CompressionNone), discord.WithLogger(logger), discord.WithDownloadHosts(u),
		// Discord failures are retried quickly here; the waits are pacing, not assertions.
		discord.WithSendRetry(discord.SendRetry{Initial: time.Millisecond, Max: 5 * time.Millisecond, Total: 500 * time.Millisecond})}, o.bot...)...)
	if err != nil {
		t.Fatal(err)
	}
	h.bot = b

	k := make([]byte, vault.KeySize)
	for i := range k {
		k[i] = byte(i*7 + 3)
	}
	v, err := vault.New(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.vault = v
	if o.cached {
		h.dsn = pgtest.DSN(t)
		var pool *pgxpool.Pool
		pool, h.trips = pgtest.PoolCountingRoundTrips(t, h.dsn, max(o.poolConns, 1))
		h.store = store.New(pool, v, logger)
		h.listener = cache.NewListener(pool.Config().ConnConfig, logger, h.store.EnableCache(0))
		lctx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); h.listener.Run(lctx) }()
		t.Cleanup(func() { stop(); <-stopped })
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := h.listener.WaitConnected(wctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	} else {
		h.store = store.New(pgtest.New(t), v, logger)
	}

	h.provider = newFakeProvider(t)
	toml := o.pluginsTOML
	if toml == "" {
		toml = defaultPluginsTOML
	}
	toml = strings.NewReplacer("{openai}", openaiWasm, "{hostile}", hostileWasm, "{provider}", h.provider.hostPort(),
		"{elevenlabs}", elevenlabsWasm, "{speech}", speechWasm).Replace(toml)
	cfg, err := plugin.ParseConfig([]byte(toml), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Runtime.CacheDir = cacheDir
	keys := &chat.KeySource{Own: h.store, Fallback: o.fallback}
	if o.keys != nil {
		o.keys(keys)
	}
	h.host, err = plugin.NewHost(ctx, plugin.Options{Config: cfg, Keys: keys, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range h.host.Status() {
		if st.State == plugin.StateRefused {
			t.Fatalf("plugin %s refused: %s", st.Name, st.Reason)
		}
	}

	var limiter *ratelimit.Limiter
	if o.limits != nil {
		limiter = ratelimit.New(h.store, *o.limits)
	}
	ccfg := chat.Config{
		BotUserID:   h.fake.AppID,
		Fallback:    o.fallback,
		MentionPoll: -1,
		OnReply:     func(s chat.ReplyStats) { h.replies <- s },
	}
	if o.config != nil {
		o.config(&ccfg)
	}
	deps := chat.Deps{
		Store: h.store, Plugins: h.host, Sender: b.NewSender(discord.NewMemoryWebhookStore()),
		Reader: b.Reader(), Limiter: limiter, Keys: keys, Logger: logger,
		Voice: chat.HostVoice{Host: h.host}, Download: b.Download,
	}
	if o.deps != nil {
		o.deps(&deps, h.host)
	}
	h.pipeline, err = chat.New(ctx, deps, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	fw.mu.Lock()
	fw.h = h.pipeline
	fw.mu.Unlock()

	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Shutdown(sctx); err != nil {
			t.Errorf("bot shutdown: %v", err)
		}
		if err := h.pipeline.Close(sctx); err != nil {
			t.Errorf("pipeline close: %v", err)
		}
		if err := h.host.Close(sctx); err != nil {
			t.Errorf("plugin host close: %v", err)
		}
		h.fake.AssertNoViolations(t)
		h.assertNoSecretsAnywhere()
		if t.Failed() {
			// Show what went wrong inside: warnings and errors, at most 30.
			n := 0
			for _, line := range strings.Split(h.logs.String(), "\n") {
				if (strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`)) && n < 30 {
					t.Log(line)
					n++
				}
			}
		}
	})
	return h
}

// assertNoSecretsAnywhere fails the test if a key shows up in a log line or
// in anything posted to Discord.
func (h *harness) assertNoSecretsAnywhere() {
	h.t.Helper()
	logs := h.logs.String()
	for _, secret := range []string{userKey, hostKey, h.fake.Token} {
		if strings.Contains(logs, secret) {
			h.t.Errorf("a secret (%s…) appears in the logs", secret[:8])
		}
		for _, r := range h.fake.Requests() {
			if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.PayloadJSON), secret) {
				h.t.Errorf("a secret (%s…) was sent to Discord in %s", secret[:8], r.Route)
			}
		}
	}
}

// personality creates a personality using the fake provider.
type personalitySpec struct {
	slug, name, provider, errorMessage, prompt string
	aliases                                    []string
	maxRefs                                    int
}

func (h *harness) personality(p personalitySpec) int64 {
	h.t.Helper()
	if p.name == "" {
		p.name = strings.ToUpper(p.slug[:1]) + p.slug[1:]
	}
	np := store.NewPersonality{Slug: p.slug, Name: p.name, SystemPrompt: p.prompt,
		AvatarURL: "https://cdn.example.com/" + p.slug + ".png", CharacterInfo: p.name + " likes tea.", Tone: "warm"}
	if p.errorMessage != "" {
		np.ErrorMessage = &p.errorMessage
	}
	id, err := h.store.CreatePersonality(h.ctx, np)
	if err != nil {
		h.t.Fatal(err)
	}
	if p.provider == "" {
		p.provider = "openrouter"
	}
	if err := h.store.SetLLMConfig(h.ctx, id, 0, store.LLMConfig{Provider: p.provider, Model: modelName, MaxReferencedMessages: p.maxRefs}); err != nil {
		h.t.Fatal(err)
	}
	for _, a := range p.aliases {
		if err := h.store.AddAlias(h.ctx, id, a); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := h.pipeline.RefreshMentions(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	return id
}

// setKey stores the user's own key.
func (h *harness) setKey(user string) {
	h.t.Helper()
	if err := h.store.SetAPIKey(h.ctx, user, "openrouter", userKey); err != nil {
		h.t.Fatal(err)
	}
}

// send injects a user message and waits until the pipeline has finished
// with it; it returns the message id.
func (h *harness) send(m discordfake.MessageSpec) string {
	h.t.Helper()
	id := h.inject(m)
	h.waitHandled(id)
	return id
}

// inject delivers a user message without waiting.
func (h *harness) inject(m discordfake.MessageSpec) string {
	h.t.Helper()
	if m.ChannelID == "" {
		m.ChannelID = h.channel.ID
	}
	if m.GuildID == "" && m.ChannelID == h.channel.ID {
		m.GuildID = guildID
	}
	if m.Author.ID == "" {
		m.Author = discordfake.User{ID: userID, Username: "alice", GlobalName: "Alice"}
	}
	if m.ID == "" {
		m.ID = h.fake.NewID()
	}
	discordfake.Inject(h.t, h.bot.Client(), gateway.EventTypeMessageCreate, h.fake.UserMessage(m))
	return m.ID
}

// waitHandled waits until the handler returned for message id. The
// deadline only guards against a hung test; no assertion depends on time.
func (h *harness) waitHandled(id string) {
	h.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case got := <-h.handled:
			if got == id {
				return
			}
		case <-deadline:
			h.t.Fatalf("message %s was never handled", id)
		}
	}
}

// posted returns what was posted in the harness channel by anyone but users.
func (h *harness) posted() []discordfake.Message {
	var out []discordfake.Message
	for _, m := range h.fake.Messages(h.channel.ID) {
		if m.WebhookID != "" || m.Bot {
			out = append(out, m)
		}
	}
	return out
}

// dms returns the messages the bot sent to a user in DMs.
func (h *harness) dms(user string) []discordfake.Message {
	ch, ok := h.fake.DMChannel(user)
	if !ok {
		return nil
	}
	return h.fake.Messages(ch)
}

func (h *harness) usageRows() int {
	h.t.Helper()
	var n int
	if err := h.store.Pool().QueryRow(h.ctx, `SELECT count(*) FROM usage_logs`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}
