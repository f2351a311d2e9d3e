package chat_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
)

// activate makes pid answer every message in the harness channel.
func (h *harness) activate(pid int64) {
	h.t.Helper()
	if err := h.store.ActivateChannel(h.ctx, h.channel.ID, pid, 0); err != nil {
		h.t.Fatal(err)
	}
}

func TestEmptyMessagesAreIgnored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	pid := h.personality(personalitySpec{slug: "bambi"})
	h.setKey(userID)
	h.activate(pid)

	h.send(discordfake.MessageSpec{Content: ""})
	h.send(discordfake.MessageSpec{Content: "   \n\t "})
	if n := h.provider.calls.Load(); n != 0 {
		t.Fatalf("empty messages reached the provider %d times", n)
	}
	if p := h.posted(); len(p) != 0 {
		t.Fatalf("empty messages got answers: %+v", p)
	}
	// A message with only an attachment is not empty: it is described.
	att := h.fake.AddCDNFile("cat.png", "image/png", []byte("png"))
	h.send(discordfake.MessageSpec{Attachments: []discordfake.Attachment{att}})
	if p := h.posted(); len(p) != 1 {
		t.Fatalf("an attachment-only message got %d answers", len(p))
	}
	if last := h.provider.received()[0].last(); !strings.Contains(last, `[attachment: image/png "cat.png" `+att.URL+`]`) {
		t.Fatalf("attachment not described to the model: %q", last)
	}
}

func TestMessageOfOnlyAMentionIsAnswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.personality(personalitySpec{slug: "bambi"})
	h.setKey(userID)

	h.send(discordfake.MessageSpec{Content: "  @bambi  "})
	posted := h.posted()
	if len(posted) != 1 || posted[0].AuthorName != "Bambi" {
		t.Fatalf("posted %+v", posted)
	}
	if last := h.provider.received()[0].last(); last != "Alice: (mentioned you without saying anything else)" {
		t.Fatalf("the model got %q", last)
	}
}

func TestTenMentionsAreCapped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	var names []string
	for i := range 10 {
		slug := fmt.Sprintf("p%d", i)
		h.personality(personalitySpec{slug: slug, name: fmt.Sprintf("Persona%d", i)})
		names = append(names, "@"+slug)
	}
	h.send(discordfake.MessageSpec{Content: strings.Join(names, " ") + " everyone say hi"})
	posted := h.posted()
	if len(posted) != 3 {
		t.Fatalf("%d personalities answered one message, want the cap of 3", len(posted))
	}
	for i, m := range posted {
		if want := fmt.Sprintf("Persona%d", i); m.AuthorName != want {
			t.Fatalf("answer %d from %s, want %s (order of appearance)", i, m.AuthorName, want)
		}
	}
	if n := h.provider.calls.Load(); n != 3 {
		t.Fatalf("provider called %d times", n)
	}
}

func TestMentionOfADeletedPersonality(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	ghost := h.personality(personalitySpec{slug: "ghost"})
	h.personality(personalitySpec{slug: "bambi"})
	// Deleted by another process: this one's index still has the name.
	if _, err := h.store.DeletePersonality(h.ctx, ghost); err != nil {
		t.Fatal(err)
	}
	h.send(discordfake.MessageSpec{Content: "@ghost @bambi are you there?"})
	posted := h.posted()
	if len(posted) != 1 || posted[0].AuthorName != "Bambi" {
		t.Fatalf("want only Bambi to answer, got %+v", posted)
	}
	if refPattern.MatchString(posted[0].Content) {
		t.Fatalf("a missing personality produced an error message: %q", posted[0].Content)
	}
	if _, ok := h.pipeline.Mentions().Lookup("ghost"); ok {
		t.Fatal("the deleted personality is still in the mention index")
	}
}

