package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/disgoorg/disgo/gateway"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	// Messages is how many messages to drive through (each gets one reply).
	Messages int
	// Concurrency is how many messages are in flight at once.
	Concurrency int
	// DatabaseURL is the PostgreSQL to use; the bench migrates it and adds
	// its own personality and users (use a scratch database).
	DatabaseURL string
	// PluginWasm is the openai plugin; empty builds plugins/openai from
	// source (needs the Go toolchain and the source tree).
	PluginWasm string
	// PluginPool is the plugin's instance pool size (plugins.toml pool_size).
	PluginPool int
	// Users and Channels spread the messages (default 100 and 20).
	Users, Channels int
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
	// Progress, when set, is called after each measured reply with the
	// count so far (not for the first contacts).
	Progress func(done int)
	// Rate, when above 0, injects messages at this many per second (open
	// loop, Concurrency still caps those in flight) instead of as fast as
	// replies come back: latency at a given share of peak throughput.
	Rate float64
	// Cold skips the first contacts: the measured messages include each
	// user's and channel's first (user row, key, webhook creation).
	Cold bool
}

// BenchResult is what a run measured.
type BenchResult struct {
	Messages, Failed int
	Elapsed          time.Duration
	// RepliesPerSecond counts replies that were posted and recorded
	// (usage row and message id durable).
	RepliesPerSecond float64
	// Overhead is the host's time from the message event to the webhook
	// call, minus the plugin call (wasm and the provider round trip).
	OverheadP50, OverheadP99 time.Duration
	// EventToWebhook is the same without subtracting the plugin call: with
	// a provider that answers at once, everything in it is the host's.
	EventToWebhookP50, EventToWebhookP99 time.Duration
	// PluginCallP50 is the plugin call alone (wasm, the host's HTTP to the
	// fake provider and back).
	PluginCallP50, PluginCallP99 time.Duration
	// FirstContacts is how many messages ran before the measured ones, one
	// per user and channel (a user's first message writes their row and
	// reads their key; a channel's first creates its webhook), and their
	// host overhead: the measured run is the steady state of users and
	// channels seen before (none with Cold).
	FirstContacts                                    int
	FirstContactOverheadP50, FirstContactOverheadP99 time.Duration
	// Memory at the end of the run.
	RSSBytes, PeakRSSBytes, HeapInuseBytes uint64
	AllocBytesPerReply                     uint64
	UsageRows, MappedMessages              int64
	CPUs                                   int
	// Machine says where and how it ran (load, versions, CPU per reply).
	Machine Machine
}

// CPUPerReply divides a CPU time by the replies measured.
func (r BenchResult) CPUPerReply(d time.Duration) time.Duration {
	n := r.Messages - r.Failed
	if n <= 0 {
		return 0
	}
	return d / time.Duration(n)
}

