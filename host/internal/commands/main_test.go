package commands_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
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
	"github.com/tzurot-go/tzurot/host/internal/message"

	"github.com/disgoorg/disgo"
	"github.com/disgoorg/disgo/bot"
	"github.com/disgoorg/disgo/gateway"
	"github.com/disgoorg/disgo/rest"

	"github.com/tzurot-go/tzurot/host/internal/commands"
	tzdiscord "github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
	"github.com/tzurot-go/tzurot/host/internal/vault"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// openaiWasm is plugins/openai built once for the whole test binary.
var openaiWasm string

// elevenlabsWasm is plugins/elevenlabs, built on first use (voice tests).
var elevenlabsWasm = sync.OnceValues(func() (string, error) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(wasmDir, "elevenlabs.wasm")
	return out, plugintest.BuildTo(filepath.Join(root, "plugins", "elevenlabs"), out)
})

// wasmDir holds the plugins built for this test binary.
var wasmDir string

// wasmCache is the compilation cache shared with the plugin package's tests:
// compiling a Go plugin under -race takes seconds.
var wasmCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "commands-test-wasm")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wasmDir = dir
	root, err := plugintest.ModuleRoot()
	if err == nil {
		openaiWasm = filepath.Join(dir, "openai.wasm")
		err = plugintest.BuildTo(filepath.Join(root, "plugins", "openai"), openaiWasm)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	wasmCache = filepath.Join(dir, "cache")
	if uc, err := os.UserCacheDir(); err == nil {
		wasmCache = filepath.Join(uc, "tzurot", "plugin-test-wasm-cache")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Keys the fake OpenAI knows; anything else gets a 401 that repeats the key,
// as OpenAI's own error message does.
const (
	keyGood  = "sk-good-0123456789abcdefghij"
	keyBroke = "sk-broke-0123456789abcdefgh" // 402: no credit
	keyFlaky = "sk-flaky-0123456789abcdefgh" // 503: unreachable
	keyWrong = "sk-wrong-0123456789abcdefgh"
	keyOther = "sk-other-0123456789abcdefgh" // another account: another model list
)

// fakeOpenAI serves GET /v1/models, the route the openai plugin checks keys
// with and lists models from (each account its own list, as at OpenAI,
// where fine-tuned models belong to one organisation).
type fakeOpenAI struct {
	srv   *httptest.Server
	calls atomic.Int64

	mu   sync.Mutex
	hold chan struct{} // when set, requests wait until it is closed
}

// holdRequests keeps every request open until release (or the test's end).
func (f *fakeOpenAI) holdRequests(t *testing.T) (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.hold = ch
	f.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			f.mu.Lock()
			f.hold = nil
			f.mu.Unlock()
			close(ch)
		})
	}
	t.Cleanup(release)
	return release
}

// fakeModelList is GET /v1/models as OpenAI answers it.
func fakeModelList(ids ...string) []byte {
	data := make([]map[string]any, len(ids))
	for i, id := range ids {
		data[i] = map[string]any{"id": id, "object": "model", "created": 1715367049, "owned_by": "system"}
	}
	b, _ := json.Marshal(map[string]any{"object": "list", "data": data})
	return b
}

func newFakeOpenAI(t *testing.T) *fakeOpenAI {
	f := &fakeOpenAI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		f.mu.Lock()
		hold := f.hold
		f.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch key {
		case keyGood:
			_, _ = w.Write(fakeModelList("chatgpt-4o-latest", "gpt-4-turbo", "gpt-4.1", "gpt-4o", "gpt-4o-mini",
				"gpt-test", "o3-mini", "text-embedding-3-small", "whisper-1"))
		case keyOther:
			_, _ = w.Write(fakeModelList("ft:gpt-4o-mini:acme::abc123", "gpt-4o"))
		case keyBroke:
			w.WriteHeader(http.StatusPaymentRequired)
			_, _ = w.Write([]byte(`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}`))
		case keyFlaky:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"message":"The server is overloaded.","type":"server_error"}}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided: ` + key + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}`))
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// noMessages is the bot's message handler in these tests: only its
// attachment download is used.
type noMessages struct{}

