package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// fill100k gives personality pers 100,000 memories in one INSERT ...
// SELECT generate_series: sentences of 12 words drawn from a vocabulary of
// 2,000 made-up words (so a word matches about 0.6% of memories, as real
// conversation words do), spread over three years, 90% about user, 10%
// about another user, a fifth of them DMs. One memory about "zeppelin" is
// the needle.
func fill100k(t testing.TB, pool *pgxpool.Pool, pers, user, other int64) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
INSERT INTO personality_memories (personality_id, source_system, content, about_user_ids, present_user_ids, is_dm,
    discord_channel_id, discord_guild_id, formed_by, importance, remembered_at)
SELECT $1, 'tzurot',
       (SELECT string_agg('w' || ((abs(hashint8(g * 13 + k)) % 2000)::text), ' ') FROM generate_series(1, 12) k) || ' memory ' || g,
       CASE WHEN g % 10 = 0 THEN ARRAY[$3::bigint] ELSE ARRAY[$2::bigint] END,
       ARRAY[$2::bigint, $3::bigint],
       g % 5 = 0,
       CASE WHEN g % 5 = 0 THEN NULL ELSE '600000000000000001' END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE '500000000000000001' END,
       'summary', (g % 7) / 7.0, now() - make_interval(mins => g * 15)
FROM generate_series(1, 100000) g`, pers, user, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO personality_memories (personality_id, source_system, content, about_user_ids, is_dm, formed_by, remembered_at)
		VALUES ($1, 'tzurot', 'Alice once flew in a zeppelin over the lake.', ARRAY[$2::bigint], true, 'summary', now() - interval '400 days')`, pers, user); err != nil {
		t.Fatal(err)
	}
	// VACUUM as well: autovacuum would otherwise start on the new rows in
	// the middle of a benchmark, and a long-running table is vacuumed.
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE personality_memories`); err != nil {
		t.Fatal(err)
	}
}

func hundredKFixture(t testing.TB) (*memory.Store, *pgxpool.Pool, int64, int64) {
	ctx := context.Background()
	pool := pgtest.New(t)
	var alice, bob, pers int64
	if err := pool.QueryRow(ctx, `INSERT INTO users (discord_id) VALUES ('100000000000000001') RETURNING id`).Scan(&alice); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO users (discord_id) VALUES ('100000000000000002') RETURNING id`).Scan(&bob); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO personalities (slug, name) VALUES ('mira', 'Mira') RETURNING id`).Scan(&pers); err != nil {
		t.Fatal(err)
	}
	fill100k(t, pool, pers, alice, bob)
	return memory.New(pool, nil), pool, pers, alice
}

// conversation is a chat-sized search text: recent lines mentioning a few
// vocabulary words.
func conversation(i int) string {
	return fmt.Sprintf("Alice: do you remember w%d and w%d? I was thinking about w%d all day.\nMira: of course.\nAlice: and the w%d thing",
		i%2000, (i*7)%2000, (i*13)%2000, (i*31)%2000)
}

// wordy is the worst case of the search: 24 distinct vocabulary words
// (the most it uses), each in about 600 of the memories.
func wordy(i int) string {
	var sb strings.Builder
	sb.WriteString("Alice:")
	for k := 0; k < 24; k++ {
		fmt.Fprintf(&sb, " w%d", (i*37+k*83)%2000)
	}
	return sb.String()
}

// TestHundredThousandMemories: retrieval over 100k memories of one
// personality finds the one memory that matches, respects privacy, and
// its plan reads the GIN index.
func TestHundredThousandMemories(t *testing.T) {
	mem, pool, pers, alice := hundredKFixture(t)
	ctx := context.Background()
	b, err := mem.Retrieve(ctx, memory.Query{PersonalityID: pers, UserID: alice, IsDM: true, Text: "Alice: remember the ZEPPELIN?", Budget: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Memories) == 0 || !strings.Contains(b.Memories[0].Content, "zeppelin") {
		t.Fatalf("the needle is not first among %d memories", len(b.Memories))
	}
	b, err = mem.Retrieve(ctx, memory.Query{PersonalityID: pers, UserID: alice, IsDM: false, GuildID: "500000000000000001", Text: conversation(5), Budget: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Memories) == 0 || b.Used > 1000 {
		t.Fatalf("guild retrieval: %d memories, %d tokens", len(b.Memories), b.Used)
	}
	if has(b.Memories, "zeppelin") {
		t.Fatal("a DM memory was used in a guild")
	}

	// A word only one memory has is found beside words that thousands
	// have: the needle is the newest row of the table, after the 1,200
	// memories with w5 or w35.
	b, err = mem.Retrieve(ctx, memory.Query{PersonalityID: pers, UserID: alice, IsDM: true, Text: "Alice: w5 and w35, and the zeppelin?", Budget: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !has(b.Memories, "zeppelin") {
		t.Fatalf("the one memory with a rare word is not among %d memories found beside common words", len(b.Memories))
	}

	// Every memory of the fixture has the word "memory": searching for it
	// would list all 100,000 of them. Once the statistics are read, the
	// search leaves it out; what it finds then comes from the other words,
	// and a conversation with only common words gets the latest memories.
	matchedOnly := func(text string) []memory.Memory {
		b, err := mem.Retrieve(ctx, memory.Query{PersonalityID: pers, UserID: alice, IsDM: true, Text: text, Budget: 100000})
		if err != nil {
			t.Fatal(err)
		}
		var m []memory.Memory
		for _, x := range b.Memories {
			if x.Score > 0 { // the latest memories have no score
				m = append(m, x)
			}
		}
		return m
	}
	if len(matchedOnly("memory")) == 0 {
		t.Fatal(`before the statistics are read, "memory" finds nothing`)
	}
	if err := mem.RefreshCommonWords(ctx); err != nil {
		t.Fatal(err)
	}
	if got := matchedOnly("memory"); len(got) != 0 {
		t.Errorf(`"memory" is in every memory, yet the search still looked for it: %d matches, first %q`, len(got), got[0].Content)
	}
	got := matchedOnly("memory w5")
	if len(got) == 0 {
		t.Fatal(`"memory w5" found nothing`)
	}
	for _, m := range got {
		if !strings.Contains(m.Content+" ", "w5 ") {
			t.Fatalf(`"memory w5" found %q, which has no w5: the common word was searched`, m.Content)
		}
	}

	// The plan a long-running host uses (a generic one) finds the matches
	// with the personality's word keys.
	plan := genericPlan(t, pool, memory.Query{PersonalityID: pers, UserID: alice, IsDM: true, Text: conversation(5)})
	if !strings.Contains(plan, `"personality_memories_keys_idx"`) {
		t.Fatalf("the full-text search does not use personality_memories_keys_idx:\n%s", plan)
	}

	// Retrieval is not planned again on each call: on one connection,
	// every call after the first runs the statement's one generic plan
	// (on this personality, PostgreSQL's own choice was to plan each call
	// anew, ~1 ms each), and the setting that says
	// so does not outlive the statement.
	cfg := pool.Config().Copy()
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	oneMem := memory.New(one, nil)
	for i := 0; i < 12; i++ {
		if _, err := oneMem.Retrieve(ctx, memory.Query{PersonalityID: pers, UserID: alice, IsDM: i%2 == 0, GuildID: "500000000000000001", Text: conversation(i), Budget: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	var generic, custom int64
	var mode string
	if err := one.QueryRow(ctx, `SELECT generic_plans, custom_plans, current_setting('plan_cache_mode') FROM pg_prepared_statements
		WHERE statement LIKE '%WITH pers AS%' AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&generic, &custom, &mode); err != nil {
		t.Fatal(err)
	}
	if custom != 0 || generic != 12 {
		t.Errorf("12 retrievals were planned %d times (generic plans used: %d): each should use the one generic plan", custom, generic)
	}
	if mode != "auto" {
		t.Errorf("plan_cache_mode is %q on the connection after retrieval; the SET LOCAL should end with the statement", mode)
	}
}

