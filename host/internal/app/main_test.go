package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/logtest"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

var openaiWasm, cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "app-test")
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
	if err := plugintest.BuildTo(filepath.Join(root, "plugins", "openai"), openaiWasm); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = filepath.Join(dir, "cache")
	if uc, err := os.UserCacheDir(); err == nil {
		cacheDir = filepath.Join(uc, "tzurot", "app-test-wasm-cache")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// provider is a fake OpenAI-compatible server. hold, when set, makes every
// request wait until it is closed (to catch a reply in flight).
type provider struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hold chan struct{}
	got  chan struct{}
}

func newProvider(t *testing.T) *provider {
	p := &provider{got: make(chan struct{}, 100)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		p.got <- struct{}{}
		p.mu.Lock()
		hold := p.hold
		p.mu.Unlock()
		if hold != nil {
			<-hold
		}
		last := ""
		if n := len(req.Messages); n > 0 {
			last = req.Messages[n-1].Content
		}
		if len(req.Messages) > 0 && strings.Contains(req.Messages[0].Content, "long-term memory of") {
			// Memory formation's summariser: answer the JSON it asks for.
			last = `{"memories":[{"about":["U1"],"text":"Alice said: ` + strings.ReplaceAll(strings.ReplaceAll(last, "\n", " "), `"`, "'") + `","importance":0.6}]}`
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"model":   "test-model",
				"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": last}, "finish_reason": "stop"}},
				"usage":   map[string]any{"prompt_tokens": 50, "completion_tokens": 20},
			})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"model":   "test-model",
			"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": "echo: " + last}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 2},
		})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) hostPort() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// pluginsTOML writes a plugins.toml granting the openai plugin the fake
// provider as "openrouter" (and, when extra is set, appends it).
func pluginsTOML(t *testing.T, dir string, p *provider, model string) string {
	t.Helper()
	path := filepath.Join(dir, "plugins.toml")
	toml := fmt.Sprintf(`
[runtime]
cache_dir = %q

[plugins.openrouter]
path = %q
key_slot = "openrouter"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
[plugins.openrouter.limits]
call_timeout = "30s"
[plugins.openrouter.config]
base_url = "http://%s/v1"
default_model = %q
flavor = "openai"
`, cacheDir, openaiWasm, p.hostPort(), p.hostPort(), model)
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	guildID = "800000000000000001"
	userID  = "700000000000000001"
	userKey = "sk-test-app-user-key-0123456789"
)

func masterKey(t testing.TB) string {
	t.Helper()
	k := make([]byte, vault.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// world is a database with a personality and a user's key, a fake Discord
// and a fake provider, and the environment serve reads.
type world struct {
	t        *testing.T
	dsn      string
	fake     *discordfake.Server
	provider *provider
	channel  discordfake.Channel
	env      map[string]string
	store    *store.Store
	logs     *syncBuffer
	plugins  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, dsn: pgtest.DSN(t), fake: discordfake.New(t), provider: newProvider(t), logs: &syncBuffer{}}
	w.channel = w.fake.AddTextChannel(guildID)
	w.plugins = pluginsTOML(t, t.TempDir(), w.provider, "test-model")
	mk := masterKey(t)
	w.env = map[string]string{
		"DISCORD_TOKEN": w.fake.Token, "DATABASE_URL": w.dsn, "APP_MASTER_KEY": mk,
		app.EnvPlugins: w.plugins, app.EnvShutdownTimeout: "20s",
	}
	v, err := vault.FromEnv(w.getenv)
	if err != nil {
		t.Fatal(err)
	}
	w.store = store.New(pgtest.Pool(t, w.dsn), v, nil)
	pid, err := w.store.CreatePersonality(ctx, store.NewPersonality{Slug: "bambi", Name: "Bambi", SystemPrompt: "Be kind."})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.SetLLMConfig(ctx, pid, 0, store.LLMConfig{Provider: "openrouter", Model: "test-model"}); err != nil {
		t.Fatal(err)
	}
	if err := w.store.SetAPIKey(ctx, userID, "openrouter", userKey); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) getenv(k string) string { return w.env[k] }

func (w *world) environ() []string {
	var out []string
	for k, v := range w.env {
		out = append(out, k+"="+v)
	}
	return out
}

// options are serve's options against the fakes.
func (w *world) options(extra ...discord.Option) app.Options {
	return app.Options{
		Getenv: w.getenv, Environ: w.environ,
		Logger:  slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Discord: append([]discord.Option{discord.WithRESTURL(w.fake.RESTURL()), discord.WithCompression(discord.CompressionNone)}, extra...),
	}
}

// serve runs app.Serve in the background; stop cancels it and returns its
// error.
func (w *world) serve(opts app.Options) (a *app.App, stop func() error) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *app.App, 1)
	opts.Started = func(a *app.App) { started <- a }
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, opts) }()
	select {
	case a = <-started:
	case err := <-done:
		cancel()
		w.t.Fatalf("serve stopped at start: %v\n%s", err, w.logs.String())
	// A ceiling, not a speed check: under -race on a loaded 2-core machine
	// compiling the plugins alone has taken minutes.
	case <-time.After(8 * time.Minute):
		cancel()
		w.t.Fatalf("serve did not start within 8 minutes\n%s", w.logs.String())
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				err = fmt.Errorf("serve did not stop")
			}
		})
		return err
	}
	w.t.Cleanup(func() { _ = stop() })
	return a, stop
}

// replies returns what personalities posted in the channel.
func (w *world) replies() []discordfake.Message {
	var out []discordfake.Message
	for _, m := range w.fake.Messages(w.channel.ID) {
		if m.WebhookID != "" {
			out = append(out, m)
		}
	}
	return out
}

func (w *world) usageRows() int {
	w.t.Helper()
	var n int
	if err := w.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM usage_logs`).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

type syncBuffer = logtest.Buffer

var _ io.Writer = (*syncBuffer)(nil)
