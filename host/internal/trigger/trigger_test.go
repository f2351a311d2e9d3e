package trigger

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/message"
)

// lookups is an in-memory stand-in for the store's lookup tables. It counts queries so tests can
// check that ordinary messages cost none.
type lookups struct {
	mu       sync.Mutex
	owners   map[string]int64 // message id -> personality
	channels map[string]int64 // channel id -> personality
	dms      map[string]int64 // user id -> personality
	err      error
	queries  int
}

func (l *lookups) get(m map[string]int64, k string) (int64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries++
	if l.err != nil {
		return 0, false, l.err
	}
	v, ok := m[k]
	return v, ok, nil
}

func (l *lookups) PersonalityForMessage(_ context.Context, id string) (int64, bool, error) {
	return l.get(l.owners, id)
}

func (l *lookups) ActivatedPersonality(_ context.Context, id string) (int64, bool, error) {
	return l.get(l.channels, id)
}

func (l *lookups) LastDMPersonality(_ context.Context, id string) (int64, bool, error) {
	return l.get(l.dms, id)
}

// Personality ids of the test index, and names to make failures readable.
const (
	pBambi int64 = iota + 1
	pPrime
	pRose
	pLilith
	pZoe
	pWho
)

var names = map[int64]string{pBambi: "p-bambi", pPrime: "p-prime", pRose: "p-rose", pLilith: "p-lilith", pZoe: "p-zoe", pWho: "p-who"}

const botID = "900"

func newDetector(t *testing.T, l *lookups, max int) *Detector {
	t.Helper()
	idx := NewAliasIndex()
	_, err := idx.Replace([]Alias{
		{Name: "Bambi", PersonalityID: pBambi},
		{Name: "Bambi Prime", PersonalityID: pPrime},
		{Name: "Rose", PersonalityID: pRose},
		{Name: "Lilith", PersonalityID: pLilith},
		{Name: "lil", PersonalityID: pLilith},
		{Name: "Zoë", PersonalityID: pZoe},
		{Name: "Dr. Who", PersonalityID: pWho},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Aliases: idx, Owners: l, Channels: l, DMs: l, BotUserID: botID, MaxPersonalities: max})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func guildMsg(content string) message.Message {
	return message.Message{
		ID: "1", ChannelID: "c1", GuildID: "g1", Content: content,
		Author: message.Author{ID: "u1", Username: "alice"},
	}
}

func ids(d Decision) []string {
	var out []string
	for _, t := range d.Triggers {
		out = append(out, names[t.PersonalityID]+"/"+t.Reason.String())
	}
	return out
}

func TestMentions(t *testing.T) {
	tests := []struct {
		content string
		want    []string
		text    string
	}{
		{"@bambi hello", []string{"p-bambi/mention"}, "hello"},
		{"@Bambi Prime hello", []string{"p-prime/mention"}, "hello"},
		{"@BAMBI   prime, how are you?", []string{"p-prime/mention"}, "how are you?"},
		{"hey @rose and @bambi, what do you think?", []string{"p-rose/mention", "p-bambi/mention"}, "hey rose and bambi, what do you think?"},
		{"@bambi @Bambi hi", []string{"p-bambi/mention"}, "hi"},
		{"@lil and @lilith are the same", []string{"p-lilith/mention"}, "and lilith are the same"},
		{"thanks, @rose", []string{"p-rose/mention"}, "thanks"},
		{"what is @bambi's favourite food?", []string{"p-bambi/mention"}, "what is bambi's favourite food?"},
		{"@zoë, bonjour", []string{"p-zoe/mention"}, "bonjour"},
		{"@dr. who are you", []string{"p-who/mention"}, "are you"},
		{"@bambi", []string{"p-bambi/mention"}, ""},
		{"write to bambi@example.com", nil, "write to bambi@example.com"},
		{"@bambix is not bambi", nil, "@bambix is not bambi"},
		{"@ bambi spaced out", nil, "@ bambi spaced out"},
		{"no mention at all", nil, "no mention at all"},
		{"<@123456> is a Discord user mention", nil, "<@123456> is a Discord user mention"},
	}
	d := newDetector(t, &lookups{}, 0)
	for _, tt := range tests {
		dec, err := d.Decide(context.Background(), guildMsg(tt.content))
		if err != nil {
			t.Fatalf("%q: %v", tt.content, err)
		}
		if got := ids(dec); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: triggers %v, want %v", tt.content, got, tt.want)
		}
		if dec.Content != tt.text {
			t.Errorf("%q: content %q, want %q", tt.content, dec.Content, tt.text)
		}
	}
}

func TestMentionCap(t *testing.T) {
	msg := guildMsg("@rose @bambi @lilith @zoë @dr. who everyone here?")
	dec, _ := newDetector(t, &lookups{}, 0).Decide(context.Background(), msg)
	if got, want := ids(dec), []string{"p-rose/mention", "p-bambi/mention", "p-lilith/mention"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default cap: %v, want %v", got, want)
	}
	// Mentions over the cap stay in the text: the model sees who else was addressed.
	if dec.Content != "@zoë @dr. who everyone here?" {
		t.Errorf("content %q", dec.Content)
	}
	dec, _ = newDetector(t, &lookups{}, 1).Decide(context.Background(), msg)
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-rose/mention"}) {
		t.Errorf("cap 1: %v", got)
	}
}

