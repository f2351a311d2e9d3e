package trigger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/message"
)

func TestAliasIndexChanges(t *testing.T) {
	x := NewAliasIndex()
	if _, err := x.Replace([]Alias{{Name: "Bambi", PersonalityID: 1}, {Name: "Rose", PersonalityID: 2}}); err != nil {
		t.Fatal(err)
	}
	if pid, ok := x.Lookup("@BAMBI"); !ok || pid != 1 {
		t.Fatalf("Lookup(@BAMBI) = %d %v", pid, ok)
	}

	// A name moves to another personality only once its holder lets it go.
	x.Delete("Bambi")
	if err := x.Upsert(Alias{Name: "bambi", PersonalityID: 2}); err != nil {
		t.Fatal(err)
	}
	if got := mentioned(x, "@bambi hi"); got != 2 {
		t.Fatalf("after move, @bambi -> %d", got)
	}

	x.Delete("Bambi")
	if got := mentioned(x, "@bambi hi"); got != 0 {
		t.Fatalf("after delete, @bambi -> %d", got)
	}

	if err := x.Upsert(Alias{Name: "rosie", PersonalityID: 2}); err != nil {
		t.Fatal(err)
	}
	x.DeletePersonality(2)
	if x.Len() != 0 {
		t.Fatalf("%d aliases left after deleting their personality", x.Len())
	}
	if got := mentioned(x, "@rosie @rose"); got != 0 {
		t.Fatalf("deleted personality still mentioned: %d", got)
	}
}

// A name claimed by a second personality never silently changes hands: Upsert refuses it with
// both ids, Replace keeps the first holder and reports the clash, and "@Nyx" keeps calling the
// first holder either way (issue 9: a later entry used to win).
func TestAliasIndexNeverOverwritesAName(t *testing.T) {
	const a, b = 1, 2
	x := NewAliasIndex()
	if _, err := x.Replace([]Alias{{Name: "Nyx", PersonalityID: a}, {Name: "qa-nyx", PersonalityID: a}}); err != nil {
		t.Fatal(err)
	}
	for _, claim := range []string{"Nyx", "NYX", "  @nyx ", "qa-NYX"} {
		err := x.Upsert(Alias{Name: claim, PersonalityID: b})
		var c *ConflictError
		if !errors.As(err, &c) || c.HolderID != a || c.ClaimantID != b || c.Name != Key(claim) {
			t.Fatalf("Upsert(%q) for another personality: %v, want a conflict naming %d and %d", claim, err, a, b)
		}
		if !strings.Contains(err.Error(), "1") || !strings.Contains(err.Error(), "2") {
			t.Fatalf("conflict error %q does not name both personalities", err)
		}
		if got := mentioned(x, "@Nyx hi"); got != a {
			t.Fatalf("after B claimed %q, @Nyx -> %d, want %d", claim, got, a)
		}
	}
	// The holder upserting its own name again is not a conflict.
	if err := x.Upsert(Alias{Name: "nyx", PersonalityID: a}); err != nil {
		t.Fatal(err)
	}

	// Replace: the first entry keeps the name whatever comes after it, and
	// every clash is reported once.
	conflicts, err := x.Replace([]Alias{
		{Name: "Nyx", PersonalityID: a},
		{Name: "nyx", PersonalityID: b},
		{Name: "Impostor", PersonalityID: b},
		{Name: "NYX", PersonalityID: 3},
		{Name: "nyx", PersonalityID: a},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []ConflictError{{Name: "nyx", HolderID: a, ClaimantID: b}, {Name: "nyx", HolderID: a, ClaimantID: 3}}
	if fmt.Sprint(conflicts) != fmt.Sprint(want) {
		t.Fatalf("conflicts = %+v, want %+v", conflicts, want)
	}
	if got := mentioned(x, "@nyx hi"); got != a {
		t.Fatalf("after Replace, @nyx -> %d, want %d", got, a)
	}
	if got := mentioned(x, "@impostor hi"); got != b {
		t.Fatalf("after Replace, @impostor -> %d, want %d", got, b)
	}
	// Deleting the claimant's names leaves the holder's alone.
	x.DeletePersonality(b)
	if got := mentioned(x, "@nyx hi"); got != a {
		t.Fatalf("after deleting the claimant, @nyx -> %d, want %d", got, a)
	}
}

// Key is idempotent and reads names the way mentions are read from text.
func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"Nyx": "nyx", "  @Nyx  ": "nyx", "@@nyx": "nyx", "@ @Nyx": "nyx", "Bambi \t\u00a0 Prime": "bambi prime",
		"ZOË": "zoë", "R2-D2": "r2-d2", "@": "", "İ": "i",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
		if Key(Key(in)) != Key(in) {
			t.Errorf("Key is not idempotent on %q", in)
		}
	}
	x := NewAliasIndex()
	if err := x.Upsert(Alias{Name: "@@Nyx", PersonalityID: 1}); err != nil {
		t.Fatal(err)
	}
	if got := mentioned(x, "@@nyx hi"); got != 1 {
		t.Fatalf("@@nyx -> %d", got)
	}
}

