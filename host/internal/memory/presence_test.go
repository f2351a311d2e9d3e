package memory_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// statementCounter counts what a pool sends: each statement, and each
// batch once (retrieval is one batch: its plan setting and its statement).
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// presenceWorld is a memory.Store with a Presence fed by a real
// cache.Listener, on a pool whose statements are counted, beside the
// fixture's plain pool (another process, as far as the cache knows).
type presenceWorld struct {
	*fixture
	mem      *memory.Store
	listener *cache.Listener
	sent     *statementCounter
}

func newPresenceWorld(t *testing.T) *presenceWorld {
	f := newFixture(t)
	cfg := f.pool.Config().Copy()
	sent := &statementCounter{}
	cfg.ConnConfig.Tracer = sent
	counted, err := pgxpool.NewWithConfig(f.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(counted.Close)
	presence := memory.NewPresence(0)
	l := cache.NewListener(f.pool.Config().ConnConfig, nil, presence)
	ctx, stop := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	if err := l.WaitConnected(f.ctx); err != nil {
		t.Fatal(err)
	}
	return &presenceWorld{fixture: f, mem: memory.New(counted, nil).WithPresence(presence), listener: l, sent: sent}
}

// retrieve is one reply's retrieval for alice in her DMs, and how many
// statements it sent.
func (w *presenceWorld) retrieve(t *testing.T) (memory.Blocks, int64) {
	t.Helper()
	before := w.sent.n.Load()
	b, err := w.mem.Retrieve(w.ctx, memory.Query{PersonalityID: w.pers, UserID: w.alice, IsDM: true, Text: "alice: hello again", Budget: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return b, w.sent.n.Load() - before
}

// waitNotified waits until the listener has passed on a notification
// after received (never a sleep).
func (w *presenceWorld) waitNotified(t *testing.T, received uint64) {
	t.Helper()
	for {
		ch, _, n := w.listener.Changed()
		if n > received {
			return
		}
		<-ch
	}
}

// TestEmptyRetrievalIsSkippedUntilSomethingIsAdded: a personality with no
// memory content and a user with no persona cost one retrieval statement,
// then none; whatever another process adds (a memory, knowledge, an
// imported personalization, a persona) is in the very next retrieval once
// its notification is in, and this process's own writes are in it at once.
func TestEmptyRetrievalIsSkippedUntilSomethingIsAdded(t *testing.T) {
	w := newPresenceWorld(t)
	if b, n := w.retrieve(t); !b.Empty() || n != 1 {
		t.Fatalf("first retrieval: empty=%v after %d statements, want empty after 1", b.Empty(), n)
	}
	if b, n := w.retrieve(t); !b.Empty() || n != 0 {
		t.Fatalf("second retrieval sent %d statements; known-empty personality and user should send none", n)
	}

	steps := []struct {
		name  string
		write func() error
		seen  func(memory.Blocks) bool
	}{
		{"a memory from another process", func() error {
			_, err := w.pool.Exec(w.ctx, `INSERT INTO personality_memories (personality_id, source_system, content, about_user_ids, is_dm, formed_by)
				VALUES ($1, 'tzurot', 'Alice keeps bees.', ARRAY[$2::bigint], true, 'summary')`, w.pers, w.alice)
			return err
		}, func(b memory.Blocks) bool { return has(b.Memories, "bees") }},
		{"a persona from another process", func() error {
			_, err := w.pool.Exec(w.ctx, `INSERT INTO user_personas (user_id, personality_id, content) VALUES ($1, NULL, 'I am a night owl.')`, w.alice)
			return err
		}, func(b memory.Blocks) bool { return b.Persona != nil && b.Persona.Content == "I am a night owl." }},
	}
	for _, s := range steps {
		_, _, received := w.listener.Changed()
		if err := s.write(); err != nil {
			t.Fatal(err)
		}
		w.waitNotified(t, received)
		b, n := w.retrieve(t)
		if !s.seen(b) || n != 1 {
			t.Fatalf("%s: retrieval after it sent %d statements and found %+v", s.name, n, b)
		}
	}
}

// TestOwnWritesAreSeenAtOnce: /persona set and /personality knowledge add
// (the store's writes) and a formed memory (memory.Store.Add) drop what
// Presence knew before their notification comes back, so the reply right
// after them uses them. The Presence here hears no notifications at all
// (made live by hand), so only the writes themselves can drop it.
func TestOwnWritesAreSeenAtOnce(t *testing.T) {
	f := newFixture(t)
	presence := memory.NewPresence(0)
	presence.Reset(true)
	mem := memory.New(f.pool, nil).WithPresence(presence)
	st := store.New(f.pool, nil, nil)
	st.AlsoTell(presence)
	retrieve := func() memory.Blocks {
		b, err := mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "alice: what do you know", Budget: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !retrieve().Empty() || !retrieve().Empty() {
		t.Fatal("an empty personality found something")
	}
	if err := st.SetUserPersona(f.ctx, f.alice, 0, "I collect stamps."); err != nil {
		t.Fatal(err)
	}
	if b := retrieve(); b.Persona == nil || b.Persona.Content != "I collect stamps." {
		t.Fatalf("the reply right after /persona set has persona %+v", b.Persona)
	}
	if _, err := st.ClearUserPersona(f.ctx, f.alice, 0); err != nil {
		t.Fatal(err)
	}
	retrieve() // known empty again (nothing about alice, no persona)
	if _, err := st.AddKnowledge(f.ctx, f.pers, store.KnowledgeEntry{Title: "Lore", Content: "The tower has 99 steps.", AlwaysOn: true}); err != nil {
		t.Fatal(err)
	}
	if b := retrieve(); len(b.Knowledge) != 1 {
		t.Fatalf("the reply right after /personality knowledge add has %d knowledge entries", len(b.Knowledge))
	}

	// A personality known empty, then a formed memory.
	var other int64
	if err := f.pool.QueryRow(f.ctx, `INSERT INTO personalities (slug, name) VALUES ('nox', 'Nox') RETURNING id`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	q := memory.Query{PersonalityID: other, UserID: f.alice, IsDM: true, Text: "alice: hi", Budget: 1000}
	for range 2 {
		if b, err := mem.Retrieve(f.ctx, q); err != nil || !b.Empty() {
			t.Fatalf("empty personality: %+v, %v", b, err)
		}
	}
	if _, err := mem.Add(f.ctx, memory.NewMemory{PersonalityID: other, Content: "Alice fears heights.", AboutUserIDs: []int64{f.alice}, IsDM: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := mem.Retrieve(f.ctx, q); err != nil || !has(b.Memories, "heights") {
		t.Fatalf("the reply right after a memory was formed: %+v, %v", b.Memories, err)
	}
}