func TestReplyToPersonality(t *testing.T) {
	l := &lookups{owners: map[string]int64{"m-posted": pRose}}
	d := newDetector(t, l, 0)
	msg := guildMsg("and what about you?")
	msg.Reference = &message.Reference{ID: "m-posted", WebhookID: "wh1", Author: message.Author{ID: "wh1", Bot: true}}
	dec, err := d.Decide(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-rose/reply"}) {
		t.Fatalf("triggers %v, want rose by reply", got)
	}

	// A reply that also mentions someone: the replied-to personality first, then the mention.
	msg.Content = "@bambi do you agree with her?"
	dec, _ = d.Decide(context.Background(), msg)
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-rose/reply", "p-bambi/mention"}) {
		t.Fatalf("triggers %v", got)
	}

	// Replying to a user's message costs no lookup and triggers nobody.
	l.queries = 0
	msg.Content = "I agree"
	msg.Reference = &message.Reference{ID: "m-user", Author: message.Author{ID: "u2", Username: "bob"}}
	dec, _ = d.Decide(context.Background(), msg)
	if len(dec.Triggers) != 0 {
		t.Fatalf("reply to a user triggered %v", ids(dec))
	}
	if l.queries != 1 { // the channel activation lookup only
		t.Errorf("%d lookups for a reply to a user, want only the channel lookup", l.queries)
	}
}

func TestReplyToBotMessageInDM(t *testing.T) {
	l := &lookups{owners: map[string]int64{"m-bot": pLilith}, dms: map[string]int64{"u1": pRose}}
	d := newDetector(t, l, 0)
	msg := message.Message{ID: "2", ChannelID: "dm1", Content: "go on",
		Author:    message.Author{ID: "u1"},
		Reference: &message.Reference{ID: "m-bot", Author: message.Author{ID: botID, Bot: true}}}
	dec, _ := d.Decide(context.Background(), msg)
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-lilith/reply"}) {
		t.Fatalf("triggers %v, want lilith by reply (not the DM's last personality)", got)
	}
}

func TestActiveChannel(t *testing.T) {
	l := &lookups{channels: map[string]int64{"c1": pRose, "forum": pLilith}}
	d := newDetector(t, l, 0)

	dec, _ := d.Decide(context.Background(), guildMsg("anyone here?"))
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-rose/active channel"}) {
		t.Fatalf("triggers %v", got)
	}

	// A mention wins over the channel's active personality.
	dec, _ = d.Decide(context.Background(), guildMsg("@bambi hi"))
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-bambi/mention"}) {
		t.Fatalf("triggers %v", got)
	}

	// A thread inherits its parent's activation.
	msg := guildMsg("in a thread")
	msg.ChannelID, msg.ThreadParentID = "thread7", "forum"
	dec, _ = d.Decide(context.Background(), msg)
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-lilith/active channel"}) {
		t.Fatalf("thread triggers %v", got)
	}

	// Nothing active, no mention: nobody answers.
	msg = guildMsg("quiet channel")
	msg.ChannelID = "c2"
	dec, _ = d.Decide(context.Background(), msg)
	if len(dec.Triggers) != 0 {
		t.Fatalf("triggers %v in a quiet channel", ids(dec))
	}
}

func TestDMContinuesWithLastPersonality(t *testing.T) {
	l := &lookups{dms: map[string]int64{"u1": pZoe}, channels: map[string]int64{"dm1": pRose}}
	d := newDetector(t, l, 0)
	msg := message.Message{ID: "3", ChannelID: "dm1", Content: "and then?", Author: message.Author{ID: "u1"}}
	dec, _ := d.Decide(context.Background(), msg)
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-zoe/direct message"}) {
		t.Fatalf("triggers %v", got)
	}
	msg.Content = "@rose your turn"
	dec, _ = d.Decide(context.Background(), msg)
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-rose/mention"}) {
		t.Fatalf("mention in DM: %v", got)
	}
	msg.Author.ID = "stranger"
	msg.Content = "hello?"
	dec, _ = d.Decide(context.Background(), msg)
	if len(dec.Triggers) != 0 {
		t.Fatalf("first DM without mention triggered %v", ids(dec))
	}
}

func TestBotsAndWebhooksAreIgnored(t *testing.T) {
	l := &lookups{channels: map[string]int64{"c1": pRose}, owners: map[string]int64{"m": pRose}}
	d := newDetector(t, l, 0)
	bot := guildMsg("@bambi hello")
	bot.Author.Bot = true
	hook := guildMsg("@bambi hello")
	hook.WebhookID = "wh-own"
	hook.Reference = &message.Reference{ID: "m", WebhookID: "wh-own"}
	for _, msg := range []message.Message{bot, hook} {
		dec, err := d.Decide(context.Background(), msg)
		if err != nil || len(dec.Triggers) != 0 {
			t.Errorf("bot %v webhook %q: triggers %v err %v, want none", msg.Author.Bot, msg.WebhookID, ids(dec), err)
		}
		if dec.Content != "@bambi hello" {
			t.Errorf("content changed to %q", dec.Content)
		}
	}
	if l.queries != 0 {
		t.Errorf("%d lookups for ignored messages", l.queries)
	}
}

func TestLookupErrorDoesNotHideMentions(t *testing.T) {
	boom := errors.New("database is down")
	l := &lookups{err: boom}
	d := newDetector(t, l, 0)
	msg := guildMsg("@rose still there?")
	msg.Reference = &message.Reference{ID: "m1", WebhookID: "wh"}
	dec, err := d.Decide(context.Background(), msg)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the lookup error", err)
	}
	if got := ids(dec); !reflect.DeepEqual(got, []string{"p-rose/mention"}) {
		t.Fatalf("triggers %v, want the mention despite the failed reply lookup", got)
	}
}

func TestNewNeedsAliases(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without an alias index succeeded")
	}
}
