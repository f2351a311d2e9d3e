package former

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/internal/providerfake"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

var openaiWasm, cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "former-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := plugintest.ModuleRoot()
	if err == nil {
		openaiWasm = filepath.Join(dir, "openai.wasm")
		err = plugintest.BuildTo(filepath.Join(root, "plugins", "openai"), openaiWasm)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = filepath.Join(dir, "cache")
	if uc, err := os.UserCacheDir(); err == nil {
		cacheDir = filepath.Join(uc, "tzurot", "former-test-wasm-cache")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	guild      = "800000000000000001"
	channel    = "900000000000000001"
	aliceSnow  = "700000000000000001"
	bobSnow    = "700000000000000002"
	carolSnow  = "700000000000000003" // has no key, no fallback
	aliceKey   = providerfake.OpenAIKeyGood
	personaTag = "Luna"
)

type world struct {
	t                 *testing.T
	pool              *pgxpool.Pool
	api               *providerfake.OpenAI
	former            *Former
	now               time.Time
	mu                sync.Mutex
	results           []Result
	personality       int64
	alice, bob, carol int64
	stored            int
	clockMu           sync.Mutex
}

func newWorld(t *testing.T, reply func([]providerfake.ChatMessage) string) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, pool: pgtest.New(t), api: &providerfake.OpenAI{T: t, Reply: reply}, now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	url, hostPort := plugintest.Loopback(t, w.api)
	pc, err := plugin.ParseConfig([]byte(fmt.Sprintf(`
[runtime]
cache_dir = %q
[plugins.openai]
path = %q
key_slot = "openai"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
[plugins.openai.config]
base_url = "%s/v1"
flavor = "openai"
`, cacheDir, openaiWasm, hostPort, url)), "")
	if err != nil {
		t.Fatal(err)
	}
	own := &plugin.MemoryKeys{}
	own.Set(aliceSnow, "openai", aliceKey)
	keys := &chat.KeySource{Own: own}
	host, err := plugin.NewHost(ctx, plugin.Options{Config: pc, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Close(context.Background()) })
	for _, u := range []struct {
		id   *int64
		snow string
	}{{&w.alice, aliceSnow}, {&w.bob, bobSnow}, {&w.carol, carolSnow}} {
		if err := w.pool.QueryRow(ctx, `INSERT INTO users (discord_id) VALUES ($1) RETURNING id`, u.snow).Scan(u.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.pool.QueryRow(ctx, `INSERT INTO personalities (slug, name) VALUES ('luna', $1) RETURNING id`, personaTag).Scan(&w.personality); err != nil {
		t.Fatal(err)
	}
	w.former = New(w.pool, host, store.New(w.pool, nil, nil), memory.New(w.pool, nil), Config{
		Idle: 10 * time.Minute, DefaultProvider: "openai", DefaultModel: "gpt-4o-mini",
		Now: w.clock, OnDone: func(r Result) { w.mu.Lock(); w.results = append(w.results, r); w.mu.Unlock() },
		Stored: func() { w.mu.Lock(); w.stored++; w.mu.Unlock() },
	}, slog.New(slog.DiscardHandler))
	return w
}

func (w *world) clock() time.Time {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.clockMu.Lock()
	w.now = w.now.Add(d)
	w.clockMu.Unlock()
}

func (w *world) say(user int64, snow, name, text, reply string) {
	w.former.Exchange(chat.Exchange{PersonalityID: w.personality, UserID: user, DiscordUserID: snow, UserName: name,
		ChannelID: channel, GuildID: guild, UserText: text, ReplyText: reply, At: w.clock()})
}

// quiet lets the conversation go quiet and handles what is due; it
// returns the results of this round.
func (w *world) quiet() []Result {
	w.advance(11 * time.Minute)
	w.former.Tick()
	w.mu.Lock()
	before := len(w.results)
	w.mu.Unlock()
	w.former.Drain(context.Background())
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.results[before:])
}

func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	if _, err := w.pool.Exec(context.Background(), sql, args...); err != nil {
		w.t.Fatal(err)
	}
}

type row struct {
	content        string
	about, present []int64
	isDM           bool
	channel, guild string
	formedBy       string
}

func (w *world) memories() []row {
	w.t.Helper()
	rows, err := w.pool.Query(context.Background(), `SELECT content, about_user_ids, present_user_ids, is_dm, coalesce(discord_channel_id,''), coalesce(discord_guild_id,''), formed_by
FROM personality_memories ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.content, &r.about, &r.present, &r.isDM, &r.channel, &r.guild, &r.formedBy); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// summary is what the fake model answers: a memory about U1, one about
// U2, one about a label nobody has.
func summary([]providerfake.ChatMessage) string {
	return "```json\n" + `{"memories":[
 {"about":["U1"],"text":"Alice adopted a grey cat named Miso.","importance":0.7},
 {"about":["U2"],"text":"Bob is training for a marathon in June.","importance":0.6},
 {"about":["U9"],"text":"Someone nobody knows.","importance":0.2}]}` + "\n```"
}

