package store_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// userColumns is every column of the schema that can hold a user, and what
// /privacy delete-my-data does to it. TestDeleteUserDataLeavesNoTrace finds
// the user columns in information_schema itself: one missing here (a table
// added later) fails the test until someone decides what deleting a user
// does to it, makes store.DeleteUserData do it, and lists it here.
var userColumns = map[string]string{
	"users.discord_id":                          "the row is deleted",
	"user_preferences.user_id":                  "deleted (CASCADE)",
	"user_api_keys.user_id":                     "deleted (CASCADE)",
	"llm_configs.user_id":                       "the user's overrides are deleted (CASCADE)",
	"usage_logs.user_id":                        "anonymised: set NULL, the row kept for the totals",
	"webhook_messages.user_id":                  "SET NULL: the message stays in Discord",
	"channel_activations.activated_by":          "SET NULL: the channel keeps its personality",
	"dm_sessions.user_id":                       "deleted (CASCADE)",
	"reply_reasoning.user_id":                   "deleted (CASCADE)",
	"personalities.owner_user_id":               "SET NULL: the personality stays, ownerless",
	"personality_user_personalizations.user_id": "deleted (CASCADE)",
	"personality_memories.about_user_ids":       "memories about the user are deleted",
	"personality_memories.present_user_ids":     "the user's id is removed",
	"user_personas.user_id":                     "deleted (CASCADE)",
	"user_personality_settings.user_id":         "deleted (CASCADE)",
}

// userishName matches column names that hold a user by convention.
var userishName = regexp.MustCompile(`(^|_)user_ids?$|^activated_by$|^discord_(user_)?id$|^author(_id)?$|^owner(_id)?$`)

type column struct{ table, name, dataType, udt string }

func (c column) String() string { return c.table + "." + c.name }

// schemaColumns returns every column of every table in the public schema.
func schemaColumns(t *testing.T, pool *pgxpool.Pool) []column {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
SELECT c.table_name, c.column_name, c.data_type, c.udt_name
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.table, &c.name, &c.dataType, &c.udt)
	})
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

