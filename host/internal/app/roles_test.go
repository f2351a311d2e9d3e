package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/queue"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// process is a real tzurot binary running as a child, its log kept for failures.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{}
}

func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// buildTzurot builds the real binary once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "tzurot-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tzurot")
	cmd := exec.Command("go", "build", "-o", bin, "./host/cmd/tzurot")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// spawn starts `tzurot serve --role role` with the world's environment plus extra.
func (w *world) spawn(bin, role string, extra map[string]string) *process {
	w.t.Helper()
	p := &process{name: role, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--role", role)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_FORMAT=json", "LOG_LEVEL=info"}
	for k, v := range w.env {
		env = append(env, k+"="+v)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	p.cmd.Stdout = nil
	if err := p.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	w.t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if w.t.Failed() {
			w.t.Logf("--- log of %s (pid %d) ---\n%s", p.name, p.cmd.Process.Pid, p.logText())
		}
	})
	return p
}

// waitLog waits until the process logged text (it is up), or fails.
func (p *process) waitLog(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(p.logText(), text) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before %q:\n%s", p.name, text, p.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged %q:\n%s", p.name, text, p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowProvider answers like the fake OpenAI provider after a pause, so a burst has calls in
// flight when a worker is killed.
func slowProvider(t *testing.T, pause time.Duration) *provider {
	p := &provider{got: make(chan struct{}, 1000)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		select {
		case p.got <- struct{}{}:
		default:
		}
		time.Sleep(pause)
		last := ""
		if n := len(req.Messages); n > 0 {
			last = req.Messages[n-1].Content
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

// TestGatewayAndWorkersAnswerEveryMessageOnceInOrder runs the real binary as one gateway and
// workers on one database and the fake Discord. The first worker is killed with SIGKILL in the
// middle of a burst (two more take over), then the gateway is killed with messages still queued: every message still gets
// exactly one reply, in order in each channel, and each reply's usage is counted once; a
// personality deleted while its message waited stays silent; PostgreSQL dropping every
// connection during the second burst loses and doubles nothing; the job arguments hold no key.
func TestGatewayAndWorkersAnswerEveryMessageOnceInOrder(t *testing.T) {
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	w.provider = slowProvider(t, 400*time.Millisecond)
	w.plugins = pluginsTOML(t, t.TempDir(), w.provider, "test-model")
	w.env[app.EnvPlugins] = w.plugins
	w.env[app.EnvDiscordRESTURL] = w.fake.RESTURL()
	// A killed worker's jobs are run again after 25 s, not the default 6 minutes.
	queueEnv := map[string]string{app.EnvJobTimeout: "20s", app.EnvJobRescue: "25s", app.EnvJobWorkers: "4",
		// One user sends the whole burst: the per-user limits would (rightly) refuse most of it.
		"TZUROT_RATE_USER_PER_MINUTE": "0", "TZUROT_RATE_GUILD_PER_MINUTE": "0"}

	// A second personality, deleted while a message to it waits in the queue.
	faun, err := w.store.CreatePersonality(context.Background(), store.NewPersonality{Slug: "faun", Name: "Faun", SystemPrompt: "Be brief."})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.SetLLMConfig(context.Background(), faun, 0, store.LLMConfig{Provider: "openrouter", Model: "test-model"}); err != nil {
		t.Fatal(err)
	}

	gateway := w.spawn(bin, "gateway", queueEnv)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := w.fake.WaitReady(ctx); err != nil {
		t.Fatalf("gateway never connected: %v\n%s", err, gateway.logText())
	}
	gateway.waitLog(t, "tzurot is running")
	// One worker first, so the call in flight when it is killed is surely its own.
	first := w.spawn(bin, "worker", queueEnv)
	first.waitLog(t, "tzurot is running")

	channels := []discordfake.Channel{w.channel, w.fake.AddTextChannel(guildID), w.fake.AddTextChannel(guildID)}
	const perChannel = 4
	post := func(ch discordfake.Channel, content string) {
		raw := w.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID,
			Content: content, Author: discordfake.User{ID: userID, Username: "alice"}})
		if err := w.fake.Dispatch("MESSAGE_CREATE", json.RawMessage(raw)); err != nil {
			t.Fatal(err)
		}
	}
	send := func(round int) {
		for i := 0; i < perChannel; i++ {
			for c, ch := range channels {
				post(ch, fmt.Sprintf("@Bambi r%d c%d m%d", round, c, i))
			}
		}
	}

	// Round 0: kill the worker once its calls are in flight; two others take over.
	send(0)
	select {
	case <-w.provider.got:
	case <-time.After(3 * time.Minute):
		t.Fatalf("no provider call started\n%s", gateway.logText())
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	workers := []*process{w.spawn(bin, "worker", queueEnv), w.spawn(bin, "worker", queueEnv)}
	for _, p := range workers {
		p.waitLog(t, "tzurot is running")
	}

	// Round 1: the gateway queues a burst and is killed before the workers can have answered it;
	// Faun, asked last in channel 0 (so its job waits behind four replies), is deleted meanwhile.
	// PostgreSQL drops every connection of every process three times meanwhile, as a restart
	// does.
	restarts := w.restartDatabase(3, 500*time.Millisecond)
	send(1)
	post(channels[0], "@Faun are you there?")
	total := 2 * perChannel * len(channels)
	waitUntil(t, 2*time.Minute, func() bool { return w.count(`SELECT count(*) FROM incoming_messages`) == total+1 })
	if err := gateway.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-restarts
	if ok, err := w.store.DeletePersonality(context.Background(), faun); err != nil || !ok {
		t.Fatalf("delete Faun: %v %v", ok, err)
	}

	waitUntil(t, 4*time.Minute, func() bool {
		n := 0
		for _, ch := range channels {
			n += len(w.webhookReplies(ch.ID))
		}
		return n >= total && w.count(`SELECT count(*) FROM incoming_messages WHERE done_at IS NULL`) == 0 &&
			w.count(`SELECT count(*) FROM river_job WHERE finalized_at IS NULL`) == 0
	})
	for c, ch := range channels {
		var got []string
		for _, m := range w.webhookReplies(ch.ID) {
			got = append(got, m.Content)
		}
		var want []string
		for round := 0; round < 2; round++ {
			for i := 0; i < perChannel; i++ {
				want = append(want, fmt.Sprintf("echo: alice: r%d c%d m%d", round, c, i))
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("channel %d replies (exactly one per message, in order):\n%s\nwant:\n%s", c, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if n := w.count(`SELECT count(*) FROM river_job WHERE state = 'completed'`); n != total+1 {
		t.Errorf("%d jobs completed, want %d (the deleted personality's job ends quietly)", n, total+1)
	}
	if n := w.count(`SELECT count(*) FROM usage_logs`); n != total {
		t.Errorf("%d usage rows for %d replies: each reply must be metered exactly once", n, total)
	}
	if n := w.count(`SELECT count(*) FROM reply_deliveries WHERE state = 'posted'`); n != total {
		t.Errorf("%d delivery records posted, want %d", n, total)
	}
	if rescued := w.count(`SELECT count(*) FROM river_job WHERE attempt > 1`); rescued == 0 {
		t.Error("no job was run a second time: the killed worker held none, so the test proved nothing about a crash")
	}
	var args []string
	rows, err := w.store.Pool().Query(context.Background(), `SELECT args::text FROM river_job`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		args = append(args, a)
	}
	if rows.Err() != nil || len(args) != total+1 {
		t.Fatalf("%d jobs (%v), want %d", len(args), rows.Err(), total+1)
	}
	for _, a := range args {
		if strings.Contains(a, userKey) || strings.Contains(a, w.fake.Token) || strings.Contains(a, w.env["APP_MASTER_KEY"]) {
			t.Fatalf("a job's arguments hold a secret: %s", a)
		}
		if !strings.Contains(a, `"channel_id"`) || !strings.Contains(a, `"personality_id"`) && !strings.Contains(a, `"PersonalityID"`) {
			t.Fatalf("a job's arguments lack the message snapshot or the personality: %s", a)
		}
	}
	w.fake.AssertNoViolations(t)
}

// restartDatabase terminates every connection to the test database (all processes') waves
// times, pause apart, as a PostgreSQL restart does; the channel closes when it is done.
func (w *world) restartDatabase(waves int, pause time.Duration) <-chan struct{} {
	done := make(chan struct{})
	db := w.store.Pool().Config().ConnConfig.Database
	go func() {
		defer close(done)
		admin, err := pgx.Connect(context.Background(), pgtest.AdminURL())
		if err != nil {
			w.t.Errorf("connect as admin: %v", err)
			return
		}
		defer admin.Close(context.Background())
		for i := 0; i < waves; i++ {
			time.Sleep(pause)
			if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = $1 AND pid <> pg_backend_pid()`, db); err != nil {
				w.t.Errorf("terminate backends: %v", err)
				return
			}
		}
	}()
	return done
}

// count runs a count query, trying again while connections are being dropped.
func (w *world) count(query string) int {
	w.t.Helper()
	var err error
	for try := 0; try < 50; try++ {
		var n int
		if err = w.store.Pool().QueryRow(context.Background(), query).Scan(&n); err == nil {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatal(err)
	return 0
}

func (w *world) webhookReplies(channelID string) []discordfake.Message {
	var out []discordfake.Message
	for _, m := range w.fake.Messages(channelID) {
		if m.WebhookID != "" {
			out = append(out, m)
		}
	}
	return out
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never became true")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRoleShardAndJobSettings(t *testing.T) {
	env := map[string]string{"DISCORD_TOKEN": "t.o.k", "DATABASE_URL": "postgres://x@127.0.0.1/db"}
	get := func(k string) string { return env[k] }
	c, err := app.ConfigFromEnv(get, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != app.RoleAll || c.ShardCount != 0 || c.Queue != (queue.Config{}) {
		t.Fatalf("defaults: role %q, %d shards, queue %+v; want one unsharded process with no queue settings", c.Role, c.ShardCount, c.Queue)
	}
	env[app.EnvRole] = "Worker"
	env[app.EnvShards] = "0-1,4"
	env[app.EnvShardCount] = "8"
	env[app.EnvJobTimeout] = "90s"
	env[app.EnvJobAttempts] = "3"
	if c, err = app.ConfigFromEnv(get, nil, nil); err != nil {
		t.Fatal(err)
	}
	if c.Role != app.RoleWorker || c.Gateway || fmt.Sprint(c.ShardIDs) != "[0 1 4]" || c.ShardCount != 8 ||
		c.Queue.JobTimeout != 90*time.Second || c.Queue.MaxAttempts != 3 {
		t.Fatalf("overrides: role %q gateway %v shards %v/%d queue %+v", c.Role, c.Gateway, c.ShardIDs, c.ShardCount, c.Queue)
	}
	for k, v := range map[string]string{
		app.EnvRole:       "everything",
		app.EnvShards:     "0-9",
		app.EnvShardCount: "0",
		app.EnvJobRescue:  "30s", // shorter than the 90 s job timeout
	} {
		bad := map[string]string{}
		for ek, ev := range env {
			bad[ek] = ev
		}
		bad[k] = v
		if _, err := app.ConfigFromEnv(func(k string) string { return bad[k] }, nil, nil); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: err %v, want an error naming %s", k, v, err, k)
		}
	}
}
