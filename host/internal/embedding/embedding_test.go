package embedding

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/internal/providerfake"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

var openaiWasm, embedderWasm, cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "embedding-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := plugintest.ModuleRoot()
	if err == nil {
		openaiWasm = filepath.Join(dir, "openai.wasm")
		err = plugintest.BuildTo(filepath.Join(root, "plugins", "openai"), openaiWasm)
	}
	if err == nil {
		embedderWasm = filepath.Join(dir, "embedder.wasm")
		err = plugintest.BuildTo(filepath.Join(root, "host", "internal", "plugin", "testdata", "embedder"), embedderWasm)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = filepath.Join(dir, "cache")
	if uc, err := os.UserCacheDir(); err == nil {
		cacheDir = filepath.Join(uc, "tzurot", "embedding-test-wasm-cache")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is a database with one personality, two users (alice, bob), the
// real openai plugin against the fake OpenAI, and the deployment's
// fallback key for the openai slot.
type world struct {
	pool        *pgxpool.Pool
	mem         *memory.Store
	api         *providerfake.OpenAI
	host        *plugin.Host
	svc         *Service
	personality int64
	alice, bob  int64
}

func newWorld(t *testing.T, cfg Config) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{pool: pgtest.New(t), api: &providerfake.OpenAI{T: t}}
	url, hostPort := plugintest.Loopback(t, w.api)
	pc, err := plugin.ParseConfig([]byte(fmt.Sprintf(`
[runtime]
cache_dir = %q
[plugins.openai]
path = %q
key_slot = "openai"
capabilities = ["llm.chat", "llm.validate_key", "llm.embed"]
allowed_hosts = [%q]
allow_private = true
[plugins.openai.config]
base_url = "%s/v1"
flavor = "openai"
[plugins.embedder]
path = %q
capabilities = ["llm.embed"]
`, cacheDir, openaiWasm, hostPort, url, embedderWasm)), "")
	if err != nil {
		t.Fatal(err)
	}
	keys := &chat.KeySource{Own: &plugin.MemoryKeys{}, Fallback: chat.Fallback{Keys: map[string]string{"openai": providerfake.OpenAIKeyGood}}}
	w.host, err = plugin.NewHost(ctx, plugin.Options{Config: pc, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.host.Close(context.Background()) })
	for _, u := range []struct {
		id   *int64
		snow string
	}{{&w.alice, "700000000000000001"}, {&w.bob, "700000000000000002"}} {
		if err := w.pool.QueryRow(ctx, `INSERT INTO users (discord_id) VALUES ($1) RETURNING id`, u.snow).Scan(u.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.pool.QueryRow(ctx, `INSERT INTO personalities (slug, name) VALUES ('luna', 'Luna') RETURNING id`).Scan(&w.personality); err != nil {
		t.Fatal(err)
	}
	if cfg.Plugin == "" {
		cfg.Plugin = "openai"
	}
	w.svc = New(w.pool, w.host, store.New(w.pool, nil, nil), cfg, slog.New(slog.DiscardHandler))
	// As serve does: the vector extension where the server has it.
	if _, err := w.svc.EnablePGVector(ctx); err != nil {
		t.Fatal(err)
	}
	w.mem = memory.New(w.pool, w.svc)
	return w
}

const guild = "800000000000000001"

// remember stores a memory about user, formed in the guild.
func (w *world) remember(t *testing.T, user int64, text string) int64 {
	t.Helper()
	id, err := w.mem.Add(context.Background(), memory.NewMemory{PersonalityID: w.personality, Content: text,
		AboutUserIDs: []int64{user}, ChannelID: "900000000000000001", GuildID: guild, FormedBy: memory.FormedBySummary})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// backfill runs Backfill until nothing is left and returns the total.
func (w *world) backfill(t *testing.T) int {
	t.Helper()
	total := 0
	for {
		n, err := w.svc.Backfill(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			// As Run does once nothing is left: the vector extension's
			// indexes (a no-op without it).
			if err := w.svc.MaintainPGVector(context.Background()); err != nil {
				t.Fatal(err)
			}
			return total
		}
		total += n
	}
}

func (w *world) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := w.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackfillThenSearchFindsByMeaning: memories stored without vectors
// get them in the background (model and length kept, usage billed to the
// deployment as kind embed), and a search finds the memory that shares the
// conversation's words, first.
func TestBackfillThenSearchFindsByMeaning(t *testing.T) {
	w := newWorld(t, Config{Dimensions: 256, Batch: 3})
	cat := w.remember(t, w.alice, "Alice adopted a grey cat named Miso last spring")
	w.remember(t, w.alice, "Alice works as a nurse on night shifts")
	w.remember(t, w.alice, "Alice is learning to play the cello")
	w.remember(t, w.alice, "Alice's favourite food is ramen with extra egg")
	if n := w.backfill(t); n != 4 {
		t.Fatalf("backfilled %d memories, want 4", n)
	}
	if n := w.count(t, `SELECT count(*) FROM memory_embeddings WHERE model = 'text-embedding-3-small' AND dims = 256`); n != 4 {
		t.Errorf("%d vectors stored", n)
	}
	// Two batches (3 + 1), each one usage row of kind embed with no user.
	if n := w.count(t, `SELECT count(*) FROM usage_logs WHERE kind = 'embed' AND user_id IS NULL AND provider = 'openai' AND input_tokens > 0`); n != 2 {
		t.Errorf("%d embed usage rows, want 2", n)
	}
	// The conversation shares "alice" with every memory and "cat" with one
	// alone. (It used to ask for "my cat's name": "s" is a word of the
	// fake's too, shared with "Alice's favourite food", an exact tie that
	// float rounding broke one way in the host and the other in PostgreSQL.)
	got, err := w.svc.SearchMemories(context.Background(), memory.Query{PersonalityID: w.personality, UserID: w.alice, GuildID: guild,
		Text: "bob: hi Alice\nalice: do you remember my cat?"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].ID != cat || got[0].Score <= 0 || !strings.Contains(got[0].Content, "Miso") {
		t.Fatalf("search found %+v", got)
	}
	// Searched in PostgreSQL where the server has the vector extension
	// (the vectors were stored with their embedding by the backfill), in
	// the host where it does not.
	if has := serverHasPGVector(t, w.pool); has {
		if n := w.count(t, `SELECT count(*) FROM memory_embeddings WHERE embedding IS NOT NULL`); n != 4 || w.svc.pgSearches.Load() != 1 {
			t.Errorf("%d embeddings in the vector column, %d searches in PostgreSQL", n, w.svc.pgSearches.Load())
		}
	} else if w.svc.hostSearches.Load() != 1 {
		t.Errorf("%d searches in the host", w.svc.hostSearches.Load())
	}
	// The query was embedded with the deployment's key too.
	if h := w.api.Last(t).Header.Get("Authorization"); h != "Bearer "+providerfake.OpenAIKeyGood {
		t.Errorf("query embedded with %q", h)
	}
}

// TestSearchKeepsThePrivacyRule: the nearest memory is about bob; alice
// never gets it, even when every near vector is someone else's.
func TestSearchKeepsThePrivacyRule(t *testing.T) {
	w := newWorld(t, Config{Dimensions: 64})
	for i := range 20 {
		w.remember(t, w.bob, fmt.Sprintf("Bob's secret password hint number %d is the name of his dog", i))
	}
	mine := w.remember(t, w.alice, "Alice once lost her house keys at the beach")
	w.backfill(t)
	got, err := w.svc.SearchMemories(context.Background(), memory.Query{PersonalityID: w.personality, UserID: w.alice, GuildID: guild,
		Text: "what is bob's secret password hint and his dog's name"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != mine {
		t.Fatalf("alice got %+v", got)
	}
	got, err = w.svc.SearchMemories(context.Background(), memory.Query{PersonalityID: w.personality, UserID: w.bob, GuildID: guild,
		Text: "what is my secret password hint"}, 2)
	if err != nil || len(got) != 2 || !strings.Contains(got[0].Content, "Bob's") {
		t.Fatalf("bob got %+v, %v", got, err)
	}
}

// TestForgottenMemoryLosesItsVector: a deleted memory takes its vector
// with it and is never returned by a search made with vectors loaded
// before the delete.
func TestForgottenMemoryLosesItsVector(t *testing.T) {
	w := newWorld(t, Config{Dimensions: 64})
	id := w.remember(t, w.alice, "Alice's cat is called Miso")
	w.backfill(t)
	q := memory.Query{PersonalityID: w.personality, UserID: w.alice, GuildID: guild, Text: "cat called Miso"}
	if got, err := w.svc.SearchMemories(context.Background(), q, 3); err != nil || len(got) != 1 {
		t.Fatalf("before: %+v %v", got, err)
	}
	if err := w.mem.Forget(context.Background(), w.alice, id); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM memory_embeddings`); n != 0 {
		t.Errorf("%d vectors left", n)
	}
	if got, err := w.svc.SearchMemories(context.Background(), q, 3); err != nil || len(got) != 0 {
		t.Fatalf("after: %+v %v", got, err)
	}
}

// TestHostileEmbedderStoresNothing: a plugin answering NaN, the wrong
// number of vectors or mixed lengths fails the batch with a clear error
// and not one vector is stored; the memory stays for a later try.
func TestHostileEmbedderStoresNothing(t *testing.T) {
	for _, c := range []struct{ first, want string }{
		{"nan", "not a finite number"},
		{"fewer", "returned 1 vectors for 2 texts"},
		{"ragged", "different lengths"},
		{"dims:9000", "vectors of 9000 dimensions, outside 1..8192"},
	} {
		t.Run(c.first, func(t *testing.T) {
			w := newWorld(t, Config{Plugin: "embedder", Model: "m"})
			w.remember(t, w.alice, c.first)
			w.remember(t, w.alice, "second memory")
			_, err := w.svc.Backfill(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			if n := w.count(t, `SELECT count(*) FROM memory_embeddings`); n != 0 {
				t.Errorf("%d vectors stored from a refused answer", n)
			}
		})
	}
}
