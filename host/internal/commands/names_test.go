package commands_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// claimBy runs the command with which user u gives personality slug the
// string v as kind. A slug cannot be changed by a command, so a slug is
// claimed by creating a personality with it.
func (e *env) claimBy(u discordfake.User, slug, kind, v string, n int) answer {
	e.t.Helper()
	switch kind {
	case "name":
		return e.slash(u, "personality", sub("edit", str("personality", slug), str("name", v)))
	case "display name":
		return e.slash(u, "personality", sub("edit", str("personality", slug), str("display_name", v)))
	case "slug":
		return e.slash(u, "personality", sub("create", str("slug", v), str("name", fmt.Sprintf("Slugger %d", n))))
	case "alias":
		return e.slash(u, "personality", group("alias", sub("add", str("personality", slug), str("alias", v))))
	}
	e.t.Fatalf("unknown kind %q", kind)
	return answer{}
}

// Issue 9 through the slash commands: user A holds a string as a name,
// display name, slug or alias; user B tries to take it as each of the four
// (16 cases, in other cases and spacings). Every attempt is refused with an
// ephemeral message naming the string, the database does not change, "@"
// that string still calls A's personality, and A's personality is named
// only when it is public.
func TestNoUserCanTakeAnotherUsersName(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(), e.user()
	kinds := []string{"name", "display name", "slug", "alias"}
	n := 0
	for _, held := range kinds {
		for _, claimed := range kinds {
			n++
			base := fmt.Sprintf("nyx%d", n)
			public := n%2 == 1
			t.Run(held+" vs "+claimed, func(t *testing.T) {
				e := e.in(t)
				// A's personality, holding base as `held`.
				aSlug, aName := fmt.Sprintf("qa-a%d", n), fmt.Sprintf("Alpha %d", n)
				switch held {
				case "name":
					aName = "Nyx" + base[3:]
				case "slug":
					aSlug = base
				}
				a := e.create(alice, aSlug, aName)
				if public {
					mustSay(t, e.slash(alice, "personality", sub("edit", str("personality", aSlug), boolean("public", true))), "visibility")
				}
				switch held {
				case "display name":
					mustSay(t, e.claimBy(alice, aSlug, held, "NYX"+base[3:], n), "Updated the display name")
				case "alias":
					mustSay(t, e.claimBy(alice, aSlug, held, "nYx"+base[3:], n), "now also answers to")
				}
				if got, ok := e.aliases.Lookup(base); !ok || got != a {
					t.Fatalf("@%s calls %d before the attempts, want A's %d", base, got, a)
				}
				bSlug := fmt.Sprintf("impostor%d", n)
				e.create(bob, bSlug, fmt.Sprintf("Impostor %d", n))

				variants := []string{"Nyx" + base[3:], "  @NYX" + base[3:] + " ", "nyX" + base[3:]}
				if claimed == "slug" {
					variants = []string{base}
				}
				for _, v := range variants {
					before := e.snapshot()
					got := e.claimBy(bob, bSlug, claimed, v, n)
					if claimed == "slug" && held == "slug" {
						mustSay(t, got, "slug `"+base+"` is taken")
					} else {
						mustSay(t, got, "already taken", "`@"+base+"` calls", "Nothing was changed")
					}
					if public && !(claimed == "slug" && held == "slug") {
						mustSay(t, got, "**"+aName+"** (`"+aSlug+"`)")
					}
					if !public && !(claimed == "slug" && held == "slug") {
						mustSay(t, got, "calls another personality")
						if strings.Contains(got.Content, "**"+aName+"**") || strings.Contains(got.Content, "(`"+aSlug+"`)") {
							t.Errorf("the refusal reveals A's private personality: %q", got.Content)
						}
					}
					e.unchanged(before)
					if got, ok := e.aliases.Lookup(v); !ok || got != a {
						t.Fatalf("after B tried %q, @%s calls %d, want A's %d", v, base, got, a)
					}
				}
			})
		}
	}
	// A bot owner is told who holds a private personality's name.
	owner := discordfake.User{ID: ownerID, Username: "owner"}
	a := e.slash(owner, "personality", sub("create", str("slug", "owner-try"), str("name", "Nyx2")))
	mustSay(t, a, "already taken", "**Nyx2** (`qa-a2`)")
}

// "@Nyx hi" reaches A's personality even when B asked for Nyx as a display
// name: the mention index only ever holds A for it.
func TestDisplayNameEditCannotTakeAMention(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(), e.user()
	nyx := e.create(alice, "qa-nyx", "Nyx")
	e.create(bob, "impostor", "Impostor")
	before := e.snapshot()
	mustSay(t, e.slash(bob, "personality", sub("edit", str("personality", "impostor"), str("display_name", "Nyx"))), "display name `Nyx` is already taken")
	e.unchanged(before)
	// B's own display name is indexed: it calls B.
	mustSay(t, e.slash(bob, "personality", sub("edit", str("personality", "impostor"), str("display_name", "The Impostor"))), "Updated the display name")
	p, err := e.store.PersonalityBySlug(context.Background(), "impostor", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := e.aliases.Lookup("@the impostor"); !ok || got != p.ID {
		t.Fatalf("@The Impostor calls %d, want B's %d", got, p.ID)
	}
	if got, ok := e.aliases.Lookup("@Nyx"); !ok || got != nyx {
		t.Fatalf("@Nyx calls %d, want A's %d", got, nyx)
	}
}

// A personality that lost a clash from before migration 5 can still be
// edited, including its name in another case (no new claim), while "@nyx"
// keeps calling the recorded holder.
func TestOldClashLoserCanStillBeEdited(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(), e.user()
	nyx := e.create(alice, "qa-nyx", "Nyx")
	e.create(bob, "impostor", "Impostor")
	// What a database from before migration 5 could hold: B also named NYX.
	if _, err := e.store.Pool().Exec(context.Background(), `
ALTER TABLE personalities DISABLE TRIGGER personalities_handles;
UPDATE personalities SET name = 'NYX' WHERE slug = 'impostor';
ALTER TABLE personalities ENABLE TRIGGER personalities_handles;`); err != nil {
		t.Fatal(err)
	}
	mustSay(t, e.slash(bob, "personality", sub("edit", str("personality", "impostor"), str("name", "nyx"), str("prompt", "new prompt"))), "Updated the name, prompt")
	if got, ok := e.aliases.Lookup("@Nyx"); !ok || got != nyx {
		t.Fatalf("@Nyx calls %d, want A's %d", got, nyx)
	}
	// A genuinely new claim is still refused.
	mustSay(t, e.slash(bob, "personality", sub("edit", str("personality", "impostor"), str("display_name", "QA-Nyx"))), "already taken")
}
