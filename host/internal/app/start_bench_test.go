package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// BenchmarkServeToReady measures a start of serve with a warm cache: from
// app.Serve being called until /readyz answers 200 (database reachable,
// schema current, a chat plugin loaded, the gateway of the fake Discord
// connected), then shuts it down. The database is migrated already and
// the plugin compiled and described before the first timed start, as on
// any restart. Each phase's median offset from the start is reported from
// the log lines' times.
//
//	go test -run '^$' -bench ServeToReady -benchtime 10x ./host/internal/app/
func BenchmarkServeToReady(b *testing.B) {
	dsn := pgtest.DSN(b)
	fake := discordfake.New(b)
	dir := b.TempDir()
	plugins := filepath.Join(dir, "plugins.toml")
	toml := fmt.Sprintf(`
[runtime]
cache_dir = %q
[plugins.openrouter]
path = %q
key_slot = "openrouter"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["127.0.0.1:9"]
allow_private = true
[plugins.openrouter.config]
base_url = "http://127.0.0.1:9/v1"
default_model = "m"
`, cacheDir, openaiWasm)
	if err := os.WriteFile(plugins, []byte(toml), 0o600); err != nil {
		b.Fatal(err)
	}
	env := map[string]string{
		"DISCORD_TOKEN": fake.Token, "DATABASE_URL": dsn, "APP_MASTER_KEY": masterKey(b),
		app.EnvPlugins: plugins, app.EnvMetricsAddr: "127.0.0.1:0", app.EnvShutdownTimeout: "20s",
	}
	getenv := func(k string) string { return env[k] }
	environ := func() []string {
		var out []string
		for k, v := range env {
			out = append(out, k+"="+v)
		}
		return out
	}
	phases := map[string][]time.Duration{}
	run := func(record bool) time.Duration {
		logs := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan *app.App, 1)
		done := make(chan error, 1)
		begin := time.Now()
		go func() {
			done <- app.Serve(ctx, app.Options{
				Getenv: getenv, Environ: environ,
				Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Discord: []discord.Option{discord.WithRESTURL(fake.RESTURL()), discord.WithCompression(discord.CompressionNone)},
				Started: func(a *app.App) { started <- a },
			})
		}()
		var a *app.App
		select {
		case a = <-started:
		case err := <-done:
			b.Fatalf("serve stopped at start: %v\n%s", err, logs.String())
		}
		url := "http://" + a.MetricsAddr.String() + "/readyz"
		for {
			resp, err := http.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
		ready := time.Since(begin)
		if record {
			phases["readyz 200"] = append(phases["readyz 200"], ready)
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			for sc.Scan() {
				var line struct {
					Time time.Time `json:"time"`
					Msg  string    `json:"msg"`
				}
				if json.Unmarshal(sc.Bytes(), &line) == nil {
					phases[line.Msg] = append(phases[line.Msg], line.Time.Sub(begin))
				}
			}
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatalf("serve: %v", err)
		}
		return ready
	}
	run(false) // compile and describe the plugin into the cache, migrate
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		total += run(true)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-to-ready")
	type phase struct {
		msg string
		at  time.Duration
	}
	var list []phase
	for msg, ds := range phases {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		list = append(list, phase{msg, ds[len(ds)/2]})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].at < list[j].at })
	for _, p := range list {
		b.Logf("%8.1f ms  %s", float64(p.at.Microseconds())/1000, p.msg)
	}
}