func TestAliasIndexPrefixesSurviveDeletes(t *testing.T) {
	x := NewAliasIndex()
	for _, a := range []Alias{{"bambi", 1}, {"bambi prime", 2}, {"R2-D2", 3}, {"r2", 4}} {
		if err := x.Upsert(a); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		text string
		want int64
	}{
		{"@r2-d2 beep", 3},
		{"@R2-D3 beep", 4},
		{"@bambi prime!", 2},
	}
	for _, c := range cases {
		if got := mentioned(x, c.text); got != c.want {
			t.Errorf("%q -> %d, want %d", c.text, got, c.want)
		}
	}
	x.Delete("bambi")
	if got := mentioned(x, "@bambi prime"); got != 2 {
		t.Errorf("after deleting bambi, @bambi prime -> %d", got)
	}
	if got := mentioned(x, "@bambi hi"); got != 0 {
		t.Errorf("after deleting bambi, @bambi -> %d", got)
	}
	x.Delete("bambi prime")
	x.Delete("r2")
	if got := mentioned(x, "@r2-d2"); got != 3 {
		t.Errorf("after deleting r2, @r2-d2 -> %d", got)
	}
	x.Delete("r2-d2")
	if len(x.keys) != 0 || x.Len() != 0 {
		t.Errorf("index not empty after deleting everything: %d keys, %d aliases", len(x.keys), x.Len())
	}
}

func TestAliasIndexRejectsBadAliases(t *testing.T) {
	x := NewAliasIndex()
	if _, err := x.Replace([]Alias{{Name: "ok", PersonalityID: 1}}); err != nil {
		t.Fatal(err)
	}
	bad := []Alias{
		{Name: "  ", PersonalityID: 1},
		{Name: "@", PersonalityID: 1},
		{Name: "orphan", PersonalityID: 0},
		{Name: strings.Repeat("a", MaxAliasRunes+1), PersonalityID: 1},
	}
	for _, a := range bad {
		if err := x.Upsert(a); err == nil {
			t.Errorf("Upsert(%q, %d) accepted", a.Name, a.PersonalityID)
		}
	}
	// Replace with one bad alias changes nothing.
	_, err := x.Replace([]Alias{{Name: "new", PersonalityID: 2}, bad[0]})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Replace error %v, want it to say the alias is empty", err)
	}
	if _, ok := x.Lookup("ok"); !ok || x.Len() != 1 {
		t.Fatal("a failed Replace changed the index")
	}
	// The longest accepted alias is matched in full.
	long := strings.Repeat("b", MaxAliasRunes)
	if err := x.Upsert(Alias{Name: long, PersonalityID: 3}); err != nil {
		t.Fatal(err)
	}
	if got := mentioned(x, "@"+long+"!"); got != 3 {
		t.Fatalf("100-character alias -> %d", got)
	}
}

// TestAliasIndexConcurrentRefresh runs lookups while the index is replaced and edited; with -race
// it proves readers never see a torn update.
func TestAliasIndexConcurrentRefresh(t *testing.T) {
	x := NewAliasIndex()
	gen := func(owner int64) []Alias {
		return []Alias{{Name: "alpha", PersonalityID: owner}, {Name: "alpha beta", PersonalityID: owner}}
	}
	if _, err := x.Replace(gen(100)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	bad := make(chan string, 1)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ms := x.FindMentions("@alpha beta and @alpha")
				if len(ms) != 2 || ms[0].PersonalityID != ms[1].PersonalityID {
					select {
					case bad <- fmt.Sprintf("%+v", ms):
					default:
					}
				}
			}
		}()
	}
	for i := range 500 {
		owner := int64(1 + i%7)
		if _, err := x.Replace(gen(owner)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case got := <-bad:
		t.Fatalf("a reader saw a half-applied Replace: %s", got)
	default:
	}
}

