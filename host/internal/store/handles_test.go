package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
)

// The database's tzurot_handle_key and the mention index's trigger.Key agree
// on every character: case (Go's unicode.ToLower), whitespace (Go's
// unicode.IsSpace) and the leading "@". If Go's Unicode tables change, this
// fails and a new migration must replace tzurot_handle_key.
func TestHandleKeyMatchesTheMentionIndex(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	var all, spaces []rune
	for r := rune(1); r <= unicode.MaxRune; r++ {
		switch {
		case r >= 0xD800 && r <= 0xDFFF:
		case unicode.IsSpace(r):
			spaces = append(spaces, r)
		case r < 0x10000 || unicode.ToLower(r) != r || unicode.ToUpper(r) != r:
			all = append(all, r)
		}
	}
	inputs := []string{"x" + string(all)}
	for _, sp := range spaces {
		s := string(sp)
		inputs = append(inputs, s+"@"+s+"@Nyx"+s+s+"Prime"+s, "a"+s+"b", s+"x"+s)
	}
	inputs = append(inputs, "@", "@@", "  ", "İSTANBUL", "ΟΔΥΣΣΕΥΣ", "Nyx@home", "ǅemal", "ẞ")
	var got []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(tzurot_handle_key(s) ORDER BY i) FROM unnest($1::text[]) WITH ORDINALITY AS u(s, i)`, inputs).Scan(&got); err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		want := trigger.Key(in)
		if got[i] == want {
			continue
		}
		g, w := []rune(got[i]), []rune(want)
		for j := range min(len(g), len(w)) {
			if g[j] != w[j] {
				t.Fatalf("input %d: SQL and Go differ at character %d: SQL %U, Go %U", i, j, g[j], w[j])
			}
		}
		t.Fatalf("input %d (%q): SQL %q, Go %q", i, truncateForLog(in), truncateForLog(got[i]), truncateForLog(want))
	}
}

func truncateForLog(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// kinds are the four kinds of string that call a personality.
var kinds = []string{"name", "display name", "slug", "alias"}

// claim gives personality id the string s as kind, in plain SQL (what any
// writer, importer or psql session could do).
func claim(ctx context.Context, s *store.Store, id int64, kind, v string) error {
	var err error
	switch kind {
	case "name":
		_, err = s.Pool().Exec(ctx, `UPDATE personalities SET name = $2 WHERE id = $1`, id, v)
	case "display name":
		_, err = s.Pool().Exec(ctx, `UPDATE personalities SET display_name = $2 WHERE id = $1`, id, v)
	case "slug":
		_, err = s.Pool().Exec(ctx, `UPDATE personalities SET slug = $2 WHERE id = $1`, id, v)
	case "alias":
		_, err = s.Pool().Exec(ctx, `INSERT INTO personality_aliases (personality_id, alias) VALUES ($1, $2)`, id, v)
	}
	return err
}

// form is how kind spells the test's string: slugs are lowercase, the
// others vary case and spacing (they all normalise alike).
func form(kind, base string, variant int) string {
	if kind == "slug" {
		return base
	}
	return []string{strings.ToUpper(base[:1]) + base[1:], strings.ToUpper(base), "  @" + base + " ", "" + strings.ToUpper(base[:2]) + base[2:]}[variant%4]
}

// dbState is every row the rule is about, for "nothing changed" checks.
func dbState(t *testing.T, s *store.Store) string {
	t.Helper()
	var out string
	err := s.Pool().QueryRow(context.Background(), `SELECT concat_ws(E'\n',
    (SELECT json_agg(json_build_array(id, slug, name, display_name) ORDER BY id) FROM personalities)::text,
    (SELECT json_agg(json_build_array(personality_id, alias) ORDER BY id) FROM personality_aliases)::text,
    (SELECT json_agg(json_build_array(handle, personality_id) ORDER BY handle) FROM personality_handles)::text)`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Issue 9: user B could take user A's "@Nyx" through a display name, a slug
// or an alias. Every string that calls a personality now has one holder
// across all four kinds: each of the 16 (holder kind, claimant kind) pairs,
// in any case or spacing, is refused by the database itself, and nothing
// changes; "@nyx" keeps calling A.
func TestNamesHaveOneHolderAcrossAllFourKinds(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	alice, err := s.UserByDiscordID(ctx, snowflake())
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.UserByDiscordID(ctx, snowflake())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, held := range kinds {
		for _, claimed := range kinds {
			n++
			t.Run(held+" vs "+claimed, func(t *testing.T) {
				base := fmt.Sprintf("nyx%d", n)
				// A's personality is private: private personalities reserve
				// their strings too.
				a, err := s.CreatePersonality(ctx, store.NewPersonality{Slug: fmt.Sprintf("qa-a%d", n), Name: fmt.Sprintf("Alpha %d", n), OwnerUserID: &alice.ID})
				if err != nil {
					t.Fatal(err)
				}
				if err := claim(ctx, s, a, held, form(held, base, 0)); err != nil {
					t.Fatalf("A takes %q as its %s: %v", form(held, base, 0), held, err)
				}
				b, err := s.CreatePersonality(ctx, store.NewPersonality{Slug: fmt.Sprintf("impostor%d", n), Name: fmt.Sprintf("Impostor %d", n), OwnerUserID: &bob.ID, IsPublic: true})
				if err != nil {
					t.Fatal(err)
				}
				for v := 1; v <= 3; v++ {
					before := dbState(t, s)
					try := form(claimed, base, v)
					err := claim(ctx, s, b, claimed, try)
					var pe *pgconn.PgError
					if !errors.As(err, &pe) || pe.Code != "23505" {
						t.Fatalf("B took %q (%s) while A holds %q (%s): err = %v", try, claimed, form(held, base, 0), held, err)
					}
					if after := dbState(t, s); after != before {
						t.Fatalf("a refused claim changed the database:\nbefore %s\nafter  %s", before, after)
					}
					if h, ok, err := s.HandleHolder(ctx, "@"+strings.ToUpper(base)); err != nil || !ok || h.ID != a {
						t.Fatalf("@%s calls %+v %v %v, want A (%d)", base, h, ok, err, a)
					}
					if claimed == "slug" {
						break // one spelling only
					}
				}
				// Through the store, the refusal is an ErrNameTaken naming
				// the string (and the holder, for the caller to decide
				// what to show).
				if claimed == "name" || claimed == "display name" || claimed == "alias" {
					var err error
					switch claimed {
					case "name":
						v := form(claimed, base, 1)
						err = s.UpdatePersonality(ctx, b, store.PersonalityPatch{Name: &v})
					case "display name":
						v := form(claimed, base, 2)
						err = s.UpdatePersonality(ctx, b, store.PersonalityPatch{DisplayName: &v})
					case "alias":
						err = s.AddAlias(ctx, b, form(claimed, base, 3))
					}
					if !errors.Is(err, store.ErrNameTaken) {
						t.Fatalf("store refusal = %v, want ErrNameTaken", err)
					}
					var taken *store.NameTakenError
					if errors.As(err, &taken) {
						if taken.Handle != base || taken.Holder.ID != a {
							t.Fatalf("NameTakenError = %+v, want handle %q held by %d", taken, base, a)
						}
						if strings.Contains(err.Error(), "Alpha") || strings.Contains(err.Error(), "qa-a") {
							t.Fatalf("the error reveals the holder: %v", err)
						}
					}
				}
				// A new personality cannot take it either.
				_, err = s.CreatePersonality(ctx, store.NewPersonality{Slug: fmt.Sprintf("late%d", n), Name: form("name", base, 1), OwnerUserID: &bob.ID})
				if !errors.Is(err, store.ErrNameTaken) {
					t.Fatalf("a new personality named %q: %v, want ErrNameTaken", form("name", base, 1), err)
				}
			})
		}
	}
}

// One personality may hold one string several times (one holder), and a
// string its holder lets go is free for anyone.
func TestOnePersonalityMayHoldAStringSeveralTimes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, err := s.CreatePersonality(ctx, store.NewPersonality{Slug: "nyx", Name: "Nyx", DisplayName: "NYX"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddAlias(ctx, a, " @nyx "); err != nil {
		t.Fatalf("alias equal to its own name: %v", err)
	}
	if err := s.AddAlias(ctx, a, "Nyx  Prime"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAlias(ctx, a, "nyx prime"); err != nil {
		t.Fatal(err)
	}
	hs, err := s.PersonalityHandles(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(hs) != "[nyx nyx prime]" {
		t.Fatalf("handles = %q", hs)
	}
	// Removing one of two spellings keeps the handle; removing both frees it.
	if _, err := s.RemoveAlias(ctx, a, "Nyx  Prime"); err != nil {
		t.Fatal(err)
	}
	if h, ok, _ := s.HandleHolder(ctx, "NYX PRIME"); !ok || h.ID != a {
		t.Fatal("removing one spelling released the handle")
	}
	if _, err := s.RemoveAlias(ctx, a, "nyx prime"); err != nil {
		t.Fatal(err)
	}
	b := createPersonality(t, s, "other")
	if err := s.AddAlias(ctx, b, "Nyx Prime"); err != nil {
		t.Fatalf("a released string is not free: %v", err)
	}
	// Renaming releases the old name; deleting releases everything.
	newName := "Nox"
	if err := s.UpdatePersonality(ctx, a, store.PersonalityPatch{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	if h, ok, _ := s.HandleHolder(ctx, "nyx"); !ok || h.ID != a {
		t.Fatal("nyx (still its slug, display name and alias) was released")
	}
	if _, err := s.DeletePersonality(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.HandleHolder(ctx, "nyx"); ok {
		t.Fatal("a deleted personality still holds its strings")
	}
	if err := s.AddAlias(ctx, b, "Nyx"); err != nil {
		t.Fatal(err)
	}
}

// Two transactions claiming one string at once: the second waits for the
// first and fails if it committed, or takes the string if it rolled back.
// Never two holders.
func TestConcurrentClaimsLeaveOneHolder(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := createPersonality(t, s, "alpha")
	b := createPersonality(t, s, "bravo")
	for _, commit := range []bool{true, false} {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO personality_aliases (personality_id, alias) VALUES ($1, 'Race')`, a); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.Pool().Exec(ctx, `UPDATE personalities SET display_name = 'RACE' WHERE id = $1`, b)
			done <- err
		}()
		// Wait until the second claim is queued behind the first.
		for waiting := false; !waiting; {
			if err := s.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
AND wait_event_type = 'Lock' AND query LIKE 'UPDATE personalities SET display_name%')`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				t.Fatalf("the second claim did not wait for the first: %v", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		err = <-done
		h, ok, herr := s.HandleHolder(ctx, "race")
		if herr != nil || !ok {
			t.Fatalf("nobody holds race: %v", herr)
		}
		if commit && (err == nil || h.ID != a) {
			t.Fatalf("first committed: second claim err = %v, holder %d (want refused, %d)", err, h.ID, a)
		}
		if !commit && (err != nil || h.ID != b) {
			t.Fatalf("first rolled back: second claim err = %v, holder %d (want taken by %d)", err, h.ID, b)
		}
		// Reset for the next round.
		if _, err := s.Pool().Exec(ctx, `DELETE FROM personality_aliases; UPDATE personalities SET display_name = ''`); err != nil {
			t.Fatal(err)
		}
	}
}

// handlesVersion is the migration that adds personality_handles.
const handlesVersion = 5

// Rows from before the rule may clash. Migrating does not fail on them and
// resolves nothing silently: each string calls its earliest claim, every
// clash is listed by NameConflicts (what `tzurot doctor names` prints), and
// the personalities involved can still be saved.
func TestHandlesMigrationKeepsAndReportsExistingClashes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	pool := pgtest.Pool(t, dsn)
	p := migrator(t, dsn)
	if _, err := p.UpTo(ctx, handlesVersion-1); err != nil {
		t.Fatal(err)
	}
	// A (oldest) is Nyx; B (later) took "NYX" as display name and "qa-nyx"
	// (A's slug) as an alias; C has the alias "iris" while D (older than
	// the alias) has the slug iris; E alone has a clash-free name.
	seed := `