func TestReplyToAMessageWhosePersonalityIsGone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	gone := h.personality(personalitySpec{slug: "gone"})
	h.send(discordfake.MessageSpec{Content: "@gone hello"})
	posted := h.posted()
	if len(posted) != 1 {
		t.Fatalf("setup: %+v", posted)
	}
	if _, err := h.store.DeletePersonality(h.ctx, gone); err != nil {
		t.Fatal(err)
	}
	h.send(discordfake.MessageSpec{Content: "are you still there?", ReplyToID: posted[0].ID})
	if got := h.posted(); len(got) != 1 {
		t.Fatalf("a reply to a deleted personality's message was answered: %+v", got[1:])
	}
	if n := h.provider.calls.Load(); n != 1 {
		t.Fatalf("provider called %d times", n)
	}
}

func TestReferencedMessageInAnUnreadableChannel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	secret := h.fake.AddTextChannel(guildID)
	open := h.fake.AddTextChannel(guildID)
	h.fake.UserMessage(discordfake.MessageSpec{ChannelID: secret.ID, GuildID: guildID, Content: "the staff password is hunter2",
		Author: discordfake.User{ID: "700000000000000009", Username: "mod"}})
	hidden := h.fake.Messages(secret.ID)[0].ID
	h.fake.UserMessage(discordfake.MessageSpec{ChannelID: open.ID, GuildID: guildID, Content: "tea is served at five",
		Author: discordfake.User{ID: "700000000000000008", Username: "host"}})
	visible := h.fake.Messages(open.ID)[0].ID
	h.fake.SetUnreadable(secret.ID, true)
	link := func(ch, id string) string {
		return fmt.Sprintf("https://discord.com/channels/%s/%s/%s", guildID, ch, id)
	}

	h.send(discordfake.MessageSpec{Content: "@bambi what do these say? " + link(secret.ID, hidden) + " " + link(open.ID, visible)})

	posted := h.posted()
	if len(posted) != 1 || refPattern.MatchString(posted[0].Content) {
		t.Fatalf("an unreadable reference failed the reply: %+v", posted)
	}
	last := h.provider.received()[0].last()
	if strings.Contains(last, "hunter2") {
		t.Fatal("the unreadable message reached the model")
	}
	if !strings.Contains(last, "[note: a linked message is in a channel the bot cannot read, so it was skipped]") {
		t.Fatalf("no note about the skipped message: %q", last)
	}
	if !strings.Contains(last, "[message linked, from host]: tea is served at five") {
		t.Fatalf("the readable linked message is missing: %q", last)
	}
}

func TestLinksToOtherServersAreNotFollowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	other := h.fake.AddTextChannel("800000000000000099")
	h.fake.UserMessage(discordfake.MessageSpec{ChannelID: other.ID, GuildID: "800000000000000099", Content: "private plans",
		Author: discordfake.User{ID: "700000000000000007", Username: "stranger"}})
	id := h.fake.Messages(other.ID)[0].ID
	h.send(discordfake.MessageSpec{Content: fmt.Sprintf("@bambi https://discord.com/channels/800000000000000099/%s/%s", other.ID, id)})
	last := h.provider.received()[0].last()
	if strings.Contains(last, "private plans") || !strings.Contains(last, "another server") {
		t.Fatalf("cross-server link: %q", last)
	}
}

// failing runs one message against a provider behaving badly and returns
// the channel answer, the DM the user got and the reference.
func failing(t *testing.T, h *harness, errMsg string) (channel, dm, ref string) {
	t.Helper()
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi", errorMessage: errMsg})
	h.send(discordfake.MessageSpec{Content: "@bambi hi"})
	posted := h.posted()
	if len(posted) != 1 {
		t.Fatalf("posted %+v", posted)
	}
	channel = posted[0].Content
	m := refPattern.FindStringSubmatch(channel)
	if m == nil {
		t.Fatalf("no reference in the error message %q", channel)
	}
	ref = m[1]
	if !strings.Contains(h.logs.String(), `"ref":"`+ref+`"`) {
		t.Fatalf("reference %s is not in the logs", ref)
	}
	dms := h.dms(userID)
	if len(dms) != 1 {
		t.Fatalf("the key owner got %d DMs", len(dms))
	}
	if !strings.Contains(dms[0].Content, "ref: "+ref) {
		t.Fatalf("DM without the reference: %q", dms[0].Content)
	}
	if n := h.usageRows(); n != 0 {
		t.Fatalf("a failed call left %d usage rows", n)
	}
	return channel, dms[0].Content, ref
}