func mentioned(x *AliasIndex, text string) int64 {
	ms := x.FindMentions(text)
	if len(ms) == 0 {
		return 0
	}
	return ms[0].PersonalityID
}

// benchIndex builds an index of n random aliases of one to three words.
func benchIndex(b *testing.B, n int) *AliasIndex {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyz"
		w := make([]byte, 3+rng.IntN(7))
		for i := range w {
			w[i] = letters[rng.IntN(len(letters))]
		}
		return string(w)
	}
	all := make([]Alias, 0, n+2)
	for i := range n {
		words := make([]string, 1+rng.IntN(3))
		for j := range words {
			words[j] = word()
		}
		all = append(all, Alias{Name: strings.Join(words, " "), PersonalityID: int64(1 + i%5000)})
	}
	all = append(all, Alias{Name: "bambi", PersonalityID: 9001}, Alias{Name: "bambi prime", PersonalityID: 9002})
	x := NewAliasIndex()
	if _, err := x.Replace(all); err != nil {
		b.Fatal(err)
	}
	return x
}

// BenchmarkFindMentions measures alias matching against 100,000 aliases on messages of ordinary
// length (about 200 characters). Results are recorded in docs/performance.md.
func BenchmarkFindMentions(b *testing.B) {
	x := benchIndex(b, 100_000)
	msgs := map[string]string{
		"no-mention":    "I was thinking about what you said yesterday, and honestly I still do not agree with the part about the weather. Can we talk about it again later today, maybe after dinner?",
		"one-mention":   "@bambi prime I was thinking about what you said yesterday, and honestly I still do not agree with the part about the weather. Can we talk about it again later today?",
		"three-at-sign": "hey @rose, @bambi and mail me at someone@example.com about what you said yesterday; I still do not agree with the weather part. Can we talk again later today?",
	}
	for name, msg := range msgs {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				x.FindMentions(msg)
			}
		})
	}
}

// BenchmarkDecide measures a whole decision (mentions, dedupe, text stripping) for a message with
// one mention against 100,000 aliases, without lookups.
func BenchmarkDecide(b *testing.B) {
	d, err := New(Config{Aliases: benchIndex(b, 100_000)})
	if err != nil {
		b.Fatal(err)
	}
	msg := message.Message{ID: "1", ChannelID: "c", GuildID: "g", Author: message.Author{ID: "u"},
		Content: "@bambi prime I was thinking about what you said yesterday, and honestly I still do not agree with the part about the weather. Can we talk about it again later today?"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decide(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAliasIndexReplace measures rebuilding the index from 100,000 aliases (at start, or
// after a bulk import).
func BenchmarkAliasIndexReplace(b *testing.B) {
	x := benchIndex(b, 100_000)
	var all []Alias
	for name, k := range x.keys {
		if k.personalityID != 0 {
			all = append(all, Alias{Name: name, PersonalityID: k.personalityID})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewAliasIndex().Replace(all); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzFindMentions checks that any text, valid UTF-8 or not, gives well-formed mentions and a
// stripped text without panicking.
func FuzzFindMentions(f *testing.F) {
	x := NewAliasIndex()
	for i, name := range []string{"bambi", "bambi prime", "zoë", "r2-d2", "dr.", "ß", "İstanbul", "a b c d"} {
		if err := x.Upsert(Alias{Name: name, PersonalityID: int64(i + 1)}); err != nil {
			f.Fatal(err)
		}
	}
	for _, s := range []string{"@bambi prime hi", "@@bambi", "x@bambi", "@zoë,@ß @r2-d2!", "@a  b\tc\nd", "@\xff@bambi", "@İSTANBUL"} {
		f.Add(s)
	}
	d, err := New(Config{Aliases: x})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ms := x.FindMentions(text)
		prev := 0
		for _, m := range ms {
			if m.Start < prev || m.End <= m.Start+1 || m.End > len(text) || text[m.Start] != '@' {
				t.Fatalf("bad mention %+v in %q", m, text)
			}
			prev = m.End
		}
		dec, err := d.Decide(context.Background(), message.Message{GuildID: "g", Content: text})
		if err != nil {
			t.Fatal(err)
		}
		if len(dec.Triggers) > DefaultMaxPersonalities {
			t.Fatalf("%d triggers", len(dec.Triggers))
		}
		if len(ms) == 0 && dec.Content != text {
			t.Fatalf("text changed without a mention: %q -> %q", text, dec.Content)
		}
	})
}
