package embedding

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// serverHasPGVector asks the test server itself (not the code under
// test) whether the vector extension's files are installed: the tests
// below assert the PostgreSQL path where it is, and the clear "missing"
// report and the host path where it is not (a fresh CI machine).
func serverHasPGVector(t *testing.T, pool *pgxpool.Pool) bool {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// privacyWorld is one personality with memories of every kind the privacy
// rule tells apart, each with a random vector of 32 dimensions stored
// directly (no plugin), and the rule written out again in Go as the
// test's oracle.
type privacyWorld struct {
	pool             *pgxpool.Pool
	svc              *Service
	pers, alice, bob int64
	mems             []fakeMemory
	rng              *rand.Rand
}

type fakeMemory struct {
	id             int64
	about, present []int64
	dm             bool
	guild          string
	vec            []float32
}

const (
	pDims   = 32
	pModel  = "privacy-model"
	guild2  = "800000000000000002"
	channel = "900000000000000001"
)

// visibleTo is docs/security.md's rule ("Memories"), independent of the
// SQL: DM memories only in a DM, for a user they are about; others for a
// user they are about or who was present, in their guild or that user's
// DMs.
func (m fakeMemory) visibleTo(user int64, isDM bool, guild string) bool {
	if m.dm {
		return isDM && slices.Contains(m.about, user)
	}
	return (slices.Contains(m.about, user) || slices.Contains(m.present, user)) && (isDM || m.guild == guild)
}

func newPrivacyWorld(t *testing.T, n int, cfg Config) *privacyWorld {
	t.Helper()
	ctx := context.Background()
	w := &privacyWorld{pool: pgtest.New(t), rng: rand.New(rand.NewPCG(7, uint64(n)))}
	for _, u := range []struct {
		id   *int64
		snow string
	}{{&w.alice, "700000000000000001"}, {&w.bob, "700000000000000002"}} {
		if err := w.pool.QueryRow(ctx, `INSERT INTO users (discord_id) VALUES ($1) RETURNING id`, u.snow).Scan(u.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.pool.QueryRow(ctx, `INSERT INTO personalities (slug, name) VALUES ('luna', 'Luna') RETURNING id`).Scan(&w.pers); err != nil {
		t.Fatal(err)
	}
	// Eight kinds, in turn: alice's, bob's, about alice with bob present
	// (a shared channel), about both, alice's DM, bob's DM, alice's in
	// another guild, bob's with alice present.
	kinds := []fakeMemory{
		{about: []int64{w.alice}, present: []int64{w.alice}, guild: guild},
		{about: []int64{w.bob}, present: []int64{w.bob}, guild: guild},
		{about: []int64{w.alice}, present: []int64{w.alice, w.bob}, guild: guild},
		{about: []int64{w.alice, w.bob}, present: []int64{w.alice, w.bob}, guild: guild},
		{about: []int64{w.alice}, present: []int64{w.alice}, dm: true},
		{about: []int64{w.bob}, present: []int64{w.bob}, dm: true},
		{about: []int64{w.alice}, present: []int64{w.alice}, guild: guild2},
		{about: []int64{w.bob}, present: []int64{w.alice, w.bob}, guild: guild},
	}
	ms := make([]fakeMemory, n)
	for i := range ms {
		ms[i] = kinds[i%len(kinds)]
	}
	w.insert(t, ms)
	cfg.Plugin, cfg.Model = "none", pModel
	w.svc = New(w.pool, nil, store.New(w.pool, nil, nil), cfg, slog.New(slog.DiscardHandler))
	return w
}

// insert stores ms (memories and random vectors) with two COPYs.
func (w *privacyWorld) insert(t *testing.T, ms []fakeMemory) {
	t.Helper()
	ctx := context.Background()
	var last int64
	if err := w.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM personality_memories`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if _, err := w.pool.CopyFrom(ctx, pgx.Identifier{"personality_memories"},
		[]string{"personality_id", "source_system", "content", "about_user_ids", "present_user_ids", "is_dm", "discord_channel_id", "discord_guild_id", "formed_by"},
		pgx.CopyFromSlice(len(ms), func(i int) ([]any, error) {
			var g any
			if !ms[i].dm {
				g = ms[i].guild
			}
			return []any{w.pers, "test", fmt.Sprintf("memory %d", len(w.mems)+i), ms[i].about, ms[i].present, ms[i].dm, channel, g, "summary"}, nil
		})); err != nil {
		t.Fatal(err)
	}
	rows, err := w.pool.Query(ctx, `SELECT id FROM personality_memories WHERE id > $1 ORDER BY id`, last)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(got) != len(ms) {
		t.Fatalf("%d ids read back for %d memories (%v)", len(got), len(ms), err)
	}
	for i := range ms {
		ms[i].id, ms[i].vec = got[i], w.vec()
	}
	if _, err := w.pool.CopyFrom(ctx, pgx.Identifier{"memory_embeddings"}, []string{"memory_id", "personality_id", "model", "dims", "vector"},
		pgx.CopyFromSlice(len(ms), func(i int) ([]any, error) {
			return []any{ms[i].id, w.pers, pModel, pDims, encode(ms[i].vec)}, nil
		})); err != nil {
		t.Fatal(err)
	}
	w.mems = append(w.mems, ms...)
}

func (w *privacyWorld) vec() []float32 {
	v := make([]float32, pDims)
	for i := range v {
		v[i] = float32(w.rng.NormFloat64())
	}
	return v
}

// exact is the oracle: the k most similar memories user may see.
func (w *privacyWorld) exact(q []float32, user int64, isDM bool, guild string, k int) []int64 {
	type scored struct {
		id int64
		s  float64
	}
	var all []scored
	for _, m := range w.mems {
		if !m.visibleTo(user, isDM, guild) {
			continue
		}
		var d, nm, nq float64
		for i := range q {
			d += float64(q[i]) * float64(m.vec[i])
			nm += float64(m.vec[i]) * float64(m.vec[i])
			nq += float64(q[i]) * float64(q[i])
		}
		all = append(all, scored{m.id, d / math.Sqrt(nm*nq)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.s != b.s {
			if a.s > b.s {
				return -1
			}
			return 1
		}
		return int(a.id - b.id)
	})
	var ids []int64
	for _, s := range all[:min(k, len(all))] {
		ids = append(ids, s.id)
	}
	return ids
}

func ids(ms []memory.Memory) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// privacyCases: two users, the shared guild, another guild, each one's DMs.
func (w *privacyWorld) cases() []memory.Query {
	return []memory.Query{
		{PersonalityID: w.pers, UserID: w.alice, GuildID: guild},
		{PersonalityID: w.pers, UserID: w.bob, GuildID: guild},
		{PersonalityID: w.pers, UserID: w.alice, GuildID: guild2},
		{PersonalityID: w.pers, UserID: w.bob, GuildID: guild2},
		{PersonalityID: w.pers, UserID: w.alice, IsDM: true},
		{PersonalityID: w.pers, UserID: w.bob, IsDM: true},
	}
}

// hostSearch is the host-side path on the same data.
func (w *privacyWorld) hostSearch(t *testing.T, q memory.Query, qv []float32, k int) []memory.Memory {
	t.Helper()
	set, err := w.svc.set(context.Background(), w.pers, pModel)
	if err != nil {
		t.Fatal(err)
	}
	qn := slices.Clone(qv)
	normalise(qn)
	got, err := w.svc.rank(context.Background(), set, q, qn, k)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPGVectorSearchEqualsHostSearch: where the server has the extension,
// start creates it and the column, the background fills in every stored
// vector and builds the HNSW index, the planner walks that index, and
// every search (two users, a shared guild, another guild, each one's DMs)
// returns exactly the host-side search's memories, in its order, with its
// scores, which are the oracle's. Where the server lacks it, detection
// says so in words, and the host search answers the same cases right.
func TestPGVectorSearchEqualsHostSearch(t *testing.T) {
	ctx := context.Background()
	w := newPrivacyWorld(t, 400, Config{})
	has := serverHasPGVector(t, w.pool)
	st, err := w.svc.EnablePGVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !has {
		if st.Available || st.Usable() || !strings.Contains(st.Reason, "not installed on the database server") ||
			!strings.Contains(st.Summary(), "memory vector search runs in the host") {
			t.Fatalf("server without the extension, detection says %+v: %s", st, st.Summary())
		}
	} else {
		if !st.Usable() || !st.Installed || !st.Column || !st.Created || st.Schema != "public" {
			t.Fatalf("server with the extension, detection says %+v", st)
		}
		if err := w.svc.MaintainPGVector(ctx); err != nil {
			t.Fatal(err)
		}
		var unsynced int
		if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM memory_embeddings WHERE embedding IS NULL`).Scan(&unsynced); err != nil || unsynced != 0 {
			t.Fatalf("%d rows without an embedding after maintenance (%v)", unsynced, err)
		}
		if _, _, ok := w.svc.pgFor(pModel, pDims); !ok {
			t.Fatal("the index is built but search would not use PostgreSQL")
		}
	}
	for i := range 10 {
		qv := w.vec()
		for _, q := range w.cases() {
			name := fmt.Sprintf("query %d user %d dm %v guild %q", i, q.UserID, q.IsDM, q.GuildID)
			want := w.exact(qv, q.UserID, q.IsDM, q.GuildID, 10)
			host := w.hostSearch(t, q, qv, 10)
			if !slices.Equal(ids(host), want) {
				t.Fatalf("%s: host search %v, oracle %v", name, ids(host), want)
			}
			if !has {
				continue
			}
			schema, iterative, _ := w.svc.pgFor(pModel, pDims)
			pg, err := w.svc.searchPG(ctx, schema, iterative, pModel, q, qv, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(pg), ids(host)) {
				t.Fatalf("%s: PostgreSQL %v, host %v", name, ids(pg), ids(host))
			}
			for j := range pg {
				if math.Abs(pg[j].Score-host[j].Score) > 1e-5 || pg[j].Content != host[j].Content || pg[j].IsDM != host[j].IsDM {
					t.Fatalf("%s: row %d PostgreSQL %+v, host %+v", name, j, pg[j], host[j])
				}
			}
		}
	}
}

// TestPGVectorPlanUsesTheIndex: with enough vectors that a graph walk
// beats sorting them all, the search statement's plan is an HNSW index
// scan of the (model, length) index, and SearchMemories counts its
// searches as PostgreSQL's. Without the extension: the search is counted
// as the host's and still finds the nearest visible memory.
func TestPGVectorPlanUsesTheIndex(t *testing.T) {
	ctx := context.Background()
	w := newPrivacyWorld(t, 3000, Config{})
	has := serverHasPGVector(t, w.pool)
	if _, err := w.svc.EnablePGVector(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.MaintainPGVector(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.pool.Exec(ctx, `ANALYZE memory_embeddings; ANALYZE personality_memories`); err != nil {
		t.Fatal(err)
	}
	q := w.cases()[0]
	qv := w.vec()
	if has {
		schema, _, ok := w.svc.pgFor(pModel, pDims)
		if !ok {
			t.Fatal("not ready after maintenance")
		}
		args := pgx.NamedArgs{"personality": q.PersonalityID, "user": q.UserID, "is_dm": q.IsDM, "guild": q.GuildID, "q": vectorText(qv), "limit": 10}
		rows, err := w.pool.Query(ctx, "EXPLAIN "+pgSearchSQL(schema, pModel, pDims, true), args)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, "Index Scan using "+indexName(pairKey{pModel, pDims})) {
			t.Fatalf("the plan does not walk the HNSW index:\n%s", plan)
		}
	}
	// Through SearchMemories: the query's embedding is the one thing
	// faked (searchVector skips the plugin call).
	got, err := w.svc.searchVector(ctx, q, pModel, qv, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := w.exact(qv, q.UserID, q.IsDM, q.GuildID, 5); !slices.Equal(ids(got), want) {
		t.Fatalf("search %v, oracle %v", ids(got), want)
	}
	pg, host := w.svc.pgSearches.Load(), w.svc.hostSearches.Load()
	if has && (pg != 1 || host != 0) || !has && (pg != 0 || host != 1) {
		t.Fatalf("server has the extension: %v; searches in PostgreSQL %d, in the host %d", has, pg, host)
	}
}

// TestPGVectorFewVisibleRows: when the user may see only a handful of
// many memories, a filtered HNSW walk can stop short; the search still
// returns every one of them (the exact search of the visible set).
func TestPGVectorFewVisibleRows(t *testing.T) {
	ctx := context.Background()
	w := newPrivacyWorld(t, 0, Config{})
	// 2,000 memories about bob in a DM, three about alice in the guild.
	ms := make([]fakeMemory, 2003)
	for i := range ms {
		ms[i] = fakeMemory{about: []int64{w.bob}, present: []int64{w.bob}, dm: true}
		if i%700 == 0 {
			ms[i] = fakeMemory{about: []int64{w.alice}, present: []int64{w.alice}, guild: guild}
		}
	}
	w.insert(t, ms)
	has := serverHasPGVector(t, w.pool)
	if _, err := w.svc.EnablePGVector(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.MaintainPGVector(ctx); err != nil {
		t.Fatal(err)
	}
	q := memory.Query{PersonalityID: w.pers, UserID: w.alice, GuildID: guild}
	qv := w.vec()
	got, err := w.svc.searchVector(ctx, q, pModel, qv, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := w.exact(qv, w.alice, false, guild, 10); len(want) != 3 || !slices.Equal(ids(got), want) {
		t.Fatalf("alice got %v, oracle %v", ids(got), want)
	}
	if has && w.svc.pgSearches.Load() != 1 {
		t.Fatalf("searched in PostgreSQL %d times", w.svc.pgSearches.Load())
	}
}

// TestPGVectorDroppedOrOff: a database whose extension was dropped (DROP
// EXTENSION vector CASCADE takes the column and indexes) keeps searching,
// in the host, from the very next search; the next start makes it all
// again and the search is PostgreSQL's again. TZUROT_EMBED_PGVECTOR=off
// keeps search in the host and says why. Without the extension on the
// server: start, maintenance and search work, in the host.
func TestPGVectorDroppedOrOff(t *testing.T) {
	ctx := context.Background()
	w := newPrivacyWorld(t, 64, Config{})
	has := serverHasPGVector(t, w.pool)
	q := w.cases()[0]
	qv := w.vec()
	want := w.exact(qv, q.UserID, q.IsDM, q.GuildID, 5)
	search := func(step string) {
		t.Helper()
		got, err := w.svc.searchVector(ctx, q, pModel, qv, 5)
		if err != nil || !slices.Equal(ids(got), want) {
			t.Fatalf("%s: search %v (%v), oracle %v", step, ids(got), err, want)
		}
	}
	if _, err := w.svc.EnablePGVector(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.MaintainPGVector(ctx); err != nil {
		t.Fatal(err)
	}
	search("start")
	if has {
		if w.svc.pgSearches.Load() != 1 {
			t.Fatal("the first search was not PostgreSQL's")
		}
		if _, err := w.pool.Exec(ctx, `DROP EXTENSION vector CASCADE`); err != nil {
			t.Fatal(err)
		}
		search("after DROP EXTENSION") // fails in PostgreSQL, answered by the host
		if w.svc.hostSearches.Load() != 1 || !w.svc.recheck.Load() {
			t.Fatalf("after the drop: host searches %d, recheck %v", w.svc.hostSearches.Load(), w.svc.recheck.Load())
		}
		search("after DROP EXTENSION, again")
		if w.svc.pgSearches.Load() != 1 || w.svc.hostSearches.Load() != 2 {
			t.Fatal("a search after the drop went to PostgreSQL")
		}
		// A new vector stored while the extension is gone is stored.
		if _, err := w.svc.store(ctx, []int64{w.mems[0].id}, []int64{w.pers}, "other-model", pDims, [][]byte{encode(qv)}, [][]float32{qv}); err != nil {
			t.Fatal(err)
		}
	}
	// The next start (a new Service on the same database).
	w.svc = New(w.pool, nil, store.New(w.pool, nil, nil), Config{Plugin: "none", Model: pModel}, slog.New(slog.DiscardHandler))
	st, err := w.svc.EnablePGVector(ctx)
	if err != nil || st.Usable() != has {
		t.Fatalf("restart: %+v %v", st, err)
	}
	if err := w.svc.MaintainPGVector(ctx); err != nil {
		t.Fatal(err)
	}
	search("restart")
	if has && w.svc.pgSearches.Load() != 1 {
		t.Fatal("after the restart the search was not PostgreSQL's")
	}
	// Off: only detected, never used.
	w.svc = New(w.pool, nil, store.New(w.pool, nil, nil), Config{Plugin: "none", Model: pModel, PGVector: PGVectorOff}, slog.New(slog.DiscardHandler))
	st, err = w.svc.EnablePGVector(ctx)
	if err != nil || st.Usable() || !strings.Contains(st.Summary(), "memory vector search runs in the host") {
		t.Fatalf("off: %+v %v", st, err)
	}
	if has && !strings.Contains(st.Reason, "TZUROT_EMBED_PGVECTOR=off") {
		t.Fatalf("off: reason %q", st.Reason)
	}
	if err := w.svc.MaintainPGVector(ctx); err != nil {
		t.Fatal(err)
	}
	search("off")
	if w.svc.pgSearches.Load() != 0 || w.svc.hostSearches.Load() != 1 {
		t.Fatal("off, yet searched in PostgreSQL")
	}
}

// TestPGVectorNotPermitted: a database user that is not a superuser
// cannot create the (untrusted) extension: start goes on, search is the
// host's, and the reason names the one command a superuser runs. Without
// the extension on the server the reason says it is not installed.
func TestPGVectorNotPermitted(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.New(t)
	role := fmt.Sprintf("tzurot_test_role_%d", rand.Uint64())
	var db string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT ALL ON ALL TABLES IN SCHEMA public TO ` + role,
		`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ` + role,
		`GRANT CREATE ON DATABASE ` + pgx.Identifier{db}.Sanitize() + ` TO ` + role,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Before the database is dropped (its cleanup runs after this one):
		// the role's grants go, then the role.
		_, _ = admin.Exec(context.Background(), `DROP OWNED BY `+role)
		c, err := pgx.Connect(context.Background(), pgtest.AdminURL())
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), `DROP ROLE IF EXISTS `+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	cfg := admin.Config().ConnConfig.Copy()
	cfg.User = role
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig = cfg
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // before DROP OWNED and DROP ROLE
	svc := New(pool, nil, store.New(pool, nil, nil), Config{Plugin: "none", Model: pModel}, slog.New(slog.DiscardHandler))
	st, err := svc.EnablePGVector(ctx)
	if serverHasPGVector(t, admin) {
		if err == nil || st.Usable() || st.Installed || !strings.Contains(st.Reason, "CREATE EXTENSION vector;") || !strings.Contains(st.Reason, "not a superuser") {
			t.Fatalf("status %+v, err %v", st, err)
		}
	} else if err != nil || st.Usable() || !strings.Contains(st.Reason, "not installed on the database server") {
		t.Fatalf("status %+v, err %v", st, err)
	}
	if err := svc.MaintainPGVector(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := svc.pgFor(pModel, pDims); ok {
		t.Fatal("search would run in PostgreSQL without the extension")
	}
}