// Bench drives opts.Messages messages through the whole pipeline: a fake
// Discord (discordfake, events injected as the gateway would deliver them,
// webhook posts over loopback HTTP), the real plugin host running the real
// openai plugin against a provider on 127.0.0.1 that answers at once, and
// the real PostgreSQL (users, personalities, keys, rate limits, usage rows,
// message ids). It returns the measurements.
func Bench(ctx context.Context, opts BenchOptions) (BenchResult, error) {
	if opts.Messages <= 0 || opts.Concurrency <= 0 {
		return BenchResult{}, errors.New("bench: -n and -concurrency must be at least 1")
	}
	if opts.DatabaseURL == "" {
		return BenchResult{}, errors.New("bench: no database: pass -database-url or set DATABASE_URL (use a scratch database: the bench adds rows)")
	}
	if opts.Users <= 0 {
		opts.Users = 100
	}
	if opts.Channels <= 0 {
		opts.Channels = 20
	}
	if opts.PluginPool <= 0 {
		opts.PluginPool = min(max(runtime.GOMAXPROCS(0)*2, 4), 64)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w, err := newBenchWorld(ctx, opts, log)
	if err != nil {
		return BenchResult{}, err
	}
	defer w.close(ctx)
	fake, pluginsFile, provider, v, slug := w.fake, w.pluginsFile, w.provider, w.v, w.slug

	// The real wiring, as serve builds it, with the fakes plugged in.
	var (
		mu        sync.Mutex
		injected  = map[string]time.Time{}
		stats     []chat.ReplyStats
		toWebhook []time.Duration
		failed    atomic.Int64
		warm      = max(opts.Users, opts.Channels)
	)
	if opts.Cold {
		warm = 0
	}
	done := make(chan struct{}, warm+opts.Messages)
	cfg := Config{
		DiscordToken: fake.Token, DatabaseURL: opts.DatabaseURL, PluginsFile: pluginsFile, Gateway: true,
		Workers: opts.Concurrency * 2, DBMaxConns: 16, ShutdownTimeout: time.Minute,
		// Rate limits on (they are part of every reply) but out of reach.
		Limits: ratelimit.Settings{UserPerMinute: 1 << 40, GuildPerMinute: 1 << 40},
		Chat: chat.Config{DefaultProvider: "bench", MentionPoll: -1, OnReply: func(s chat.ReplyStats) {
			mu.Lock()
			if s.Err != nil {
				failed.Add(1)
			} else {
				stats = append(stats, s)
				msgID, _, _ := strings.Cut(s.RequestID, "-")
				if t0, ok := injected[msgID]; ok {
					toWebhook = append(toWebhook, s.Sending.Sub(t0))
				}
			}
			mu.Unlock()
			done <- struct{}{}
		}},
	}
	a, err := start(ctx, cfg, v, log, false, discord.WithRESTURL(fake.RESTURL()),
		discord.WithCompression(discord.CompressionNone), discord.WithMaxPending(opts.Messages+opts.Concurrency))
	if err != nil {
		return BenchResult{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = a.Shutdown(sctx)
	}()
	// Measure steady state: every plugin compiled and warm before the
	// first message (serve does this in the background once ready).
	if err := a.Plugins.WarmUp(ctx); err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	for _, st := range a.Plugins.Status() {
		if st.State != plugin.StateLoaded {
			return BenchResult{}, fmt.Errorf("bench: the plugin was not loaded: %s", st.Reason)
		}
	}

	// Build every event first, so the measured loop only injects. The
	// first warm messages reach every user and channel once.
	events, ids, err := w.messages(warm + opts.Messages)
	if err != nil {
		return BenchResult{}, err
	}
	client := a.Bot.Client()
	sem := make(chan struct{}, opts.Concurrency)
	// drive injects events[from:to] (at opts.Rate when set) and waits for
	// their replies.
	drive := func(from, to int, rate float64, progress func(int)) error {
		go func() {
			t0 := time.Now()
			for i := from; i < to; i++ {
				if rate > 0 {
					if d := time.Until(t0.Add(time.Duration(float64(i-from) / rate * float64(time.Second)))); d > 0 {
						time.Sleep(d)
					}
				}
				sem <- struct{}{}
				mu.Lock()
				injected[ids[i]] = time.Now()
				mu.Unlock()
				client.EventManager.HandleGatewayEvent(client.Gateway, gateway.EventTypeMessageCreate, i+2, events[i])
			}
		}()
		for i := from; i < to; i++ {
			select {
			case <-done:
				<-sem
			case <-ctx.Done():
				return ctx.Err()
			}
			if progress != nil {
				progress(i - from + 1)
			}
		}
		return nil
	}
	var firstContacts []time.Duration
	if warm > 0 {
		if err := drive(0, warm, 0, nil); err != nil {
			return BenchResult{}, err
		}
		mu.Lock()
		for _, s := range stats {
			firstContacts = append(firstContacts, s.Overhead())
		}
		stats, toWebhook = nil, nil
		mu.Unlock()
	}

	var machine Machine
	machine.GoVersion = runtime.Version()
	if err := a.Store.Pool().QueryRow(ctx, `SHOW server_version`).Scan(&machine.PostgreSQL); err != nil {
		machine.PostgreSQL = "unknown"
	}
	fakePorts := []int{urlPort(provider.URL), urlPort(fake.URL)}
	machine.TimeWaitBefore = timeWait(fakePorts...)
	sampler, err := startDBSampler(ctx, opts.DatabaseURL)
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: watch the database's CPU: %w", err)
	}
	machine.LoadBefore = loadAverage()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpuBefore := processCPU()
	start := time.Now()
	if err := drive(warm, warm+opts.Messages, opts.Rate, opts.Progress); err != nil {
		return BenchResult{}, err
	}
	elapsed := time.Since(start)
	machine.ProcessCPU = processCPU() - cpuBefore
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	machine.DatabaseCPU, machine.DatabaseBackgroundCPU, machine.DatabaseBackendsMeasured, machine.DatabaseCPUMeasured = sampler.finish(ctx)
	machine.TimeWaitAfter = timeWait(fakePorts...)
	machine.LoadAfter = loadAverage()
	machine.CPUs = runtime.NumCPU()

	res := BenchResult{Messages: opts.Messages, Failed: int(failed.Load()), Elapsed: elapsed, CPUs: runtime.GOMAXPROCS(0), Machine: machine,
		FirstContacts: warm, FirstContactOverheadP50: percentile(firstContacts, 50), FirstContactOverheadP99: percentile(firstContacts, 99)}
	res.RepliesPerSecond = float64(len(stats)) / elapsed.Seconds()
	overhead := make([]time.Duration, 0, len(stats))
	plugin := make([]time.Duration, 0, len(stats))
	for _, s := range stats {
		overhead = append(overhead, s.Overhead())
		plugin = append(plugin, s.PluginTime)
	}
	res.OverheadP50, res.OverheadP99 = percentile(overhead, 50), percentile(overhead, 99)
	res.EventToWebhookP50, res.EventToWebhookP99 = percentile(toWebhook, 50), percentile(toWebhook, 99)
	res.PluginCallP50, res.PluginCallP99 = percentile(plugin, 50), percentile(plugin, 99)
	res.HeapInuseBytes = after.HeapInuse
	if len(stats) > 0 {
		res.AllocBytesPerReply = (after.TotalAlloc - before.TotalAlloc) / uint64(len(stats))
	}
	res.RSSBytes, res.PeakRSSBytes = readRSS()
	if err := a.Store.Pool().QueryRow(ctx, `SELECT
		(SELECT count(*) FROM usage_logs u JOIN personalities p ON p.id = u.personality_id WHERE p.slug = $1),
		(SELECT count(*) FROM webhook_messages w JOIN personalities p ON p.id = w.personality_id WHERE p.slug = $1)`, slug).
		Scan(&res.UsageRows, &res.MappedMessages); err != nil {
		return res, fmt.Errorf("bench: count what was recorded: %w", err)
	}
	// The measured messages' rows: the first contacts' are there too.
	res.UsageRows -= int64(warm)
	res.MappedMessages -= int64(warm)
	return res, nil
}

// instantCompletion is the fake provider: a fixed chat completion at once.
func instantCompletion(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"cmpl-bench","object":"chat.completion","model":"instant","choices":[{"index":0,"message":{"role":"assistant","content":"It is sunny here, thank you for asking! How is it where you are?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":16,"total_tokens":136}}`)
}

// seedBench creates the bench's personality and users (with keys) and
// returns the users' Discord ids.
func seedBench(ctx context.Context, dsn string, v *vault.Vault, slug string, n int) ([]string, error) {
	pool, err := newPool(ctx, dsn, 4, false)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	st := store.New(pool, v, nil)
	// Personalities of interrupted runs (their message ids would collide
	// with this run's: the fake Discord numbers messages the same way each
	// time).
	if _, err := pool.Exec(ctx, `DELETE FROM personalities WHERE slug LIKE 'bench-%'`); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	pid, err := st.CreatePersonality(ctx, store.NewPersonality{Slug: slug, Name: "Bench", DisplayName: "Bench",
		SystemPrompt: "You are a cheerful weather reporter.", CharacterInfo: "Likes sunshine.", Tone: "upbeat"})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := st.SetLLMConfig(ctx, pid, 0, store.LLMConfig{Provider: "bench", Model: "instant"}); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	base := 600_000_000_000_000_000 + time.Now().UnixNano()%100_000_000_000
	users := make([]string, n)
	for i := range users {
		users[i] = strconv.FormatInt(base+int64(i), 10)
		if err := st.SetAPIKey(ctx, users[i], "bench", "sk-bench-"+strconv.Itoa(i)+"-0123456789abcdef"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	return users, nil
}

// cleanBench deletes what a run added: its personality (with its message
// ids), its users (with their keys and usage rows) and its channels'
// webhooks. Earlier runs that were interrupted are cleaned at the next
// start (seedBench).
func cleanBench(ctx context.Context, dsn string, users []string, channels []discordfake.Channel) {
	pool, err := newPool(ctx, dsn, 2, false)
	if err != nil {
		return
	}
	defer pool.Close()
	ids := make([]string, len(channels))
	for i, c := range channels {
		ids[i] = c.ID
	}
	_, _ = pool.Exec(ctx, `DELETE FROM users WHERE discord_id = ANY($1)`, users)
	_, _ = pool.Exec(ctx, `DELETE FROM channel_webhooks WHERE channel_id = ANY($1)`, ids)
	_, _ = pool.Exec(ctx, `DELETE FROM personalities WHERE slug LIKE 'bench-%'`)
}

// buildOpenAIPlugin compiles plugins/openai from the source tree.
func buildOpenAIPlugin(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("bench: no -plugin given and %w; pass -plugin plugins/openai/openai.wasm (make plugins builds it)", err)
	}
	out := filepath.Join(dir, "openai.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = filepath.Join(root, "plugins", "openai")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: build plugins/openai: %w\n%s", err, b)
	}
	return out, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/tzurot-go/tzurot") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the tzurot source tree is not above the current directory")
		}
		dir = parent
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

// readRSS returns the resident set size and its peak (Linux; 0 elsewhere).
func readRSS() (rss, peak uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// urlPort returns the port of an http://host:port URL (0 if none).
func urlPort(raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}