// userFKColumns returns the columns with a foreign key to users.
func userFKColumns(t *testing.T, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
SELECT cl.relname, a.attname
FROM pg_constraint co
JOIN pg_class cl ON cl.oid = co.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
JOIN LATERAL unnest(co.conkey) k(attnum) ON true
JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum
WHERE co.contype = 'f' AND co.confrelid = 'users'::regclass AND n.nspname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for rows.Next() {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		out[tbl+"."+col] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// refs counts the rows of c that reference the user (internal id, or
// Discord id for a text column).
func refs(t *testing.T, pool *pgxpool.Pool, c column, id int64, discordID string) int64 {
	t.Helper()
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE ", pgx.Identifier{c.table}.Sanitize())
	col := pgx.Identifier{c.name}.Sanitize()
	var arg any = id
	switch {
	case c.dataType == "ARRAY":
		q += "$1 = ANY(" + col + ")"
	case c.dataType == "text" || c.dataType == "character varying":
		q += col + " = $1"
		arg = discordID
	default:
		q += col + " = $1"
	}
	var n int64
	if err := pool.QueryRow(context.Background(), q, arg).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestDeleteUserDataLeavesNoTrace gives two users a row in every table that
// can hold a user, deletes the first user's data, and checks the whole
// schema: no user column anywhere still holds the first user, no text or
// JSON anywhere holds their Discord id, the second user's data is whole,
// and usage totals are kept, anonymised. A user column this test does not
// know fails it (userColumns).
func TestDeleteUserDataLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pool := s.Pool()

	alice, bob := snowflake(), snowflake()
	a, err := s.UserByDiscordID(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.UserByDiscordID(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	pa := createPersonality(t, s, "alices")
	pb := createPersonality(t, s, "bobs")
	for _, k := range [][2]string{{alice, "sk-alice-0123456789abcdefghij"}, {bob, "sk-bob-0123456789abcdefghijkl"}} {
		if err := s.SetAPIKey(ctx, k[0], "openai", k[1]); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Every table a user can be in, for both users.
	for _, u := range []struct {
		id      int64
		discord string
		own     int64 // the personality they own
		other   int64
		n       int
	}{{a.ID, alice, pa, pb, 1}, {b.ID, bob, pb, pa, 2}} {
		exec(`UPDATE personalities SET owner_user_id = $1 WHERE id = $2`, u.id, u.own)
		exec(`INSERT INTO user_preferences (user_id, voice_enabled, memory_formation_enabled) VALUES ($1, true, false)`, u.id)
		exec(`INSERT INTO llm_configs (personality_id, user_id, provider, model) VALUES ($1, $2, 'openai', 'gpt-4o')`, u.other, u.id)
		for i := range 3 {
			exec(`INSERT INTO usage_logs (request_id, user_id, personality_id, provider, model, kind, input_tokens, output_tokens)
			      VALUES ($1, $2, $3, 'openai', 'gpt-4o', 'text', 100, 10)`, fmt.Sprintf("req-%d-%d", u.n, i), u.id, u.other)
		}
		exec(`INSERT INTO webhook_messages (message_id, personality_id, channel_id, user_id) VALUES ($1, $2, '710000000000000001', $3)`,
			fmt.Sprintf("72000000000000000%d", u.n), u.other, u.id)
		exec(`INSERT INTO channel_activations (channel_id, personality_id, activated_by) VALUES ($1, $2, $3)`,
			fmt.Sprintf("73000000000000000%d", u.n), u.other, u.id)
		exec(`INSERT INTO dm_sessions (user_id, personality_id) VALUES ($1, $2)`, u.id, u.other)
		exec(`INSERT INTO reply_reasoning (request_id, user_id, personality_id, message_id, reasoning) VALUES ($1, $2, $3, $4, 'thinking')`,
			fmt.Sprintf("req-%d-0", u.n), u.id, u.other, fmt.Sprintf("72000000000000000%d", u.n))
		exec(`INSERT INTO personality_user_personalizations (personality_id, user_id, source_system, source_id, preferred_name)
		      VALUES ($1, $2, 'shapes.inc', $3, 'Al')`, u.other, u.id, fmt.Sprintf("pz-%d", u.n))
		exec(`INSERT INTO user_personas (user_id, personality_id, content) VALUES ($1, NULL, 'I like tea'), ($1, $2, 'Call me captain')`, u.id, u.other)
		exec(`INSERT INTO user_personality_settings (user_id, personality_id, memory_formation_enabled) VALUES ($1, $2, false)`, u.id, u.other)
		exec(`INSERT INTO rate_limit_counters (scope, key, window_start, used) VALUES ('user-rpm', $1, now(), 1), ('user-tpd', $1, now(), 50)`, u.discord)
		// A memory about this user alone, in a DM.
		exec(`INSERT INTO personality_memories (personality_id, source_system, content, formed_by, is_dm, about_user_ids, present_user_ids)
		      VALUES ($1, 'tzurot', $2, 'summary', true, ARRAY[$3::bigint], ARRAY[$3::bigint])`, u.other, fmt.Sprintf("user %d likes tea", u.n), u.id)
	}
	// A shared memory about both, one about Bob that Alice was present for,
	// and a guild's rate-limit counter (not a user's).
	exec(`INSERT INTO personality_memories (personality_id, source_system, content, formed_by, is_dm, about_user_ids, present_user_ids)
	      VALUES ($1, 'tzurot', 'both planned a trip', 'summary', false, ARRAY[$2::bigint, $3::bigint], ARRAY[$2::bigint, $3::bigint]),
	             ($1, 'tzurot', 'bob won at chess while alice watched', 'summary', false, ARRAY[$3::bigint], ARRAY[$2::bigint, $3::bigint])`,
		pb, a.ID, b.ID)
	exec(`INSERT INTO rate_limit_counters (scope, key, window_start, used) VALUES ('guild-rpm', '700000000000000001', now(), 3)`)
	// River reply jobs (queue.ReplyArgs: a message snapshot): Alice's,
	// finished and waiting, one running (left to finish), Bob's mentioning
	// her, and Bob's own.
	job := func(state, author, mention string) {
		t.Helper()
		args := fmt.Sprintf(`{"plan":{"message":{"id":"%s","channel_id":"710000000000000001","author":{"id":"%s"},"content":"hello",
			"mentions":[{"id":"%s"}]}},"seq":1}`, snowflake(), author, mention)
		finalized := "NULL"
		if state == "completed" {
			finalized = "now()"
		}
		exec(`INSERT INTO river_job (state, max_attempts, args, kind, finalized_at) VALUES ($1, 3, $2, 'reply', `+finalized+`)`, state, args)
	}
	job("completed", alice, "1")
	job("available", alice, "1")
	job("running", alice, "1")
	job("completed", bob, alice)
	job("completed", bob, "1")

	// Find every column that can hold a user.
	cols := schemaColumns(t, pool)
	fks := userFKColumns(t, pool)
	var userCols []column
	for _, c := range cols {
		if fks[c.String()] || userishName.MatchString(c.name) {
			userCols = append(userCols, c)
			if _, ok := userColumns[c.String()]; !ok {
				t.Errorf("%s can hold a user, but /privacy delete-my-data does not know it: decide what deleting a user does to it, "+
					"make store.DeleteUserData do it and list it in userColumns (and docs/security.md)", c)
			}
		}
	}
	found := map[string]bool{}
	for _, c := range userCols {
		found[c.String()] = true
	}
	for name := range userColumns {
		if !found[name] {
			t.Errorf("userColumns lists %s, which the schema no longer has (or no longer marks as a user column)", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Before: both users are everywhere (so the checks below test something).
	bobBefore := map[string]int64{}
	for _, c := range userCols {
		if n := refs(t, pool, c, a.ID, alice); n == 0 {
			t.Errorf("the test put no row for Alice in %s", c)
		}
		bobBefore[c.String()] = refs(t, pool, c, b.ID, bob)
	}
	var usageRows, usageTokens int64
	if err := pool.QueryRow(ctx, `SELECT count(*), sum(input_tokens + output_tokens) FROM usage_logs`).Scan(&usageRows, &usageTokens); err != nil {
		t.Fatal(err)
	}

	summary, err := s.UserDataSummary(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.DeleteUserData(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	want := store.UserData{Known: true, Keys: 1, Memories: 2, PresentIn: 1, Personas: 2, Personalizations: 1, ModelOverrides: 1,
		Reasoning: 1, PersonalitySettings: 1, Preferences: 1, DMSession: 1, RateLimitCounters: 2, UsageRows: 3, Activations: 1,
		RepliesAsked: 1, OwnedPersonalities: 1, Jobs: 3}
	if got != want || summary != want {
		t.Errorf("deleted %+v\nsummary  %+v\nwant     %+v", got, summary, want)
	}

	// After: no user column holds Alice; Bob lost only the shared memory.
	for _, c := range userCols {
		if n := refs(t, pool, c, a.ID, alice); n != 0 {
			t.Errorf("%s still references the deleted user in %d rows", c, n)
		}
		wantBob := bobBefore[c.String()]
		if c.table == "personality_memories" {
			wantBob-- // the memory about both is gone
		}
		if n := refs(t, pool, c, b.ID, bob); n != wantBob {
			t.Errorf("%s: the other user has %d rows, want %d", c, n, wantBob)
		}
	}
	// No text, JSON or array anywhere contains Alice's Discord id.
	var scanned []string
	for _, c := range cols {
		if c.dataType != "text" && c.dataType != "character varying" && c.dataType != "jsonb" && c.dataType != "json" && c.dataType != "ARRAY" {
			continue
		}
		scanned = append(scanned, c.String())
		q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s::text LIKE '%%' || $1 || '%%'",
			pgx.Identifier{c.table}.Sanitize(), pgx.Identifier{c.name}.Sanitize())
		var n int64
		if err := pool.QueryRow(ctx, q, alice).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if c.String() == "river_job.args" && n == 1 {
			continue // the job a worker is running: it finishes, and River prunes it
		}
		if n != 0 {
			t.Errorf("%s still contains the deleted user's Discord id in %d rows", c, n)
		}
	}
	if len(scanned) < 20 {
		t.Errorf("only %d text columns scanned: %v", len(scanned), scanned)
	}

	// Usage totals are whole; Alice's rows are anonymous.
	var rowsAfter, tokensAfter, anonymous int64
	if err := pool.QueryRow(ctx, `SELECT count(*), sum(input_tokens + output_tokens), count(*) FILTER (WHERE user_id IS NULL) FROM usage_logs`).
		Scan(&rowsAfter, &tokensAfter, &anonymous); err != nil {
		t.Fatal(err)
	}
	if rowsAfter != usageRows || tokensAfter != usageTokens || anonymous != 3 {
		t.Errorf("usage after: %d rows, %d tokens, %d anonymous; want %d, %d, 3", rowsAfter, tokensAfter, anonymous, usageRows, usageTokens)
	}
	// Alice's personality stays, ownerless; the memory Bob owns where Alice
	// was present stays, without her.
	var owner *int64
	if err := pool.QueryRow(ctx, `SELECT owner_user_id FROM personalities WHERE id = $1`, pa).Scan(&owner); err != nil || owner != nil {
		t.Errorf("Alice's personality: owner %v, %v (want it kept, ownerless)", owner, err)
	}
	var present []int64
	if err := pool.QueryRow(ctx, `SELECT present_user_ids FROM personality_memories WHERE content LIKE 'bob won%'`).Scan(&present); err != nil ||
		len(present) != 1 || present[0] != b.ID {
		t.Errorf("Bob's memory with Alice present: present_user_ids %v, %v", present, err)
	}
	var jobs []string
	rows, err := pool.Query(ctx, `SELECT state::text || ' ' || (args->'plan'->'message'->'author'->>'id') FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var j string
		_ = rows.Scan(&j)
		jobs = append(jobs, j)
	}
	if fmt.Sprint(jobs) != fmt.Sprint([]string{"running " + alice, "completed " + bob}) {
		t.Errorf("jobs left: %q, want Alice's running one and Bob's own", jobs)
	}
	var guild int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM rate_limit_counters WHERE scope = 'guild-rpm'`).Scan(&guild); err != nil || guild != 1 {
		t.Errorf("the guild's rate-limit counter: %d, %v (want kept)", guild, err)
	}

	// Deleting again finds nothing; a user the bot never saw is not an error.
	again, err := s.DeleteUserData(ctx, alice)
	if err != nil || again != (store.UserData{}) {
		t.Errorf("second deletion: %+v, %v", again, err)
	}
	if _, err := s.DeleteUserData(ctx, "not-a-snowflake"); err == nil {
		t.Error("a malformed Discord id was accepted")
	}
	sort.Strings(scanned)
	t.Logf("user columns checked: %d; text columns scanned: %s", len(userCols), strings.Join(scanned, ", "))
}
