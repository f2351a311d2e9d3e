package chat_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/chunk"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/plugins/elevenlabs/elevenfake"
)

// Streamed replies end to end: the real openai plugin streams from the fake
// provider (SSE, paced by the test), the pipeline shows the text through the
// fake Discord as a webhook message edited while it is written.

// sseChunk writes one OpenAI chat.completion.chunk event and flushes it.
func sseChunk(w http.ResponseWriter, delta map[string]any, finish any, usage any) {
	c := map[string]any{"id": "cmpl-s", "object": "chat.completion.chunk", "model": "test-model", "choices": []any{}}
	if delta != nil {
		c["choices"] = []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}
	}
	if usage != nil {
		c["usage"] = usage
	}
	b, _ := json.Marshal(c)
	fmt.Fprintf(w, "data: %s\n\n", b)
	w.(http.Flusher).Flush()
}

// pacedStream streams reasoning (if any), then pieces; after the first
// gateAfter pieces it waits for gate to close. With cut it then drops the
// connection half way, as a provider whose stream breaks; else it sends
// the rest, the finish reason, usage and [DONE].
type pacedStream struct {
	pieces    []string
	reasoning string
	gateAfter int
	gate      chan struct{}
	cut       bool
	pause     time.Duration // between pieces (pacing only)
}

func (s pacedStream) handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sseChunk(w, map[string]any{"role": "assistant", "content": ""}, nil, nil)
		if s.reasoning != "" {
			sseChunk(w, map[string]any{"reasoning": s.reasoning}, nil, nil)
		}
		for i, p := range s.pieces {
			if i == s.gateAfter && s.gate != nil {
				select {
				case <-s.gate:
				case <-r.Context().Done():
					return
				}
				if s.cut {
					// No terminating chunk: the client reads an unexpected EOF.
					panic(http.ErrAbortHandler)
				}
			}
			sseChunk(w, map[string]any{"content": p}, nil, nil)
			if s.pause > 0 {
				time.Sleep(s.pause)
			}
		}
		sseChunk(w, map[string]any{}, "stop", nil)
		sseChunk(w, nil, nil, map[string]any{"prompt_tokens": 40, "completion_tokens": 30, "total_tokens": 70})
		fmt.Fprint(w, "data: [DONE]\n\n")
	}
}

