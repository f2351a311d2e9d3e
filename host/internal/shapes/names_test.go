package shapes

import (
	"context"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// Issue 9 in the importers: every name, display name, slug and alias calls
// exactly one personality. An imported alias that already calls another
// personality (as its name or slug, not only as an alias) is reported and
// not added; a name or display name that does fails its personality as a
// whole with the reason; a slug that is another's name gets a suffix.
func TestImportKeepsOneHolderPerName(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
INSERT INTO personalities (slug, name) VALUES ('local', 'Sprout'), ('gardener', 'Someone Else'), ('other-one', 'Example-Archivist');
INSERT INTO personalities (slug, name, display_name) VALUES ('keeper', 'Keeper', 'example lighthouse KEEPER');`); err != nil {
		t.Fatal(err)
	}
	sum, report := importShapes(t, pool, exampleBackup(t), Options{})
	if sum.Created != 2 || sum.Failed != 1 {
		t.Fatalf("created %d, failed %d, want 2 and 1:\n%s", sum.Created, sum.Failed, report)
	}
	// Aliases: "Sprout" is local's name, "Gardener" is gardener's slug.
	for _, tc := range []struct{ alias, holder, field string }{{"Sprout", "Sprout", "aliases[1]"}, {"Gardener", "Someone Else", "aliases[0]"}} {
		i, ok := findIssue(sum.Issues, Warning, "example-gardener.json", `"`+tc.alias+`"`, "already calls", tc.holder, "not added")
		if !ok || i.Field != tc.field {
			t.Errorf("alias %s held by %s: not reported:\n%s", tc.alias, tc.holder, report)
		}
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_aliases`); n != 0 {
		t.Errorf("%d aliases added that call another personality", n)
	}
	// The name (and display name) "Example Lighthouse Keeper" already calls keeper.
	if _, ok := findIssue(sum.Issues, Error, "example-lighthouse.json", `"Example Lighthouse Keeper" already calls the personality "Keeper" (keeper)`, "nothing of this personality was written"); !ok {
		t.Errorf("name clash not reported as a failure with its reason:\n%s", report)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM personalities WHERE shapes_id IS NOT NULL AND name LIKE 'Example Lighthouse%'`); n != 0 {
		t.Error("a personality whose name calls another was written")
	}
	// The slug example-archivist is other-one's name: a suffix.
	if n := queryInt(t, pool, `SELECT count(*) FROM personalities WHERE slug = 'example-archivist-2' AND name = 'Example Archivist'`); n != 1 {
		t.Errorf("the archivist did not get a free slug:\n%s", report)
	}
	// Nothing calls two personalities.
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_handles WHERE handle IN ('sprout', 'gardener', 'example lighthouse keeper')
		AND personality_id NOT IN (SELECT id FROM personalities WHERE shapes_id IS NULL)`); n != 0 {
		t.Error("an imported personality took a string another holds")
	}
}

func TestV2ImportKeepsOneHolderPerName(t *testing.T) {
	pool := pgtest.New(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO personalities (slug, name) VALUES ('librarian-bot', 'LIBRARIAN')`); err != nil {
		t.Fatal(err)
	}
	sum, report := importV2(t, pool, Options{})
	if sum.Created != 2 {
		t.Fatalf("created %d:\n%s", sum.Created, report)
	}
	if _, ok := findIssue(sum.Issues, Warning, sampleV2Store, `"Librarian"`, "already calls", "LIBRARIAN", "not added"); !ok {
		t.Errorf("v2 alias held as another personality's name not reported:\n%s", report)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_aliases WHERE lower(alias) = 'librarian'`); n != 0 {
		t.Error("the alias was added anyway")
	}
}