INSERT INTO personalities (slug, name, created_at) VALUES
    ('qa-nyx', 'Nyx', '2026-01-01'), ('impostor', 'Impostor', '2026-02-01'),
    ('cleo', 'Cleo', '2026-01-05'), ('iris', 'Iris Two', '2026-01-03'), ('solo', 'Solo', '2026-01-04');
UPDATE personalities SET display_name = 'NYX' WHERE slug = 'impostor';
INSERT INTO personality_aliases (personality_id, alias, created_at)
    SELECT id, 'qa-nyx', '2026-02-02' FROM personalities WHERE slug = 'impostor';
INSERT INTO personality_aliases (personality_id, alias, created_at)
    SELECT id, 'Iris', '2026-01-06' FROM personalities WHERE slug = 'cleo';`
	if _, err := pool.Exec(ctx, seed); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("the migration failed on existing clashes: %v", err)
	}
	s := store.New(pool, newVault(t), nil)
	id := func(slug string) int64 {
		var id int64
		if err := pool.QueryRow(ctx, `SELECT id FROM personalities WHERE slug = $1`, slug).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	nyx, impostor, cleo, iris := id("qa-nyx"), id("impostor"), id("cleo"), id("iris")
	for name, want := range map[string]int64{"@Nyx": nyx, "qa-nyx": nyx, "iris": iris, "impostor": impostor, "Solo": id("solo")} {
		if h, ok, err := s.HandleHolder(ctx, name); err != nil || !ok || h.ID != want {
			t.Errorf("%s calls %d (%v %v), want %d", name, h.ID, ok, err, want)
		}
	}
	conflicts, err := s.NameConflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range conflicts {
		var cl []string
		for _, x := range c.Claims {
			cl = append(cl, fmt.Sprintf("%s:%s=%q:%v", x.Slug, x.Kind, x.Value, x.Holds))
		}
		got = append(got, fmt.Sprintf("%s->%d %s", c.Handle, c.HolderID, strings.Join(cl, " ")))
	}
	want := []string{
		fmt.Sprintf(`iris->%d iris:slug="iris":true cleo:alias="Iris":false`, iris),
		fmt.Sprintf(`nyx->%d qa-nyx:name="Nyx":true impostor:display name="NYX":false`, nyx),
		fmt.Sprintf(`qa-nyx->%d qa-nyx:slug="qa-nyx":true impostor:alias="qa-nyx":false`, nyx),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("conflicts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The index is built from the recorded holders only: no clash there.
	names, err := s.MentionNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n.PersonalityID == impostor && n.Name != "impostor" {
			t.Fatalf("the impostor is indexed under %q", n.Name)
		}
	}
	// The losers can still be saved (their unchanged strings are not new
	// claims), but cannot add a new clash.
	prompt, newName := "still works", "Impostor Two"
	if err := s.UpdatePersonality(ctx, impostor, store.PersonalityPatch{SystemPrompt: &prompt, Name: &newName}); err != nil {
		t.Fatalf("saving a personality with an old clash: %v", err)
	}
	if err := s.AddAlias(ctx, cleo, "NYX"); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("new clash: %v", err)
	}
	// Once the holder lets the string go, the next save of the other
	// claimant records it, and the clash is gone.
	renamed := "Nyx Original"
	if err := s.UpdatePersonality(ctx, nyx, store.PersonalityPatch{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdatePersonality(ctx, impostor, store.PersonalityPatch{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	if h, ok, _ := s.HandleHolder(ctx, "nyx"); !ok || h.ID != impostor {
		t.Fatalf("nyx calls %d after its holder let it go, want %d", h.ID, impostor)
	}
	conflicts, err = s.NameConflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) != 2 {
		t.Fatalf("conflicts left: %+v", conflicts)
	}
	// Rolling back removes the rule and nothing else.
	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM personalities`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("after down: %d personalities, %v", n, err)
	}
}
