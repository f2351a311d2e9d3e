package chat_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// delivery returns the delivery column of the only usage row.
func (h *harness) delivery() string {
	h.t.Helper()
	var d string
	if err := h.store.Pool().QueryRow(h.ctx, `SELECT delivery FROM usage_logs`).Scan(&d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// TestTransientDiscordErrorsDoNotLoseTheReply: Discord answering 500 to the webhook post (once
// before posting, once after posting it anyway) must neither lose the paid reply nor post it
// twice, and the user gets no error.
func TestTransientDiscordErrorsDoNotLoseTheReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	pid := h.personality(personalitySpec{slug: "bambi"})
	h.fake.FailNext(discordfake.RouteExecuteWebhook, 1, discordfake.Failure{Status: 500})
	h.fake.FailNext(discordfake.RouteExecuteWebhook, 1, discordfake.Failure{Status: 500, AfterProcessing: true})
	h.send(discordfake.MessageSpec{Content: "@bambi hello"})
	posted := h.posted()
	if len(posted) != 1 || posted[0].AuthorName != "Bambi" || posted[0].Content != "echo: Alice: hello" {
		t.Fatalf("posted %+v, want the reply exactly once", posted)
	}
	if dms := h.dms(userID); len(dms) != 0 {
		t.Fatalf("the user was told of a failure: %+v", dms)
	}
	if d := h.delivery(); d != "posted" {
		t.Fatalf("usage row delivery %q", d)
	}
	if got, ok, err := h.store.PersonalityForMessage(h.ctx, posted[0].ID); err != nil || !ok || got != pid {
		t.Fatalf("the reply's mapping: %v %v %v", got, ok, err)
	}
}

// TestReplyLostToDiscordIsToldPlainly: Discord failing for the whole retry budget loses the
// reply; the user's DM says so and names what Discord did (not a permission problem, not the
// provider), and the usage row says the reply was lost.
func TestReplyLostToDiscordIsToldPlainly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	h.fake.FailNext(discordfake.RouteExecuteWebhook, 1_000_000, discordfake.Failure{Status: 500})
	h.send(discordfake.MessageSpec{Content: "@bambi hello"})

	dms := h.dms(userID)
	if len(dms) != 1 {
		t.Fatalf("DMs %+v", dms)
	}
	dm := dms[0].Content
	for _, want := range []string{"is lost", "Discord kept failing", "HTTP 500 Internal Server Error", "send your message again", "(ref: "} {
		if !strings.Contains(dm, want) {
			t.Errorf("DM %q does not say %q", dm, want)
		}
	}
	for _, wrong := range []string{"permission", "The provider said"} {
		if strings.Contains(dm, wrong) {
			t.Errorf("DM %q blames %q", dm, wrong)
		}
	}
	if d := h.delivery(); d != "lost" {
		t.Fatalf("usage row delivery %q, want lost", d)
	}
	// The channel still hears about it (as the bot: the webhook is what fails).
	posted := h.posted()
	if len(posted) != 1 || !refPattern.MatchString(posted[0].Content) || strings.Contains(posted[0].Content, "echo:") {
		t.Fatalf("channel %+v", posted)
	}
}

// TestPartlyPostedReplyIsToldPlainly: a long reply whose last part Discord will not take is
// marked partial, and the user is told how much of it is in the channel and why the rest is not.
func TestPartlyPostedReplyIsToldPlainly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	long := strings.Repeat("All work and no play makes a long reply. ", 120) // three parts
	h.provider.then(func(w http.ResponseWriter, r *http.Request) { answer(w, long, "") })
	h.fake.FailNext(discordfake.RouteExecuteWebhook, 2, discordfake.Failure{})
	h.fake.FailNext(discordfake.RouteExecuteWebhook, 1_000_000, discordfake.Failure{Status: 503})
	h.send(discordfake.MessageSpec{Content: "@bambi tell me everything"})
	if p := h.posted(); len(p) != 2 {
		t.Fatalf("%d parts posted, want 2", len(p))
	}
	if d := h.delivery(); d != "partial" {
		t.Fatalf("usage row delivery %q, want partial", d)
	}
	dms := h.dms(userID)
	if len(dms) != 1 || !strings.Contains(dms[0].Content, "2 of 3 parts are in the channel") || !strings.Contains(dms[0].Content, "HTTP 503 Service Unavailable") {
		t.Fatalf("DMs %+v", dms)
	}
}