func (noMessages) HandleMessage(context.Context, message.Message) {}

// syncBuffer collects log output across goroutines.
type syncBuffer = logtest.Buffer

// env is one test's view of its world: the helpers (slash, inject,
// snapshot, unchanged, ...) report failures to t. A subtest takes its own
// view with e.in(t), so a failing helper fails (and stops) the subtest that
// called it; with the outer test's t, Fatal from a subtest is blamed on the
// parent ("subtest may have called FailNow on a parent test") and ends the
// whole test instead of one case.
type env struct {
	*world
	t testing.TB
}

// in returns the same world reporting to t (a subtest's t).
func (e *env) in(t testing.TB) *env { return &env{world: e.world, t: t} }

// world is one test's world: its own database, the real openai plugin
// pointed at a fake OpenAI, a fake Discord and a disgo client.
type world struct {
	store    *store.Store
	plugins  *plugin.Host
	openai   *fakeOpenAI
	discord  *discordfake.Server
	bot      *tzdiscord.Bot
	client   *bot.Client
	cmds     *commands.Commands
	aliases  *trigger.AliasIndex
	limits   *ratelimit.Limiter
	logs     *syncBuffer
	reloads  atomic.Int64
	now      time.Time
	guildID  string
	channel  string
	nextUser atomic.Int64
	eleven   *elevenlabsFake // set by newVoiceEnv

	tomlMu sync.Mutex
	toml   string // plugins.toml as the next reload reads it
}

// pluginConfig parses the current plugins.toml text.
func (e *env) pluginConfig() (*plugin.Config, error) {
	e.tomlMu.Lock()
	defer e.tomlMu.Unlock()
	return plugin.ParseConfig([]byte(e.toml), "")
}

// editPlugins appends to plugins.toml (the next reload sees it).
func (e *env) editPlugins(extra string) {
	e.tomlMu.Lock()
	defer e.tomlMu.Unlock()
	e.toml += extra
}

// ownerID is the bot owner in every test.
const ownerID = "900000000000000001"

type envOption func(*commands.Deps)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvPlus(t, nil, opts...)
}