// waitShown waits until a message in channel says something containing
// want, and returns it. The deadline only guards against a hung test.
func (h *harness) waitShown(channel, want string) discordfake.Message {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range h.fake.Messages(channel) {
			if m.WebhookID != "" && strings.Contains(m.Content, want) {
				return m
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("no message in channel %s came to show %q", channel, want)
	return discordfake.Message{}
}

// streamHarness is the pipeline with streamed replies on for the
// deployment, against a fake Discord that rate limits webhooks as Discord
// does (5 requests per 2 s).
func streamHarness(t *testing.T, deploymentOn bool, extra ...discordfake.Option) *harness {
	t.Helper()
	h := newHarness(t, harnessOptions{
		config: func(c *chat.Config) { c.Stream = deploymentOn },
		fake:   append([]discordfake.Option{discordfake.WithWebhookRateLimit(5, 2*time.Second)}, extra...),
		bot:    []discord.Option{discord.WithLiveEdits(discord.LiveEdits{Interval: 50 * time.Millisecond, PerWebhook: 5, Window: 2 * time.Second})},
	})
	h.setKey(userID)
	return h
}

// assertRecordedOnce checks the one usage row and the message mapping of
// every part.
func (h *harness) assertRecordedOnce(ids []string, delivery string) {
	h.t.Helper()
	var n int
	var got string
	if err := h.store.Pool().QueryRow(h.ctx, `SELECT count(*), max(delivery) FROM usage_logs`).Scan(&n, &got); err != nil || n != 1 || got != delivery {
		h.t.Errorf("usage rows = %d with delivery %q (%v); want exactly one, %q", n, got, err, delivery)
	}
	for _, id := range ids {
		if _, ok, err := h.store.PersonalityForMessage(h.ctx, id); err != nil || !ok {
			h.t.Errorf("message %s of the reply is not mapped to its personality (%v)", id, err)
		}
	}
}

func TestStreamedReplyShowsTextEarlyAndEndsExact(t *testing.T) {
	t.Parallel()
	h := streamHarness(t, true)
	h.personality(personalitySpec{slug: "bambi"})
	gate := make(chan struct{})
	const thought = "PRIVATE-THOUGHT: the user wants a story"
	h.provider.then(pacedStream{pieces: []string{"Once upon a time, ", "there was a ", "small ", "teapot."},
		reasoning: thought, gateAfter: 1, gate: gate}.handler())

	id := h.inject(discordfake.MessageSpec{Content: "@bambi tell me a story"})
	// The provider is held after its first piece: the message is already
	// in the channel with the words so far.
	early := h.waitShown(h.channel.ID, "Once upon a time,")
	if strings.Contains(early.Content, "teapot") {
		t.Fatalf("the early message already has text the provider has not sent: %q", early.Content)
	}
	close(gate)
	h.waitHandled(id)

	posted := h.posted()
	const final = "Once upon a time, there was a small teapot."
	if len(posted) != 1 || posted[0].Content != final || posted[0].ID != early.ID {
		t.Fatalf("posted %+v; want the early message edited to say exactly %q", posted, final)
	}
	edits := h.fake.Edits(early.ID)
	if len(edits) == 0 || edits[len(edits)-1].Content != final {
		t.Fatalf("edits %+v; the last must carry the final text", edits)
	}
	// Reasoning is never shown, not even for a moment.
	for _, r := range h.fake.Requests() {
		if strings.Contains(string(r.Body), "PRIVATE-THOUGHT") {
			t.Fatalf("the reasoning reached Discord in %s", r.Route)
		}
	}
	// ...but it is kept for "Show reasoning".
	if r, ok, err := h.store.ReasoningForMessage(h.ctx, early.ID, userID); err != nil || !ok || r.Text != thought {
		t.Errorf("stored reasoning %+v %v %v", r, ok, err)
	}
	h.assertRecordedOnce([]string{early.ID}, store.DeliveryPosted)
	if n := h.provider.calls.Load(); n != 1 {
		t.Errorf("the provider was called %d times", n)
	}
}

// longCodeReply is a reply past 4,000 characters with a code block across
// the first cut.
func longCodeReply() string {
	var b strings.Builder
	for b.Len() < 1500 {
		b.WriteString("The kettle sings when the water is nearly ready, and the leaves wait. ")
	}
	b.WriteString("\n\n```go\n")
	for i := 0; b.Len() < 3200; i++ {
		fmt.Fprintf(&b, "fmt.Println(\"steep %d minutes\") // keep the pot warm\n", i)
	}
	b.WriteString("```\n\n")
	for b.Len() < 4600 {
		b.WriteString("Pour slowly, then let the cup rest a moment before the first sip. ")
	}
	return b.String()
}

func pieces(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestStreamedReplySplitsPast2000WithoutBreakingCode(t *testing.T) {
	t.Parallel()
	h := streamHarness(t, true)
	h.personality(personalitySpec{slug: "bambi"})
	full := longCodeReply()
	h.provider.then(pacedStream{pieces: pieces(full, 150), pause: 3 * time.Millisecond}.handler())

	h.send(discordfake.MessageSpec{Content: "@bambi how do I brew tea?"})

	want := chunk.Split(strings.TrimSpace(full)) // the reply is trimmed, as every reply
	posted := h.posted()
	if len(posted) != len(want) {
		t.Fatalf("%d messages; want %d", len(posted), len(want))
	}
	var ids []string
	for i, m := range posted {
		if m.Content != want[i] {
			t.Errorf("part %d says %q…; want %q…", i+1, head(m.Content), head(want[i]))
		}
		if n := strings.Count(m.Content, "```"); n%2 != 0 {
			t.Errorf("part %d leaves a code block open (%d fences)", i+1, n)
		}
		ids = append(ids, m.ID)
	}
	h.assertRecordedOnce(ids, store.DeliveryPosted)
}

func head(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}

func TestStreamedReplyCutHalfWayKeepsTextAndNotice(t *testing.T) {
	t.Parallel()
	h := streamHarness(t, true)
	h.personality(personalitySpec{slug: "bambi", errorMessage: "My quill broke."})
	gate := make(chan struct{})
	h.provider.then(pacedStream{pieces: []string{"The first half ", "of a thought", " and the rest"}, gateAfter: 2, gate: gate, cut: true}.handler())

	id := h.inject(discordfake.MessageSpec{Content: "@bambi think aloud"})
	h.waitShown(h.channel.ID, "of a thought")
	close(gate) // the provider's stream now breaks
	h.waitHandled(id)

	posted := h.posted()
	if len(posted) != 1 {
		t.Fatalf("posted %+v; want the one live message", posted)
	}
	got := posted[0].Content
	if !strings.HasPrefix(got, "The first half of a thought\n\nMy quill broke. (ref: ") || strings.Contains(got, "the rest") {
		t.Fatalf("the cut reply says %q; want the text so far, then the error notice with its reference", got)
	}
	h.assertRecordedOnce([]string{posted[0].ID}, store.DeliveryPartial)
	if n := h.provider.calls.Load(); n != 1 {
		t.Errorf("the provider was called %d times; a cut stream is not asked again", n)
	}
}

func TestStreamedReplyInThread(t *testing.T) {
	t.Parallel()
	h := streamHarness(t, true)
	h.personality(personalitySpec{slug: "bambi"})
	thread := h.fake.AddThread(h.channel)
	gate := make(chan struct{})
	h.provider.then(pacedStream{pieces: []string{"In the thread ", "we talk."}, gateAfter: 1, gate: gate}.handler())

	id := h.inject(discordfake.MessageSpec{ChannelID: thread.ID, GuildID: guildID, Content: "@bambi hello"})
	early := h.waitShown(thread.ID, "In the thread")
	close(gate)
	h.waitHandled(id)

	var inThread []discordfake.Message
	for _, m := range h.fake.Messages(thread.ID) {
		if m.WebhookID != "" {
			inThread = append(inThread, m)
		}
	}
	if len(inThread) != 1 || inThread[0].ID != early.ID || inThread[0].Content != "In the thread we talk." {
		t.Fatalf("thread messages %+v", inThread)
	}
	if n := len(h.posted()); n != 0 {
		t.Errorf("%d messages went to the parent channel", n)
	}
	edits := h.fake.RequestsTo(discordfake.RouteEditWebhookMessage)
	if len(edits) == 0 {
		t.Fatal("no edit was made")
	}
	for _, r := range edits {
		if !strings.Contains(r.Query, "thread_id="+thread.ID) {
			t.Errorf("an edit of a thread message without thread_id: %q", r.Query)
		}
	}
	h.assertRecordedOnce([]string{early.ID}, store.DeliveryPosted)
}

func TestStreamingPerPersonality(t *testing.T) {
	t.Parallel()
	t.Run("off for a personality while the deployment streams", func(t *testing.T) {
		t.Parallel()
		h := streamHarness(t, true)
		pid := h.personality(personalitySpec{slug: "bambi"})
		off := store.StreamOff
		if err := h.store.UpdatePersonality(h.ctx, pid, store.PersonalityPatch{StreamReplies: &off}); err != nil {
			t.Fatal(err)
		}
		h.provider.then(pacedStream{pieces: pieces("A whole answer, posted once when it is complete.", 7), pause: 5 * time.Millisecond}.handler())
		h.send(discordfake.MessageSpec{Content: "@bambi hi"})
		if posted := h.posted(); len(posted) != 1 || posted[0].Content != "A whole answer, posted once when it is complete." {
			t.Fatalf("posted %+v", posted)
		}
		if n := len(h.fake.RequestsTo(discordfake.RouteEditWebhookMessage)); n != 0 {
			t.Errorf("%d edits; a personality with streaming off posts once", n)
		}
	})
	t.Run("on for a personality while the deployment does not stream", func(t *testing.T) {
		t.Parallel()
		h := streamHarness(t, false)
		pid := h.personality(personalitySpec{slug: "bambi"})
		on := store.StreamOn
		if err := h.store.UpdatePersonality(h.ctx, pid, store.PersonalityPatch{StreamReplies: &on}); err != nil {
			t.Fatal(err)
		}
		gate := make(chan struct{})
		h.provider.then(pacedStream{pieces: []string{"Early words ", "and late ones."}, gateAfter: 1, gate: gate}.handler())
		id := h.inject(discordfake.MessageSpec{Content: "@bambi hi"})
		h.waitShown(h.channel.ID, "Early words")
		close(gate)
		h.waitHandled(id)
		if posted := h.posted(); len(posted) != 1 || posted[0].Content != "Early words and late ones." {
			t.Fatalf("posted %+v", posted)
		}
		// And back to the deployment's default: posted once.
		def := store.StreamDefault
		if err := h.store.UpdatePersonality(h.ctx, pid, store.PersonalityPatch{StreamReplies: &def}); err != nil {
			t.Fatal(err)
		}
		edits := len(h.fake.RequestsTo(discordfake.RouteEditWebhookMessage))
		h.provider.then(pacedStream{pieces: pieces("Now posted whole again.", 5)}.handler())
		h.send(discordfake.MessageSpec{Content: "@bambi again"})
		if n := len(h.fake.RequestsTo(discordfake.RouteEditWebhookMessage)); n != edits {
			t.Errorf("%d more edits with the deployment's default (off)", n-edits)
		}
	})
}

func TestStreamedReplyRidesOutWebhook429s(t *testing.T) {
	t.Parallel()
	// Discord's limit here is tighter than the bot's own pacing assumes, so
	// the fake answers 429 with its headers; the reply still ends exact.
	h := newHarness(t, harnessOptions{
		config: func(c *chat.Config) { c.Stream = true },
		fake:   []discordfake.Option{discordfake.WithWebhookRateLimit(1, time.Second)},
		bot:    []discord.Option{discord.WithLiveEdits(discord.LiveEdits{Interval: time.Millisecond, PerWebhook: 50, Window: time.Second})},
	})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	full := strings.Repeat("Steady words arrive one after another. ", 12)
	h.provider.then(pacedStream{pieces: pieces(full, 20), pause: 20 * time.Millisecond}.handler())
	h.send(discordfake.MessageSpec{Content: "@bambi speak"})
	posted := h.posted()
	if len(posted) != 1 || posted[0].Content != strings.TrimSpace(full) {
		t.Fatalf("posted %+v", posted)
	}
	if h.fake.WebhookRateLimited() == 0 {
		t.Error("the fake never rate limited the webhook; the test did not test 429s")
	}
	h.assertRecordedOnce([]string{posted[0].ID}, store.DeliveryPosted)
}

// TestStreamedToolReplyShowsOnlyTheFinalAnswer: a call that offers tools
// may end in tool calls, so its words are never shown; the final answer
// (asked for without tools once the step bound is reached) streams.
func TestStreamedToolReplyShowsOnlyTheFinalAnswer(t *testing.T) {
	t.Parallel()
	h := toolHarness(t, nil, func(c *chat.Config) { c.Stream = true; c.Tools.MaxSteps = 1 }, nil)
	pid := h.personality(personalitySpec{slug: "bambi"})
	if _, err := h.store.GrantTool(h.ctx, pid, "clock/time_now"); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	h.provider.then(
		func(w http.ResponseWriter, r *http.Request) {
			// A tool step, streamed: some words, then the tool call.
			w.Header().Set("Content-Type", "text/event-stream")
			sseChunk(w, map[string]any{"role": "assistant", "content": ""}, nil, nil)
			sseChunk(w, map[string]any{"content": "INTERMEDIATE: let me look at the clock. "}, nil, nil)
			sseChunk(w, map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": "call_0", "type": "function",
				"function": map[string]any{"name": "time_now", "arguments": `{"timezone":"UTC"}`}}}}, nil, nil)
			sseChunk(w, map[string]any{}, "tool_calls", nil)
			sseChunk(w, nil, nil, map[string]any{"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35})
			fmt.Fprint(w, "data: [DONE]\n\n")
		},
		pacedStream{pieces: []string{"The clock says ", "it is time for tea."}, gateAfter: 1, gate: gate}.handler(),
	)
	id := h.inject(discordfake.MessageSpec{Content: "@bambi what time is it?"})
	h.waitShown(h.channel.ID, "The clock says")
	close(gate)
	h.waitHandled(id)

	if n := len(h.provider.received()); n != 2 {
		t.Fatalf("provider got %d requests; want the tool step and the final answer", n)
	}
	posted := h.posted()
	if len(posted) != 1 || posted[0].Content != "The clock says it is time for tea." {
		t.Fatalf("posted %+v", posted)
	}
	for _, r := range h.fake.Requests() {
		if strings.Contains(string(r.Body), "INTERMEDIATE") {
			t.Fatalf("a tool step's words reached Discord in %s", r.Route)
		}
	}
}

// TestStreamedSpokenReplyAttachesTheAudioToTheLastPart: a spoken reply that
// was shown live gets its audio on the last part (attached by the final
// edit), and only there.
func TestStreamedSpokenReplyAttachesTheAudioToTheLastPart(t *testing.T) {
	t.Parallel()
	h := newVoiceHarness(t, harnessOptions{config: func(c *chat.Config) { c.Stream = true }})
	h.setVoiceKeys()
	h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1})
	text := strings.TrimSpace(strings.Repeat("The moon is quiet tonight, and the tea is warm. ", 45)) // two parts
	ps := pieces(text, 100)
	gate := make(chan struct{})
	h.provider.then(pacedStream{pieces: ps, gateAfter: len(ps) - 1, gate: gate}.handler())

	id := h.inject(discordfake.MessageSpec{Content: "@luna tell me about the moon"})
	// Wait until both parts are in the channel, with the last piece held back.
	deadline := time.Now().Add(60 * time.Second)
	for len(h.posted()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(h.posted()) < 2 {
		t.Fatal("the second part was never shown while the reply was written")
	}
	close(gate)
	h.waitHandled(id)

	posted := h.posted()
	want := chunk.Split(text)
	if len(posted) != len(want) || len(posted) != 2 {
		t.Fatalf("%d messages; want %d", len(posted), len(want))
	}
	for i, m := range posted {
		if m.Content != want[i] {
			t.Errorf("part %d does not say the final text", i+1)
		}
	}
	if len(posted[0].Attachments) != 0 {
		t.Errorf("the first part carries %d attachments", len(posted[0].Attachments))
	}
	last := posted[1]
	if len(last.Attachments) != 1 || !bytes.Equal(last.Files[0].Data, elevenfake.MP3(text)) {
		t.Fatalf("the last part has %d attachments; want the spoken reply of the final text", len(last.Attachments))
	}
	attached := false
	for _, e := range h.fake.Edits(last.ID) {
		attached = attached || e.Files == 1
	}
	if !attached {
		t.Error("the audio was not attached by an edit of the part already shown")
	}
	if rows := h.voiceRows(); len(rows) != 1 || rows[0].Delivery != store.DeliveryPosted {
		t.Errorf("voice usage rows %+v", rows)
	}
}
