package app

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
	"strconv"
	"strings"
	"time"

	"github.com/disgoorg/disgo/gateway"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/vault"
	"github.com/tzurot-go/tzurot/schema"
)

// benchWorld is what both load commands (one process, and gateway with
// worker processes) run against: the migrated database, an instant provider
// and a fake Discord on 127.0.0.1, a plugins.toml granting the openai plugin
// to that provider, and one personality with users whose keys are sealed by
// a throwaway master key.
type benchWorld struct {
	tmp         string
	provider    *httptest.Server
	fake        *discordfake.Server
	channels    []discordfake.Channel
	pluginsFile string
	key         []byte
	v           *vault.Vault
	slug        string
	guild       string
	users       []string
	dsn         string
}

func newBenchWorld(ctx context.Context, opts BenchOptions, log *slog.Logger) (w *benchWorld, err error) {
	w = &benchWorld{dsn: opts.DatabaseURL}
	defer func() {
		if err != nil {
			w.close(ctx)
		}
	}()
	if w.tmp, err = os.MkdirTemp("", "tzurot-bench"); err != nil {
		return w, err
	}
	wasm := opts.PluginWasm
	if wasm != "" {
		// plugins.toml resolves relative paths against its own directory.
		if wasm, err = filepath.Abs(wasm); err != nil {
			return w, err
		}
	} else if wasm, err = buildOpenAIPlugin(w.tmp); err != nil {
		return w, err
	}
	if err := schema.Migrate(ctx, opts.DatabaseURL, log); err != nil {
		return w, err
	}

	w.provider = httptest.NewServer(http.HandlerFunc(instantCompletion))
	w.fake = discordfake.Start()
	// Ids of this run's own, so rows of earlier runs (webhooks sealed
	// with another throwaway key) never match.
	idBase := 500_000_000_000_000_000 + time.Now().UnixNano()%100_000_000_000*1000
	w.guild = strconv.FormatInt(idBase, 10)
	w.channels = make([]discordfake.Channel, opts.Channels)
	for i := range w.channels {
		w.channels[i] = w.fake.AddChannel(discordfake.Channel{ID: strconv.FormatInt(idBase+1+int64(i), 10), GuildID: w.guild, Type: discordfake.ChannelGuildText})
	}

	cacheDir := filepath.Join(w.tmp, "wasm-cache")
	if uc, err := os.UserCacheDir(); err == nil {
		cacheDir = filepath.Join(uc, "tzurot", "bench-wasm-cache")
	}
	hostPort := strings.TrimPrefix(w.provider.URL, "http://")
	w.pluginsFile = filepath.Join(w.tmp, "plugins.toml")
	toml := fmt.Sprintf(`[runtime]
cache_dir = %q

[plugins.bench]
path = %q
key_slot = "bench"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
[plugins.bench.limits]
pool_size = %d
call_timeout = "60s"
[plugins.bench.config]
base_url = "http://%s/v1"
default_model = "instant"
flavor = "openai"
`, cacheDir, wasm, hostPort, opts.PluginPool, hostPort)
	if err := os.WriteFile(w.pluginsFile, []byte(toml), 0o600); err != nil {
		return w, err
	}

	w.key = make([]byte, vault.KeySize)
	if _, err := rand.Read(w.key); err != nil {
		return w, err
	}
	if w.v, err = vault.New(w.key, nil); err != nil {
		return w, err
	}
	run := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)
	w.slug = "bench-" + run
	w.users, err = seedBench(ctx, opts.DatabaseURL, w.v, w.slug, opts.Users)
	return w, err
}

// close removes the run's rows, stops the fakes and deletes the files.
func (w *benchWorld) close(ctx context.Context) {
	if w.users != nil {
		cleanBench(context.WithoutCancel(ctx), w.dsn, w.users, w.channels)
	}
	if w.fake != nil {
		w.fake.Close()
	}
	if w.provider != nil {
		w.provider.Close()
	}
	if w.tmp != "" {
		os.RemoveAll(w.tmp)
	}
}

// messages builds n MESSAGE_CREATE events (users and channels in turn, each
// mentioning the bench personality) and their message ids, so a measured
// loop only injects them.
func (w *benchWorld) messages(n int) ([]gateway.EventData, []string, error) {
	events := make([]gateway.EventData, n)
	ids := make([]string, n)
	for i := range events {
		u := w.users[i%len(w.users)]
		raw := w.fake.UserMessage(discordfake.MessageSpec{
			ChannelID: w.channels[i%len(w.channels)].ID, GuildID: w.guild,
			Author:  discordfake.User{ID: u, Username: "user" + u[len(u)-4:]},
			Content: fmt.Sprintf("@%s message number %d: how is the weather where you are today?", w.slug, i),
		})
		var m struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &m)
		ids[i] = m.ID
		var err error
		if events[i], err = gateway.UnmarshalEventData(raw, gateway.EventTypeMessageCreate); err != nil {
			return nil, nil, fmt.Errorf("bench: build event: %w", err)
		}
	}
	return events, ids, nil
}