// newEnvPlus is newEnv with more plugins.toml entries: plus returns them
// (it may start fake provider APIs for them first).
func newEnvPlus(t *testing.T, plus func(e *env) string, opts ...envOption) *env {
	t.Helper()
	// Each test has its own database, plugin host and fake Discord; most of
	// the setup waits on PostgreSQL, so tests overlap well.
	t.Parallel()
	e := &env{t: t, world: &world{logs: &syncBuffer{}, guildID: "700000000000000001", channel: "710000000000000001",
		now: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)}}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	k := make([]byte, vault.KeySize)
	_, _ = rand.Read(k)
	v, err := vault.New(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store.New(pgtest.New(t), v, logger)

	e.openai = newFakeOpenAI(t)
	host := strings.TrimPrefix(e.openai.srv.URL, "http://")
	e.toml = fmt.Sprintf(`
[runtime]
cache_dir = %q

[plugins.openai]
path = %q
key_slot = "openai"
capabilities = ["llm.chat", "llm.validate_key", "llm.models"]
allowed_hosts = [%q]
allow_private = true
[plugins.openai.limits]
http_attempts = 1
[plugins.openai.config]
base_url = "%s/v1"
flavor = "openai"
default_model = "gpt-4o-mini"
`, wasmCache, openaiWasm, host, e.openai.srv.URL)
	if plus != nil {
		e.toml += plus(e)
	}
	cfg, err := e.pluginConfig()
	if err != nil {
		t.Fatal(err)
	}
	e.plugins, err = plugin.NewHost(context.Background(), plugin.Options{Config: cfg, Keys: e.store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.plugins.Close(context.Background()) })
	for _, st := range e.plugins.Status() {
		if st.State != plugin.StateLoaded {
			t.Fatalf("plugin %s not loaded: %+v", st.Name, st)
		}
	}

	e.aliases = trigger.NewAliasIndex()
	e.limits = ratelimit.New(e.store, ratelimit.DefaultSettings())
	e.discord = discordfake.New(t)
	// The bot's own attachment download (Bot.DownloadAtMost), pointed at the
	// fake's CDN; voice-sample uploads fetch through it.
	e.bot, err = tzdiscord.New(e.discord.Token, noMessages{}, tzdiscord.WithoutGateway(), tzdiscord.WithLogger(logger),
		tzdiscord.WithRESTURL(e.discord.RESTURL()), tzdiscord.WithDownloadHosts(strings.TrimPrefix(e.discord.URL, "http://")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.bot.Shutdown(ctx)
	})
	deps := commands.Deps{
		Download: e.bot.DownloadAtMost,
		Store:    e.store, Plugins: e.plugins, Aliases: e.aliases, RateLimits: e.limits,
		OwnerIDs: []string{ownerID}, Logger: logger, Now: func() time.Time { return e.now },
		ReloadPlugins: func(ctx context.Context) error {
			e.reloads.Add(1)
			cfg, err := e.pluginConfig()
			if err != nil {
				return err
			}
			return e.plugins.Reload(ctx, cfg)
		},
	}
	for _, o := range opts {
		o(&deps)
	}
	e.cmds, err = commands.New(deps)
	if err != nil {
		t.Fatal(err)
	}

	e.client, err = disgo.New(e.discord.Token,
		bot.WithLogger(logger),
		bot.WithRestClientConfigOpts(rest.WithURL(e.discord.RESTURL())),
		bot.WithGatewayConfigOpts(gateway.WithCompression(gateway.CompressionNone), gateway.WithURL(e.discord.GatewayURL())),
		bot.WithEventListeners(e.cmds.Router()),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range strings.Split(e.logs.String(), "\n") {
				if strings.Contains(l, "command failed") {
					t.Log(l)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.cmds.Close(ctx); err != nil {
			t.Errorf("close commands: %v", err)
		}
		e.client.Close(ctx)
	})
	return e
}

// user returns a fresh Discord user.
func (e *env) user() discordfake.User {
	n := e.nextUser.Add(1)
	return discordfake.User{ID: fmt.Sprintf("%d", 800000000000000000+n), Username: fmt.Sprintf("user%d", n)}
}

// spec is an interaction by u in the test guild's channel.
func (e *env) spec(u discordfake.User) discordfake.InteractionSpec {
	return discordfake.InteractionSpec{ID: e.discord.NewID(), Token: "itoken-" + e.discord.NewID(),
		GuildID: e.guildID, ChannelID: e.channel, User: u}
}

// answer is what the user saw in response to one interaction.
type answer struct {
	Type      int // 4 message, 5 deferred then edited, 8 autocomplete, 9 modal
	Ephemeral bool
	Content   string
	Files     []discordfake.File
	Data      map[string]any // the raw response data (modal, autocomplete)
}

// inject delivers an INTERACTION_CREATE, waits for its handler and returns
// the answer.
func (e *env) inject(in discordfake.InteractionSpec, payload []byte) answer {
	e.t.Helper()
	discordfake.Inject(e.t, e.client, gateway.EventTypeInteractionCreate, payload)
	e.cmds.Wait()
	return e.collect(in)
}

// collect returns the answer to an interaction whose handler has finished.
func (e *env) collect(in discordfake.InteractionSpec) answer {
	e.t.Helper()
	var got []discordfake.InteractionResponse
	for _, r := range e.discord.InteractionResponses() {
		if r.Token == in.Token {
			got = append(got, r)
		}
	}
	if len(got) != 1 {
		e.t.Fatalf("want one initial response to the interaction, got %d: %+v", len(got), got)
	}
	r := got[0]
	a := answer{Type: r.Type, Ephemeral: r.Flags&64 != 0, Content: r.Content}
	if r.Data != "" {
		_ = json.Unmarshal([]byte(r.Data), &a.Data)
	}
	if r.Type == 5 {
		m, ok := e.discord.Original(in.Token)
		if !ok {
			e.t.Fatal("deferred interaction has no @original")
		}
		a.Content, a.Files = m.Content, m.Files
		if a.Content == "" {
			e.t.Fatal("deferred interaction was never answered")
		}
	}
	return a
}

// slash runs /name with options as u.
func (e *env) slash(u discordfake.User, name string, opts ...discordfake.CommandOption) answer {
	e.t.Helper()
	in := e.spec(u)
	return e.inject(in, discordfake.SlashCommand(in, name, opts...))
}

// sub is a subcommand option.
func sub(name string, opts ...discordfake.CommandOption) discordfake.CommandOption {
	return discordfake.CommandOption{Name: name, Type: discordfake.OptionSubCommand, Options: opts}
}

// group is a subcommand group option.
func group(name string, opts ...discordfake.CommandOption) discordfake.CommandOption {
	return discordfake.CommandOption{Name: name, Type: discordfake.OptionSubCommandGroup, Options: opts}
}

func str(name, v string) discordfake.CommandOption {
	return discordfake.CommandOption{Name: name, Type: discordfake.OptionString, Value: v}
}

func integer(name string, v int) discordfake.CommandOption {
	return discordfake.CommandOption{Name: name, Type: discordfake.OptionInteger, Value: v}
}

func boolean(name string, v bool) discordfake.CommandOption {
	return discordfake.CommandOption{Name: name, Type: discordfake.OptionBoolean, Value: v}
}

// snapshot is every row a command could change, as JSON, so a test can
// assert that refused input changed nothing at all.
func (e *env) snapshot() string {
	e.t.Helper()
	var b strings.Builder
	for _, t := range [][2]string{
		{"users", "id"}, {"user_api_keys", "id"}, {"personalities", "id"}, {"personality_aliases", "id"},
		{"llm_configs", "id"}, {"channel_activations", "channel_id"}, {"usage_logs", "id"},
		{"webhook_messages", "message_id"}, {"reply_reasoning", "request_id"},
		{"voice_configs", "personality_id"}, {"voice_samples", "id"}, {"user_preferences", "user_id"},
	} {
		q := fmt.Sprintf("SELECT json_agg(t ORDER BY %s)::text FROM %s t", t[1], t[0])
		if t[0] == "voice_samples" { // the audio as a digest: the rows stay readable in a failure
			q = "SELECT json_agg(json_build_object('id', id, 'personality_id', personality_id, 'mime_type', mime_type, " +
				"'duration_ms', duration_ms, 'md5', md5(data)) ORDER BY id)::text FROM voice_samples"
		}
		var s *string
		if err := e.store.Pool().QueryRow(context.Background(), q).Scan(&s); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
		if s != nil {
			b.WriteString(*s)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// unchanged fails the test if the database differs from before.
func (e *env) unchanged(before string) {
	e.t.Helper()
	if after := e.snapshot(); after != before {
		e.t.Fatalf("the database changed:\nbefore: %s\nafter:  %s", before, after)
	}
}

// mustSay fails unless the answer is ephemeral and contains every part.
func mustSay(t testing.TB, a answer, parts ...string) {
	t.Helper()
	if !a.Ephemeral {
		t.Errorf("reply is not ephemeral: %+v", a)
	}
	for _, p := range parts {
		if !strings.Contains(a.Content, p) {
			t.Errorf("reply %q does not contain %q", a.Content, p)
		}
	}
}