// genericPlan is EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of retrieval's
// statement for q as a long-running host runs it: prepared, with the
// generic plan. (EXPLAIN of the statement with parameters would plan it
// for their values instead.)
func genericPlan(t testing.TB, pool *pgxpool.Pool, q memory.Query) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var guild any
	if q.GuildID != "" {
		guild = q.GuildID
	}
	words := memory.SearchWords(q.Text, 24)
	sql, args, err := pgx.NamedArgs{"personality": q.PersonalityID, "user": q.UserID, "is_dm": q.IsDM, "guild": guild,
		"words": words, "terms": strings.ReplaceAll(words, " or ", " "), "keytext": q.Text, "common": []string{}}.RewriteQuery(ctx, conn.Conn(), memory.RetrieveSQL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET plan_cache_mode; DEALLOCATE tzurot_plan_check`)
	// Parameter types come from the statement's own casts.
	if _, err := conn.Exec(ctx, `PREPARE tzurot_plan_check AS `+sql); err != nil {
		t.Fatal(err)
	}
	placeholders := make([]string, len(args))
	for i := range args {
		placeholders[i] = fmt.Sprintf("$%d", i+1)
	}
	var plan string
	if err := conn.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE tzurot_plan_check(`+strings.Join(placeholders, ", ")+`)`,
		append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	return plan
}