func TestProviderAnsweringGarbage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.provider.then(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("<html>Gateway confused</html>"))
	})
	channel, dm, ref := failing(t, h, "Oh no, I tripped over my words.")
	if channel != "Oh no, I tripped over my words. (ref: "+ref+")" {
		t.Fatalf("channel got %q", channel)
	}
	if !strings.Contains(dm, "could not be reached or answered with an error") || !strings.Contains(dm, "Gateway confused") {
		t.Fatalf("DM does not explain: %q", dm)
	}
	// "Try again" as a reply to the error message wakes the personality.
	errorMsg := h.posted()[0]
	h.send(discordfake.MessageSpec{Content: "try again", ReplyToID: errorMsg.ID})
	if p := h.posted(); len(p) != 2 || p[1].Content != "echo: Alice: try again\n[message replied to, from Bambi]: "+channel {
		t.Fatalf("after a reply to the error message: %+v", p[1:])
	}
}

func TestProvider429WithRetryAfterThenSuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	h.provider.then(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"message":"slow down","type":"rate_limit"}}`))
	})
	h.send(discordfake.MessageSpec{Content: "@bambi hi"})
	posted := h.posted()
	if len(posted) != 1 || posted[0].Content != "echo: Alice: hi" {
		t.Fatalf("posted %+v", posted)
	}
	if n := h.provider.calls.Load(); n != 2 {
		t.Fatalf("provider called %d times, want 2 (the 429, then the retry)", n)
	}
	if n := h.usageRows(); n != 1 {
		t.Fatalf("usage rows %d, want 1", n)
	}
	if d := h.dms(userID); len(d) != 0 {
		t.Fatalf("a recovered call sent DMs: %+v", d)
	}
}

func TestProvider500ThreeTimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	fail := func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"upstream exploded","type":"server_error"}}`, http.StatusInternalServerError)
	}
	h.provider.then(fail, fail, fail)
	channel, dm, ref := failing(t, h, "")
	if channel != chat.DefaultErrorMessage+" (ref: "+ref+")" {
		t.Fatalf("channel got %q", channel)
	}
	if n := h.provider.calls.Load(); n != 3 {
		t.Fatalf("provider called %d times, want 3 (the host's HTTP attempts, no retries above them)", n)
	}
	if !strings.Contains(dm, "upstream exploded") {
		t.Fatalf("DM %q", dm)
	}
}

func TestProviderNeverAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	h.provider.then(hang, hang, hang)
	_, dm, _ := failing(t, h, "")
	if !strings.Contains(dm, "took too long") {
		t.Fatalf("DM %q", dm)
	}
}

func TestInvalidKeyTellsTheOwnerWithoutTheKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.provider.then(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided: ` + userKey + `","type":"invalid_request_error","code":"invalid_api_key"}}`))
	})
	_, dm, _ := failing(t, h, "")
	if !strings.Contains(dm, "Your openrouter API key was rejected") || !strings.Contains(dm, "/wallet set openrouter") {
		t.Fatalf("DM %q", dm)
	}
	if strings.Contains(dm, userKey) {
		t.Fatal("the DM repeats the key")
	}
}

func TestPluginThatTrapsMidReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "glitch", provider: "hostile", errorMessage: "*static*"})
	h.personality(personalitySpec{slug: "bambi"})

	h.send(discordfake.MessageSpec{Content: "@glitch say something"})
	posted := h.posted()
	if len(posted) != 1 || !strings.HasPrefix(posted[0].Content, "*static* (ref: ") {
		t.Fatalf("posted %+v", posted)
	}
	if strings.Contains(posted[0].Content, "about to say") {
		t.Fatal("the partial text of a crashed plugin was posted")
	}
	if dms := h.dms(userID); len(dms) != 1 || !strings.Contains(dms[0].Content, "crashed") {
		t.Fatalf("DMs %+v", dms)
	}
	// The bot keeps working, for this plugin and the others.
	h.send(discordfake.MessageSpec{Content: "@bambi are you ok?"})
	h.send(discordfake.MessageSpec{Content: "@glitch again?"})
	posted = h.posted()
	if len(posted) != 3 || posted[1].Content != "echo: Alice: are you ok?" || !strings.HasPrefix(posted[2].Content, "*static* (ref: ") {
		t.Fatalf("after the trap: %+v", posted)
	}
}

func TestNoKeyTellsTheUserHowToAddOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.personality(personalitySpec{slug: "bambi"})
	h.send(discordfake.MessageSpec{Content: "@bambi hi"})
	if n := h.provider.calls.Load(); n != 0 {
		t.Fatalf("the provider was called %d times without a key", n)
	}
	dms := h.dms(userID)
	if len(dms) != 1 || !strings.Contains(dms[0].Content, "/wallet set openrouter") {
		t.Fatalf("DMs %+v", dms)
	}
	if p := h.posted(); len(p) != 0 {
		t.Fatalf("the channel got %+v", p)
	}
	// With DMs closed, the notice goes to the channel instead.
	h.fake.BlockDMs("700000000000000005")
	h.send(discordfake.MessageSpec{Content: "@bambi hi", Author: discordfake.User{ID: "700000000000000005", Username: "carol"}})
	p := h.posted()
	if len(p) != 1 || !strings.Contains(p[0].Content, "/wallet set openrouter") || !p[0].Bot {
		t.Fatalf("channel notice %+v", p)
	}
}

func TestFallbackKeyForAllowedUsersOnly(t *testing.T) {
	t.Parallel()
	allowed := "700000000000000011"
	h := newHarness(t, harnessOptions{fallback: chat.Fallback{Keys: map[string]string{"openrouter": hostKey}, Users: []string{allowed}}})
	h.personality(personalitySpec{slug: "bambi"})

	h.send(discordfake.MessageSpec{Content: "@bambi hi", Author: discordfake.User{ID: allowed, Username: "vip"}})
	if p := h.posted(); len(p) != 1 || p[0].Content != "echo: vip: hi" {
		t.Fatalf("allowed user: %+v", p)
	}
	if r := h.provider.received(); len(r) != 1 || r[0].Auth != "Bearer "+hostKey {
		t.Fatal("the provider did not get the host's fallback key")
	}
	// Someone else gets the how-to-add-a-key notice, not the host's key.
	h.send(discordfake.MessageSpec{Content: "@bambi hi", Author: discordfake.User{ID: "700000000000000012", Username: "other"}})
	if n := h.provider.calls.Load(); n != 1 {
		t.Fatalf("a user outside the allowlist used the fallback key")
	}
	if dms := h.dms("700000000000000012"); len(dms) != 1 {
		t.Fatalf("no key notice: %+v", dms)
	}
	// When the host's key fails, the user gets the error message but no DM
	// about a key that is not theirs.
	h.provider.then(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusPaymentRequired)
		_, _ = w.Write([]byte(`{"error":{"message":"no credit"}}`))
	})
	h.send(discordfake.MessageSpec{Content: "@bambi hi", Author: discordfake.User{ID: allowed, Username: "vip"}})
	if p := h.posted(); len(p) != 2 || !refPattern.MatchString(p[1].Content) {
		t.Fatalf("posted %+v", p)
	}
	if dms := h.dms(allowed); len(dms) != 0 {
		t.Fatalf("the user was DMed about the host's key: %+v", dms)
	}
}

// fixedClock stops the pipeline's clock mid-minute, so a burst can never
// straddle a rate-limit window boundary by chance.
func fixedClock(c *chat.Config) {
	c.Now = func() time.Time { return time.Date(2026, 12, 2, 10, 30, 20, 0, time.UTC) }
}

