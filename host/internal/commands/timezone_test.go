package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

func (e *env) zoneChoices(typed string) []string {
	e.t.Helper()
	in := e.spec(e.user())
	a := e.inject(in, discordfake.Autocomplete(in, "timezone", sub("set",
		discordfake.CommandOption{Name: "zone", Type: discordfake.OptionString, Value: typed, Focused: true})))
	if a.Type != 8 {
		e.t.Fatalf("autocomplete answered type %d", a.Type)
	}
	raw, _ := a.Data["choices"].([]any)
	var out []string
	for _, c := range raw {
		out = append(out, c.(map[string]any)["value"].(string))
	}
	return out
}

func TestTimezoneAutocomplete(t *testing.T) {
	e := newEnv(t)
	got := e.zoneChoices("new y")
	if len(got) == 0 || got[0] != "America/New_York" {
		t.Fatalf(`"new y" offers %v, want America/New_York first`, got)
	}
	if all := e.zoneChoices("a"); len(all) != 25 {
		t.Fatalf(`"a" offers %d zones, want Discord's maximum of 25`, len(all))
	}
	if got := e.zoneChoices("sao pa"); len(got) == 0 || got[0] != "America/Sao_Paulo" {
		t.Fatalf(`"sao pa" offers %v`, got)
	}
	if got := e.zoneChoices("europe/lon"); len(got) == 0 || got[0] != "Europe/London" {
		t.Fatalf(`"europe/lon" offers %v`, got)
	}
	if got := e.zoneChoices("zzzz"); len(got) != 0 {
		t.Fatalf(`"zzzz" offers %v`, got)
	}
}

func TestTimezoneSetAndGet(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	// 15:09 UTC on 14 March 2026 is 11:09 in New York (daylight saving time).
	a := e.slash(u, "timezone", sub("set", str("zone", "america/new_york")))
	mustSay(t, a, "**America/New_York**", "11:09")
	got, err := e.store.UserByDiscordID(context.Background(), u.ID)
	if err != nil || got.Timezone != "America/New_York" {
		t.Fatalf("stored zone = %q, %v", got.Timezone, err)
	}
	a = e.slash(u, "timezone", sub("get"))
	mustSay(t, a, "**America/New_York**", "EDT", "UTC-04:00", "11:09 on Saturday 14 March 2026")

	e.now = e.now.Add(30 * 24 * time.Hour)
	mustSay(t, e.slash(u, "timezone", sub("get")), "11:09 on Monday 13 April 2026")
}

func TestTimezoneUnknownNameChangesNothing(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	mustSay(t, e.slash(u, "timezone", sub("set", str("zone", "Europe/Paris"))), "Europe/Paris")
	for _, bad := range []string{"Mars/Olympus_Mons", "Local", "EST5EDT/../../etc/passwd", "new york"} {
		before := e.snapshot()
		a := e.slash(u, "timezone", sub("set", str("zone", bad)))
		mustSay(t, a, "is not a time zone", "was not changed")
		e.unchanged(before)
	}
	// A near miss suggests the real name.
	a := e.slash(u, "timezone", sub("set", str("zone", "new york")))
	mustSay(t, a, "Did you mean `America/New_York`")
}