// BenchmarkRetrieve100k: one Retrieve (the whole statement: memories,
// knowledge, persona, examples) over 100,000 memories of one personality,
// full text only; dm-24-words is a conversation with 24 vocabulary words,
// dm-common-word one that also has a word every memory has (searched for
// only with TZUROT_BENCH_ALL_WORDS=1). Reports p50 and p99 of the calls.
// docs/performance.md.
//
//	go test -run '^$' -bench BenchmarkRetrieve100k -benchtime 2000x ./host/internal/memory/
func BenchmarkRetrieve100k(b *testing.B) {
	mem, _, pers, alice := hundredKFixture(b)
	ctx := context.Background()
	// As serve does: "memory", in every memory, is then left out.
	if os.Getenv("TZUROT_BENCH_ALL_WORDS") == "" {
		if err := mem.RefreshCommonWords(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		dm    bool
		guild string
		text  func(int) string
	}{{"dm", true, "", conversation}, {"guild", false, "500000000000000001", conversation}, {"dm-24-words", true, "", wordy},
		{"dm-common-word", true, "", func(i int) string { return conversation(i) + " memory" }}} {
		b.Run(c.name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := mem.Retrieve(ctx, memory.Query{PersonalityID: pers, UserID: alice, IsDM: c.dm, GuildID: c.guild, Text: c.text(i), Budget: 1000}); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkRoundTrip100k is the baseline for BenchmarkRetrieve100k on the
// same machine at the same moment: one trivial statement (SELECT 1) and the
// bare full-text match of the same conversation (counting every match with
// the word-key index: no cap, no ranking, no privacy), so a loaded
// machine's numbers can be read.
//
//	go test -run '^$' -bench 'BenchmarkRetrieve100k|BenchmarkRoundTrip100k' -benchtime 300x ./host/internal/memory/
func BenchmarkRoundTrip100k(b *testing.B) {
	_, pool, pers, _ := hundredKFixture(b)
	ctx := context.Background()
	for _, c := range []struct{ name, sql string }{
		{"select1", `SELECT 1 WHERE $1::bigint > 0 AND $2::text IS NOT NULL`},
		{"keys-count", `SELECT count(*) FROM personality_memories WHERE tzurot_memory_keys(personality_id, tsv) && tzurot_memory_keys($1, to_tsvector('english', replace($2, ' or ', ' ')))`},
	} {
		b.Run(c.name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				var n int
				if err := pool.QueryRow(ctx, c.sql, pers, memory.SearchWords(conversation(i), 24)).Scan(&n); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// TestRetrievalStaysInItsPersonality: retrieval is a prepared statement,
// which runs with one generic plan for every personality. That plan must read only the asked personality's rows: a
// personality with three memories, beside one with 100,000 that share its
// words, gets its own memories back and its statement touches a few dozen
// buffers, not the big personality's index entries or rows.
func TestRetrievalStaysInItsPersonality(t *testing.T) {
	_, pool, _, alice := hundredKFixture(t)
	ctx := context.Background()
	var tiny int64
	if err := pool.QueryRow(ctx, `INSERT INTO personalities (slug, name) VALUES ('tiny', 'Tiny') RETURNING id`).Scan(&tiny); err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"w5 w35 at the lake", "w65 and the kite", "w155 in winter"} {
		if _, err := pool.Exec(ctx, `INSERT INTO personality_memories (personality_id, source_system, content, about_user_ids, is_dm, formed_by, remembered_at)
			VALUES ($1, 'tzurot', $2, ARRAY[$3::bigint], true, 'summary', now() - make_interval(days => $4))`, tiny, text, alice, i+1); err != nil {
			t.Fatal(err)
		}
	}

	// Retrieve runs with the generic plan (retrieve.go), one plan for
	// every personality.
	text := "Alice: do you remember w5 and w35? and w65, w155"
	b, err := memory.New(pool, nil).Retrieve(ctx, memory.Query{PersonalityID: tiny, UserID: alice, IsDM: true, Text: text, Budget: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Memories) != 3 || !has(b.Memories, "kite") {
		t.Fatalf("tiny's retrieval found %d memories, want its 3", len(b.Memories))
	}

	raw := genericPlan(t, pool, memory.Query{PersonalityID: tiny, UserID: alice, IsDM: true, Text: text})
	var plan []map[string]any
	if err := json.Unmarshal([]byte(raw), &plan); err != nil {
		t.Fatal(err)
	}
	top := plan[0]["Plan"].(map[string]any)
	read := int(top["Shared Hit Blocks"].(float64) + top["Shared Read Blocks"].(float64))
	t.Logf("generic plan for the tiny personality: %d buffers", read)
	// 56 buffers as written: 34 of them are the word keys looked up in
	// personality_memories_keys_idx (one or two each). Thousands when the
	// plan reads the big personality's matches (2,400 rows over 2,000
	// pages) or walks the recency index of all personalities (7,199).
	if read > 100 {
		t.Errorf("the generic plan read %d buffers for a personality with 3 memories (at most 100 expected): it scans another personality's memories", read)
	}
}