func TestRateLimitedUserGetsAFriendlyNotice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{limits: &ratelimitSettings2, config: fixedClock})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	for range 3 {
		h.send(discordfake.MessageSpec{Content: "@bambi hi"})
	}
	posted := h.posted()
	if len(posted) != 3 {
		t.Fatalf("posted %+v", posted)
	}
	if !posted[2].Bot || !strings.Contains(posted[2].Content, "at most 2 a minute). Try again in 40 seconds.") || posted[2].ReferenceID == "" {
		t.Fatalf("third message: %+v", posted[2])
	}
	if n := h.provider.calls.Load(); n != 2 {
		t.Fatalf("provider called %d times", n)
	}
	// Another user in the same server is not affected.
	other := "700000000000000013"
	if err := h.store.SetAPIKey(h.ctx, other, "openrouter", userKey); err != nil {
		t.Fatal(err)
	}
	h.send(discordfake.MessageSpec{Content: "@bambi hi", Author: discordfake.User{ID: other, Username: "dan"}})
	if p := h.posted(); len(p) != 4 || p[3].AuthorName != "Bambi" {
		t.Fatalf("other user: %+v", p[3:])
	}
}

func TestDMContinuesWithTheLastPersonality(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	pid := h.personality(personalitySpec{slug: "bambi"})
	dm := h.fake.AddChannel(discordfake.Channel{Type: discordfake.ChannelDM, Recipient: userID})

	h.send(discordfake.MessageSpec{ChannelID: dm.ID, Content: "@bambi hi"})
	h.send(discordfake.MessageSpec{ChannelID: dm.ID, Content: "how are you?"})
	var replies []discordfake.Message
	for _, m := range h.fake.Messages(dm.ID) {
		if m.Bot {
			replies = append(replies, m)
		}
	}
	if len(replies) != 2 || replies[1].Content != "**Bambi:** echo: Alice: how are you?" {
		t.Fatalf("DM replies %+v", replies)
	}
	u, err := h.store.UserByDiscordID(h.ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok, err := h.store.DMSession(h.ctx, u.ID); err != nil || !ok || got != pid {
		t.Fatalf("dm session %v %v %v", got, ok, err)
	}
	// The second request saw the first exchange, the reply as the assistant.
	msgs := h.provider.received()[1].Messages
	if len(msgs) < 4 || msgs[2].Role != "assistant" || msgs[2].Content != "echo: Alice: hi" {
		t.Fatalf("DM context %+v", msgs)
	}
}

func TestReasoningIsStoredNotPosted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	h.provider.mu.Lock()
	h.provider.reasoning = "the user wants a greeting; keep it short"
	h.provider.mu.Unlock()
	h.send(discordfake.MessageSpec{Content: "@bambi hi"})
	posted := h.posted()
	if len(posted) != 1 || strings.Contains(posted[0].Content, "keep it short") {
		t.Fatalf("posted %+v", posted)
	}
	r, ok, err := h.store.ReasoningForMessage(h.ctx, posted[0].ID, userID)
	if err != nil || !ok || r.Text != "the user wants a greeting; keep it short" {
		t.Fatalf("reasoning %+v %v %v", r, ok, err)
	}
	if _, ok, _ := h.store.ReasoningForMessage(h.ctx, posted[0].ID, "700000000000000099"); ok {
		t.Fatal("another user can read the reasoning")
	}
}

var ratelimitSettings2 = ratelimit.Settings{UserPerMinute: 2}

