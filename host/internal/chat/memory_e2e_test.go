package chat_test

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/shapes"
	"github.com/tzurot-go/tzurot/host/internal/shapes/shapestest"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/internal/providerfake"
)

// memoryHarness is the chat harness with memory retrieval on, against
// providerfake.OpenAI (the shared faithful OpenAI fake) through the real
// openai plugin. The fake answers like a model that knows only its prompt:
// when every fact asked for is in the system message it states them,
// otherwise it says it does not remember.
type memoryHarness struct {
	*harness
	openai *providerfake.OpenAI

	mu      sync.Mutex
	facts   []string
	systems []string // the system message of every chat request
}

func newMemoryHarness(t *testing.T) *memoryHarness {
	mh := &memoryHarness{openai: &providerfake.OpenAI{T: t}}
	mh.openai.Reply = func(msgs []providerfake.ChatMessage) string {
		mh.mu.Lock()
		defer mh.mu.Unlock()
		sys := ""
		if len(msgs) > 0 && msgs[0].Role == "system" {
			sys = msgs[0].Content
		}
		mh.systems = append(mh.systems, sys)
		for _, f := range mh.facts {
			if !strings.Contains(sys, f) {
				return "I do not remember that."
			}
		}
		return "From memory: " + strings.Join(mh.facts, " / ")
	}
	srv := httptest.NewServer(mh.openai)
	t.Cleanup(srv.Close)
	toml := strings.ReplaceAll(defaultPluginsTOML, "{provider}", strings.TrimPrefix(srv.URL, "http://"))
	mh.harness = newHarness(t, harnessOptions{pluginsTOML: toml, deps: func(d *chat.Deps, _ *plugin.Host) {
		d.Memory = memory.New(d.Store.(*store.Store).Pool(), nil)
	}})
	mh.setOpenAIKey(userID)
	return mh
}

func (mh *memoryHarness) setOpenAIKey(discordID string) {
	mh.t.Helper()
	if err := mh.store.SetAPIKey(mh.ctx, discordID, "openrouter", providerfake.OpenAIKeyGood); err != nil {
		mh.t.Fatal(err)
	}
}

// expect sets the facts the next answers need.
func (mh *memoryHarness) expect(facts ...string) {
	mh.mu.Lock()
	defer mh.mu.Unlock()
	mh.facts = facts
}

// prompts returns the system messages the provider received.
func (mh *memoryHarness) prompts() []string {
	mh.mu.Lock()
	defer mh.mu.Unlock()
	return slices.Clone(mh.systems)
}

// exampleBackupDir is examples/shapes-backup in the repository.
func exampleBackupDir(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", "shapes-backup")
}

// TestImportedPersonalityAnswersFromItsMemoriesAndKnowledge is issue 14's
// "done when": a personality imported from a shapes.inc backup answers,
// through the fake Discord, the real openai plugin and providerfake.OpenAI, a
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
	h.expect(memoryText, knowledgeText)
	h.send(discordfake.MessageSpec{ChannelID: dm.ID, Content: "@example-archivist what did I ask you for, and when does the archive close?"})

	prompts := h.prompts()
	if len(prompts) != 1 {
		t.Fatalf("%d chat requests, want 1", len(prompts))
	}
	sys := prompts[0]
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
	h.setOpenAIKey(bobID)
	h.send(discordfake.MessageSpec{Author: discordfake.User{ID: bobID, Username: "bob", GlobalName: "Bob"},
		Content: "@example-archivist what did I ask you for, and when does the archive close?"})
	prompts = h.prompts()
	if len(prompts) != 2 {
		t.Fatalf("%d chat requests, want 2", len(prompts))
	}
	sys = prompts[1]
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
		before := len(h.prompts())
		h.send(discordfake.MessageSpec{ChannelID: dm.ID, Content: fmt.Sprintf("@%s do you remember this? %s", p.Slug, text)})
		prompts := h.prompts()
		if len(prompts) != before+1 {
			t.Fatalf("%s: no chat request", p.Slug)
		}
		if sys := prompts[len(prompts)-1]; !strings.Contains(sys, text) {
			t.Errorf("%s: the memory %q is not in the prompt", p.Slug, text)
		}
	}
}