// TestFormationEndToEnd: a quiet conversation is summarised by the
// personality's own chat plugin (the real openai plugin against the fake
// OpenAI) with the closing user's key; the memories are stored about the
// right users with who was present, the channel and the guild; the call
// is metered to that user.
func TestFormationEndToEnd(t *testing.T) {
	w := newWorld(t, summary)
	w.say(w.bob, bobSnow, "bob", "I signed up for the June marathon!", "That's brilliant, Bob.")
	w.say(w.alice, aliceSnow, "alice", "and I adopted a grey cat, her name is Miso", "Miso is a lovely name.")
	if w.api.Count() != 0 {
		t.Fatal("the model was asked before the conversation went quiet")
	}
	res := w.quiet()
	if len(res) != 1 || res[0].Err != nil || len(res[0].Stored) != 2 {
		t.Fatalf("results %+v", res)
	}
	req := w.api.Last(t)
	if req.Path != "/v1/chat/completions" || req.Header.Get("Authorization") != "Bearer "+aliceKey || req.Body["model"] != "gpt-4o-mini" {
		t.Errorf("summary request %s %q %v", req.Path, req.Header.Get("Authorization"), req.Body["model"])
	}
	body := fmt.Sprint(req.Body["messages"])
	for _, want := range []string{"long-term memory of Luna", "U1 = bob", "U2 = alice", "June marathon", "her name is Miso"} {
		if !strings.Contains(body, want) {
			t.Errorf("the summariser's prompt lacks %q:\n%s", want, body)
		}
	}
	got := w.memories()
	if len(got) != 2 {
		t.Fatalf("stored %+v", got)
	}
	// U1 is bob (first to speak): the model's "U1" memory is about bob.
	for _, m := range got {
		if m.isDM || m.channel != channel || m.guild != guild || m.formedBy != "summary" || !slices.Equal(m.present, []int64{w.bob, w.alice}) {
			t.Errorf("memory %+v", m)
		}
	}
	if !slices.Equal(got[0].about, []int64{w.bob}) || !slices.Equal(got[1].about, []int64{w.alice}) {
		t.Errorf("about %v and %v, want bob then alice", got[0].about, got[1].about)
	}
	var n, tokens int
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(input_tokens + output_tokens), 0) FROM usage_logs
WHERE user_id = $1 AND personality_id = $2 AND kind = 'text' AND request_id LIKE 'memory-%'`, w.alice, w.personality).Scan(&n, &tokens); err != nil {
		t.Fatal(err)
	}
	if n != 1 || tokens == 0 {
		t.Errorf("usage rows %d with %d tokens, want 1 row for alice", n, tokens)
	}
	if w.stored != 1 {
		t.Errorf("the embedding backfill was woken %d times", w.stored)
	}
}

// TestFormationRespectsOptOut: a user who turned formation off is not in
// the prompt at all (not their words, not their name) and nothing is
// stored about them; a personality with formation off asks nothing.
func TestFormationRespectsOptOut(t *testing.T) {
	w := newWorld(t, summary)
	w.exec(`INSERT INTO user_preferences (user_id, memory_formation_enabled) VALUES ($1, false)`, w.bob)
	w.say(w.bob, bobSnow, "bob", "my bank pin is bob-secret-words", "I won't tell anyone.")
	w.say(w.alice, aliceSnow, "alice", "I adopted a grey cat", "Lovely.")
	res := w.quiet()
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("results %+v", res)
	}
	body := fmt.Sprint(w.api.Last(t).Body["messages"])
	if strings.Contains(body, "bob-secret-words") || strings.Contains(body, "bob") {
		t.Errorf("the opted-out user's messages reached the summariser:\n%s", body)
	}
	for _, m := range w.memories() {
		if slices.Contains(m.about, w.bob) || slices.Contains(m.present, w.bob) {
			t.Errorf("a memory involves the opted-out user: %+v", m)
		}
	}
	// Only alice spoke (U1); the model's "U2" names nobody and is dropped.
	if got := w.memories(); len(got) != 1 || !slices.Equal(got[0].about, []int64{w.alice}) {
		t.Errorf("stored %+v", got)
	}

	calls := w.api.Count()
	w.exec(`UPDATE personalities SET memory_formation_enabled = false WHERE id = $1`, w.personality)
	w.say(w.alice, aliceSnow, "alice", "something else", "ok")
	res = w.quiet()
	if len(res) != 1 || res[0].Skipped == "" || w.api.Count() != calls {
		t.Errorf("with formation off: %+v, %d calls", res, w.api.Count()-calls)
	}
}

// TestFormationBadJSONAndNoKey: a model answering prose stores nothing
// (the tokens it spent are still metered); a user with no key and no
// fallback is skipped without a call.
func TestFormationBadJSONAndNoKey(t *testing.T) {
	w := newWorld(t, func([]providerfake.ChatMessage) string { return "Sure! Alice has a cat. {not json" })
	w.say(w.alice, aliceSnow, "alice", "I adopted a cat", "Nice.")
	res := w.quiet()
	if len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "not the JSON asked for") || len(w.memories()) != 0 {
		t.Fatalf("bad JSON: %+v", res)
	}
	var n int
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM usage_logs WHERE user_id = $1`, w.alice).Scan(&n); err != nil || n != 1 {
		t.Errorf("usage rows %d, %v", n, err)
	}
	calls := w.api.Count()
	w.say(w.carol, carolSnow, "carol", "hello", "hi")
	res = w.quiet()
	if len(res) != 1 || !strings.Contains(res[0].Skipped, "no key") || w.api.Count() != calls {
		t.Errorf("no key: %+v, %d calls", res, w.api.Count()-calls)
	}
}

// TestFormationEveryN: with memory_every_n = 2, the second exchange
// queues the window without waiting for quiet.
func TestFormationEveryN(t *testing.T) {
	w := newWorld(t, summary)
	w.exec(`UPDATE personalities SET memory_every_n = 2 WHERE id = $1`, w.personality)
	// The worker learns the setting from the first window it handles.
	w.say(w.alice, aliceSnow, "alice", "first", "one")
	w.quiet()
	before := w.api.Count()
	w.say(w.alice, aliceSnow, "alice", "I adopted a grey cat", "Lovely.")
	w.say(w.alice, aliceSnow, "alice", "her name is Miso", "Sweet.")
	w.former.Drain(context.Background())
	if w.api.Count() != before+1 {
		t.Fatalf("%d summaries after two exchanges, want 1", w.api.Count()-before)
	}
}
