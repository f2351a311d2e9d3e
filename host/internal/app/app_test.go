package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/disgoorg/disgo/gateway"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/config"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

func TestServeRefusesToStartWithoutWhatItNeeds(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct {
		unset, set, value string
		want              string
		is                error
	}{
		{unset: "APP_MASTER_KEY", want: "APP_MASTER_KEY is not set", is: vault.ErrNoMasterKey},
		{set: "APP_MASTER_KEY", value: "too-short", want: "APP_MASTER_KEY is neither base64 nor 64 hex digits"},
		{unset: "DATABASE_URL", want: "DATABASE_URL is not set", is: config.ErrNoDatabaseURL},
		{unset: "DISCORD_TOKEN", want: "DISCORD_TOKEN is not set"},
		{set: app.EnvPlugins, value: "/nonexistent/plugins.toml", want: "read /nonexistent/plugins.toml"},
		{set: app.EnvGateway, value: "off", want: "TZUROT_GATEWAY=off leaves the bot deaf"},
		{set: app.EnvInteractionsAddr, value: "127.0.0.1:0", want: "DISCORD_PUBLIC_KEY is not"},
		{set: "TZUROT_RATE_USER_PER_MINUTE", value: "lots", want: "TZUROT_RATE_USER_PER_MINUTE"},
		{set: app.EnvReplyTimeout, value: "5", want: "TZUROT_REPLY_TIMEOUT"},
		{set: "TZUROT_FALLBACK_USERS", value: "alice", want: "not a Discord user id"},
	} {
		saved := w.env
		w.env = map[string]string{}
		for k, v := range saved {
			w.env[k] = v
		}
		if c.unset != "" {
			delete(w.env, c.unset)
		} else {
			w.env[c.set] = c.value
		}
		err := app.Serve(context.Background(), w.options())
		w.env = saved
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s%s: err = %v, want it to say %q", c.unset, c.set, err, c.want)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v is not %v", c.unset, err, c.is)
		}
	}
	if n := len(w.fake.Requests()); n != 0 {
		t.Fatalf("a refused start still talked to Discord (%d requests)", n)
	}
}

// inject delivers a user message through the running bot's gateway client.
func (w *world) inject(a *app.App, content string) {
	w.t.Helper()
	raw := w.fake.UserMessage(discordfake.MessageSpec{ChannelID: w.channel.ID, GuildID: guildID, Content: content,
		Author: discordfake.User{ID: userID, Username: "alice"}})
	discordfake.Inject(w.t, a.Bot.Client(), gateway.EventTypeMessageCreate, raw)
}

// TestShutdownFinishesTheReplyInFlight cancels serve while a reply waits on
// the provider: the reply is still posted, and its usage and message id are
// recorded, before serve returns.
func TestShutdownFinishesTheReplyInFlight(t *testing.T) {
	w := newWorld(t)
	opts := w.options()
	opts.NoGatewayConnect = true
	a, stop := w.serve(opts)
	if got := w.fake.CommandPuts(); len(got) != 1 {
		t.Fatalf("slash commands registered %d times at start", len(got))
	}
	hold := make(chan struct{})
	w.provider.mu.Lock()
	w.provider.hold = hold
	w.provider.mu.Unlock()

	w.inject(a, "@bambi are you still there?")
	<-w.provider.got // the reply is waiting on the model now
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Once shutdown is under way, the model answers.
	waitFor(t, func() bool { return strings.Contains(w.logs.String(), `"msg":"shutting down"`) })
	close(hold)
	if err := <-stopped; err != nil {
		t.Fatalf("serve: %v\n%s", err, w.logs.String())
	}
	replies := w.replies()
	if len(replies) != 1 || replies[0].Content != "echo: alice: are you still there?" {
		t.Fatalf("replies %+v", replies)
	}
	if n := w.usageRows(); n != 1 {
		t.Fatalf("usage rows %d", n)
	}
	if owner, ok, err := w.store.PersonalityForMessage(context.Background(), replies[0].ID); err != nil || !ok || owner == 0 {
		t.Fatalf("reply not mapped: %v %v", ok, err)
	}
	// The webhook was stored sealed, not in the clear.
	var ct []byte
	if err := w.store.Pool().QueryRow(context.Background(), `SELECT token_ciphertext FROM channel_webhooks`).Scan(&ct); err != nil {
		t.Fatal(err)
	}
	for _, hook := range w.fake.AllWebhooks() {
		if bytes.Contains(ct, []byte(hook.Token)) {
			t.Fatal("webhook token stored in the clear")
		}
	}
	if strings.Contains(w.logs.String(), userKey) || strings.Contains(w.logs.String(), w.fake.Token) {
		t.Fatal("a secret reached the log")
	}
	if !strings.Contains(w.logs.String(), "shut down cleanly") {
		t.Fatal("shutdown did not report a clean stop")
	}
}

