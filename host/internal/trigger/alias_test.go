package trigger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discord"
)

func TestAliasIndexChanges(t *testing.T) {
	x := NewAliasIndex()
	if err := x.Replace([]Alias{{Name: "Bambi", PersonalityID: 1}, {Name: "Rose", PersonalityID: 2}}); err != nil {
		t.Fatal(err)
	}
	if pid, ok := x.Lookup("@BAMBI"); !ok || pid != 1 {
		t.Fatalf("Lookup(@BAMBI) = %d %v", pid, ok)
	}

	// Upsert moves an alias to another personality.
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
	if err := x.Replace([]Alias{{Name: "ok", PersonalityID: 1}}); err != nil {
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
	err := x.Replace([]Alias{{Name: "new", PersonalityID: 2}, bad[0]})
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
	if err := x.Replace(gen(100)); err != nil {
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
		if err := x.Replace(gen(owner)); err != nil {
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
	if err := x.Replace(all); err != nil {
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
	msg := discord.IncomingMessage{ID: "1", ChannelID: "c", GuildID: "g", Author: discord.User{ID: "u"},
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
		if err := NewAliasIndex().Replace(all); err != nil {
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
		dec, err := d.Decide(context.Background(), discord.IncomingMessage{GuildID: "g", Content: text})
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
