package app

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/disgoorg/disgo/gateway"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
)

// WorkerBenchResult is what a run across worker processes measured.
type WorkerBenchResult struct {
	Messages, Workers int
	Elapsed           time.Duration
	// RepliesPerSecond counts replies posted (delivery record finished).
	RepliesPerSecond float64
	// QueueLatency is from the job's insert to the start of the attempt that answered it (the
	// channel order's waiting included).
	QueueP50, QueueP99 time.Duration
	// EventToPost is from the message event to its delivery record being finished.
	EventToPostP50, EventToPostP99 time.Duration
	UsageRows                      int64
}

// BenchWorkers drives opts.Messages messages through a gateway (this process, the role gateway
// as serve builds it, events injected as the gateway would deliver them) and workers worker
// processes (bin serve --role worker, the real binary) on the same database, a fake Discord and
// an instant provider on 127.0.0.1.
func BenchWorkers(ctx context.Context, opts BenchOptions, workers int, bin string) (WorkerBenchResult, error) {
	if opts.Messages <= 0 || workers <= 0 {
		return WorkerBenchResult{}, errors.New("bench: -n and -workers must be at least 1")
	}
	if opts.DatabaseURL == "" {
		return WorkerBenchResult{}, errors.New("bench: no database: pass -database-url or set DATABASE_URL (use a scratch database: the bench adds rows)")
	}
	if opts.Users <= 0 {
		opts.Users = 100
	}
	if opts.Channels <= 0 {
		opts.Channels = 20
	}
	if opts.PluginPool <= 0 {
		opts.PluginPool = 4
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w, err := newBenchWorld(ctx, opts, log)
	if err != nil {
		return WorkerBenchResult{}, err
	}
	defer w.close(ctx)
	fake, channels, pluginsFile, key, v, slug := w.fake, w.channels, w.pluginsFile, w.key, w.v, w.slug

	// The workers: the real binary, the same environment a deployment gives it.
	env := append(os.Environ(),
		"DATABASE_URL="+opts.DatabaseURL, "DISCORD_TOKEN="+fake.Token, "APP_MASTER_KEY="+base64.StdEncoding.EncodeToString(key),
		EnvPlugins+"="+pluginsFile, EnvDiscordRESTURL+"="+fake.RESTURL(), EnvDefaultProvider+"=bench",
		EnvMentionPoll+"=off", "TZUROT_RATE_USER_PER_MINUTE=0", "TZUROT_RATE_GUILD_PER_MINUTE=0",
		"LOG_FORMAT=json", "LOG_LEVEL=warn")
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	ready := make(chan error, workers)
	for i := 0; i < workers; i++ {
		cmd := exec.Command(bin, "serve", "--role", "worker")
		cmd.Env = append(env, "LOG_LEVEL=info")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return WorkerBenchResult{}, err
		}
		if err := cmd.Start(); err != nil {
			return WorkerBenchResult{}, fmt.Errorf("bench: start a worker (%s): %w", bin, err)
		}
		procs = append(procs, cmd)
		go func() {
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			signalled := false
			for sc.Scan() {
				if !signalled && strings.Contains(sc.Text(), "tzurot is running") {
					ready <- nil
					signalled = true
				}
				if strings.Contains(sc.Text(), `"level":"ERROR"`) {
					log.Warn("worker: " + sc.Text())
				}
			}
			if !signalled {
				ready <- errors.New("bench: a worker stopped before it was ready (run with -v)")
			}
		}()
	}
	for i := 0; i < workers; i++ {
		select {
		case err := <-ready:
			if err != nil {
				return WorkerBenchResult{}, err
			}
		case <-time.After(5 * time.Minute):
			return WorkerBenchResult{}, errors.New("bench: workers did not start within 5 minutes")
		}
	}

	// The gateway: this process.
	cfg := Config{
		DiscordToken: fake.Token, DatabaseURL: opts.DatabaseURL, PluginsFile: pluginsFile, Gateway: true,
		Workers: 64, DBMaxConns: 16, ShutdownTimeout: time.Minute, Role: RoleGateway,
		Limits: ratelimit.Settings{UserPerMinute: 1 << 40, GuildPerMinute: 1 << 40},
		Chat:   chat.Config{DefaultProvider: "bench", MentionPoll: -1},
	}
	a, err := start(ctx, cfg, v, log, false, discord.WithRESTURL(fake.RESTURL()),
		discord.WithCompression(discord.CompressionNone), discord.WithMaxPending(opts.Messages+64))
	if err != nil {
		return WorkerBenchResult{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = a.Shutdown(sctx)
	}()
	// Measure steady state: every plugin compiled and warm before the
	// first message (serve does this in the background once ready).
	if err := a.Plugins.WarmUp(ctx); err != nil {
		return WorkerBenchResult{}, fmt.Errorf("bench: %w", err)
	}

	events, ids, err := w.messages(opts.Messages)
	if err != nil {
		return WorkerBenchResult{}, err
	}
	var mu sync.Mutex
	injected := make(map[string]time.Time, len(ids))
	client := a.Bot.Client()
	begin := time.Now()
	for i := range events {
		mu.Lock()
		injected[ids[i]] = time.Now()
		mu.Unlock()
		client.EventManager.HandleGatewayEvent(client.Gateway, gateway.EventTypeMessageCreate, i+2, events[i])
	}
	pool := a.Store.Pool()
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM incoming_messages WHERE message_id = ANY($1) AND done_at IS NOT NULL`, ids).Scan(&n); err != nil {
			return WorkerBenchResult{}, fmt.Errorf("bench: %w", err)
		}
		if n == len(ids) {
			break
		}
		select {
		case <-ctx.Done():
			return WorkerBenchResult{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	res := WorkerBenchResult{Messages: opts.Messages, Workers: workers, Elapsed: time.Since(begin)}
	rows, err := pool.Query(ctx, `SELECT j.args->'plan'->'message'->>'id', EXTRACT(EPOCH FROM (j.attempted_at - j.created_at))::float8, d.finished_at
		FROM river_job j JOIN reply_deliveries d ON d.request_id LIKE (j.args->'plan'->'message'->>'id') || '-%'
		WHERE j.kind = 'reply' AND j.args->'plan'->'message'->>'id' = ANY($1) AND d.state = 'posted'`, ids)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	var queue, total []time.Duration
	for rows.Next() {
		var (
			id       string
			wait     float64
			finished time.Time
		)
		if err := rows.Scan(&id, &wait, &finished); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		queue = append(queue, time.Duration(wait*float64(time.Second)))
		total = append(total, finished.Sub(injected[id]))
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	res.RepliesPerSecond = float64(len(total)) / res.Elapsed.Seconds()
	res.QueueP50, res.QueueP99 = percentile(queue, 50), percentile(queue, 99)
	res.EventToPostP50, res.EventToPostP99 = percentile(total, 50), percentile(total, 99)
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM usage_logs u JOIN personalities p ON p.id = u.personality_id WHERE p.slug = $1`, slug).Scan(&res.UsageRows); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	// This run's queue rows go with it (the jobs too: their arguments name users that are gone).
	_, _ = pool.Exec(ctx, `DELETE FROM river_job WHERE kind = 'reply' AND args->'plan'->'message'->>'id' = ANY($1)`, ids)
	_, _ = pool.Exec(ctx, `DELETE FROM incoming_messages WHERE message_id = ANY($1)`, ids)
	_, _ = pool.Exec(ctx, `DELETE FROM reply_deliveries WHERE channel_id = ANY($1)`, channelIDs(channels))
	return res, nil
}

func channelIDs(chs []discordfake.Channel) []string {
	out := make([]string, len(chs))
	for i, c := range chs {
		out[i] = c.ID
	}
	return out
}