func TestSIGHUPReloadsPluginsTOML(t *testing.T) {
	w := newWorld(t)
	hup := make(chan os.Signal, 1)
	opts := w.options()
	opts.NoGatewayConnect = true
	opts.Reload = hup
	a, stop := w.serve(opts)
	model := func() string {
		for _, st := range a.Plugins.Status() {
			if st.Name == "openrouter" && st.State == plugin.StateLoaded {
				return st.Path
			}
		}
		return ""
	}
	if model() == "" {
		t.Fatal("openrouter not loaded at start")
	}
	// A broken plugins.toml is refused and the running plugins stay.
	if err := os.WriteFile(w.plugins, []byte("[plugins.openrouter]\npath = \"/nope.wasm\"\nenabled = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	waitFor(t, func() bool { return strings.Contains(w.logs.String(), "plugins.toml not reloaded") })
	if model() == "" {
		t.Fatal("a refused reload dropped the running plugin")
	}
	// A good one is swapped in: the openrouter entry is now disabled.
	pluginsTOML(t, strings.TrimSuffix(w.plugins, "/plugins.toml"), w.provider, "other-model")
	b, _ := os.ReadFile(w.plugins)
	b = bytes.Replace(b, []byte(`key_slot = "openrouter"`), []byte("key_slot = \"openrouter\"\nenabled = false"), 1)
	if err := os.WriteFile(w.plugins, b, 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	waitFor(t, func() bool { return strings.Contains(w.logs.String(), "plugins.toml reloaded") })
	if model() != "" {
		t.Fatal("the reloaded plugins.toml did not take effect")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPInteractionsOnly(t *testing.T) {
	w := newWorld(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	w.env[app.EnvGateway] = "off"
	w.env[app.EnvInteractionsAddr] = "127.0.0.1:0"
	w.env[app.EnvDiscordPublicKey] = hex.EncodeToString(pub)
	a, stop := w.serve(w.options())
	if a.InteractionsAddr == nil {
		t.Fatal("no interactions endpoint")
	}
	post := func(key ed25519.PrivateKey) (*http.Response, string) {
		body := []byte(`{"type":1,"id":"900000000000000001","application_id":"` + w.fake.AppID + `","token":"tok","version":1}`)
		req, _ := http.NewRequest("POST", "http://"+a.InteractionsAddr.String()+"/interactions", bytes.NewReader(body))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Signature-Timestamp", ts)
		req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(key, append([]byte(ts), body...))))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := post(priv); resp.StatusCode != 200 || !strings.Contains(body, `"type":1`) {
		t.Fatalf("PING: %d %s", resp.StatusCode, body)
	}
	_, wrong, _ := ed25519.GenerateKey(nil)
	if resp, _ := post(wrong); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a forged interaction got %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigDefaultsAndOverrides(t *testing.T) {
	env := map[string]string{"DISCORD_TOKEN": "t.o.k", "DATABASE_URL": "postgres://x@127.0.0.1/db"}
	get := func(k string) string { return env[k] }
	c, err := app.ConfigFromEnv(get, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.PluginsFile != "plugins.toml" || !c.Gateway || c.Workers != app.DefaultWorkers || c.ShutdownTimeout != 30*time.Second || c.Limits.UserPerMinute != 10 || c.Chat.Stream {
		t.Fatalf("defaults %+v", c)
	}
	env["TZUROT_HISTORY_MESSAGES"] = "0"
	env["TZUROT_REPLY_TIMEOUT"] = "45s"
	env["TZUROT_MENTION_POLL"] = "off"
	env["TZUROT_STREAM_REPLIES"] = "on"
	env["TZUROT_TOOLS"] = "off"
	env["TZUROT_TOOL_STEPS"] = "3"
	env["TZUROT_FALLBACK_KEY_OPENROUTER"] = "sk-or-host"
	env["TZUROT_FALLBACK_GUILDS"] = "800000000000000001"
	var observed []string
	c, err = app.ConfigFromEnv(get, []string{"TZUROT_FALLBACK_KEY_OPENROUTER=sk-or-host"}, func(s string) { observed = append(observed, s) })
	if err != nil {
		t.Fatal(err)
	}
	if c.Chat.HistoryMessages != 0 || c.Chat.ReplyTimeout != 45*time.Second || c.Chat.MentionPoll >= 0 || !c.Chat.Stream || !c.Chat.Tools.Disabled || c.Chat.Tools.MaxSteps != 3 {
		t.Fatalf("overrides %+v", c.Chat)
	}
	if !c.Chat.Fallback.Allowed("1", "800000000000000001") || c.Chat.Fallback.Allowed("1", "800000000000000002") {
		t.Fatal("fallback allowlist not applied")
	}
	if strings.Join(observed, ",") != "t.o.k,sk-or-host" {
		t.Fatalf("secrets not registered for redaction: %q", observed)
	}
	if c.Memory.EmbedPlugin != "" || !c.Memory.Formation || c.Memory.Idle != 0 || c.Memory.EmbedPGVector != "auto" {
		t.Fatalf("memory defaults %+v", c.Memory)
	}
	env["TZUROT_EMBED_PLUGIN"] = "openai"
	env["TZUROT_EMBED_DIMENSIONS"] = "256"
	env["TZUROT_MEMORY_IDLE"] = "5m"
	env["TZUROT_MEMORY_FORMATION"] = "off"
	if c, err = app.ConfigFromEnv(get, nil, nil); err != nil || c.Memory.EmbedPlugin != "openai" || c.Memory.EmbedDimensions != 256 ||
		c.Memory.Idle != 5*time.Minute || c.Memory.Formation {
		t.Fatalf("memory overrides %+v, %v", c.Memory, err)
	}
	env["TZUROT_EMBED_DIMENSIONS"] = "9000"
	if _, err := app.ConfigFromEnv(get, nil, nil); err == nil || !strings.Contains(err.Error(), "TZUROT_EMBED_DIMENSIONS=\"9000\" must be a whole number from 1 to 8192") {
		t.Fatalf("a bad TZUROT_EMBED_DIMENSIONS: %v", err)
	}
	delete(env, "TZUROT_EMBED_DIMENSIONS")
	env["TZUROT_EMBED_PGVECTOR"] = "off"
	if c, err = app.ConfigFromEnv(get, nil, nil); err != nil || c.Memory.EmbedPGVector != "off" {
		t.Fatalf("TZUROT_EMBED_PGVECTOR=off: %+v, %v", c.Memory, err)
	}
	env["TZUROT_EMBED_PGVECTOR"] = "required"
	if _, err := app.ConfigFromEnv(get, nil, nil); err == nil || !strings.Contains(err.Error(), `TZUROT_EMBED_PGVECTOR="required" must be auto`) {
		t.Fatalf("a bad TZUROT_EMBED_PGVECTOR: %v", err)
	}
	delete(env, "TZUROT_EMBED_PGVECTOR")
	env["TZUROT_STREAM_REPLIES"] = "sometimes"
	if _, err := app.ConfigFromEnv(get, nil, nil); err == nil || !strings.Contains(err.Error(), `TZUROT_STREAM_REPLIES="sometimes" must be on or off`) {
		t.Fatalf("a bad TZUROT_STREAM_REPLIES: %v", err)
	}
}

// waitFor polls cond; the deadline only guards against a hung test.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never became true")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeFormsMemoriesAfterAQuietConversation: serve wires memory
// formation into the pipeline. A reply is posted; once the conversation
// has been quiet for TZUROT_MEMORY_IDLE, the personality's chat plugin
// summarises it and a memory about the user is stored, formed in the
// channel, and the summary is billed to the user.
func TestServeFormsMemoriesAfterAQuietConversation(t *testing.T) {
	w := newWorld(t)
	w.env[app.EnvMemoryIdle] = "1s"
	opts := w.options()
	opts.NoGatewayConnect = true
	a, _ := w.serve(opts)
	w.inject(a, "@bambi I finally adopted a grey cat called Miso")
	waitFor(t, func() bool { return len(w.replies()) == 1 })
	var content string
	var about []int64
	waitFor(t, func() bool {
		err := w.store.Pool().QueryRow(context.Background(), `SELECT content, about_user_ids FROM personality_memories
WHERE formed_by = 'summary' AND discord_channel_id = $1 AND discord_guild_id = $2 AND NOT is_dm`, w.channel.ID, guildID).Scan(&content, &about)
		return err == nil
	})
	u, err := w.store.UserByDiscordID(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(content, "grey cat called Miso") || len(about) != 1 || about[0] != u.ID {
		t.Fatalf("memory %q about %v", content, about)
	}
	var n int
	if err := w.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM usage_logs WHERE request_id LIKE 'memory-%' AND user_id = $1 AND kind = 'text'`, u.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("summary usage rows %d, %v", n, err)
	}
}

// TestServeDetectsPGVector: serve with an embedding plugin says at start
// where memory vector search runs. Where the database server has the
// vector extension, serve creates it and its column; a database whose
// extension was dropped since starts just the same (and gets it back).
// Where the server has none, start says so in words and goes on.
func TestServeDetectsPGVector(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	toml, err := os.ReadFile(w.plugins)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.plugins, []byte(strings.Replace(string(toml), `["llm.chat", "llm.validate_key"]`, `["llm.chat", "llm.validate_key", "llm.embed"]`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env[app.EnvEmbedPlugin] = "openrouter"
	w.env[app.EnvMemoryFormation] = "off"
	pool := w.store.Pool()
	var has bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')`).Scan(&has); err != nil {
		t.Fatal(err)
	}
	for _, round := range []string{"first start", "after DROP EXTENSION vector CASCADE"} {
		opts := w.options()
		opts.NoGatewayConnect = true
		_, stop := w.serve(opts)
		if err := stop(); err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		logs := w.logs.String()
		var column bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'memory_embeddings'::regclass AND attname = 'embedding' AND NOT attisdropped)`).Scan(&column); err != nil {
			t.Fatal(err)
		}
		if !has {
			if column || !strings.Contains(logs, "memory vector search runs in the host (cosine over vectors loaded into memory): PostgreSQL's vector extension (pgvector) is not installed on the database server") {
				t.Fatalf("%s, no extension on the server: column %v, logs:\n%s", round, column, logs)
			}
			return
		}
		if !column || !strings.Contains(logs, "created PostgreSQL's vector extension; PostgreSQL's vector extension") || !strings.Contains(logs, "memory vector search runs in PostgreSQL") {
			t.Fatalf("%s: column %v, logs:\n%s", round, column, logs)
		}
		if _, err := pool.Exec(ctx, `DROP EXTENSION vector CASCADE`); err != nil {
			t.Fatal(err)
		}
		w.logs = &syncBuffer{}
	}
}