// TestFailedLoadSpendsNoRateLimitSlot: a message whose reply cannot even
// start (its personality was deleted behind the index's back) must not
// spend the user's slot; the next message is answered.
func TestFailedLoadSpendsNoRateLimitSlot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{limits: &ratelimit.Settings{UserPerMinute: 1}, config: fixedClock})
	h.setKey(userID)
	ghost := h.personality(personalitySpec{slug: "ghost"})
	h.personality(personalitySpec{slug: "bambi"})
	if _, err := h.store.DeletePersonality(h.ctx, ghost); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.send(discordfake.MessageSpec{Content: "@ghost are you there?"})
		// Another process's index would still have the name: put it back.
		if err := h.pipeline.Mentions().Upsert(trigger.Alias{Name: "ghost", PersonalityID: ghost}); err != nil {
			t.Fatal(err)
		}
	}
	if p := h.posted(); len(p) != 0 {
		t.Fatalf("a deleted personality got answers or notices: %+v", p)
	}
	h.send(discordfake.MessageSpec{Content: "@bambi hi"})
	posted := h.posted()
	if len(posted) != 1 || posted[0].AuthorName != "Bambi" {
		t.Fatalf("the user's one message a minute was refused after failed loads: %+v", posted)
	}
	var used int64
	if err := h.store.Pool().QueryRow(h.ctx, `SELECT used FROM rate_limit_counters WHERE scope = 'user-rpm' AND key = $1`, userID).Scan(&used); err != nil || used != 1 {
		t.Fatalf("slots used %d (%v), want 1", used, err)
	}
}

func TestLongRepliesAreSplit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	pid := h.personality(personalitySpec{slug: "bambi"})
	long := strings.Repeat("All work and no play makes a long reply. ", 120) // ~4,900 characters
	h.provider.then(func(w http.ResponseWriter, r *http.Request) { answer(w, long, "") })
	h.send(discordfake.MessageSpec{Content: "@bambi tell me everything"})
	posted := h.posted()
	if len(posted) != 3 {
		t.Fatalf("a %d-character reply became %d messages", len(long), len(posted))
	}
	var joined strings.Builder
	for _, m := range posted {
		joined.WriteString(m.Content)
		if owner, ok, _ := h.store.PersonalityForMessage(h.ctx, m.ID); !ok || owner != pid {
			t.Fatalf("part %s not mapped", m.ID)
		}
	}
	if joined.String() != strings.TrimSpace(long) {
		t.Fatal("the parts do not add up to the reply")
	}
}

// A reply with reasoning posted in several parts: the reasoning is posted
// nowhere and every part leads to it (what "Show reasoning" looks up), with
// the asker's Discord id.
func TestReasoningOfASplitReplyIsFoundFromEveryPart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	long := strings.Repeat("All work and no play makes a long reply. ", 120) // ~4,900 characters
	const thought = "plan: answer at length, in three parts"
	h.provider.then(func(w http.ResponseWriter, r *http.Request) { answer(w, long, thought) })
	h.send(discordfake.MessageSpec{Content: "@bambi tell me everything"})
	posted := h.posted()
	if len(posted) != 3 {
		t.Fatalf("a %d-character reply became %d messages", len(long), len(posted))
	}
	for i, m := range posted {
		if strings.Contains(m.Content, "plan:") {
			t.Errorf("part %d shows the reasoning: %q", i+1, m.Content)
		}
		r, ok, err := h.store.ReasoningForReplyMessage(h.ctx, m.ID)
		if err != nil || !ok || r.Text != thought || r.AskerDiscordID != userID {
			t.Errorf("part %d (%s): reasoning %+v %v %v", i+1, m.ID, r, ok, err)
		}
	}
}

func TestEmptyModelReplyIsAFailureButItsUsageCounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	h.provider.then(func(w http.ResponseWriter, r *http.Request) { answer(w, "   ", "") })
	h.send(discordfake.MessageSpec{Content: "@bambi hi"})
	posted := h.posted()
	if len(posted) != 1 || !refPattern.MatchString(posted[0].Content) {
		t.Fatalf("posted %+v", posted)
	}
	if dms := h.dms(userID); len(dms) != 1 || !strings.Contains(dms[0].Content, "answered with nothing at all") {
		t.Fatalf("DMs %+v", dms)
	}
	// The provider was paid for the empty answer: it is metered.
	if n := h.usageRows(); n != 1 {
		t.Fatalf("usage rows %d, want 1", n)
	}
}
