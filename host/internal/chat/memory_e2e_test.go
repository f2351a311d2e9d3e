package chat_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/shapes"
	"github.com/tzurot-go/tzurot/host/internal/shapes/shapestest"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// newMemoryHarness is the chat harness with memory retrieval on.
func newMemoryHarness(t *testing.T) *harness {
	h := newHarness(t, harnessOptions{deps: func(d *chat.Deps, _ *plugin.Host) {
		d.Memory = memory.New(d.Store.(*store.Store).Pool(), nil)
	}})
	h.setKey(userID)
	return h
}

// exampleBackupDir is examples/shapes-backup in the repository.
func exampleBackupDir(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", "shapes-backup")
}

// answerFromPrompt answers like a model that knows only its prompt: when
// every fact is in the system prompt it states them, otherwise it says it
// does not remember. The fake provider records the request first, so the
// handler reads it from there.
func (h *harness) answerFromPrompt(facts ...string) {
	h.provider.then(func(w http.ResponseWriter, _ *http.Request) {
		reqs := h.provider.received()
		req := reqs[len(reqs)-1]
		for _, f := range facts {
			if !strings.Contains(req.system(), f) {
				answer(w, "I do not remember that.", "")
				return
			}
		}
		answer(w, "From memory: "+strings.Join(facts, " / "), "")
	})
}

// TestImportedPersonalityAnswersFromItsMemoriesAndKnowledge is issue 14's
// "done when": a personality imported from a shapes.inc backup answers,
// through the fake Discord, the real openai plugin and a fake provider, a
// question only its imported memories and knowledge can answer; the
// provider sees the memory and the knowledge text in the prompt, each under
// its heading, with the imported personalization and training examples.
// Another user asking the same gets none of the owner's memories.
func TestImportedPersonalityAnswersFromItsMemoriesAndKnowledge(t *testing.T) {
	h := newMemoryHarness(t)
	sum, err := shapes.NewImporter(h.store.Pool(), shapes.Options{OwnerDiscordID: userID}).ImportShapes(h.ctx, exampleBackupDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 3 {
		t.Fatalf("%d personalities imported from examples/shapes-backup, want 3", sum.Created)
	}
	if err := h.pipeline.RefreshMentions(h.ctx); err != nil {
		t.Fatal(err)
	}
	const (
		memoryText    = "User discussed favorite movies and asked for a quiet reading corner."
		guildMemory   = "User returned a book three years late and apologised to the shelf."
		knowledgeText = "The archive has no closing time; the lamps are never all off at once."
	)

	dm := h.fake.AddChannel(discordfake.Channel{Type: discordfake.ChannelDM, Recipient: userID})
	h.answerFromPrompt(memoryText, knowledgeText)
	h.send(discordfake.MessageSpec{ChannelID: dm.ID, Content: "@example-archivist what did I ask you for, and when does the archive close?"})

	reqs := h.provider.received()
	if len(reqs) != 1 {
		t.Fatalf("%d provider requests, want 1", len(reqs))
	}
	sys := reqs[0].system()
	for _, want := range []string{
		"## About the person you are talking to", "Name: Sam", "A night-shift nurse who reads on the bus home.",
		"## Things you know\n### The archive\n" + knowledgeText,
		"## What you remember about Alice", memoryText, guildMemory,
		"## Example dialogue", "User: Where are the maps?\nExample Archivist: Third aisle, under the regrets.",
	} {
		if !strings.Contains(sys, want) {
			t.Errorf("the system prompt lacks %q:\n%s", want, sys)
		}
	}
	if strings.Contains(sys, "asked the archivist to forget") {
		t.Error("a memory marked deleted in the backup reached the prompt")
	}
	var reply string
	for _, m := range h.fake.Messages(dm.ID) {
		if m.Bot {
			reply = m.Content
		}
	}
	if !strings.Contains(reply, "From memory: "+memoryText) {
		t.Fatalf("the DM reply %q does not answer from memory", reply)
	}

	// Bob asks the same in a guild channel: the knowledge is the
	// personality's, the memories are the owner's and stay out.
	const bobID = "700000000000000099"
	if err := h.store.SetAPIKey(h.ctx, bobID, "openrouter", userKey); err != nil {
		t.Fatal(err)
	}
	h.answerFromPrompt(memoryText, knowledgeText)
	h.send(discordfake.MessageSpec{Author: discordfake.User{ID: bobID, Username: "bob", GlobalName: "Bob"},
		Content: "@example-archivist what did I ask you for, and when does the archive close?"})
	reqs = h.provider.received()
	sys = reqs[len(reqs)-1].system()
	if strings.Contains(sys, memoryText) || strings.Contains(sys, guildMemory) || strings.Contains(sys, "night-shift nurse") {
		t.Fatalf("the owner's memories or persona reached another user's prompt:\n%s", sys)
	}
	if !strings.Contains(sys, knowledgeText) {
		t.Errorf("the personality's knowledge is missing for another user:\n%s", sys)
	}
	posted := h.posted()
	if len(posted) == 0 || !strings.Contains(posted[len(posted)-1].Content, "I do not remember that.") {
		t.Fatalf("bob's answer: %v", posted)
	}
}

// TestGeneratedBackupMemoriesReachThePrompt: personalities of a generated
// (held-out style) shapes.inc backup, imported for the harness user, each
// have a memory of theirs in the prompt when the user asks about it in a DM.
func TestGeneratedBackupMemoriesReachThePrompt(t *testing.T) {
	h := newMemoryHarness(t)
	backup := shapestest.Generate(t, shapestest.Options{Personalities: 4, Memories: 6, Seed: 23})
	if _, err := shapes.NewImporter(h.store.Pool(), shapes.Options{OwnerDiscordID: userID}).ImportShapes(h.ctx, backup.Root); err != nil {
		t.Fatal(err)
	}
	if err := h.pipeline.RefreshMentions(h.ctx); err != nil {
		t.Fatal(err)
	}
	dm := h.fake.AddChannel(discordfake.Channel{Type: discordfake.ChannelDM, Recipient: userID})
	for _, p := range backup.Good {
		var text string
		for _, rec := range p.Files[shapestest.Memories] {
			m, ok := rec.(map[string]any)
			if ok && m["deleted"] != true {
				text, _ = m["result"].(string)
				break
			}
		}
		if text == "" {
			t.Fatalf("%s has no memory", p.Slug)
		}
		before := len(h.provider.received())
		h.send(discordfake.MessageSpec{ChannelID: dm.ID, Content: fmt.Sprintf("@%s do you remember this? %s", p.Slug, text)})
		reqs := h.provider.received()
		if len(reqs) != before+1 {
			t.Fatalf("%s: no provider request", p.Slug)
		}
		if sys := reqs[len(reqs)-1].system(); !strings.Contains(sys, text) {
			t.Errorf("%s: the memory %q is not in the prompt", p.Slug, text)
		}
	}
}
