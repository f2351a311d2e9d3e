package chat_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/internal/providerfake"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// providerWorld is the whole pipeline with the real anthropic and gemini
// plugins, each against its faithful fake API on 127.0.0.1
// (internal/providerfake, the same fakes the plugins' own tests use).
type providerWorld struct {
	*harness
	anthropic *providerfake.Anthropic
	gemini    *providerfake.Gemini
}

func newProviderWorld(t *testing.T, stream bool) *providerWorld {
	t.Helper()
	w := &providerWorld{anthropic: &providerfake.Anthropic{T: t}, gemini: &providerfake.Gemini{T: t}}
	aURL, aHost := plugintest.Loopback(t, w.anthropic)
	gURL, gHost := plugintest.Loopback(t, w.gemini)
	toml := fmt.Sprintf(`
[plugins.anthropic]
path = %q
key_slot = "anthropic"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
auth_headers = ["x-api-key"]
allow_private = true
[plugins.anthropic.limits]
call_timeout = "20s"
http_timeout = "5s"
http_attempts = 3
[plugins.anthropic.config]
base_url = %q
default_model = "claude-sonnet-4-5"

[plugins.gemini]
path = %q
key_slot = "gemini"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
auth_headers = ["x-goog-api-key"]
allow_private = true
[plugins.gemini.limits]
call_timeout = "20s"
http_timeout = "5s"
http_attempts = 3
[plugins.gemini.config]
base_url = "%s/v1beta"
default_model = "gemini-2.5-flash"
`, anthropicWasm, aHost, aURL, geminiWasm, gHost, gURL)
	w.harness = newHarness(t, harnessOptions{pluginsTOML: toml, config: func(c *chat.Config) { c.Stream = stream }})
	for slot, key := range map[string]string{"anthropic": providerfake.AnthropicKeyGood, "gemini": providerfake.GeminiKeyGood} {
		if err := w.store.SetAPIKey(w.ctx, userID, slot, key); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// The provider keys never reach Discord or the logs.
		logs := w.logs.String()
		for _, key := range []string{providerfake.AnthropicKeyGood, providerfake.GeminiKeyGood} {
			if strings.Contains(logs, key) {
				t.Errorf("a provider key (%s…) appears in the logs", key[:12])
			}
			for _, r := range w.fake.Requests() {
				if strings.Contains(string(r.Body), key) || strings.Contains(string(r.PayloadJSON), key) {
					t.Errorf("a provider key (%s…) was sent to Discord in %s", key[:12], r.Route)
				}
			}
		}
	})
	return w
}

// persona creates a personality on provider with model and parameters.
func (w *providerWorld) persona(slug, provider, model, params string) int64 {
	w.t.Helper()
	id := w.personality(personalitySpec{slug: slug, provider: provider, prompt: "You are " + slug + ", a calm librarian."})
	cfg := store.LLMConfig{Provider: provider, Model: model}
	if params != "" {
		cfg.AdvancedParameters = json.RawMessage(params)
	}
	if err := w.store.SetLLMConfig(w.ctx, id, 0, cfg); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// usageRow is the one usage row the test expects.
type usageRow struct {
	provider, model          string
	input, output, reasoning int64
}

func (w *providerWorld) usage() []usageRow {
	w.t.Helper()
	rows, err := w.store.Pool().Query(w.ctx, `SELECT provider, model, input_tokens, output_tokens, reasoning_tokens FROM usage_logs ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []usageRow
	for rows.Next() {
		var u usageRow
		if err := rows.Scan(&u.provider, &u.model, &u.input, &u.output, &u.reasoning); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

// lastPost is the newest message posted in the channel by a personality
// (or the bot).
func (w *providerWorld) lastPost() discordfake.Message {
	w.t.Helper()
	p := w.posted()
	if len(p) == 0 {
		w.t.Fatal("nothing was posted")
	}
	return p[len(p)-1]
}

func TestAnthropicPersonalityEndToEnd(t *testing.T) {
	// Not parallel with the other tests: its worlds compile two more plugins,
	// which would starve the 1 s timeouts of tests running beside them.
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			w := newProviderWorld(t, stream)
			w.persona("claudia", "anthropic", "claude-think", `{"thinking": "low"}`)
			w.send(discordfake.MessageSpec{Content: "@claudia hello"})
			post := w.lastPost()
			if post.Content != "Hi!" || post.AuthorName != "Claudia" || post.WebhookID == "" {
				t.Fatalf("posted %+v, want the reply through the webhook as Claudia", post)
			}
			r, ok, err := w.store.ReasoningForMessage(w.ctx, post.ID, userID)
			if err != nil || !ok || r.Text != "The user greets; answer warmly." {
				t.Fatalf("stored reasoning = %+v %v %v", r, ok, err)
			}
			for _, m := range w.fake.Messages(w.channel.ID) {
				if strings.Contains(m.Content, "greets") {
					t.Fatalf("the reasoning was posted: %q", m.Content)
				}
			}
			// The request as Anthropic's Messages API documents it.
			req := w.anthropic.Latest()
			b := req.Body
			if req.Path != "/v1/messages" || req.Header.Get("x-api-key") != providerfake.AnthropicKeyGood || req.Header.Get("anthropic-version") == "" {
				t.Fatalf("request %s headers %v", req.Path, req.Header)
			}
			if sys, _ := b["system"].(string); !strings.Contains(sys, "calm librarian") {
				t.Fatalf("system prompt not top-level: %v", b["system"])
			}
			msgs := b["messages"].([]any)
			for i, m := range msgs {
				role := m.(map[string]any)["role"]
				if (i%2 == 0 && role != "user") || (i%2 == 1 && role != "assistant") {
					t.Fatalf("message %d has role %v: roles must alternate from user", i, role)
				}
			}
			th, _ := b["thinking"].(map[string]any)
			if th["type"] != "enabled" || th["budget_tokens"] != 2048.0 || b["max_tokens"] != 4096.0+2048.0 || b["temperature"] != nil {
				t.Fatalf("thinking %v max_tokens %v temperature %v", th, b["max_tokens"], b["temperature"])
			}
			if got, _ := b["stream"].(bool); got != stream {
				t.Fatalf("stream = %v, want %v", b["stream"], stream)
			}
			if u := w.usage(); len(u) != 1 || u[0].provider != "anthropic" || u[0].input != 25 || u[0].output != 120 {
				t.Fatalf("usage rows %+v", u)
			}

			// Prompt caching: the row counts cached input (read and written).
			w.persona("cache", "anthropic", "cached", "")
			w.send(discordfake.MessageSpec{Content: "@cache hello"})
			if w.lastPost().Content != "Cached." {
				t.Fatalf("posted %q", w.lastPost().Content)
			}
			if b := w.anthropic.Latest().Body; b["max_tokens"] != 4096.0 || b["thinking"] != nil {
				t.Fatalf("max_tokens must always be sent (default 4096), thinking only when asked: %v", b)
			}
			if u := w.usage(); len(u) != 2 || u[1].input != 10+200+3000 || u[1].output != 3 {
				t.Fatalf("usage rows %+v, want 3210 input tokens (10 uncached + 200 written + 3000 read)", u)
			}
		})
	}
}

func TestGeminiPersonalityEndToEnd(t *testing.T) {
	// Not parallel with the other tests: its worlds compile two more plugins,
	// which would starve the 1 s timeouts of tests running beside them.
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			w := newProviderWorld(t, stream)
			w.persona("gemma", "gemini", "gemini-2.5-flash", `{"reasoning": "low", "temperature": 0.4}`)
			w.send(discordfake.MessageSpec{Content: "@gemma hello"})
			post := w.lastPost()
			if post.Content != "Hello there!" || post.AuthorName != "Gemma" || post.WebhookID == "" {
				t.Fatalf("posted %+v", post)
			}
			r, ok, err := w.store.ReasoningForMessage(w.ctx, post.ID, userID)
			if err != nil || !ok || !strings.Contains(r.Text, "answer warmly") {
				t.Fatalf("stored reasoning = %+v %v %v", r, ok, err)
			}
			for _, m := range w.fake.Messages(w.channel.ID) {
				if strings.Contains(m.Content, "answer warmly") {
					t.Fatalf("the reasoning was posted: %q", m.Content)
				}
			}
			req := w.gemini.Latest()
			wantPath := "/v1beta/models/gemini-2.5-flash:generateContent"
			if stream {
				wantPath = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
				if req.Query != "alt=sse" {
					t.Fatalf("stream query %q, want alt=sse", req.Query)
				}
			}
			if req.Path != wantPath || req.Header.Get("x-goog-api-key") != providerfake.GeminiKeyGood || strings.Contains(req.Query, "key=") {
				t.Fatalf("request %s?%s", req.Path, req.Query)
			}
			b := req.Body
			si, _ := b["systemInstruction"].(map[string]any)
			if parts, _ := si["parts"].([]any); len(parts) == 0 || !strings.Contains(fmt.Sprint(parts[0]), "calm librarian") {
				t.Fatalf("systemInstruction = %v", b["systemInstruction"])
			}
			for i, c := range b["contents"].([]any) {
				if role := c.(map[string]any)["role"]; role != "user" && role != "model" {
					t.Fatalf("contents[%d].role = %v", i, role)
				}
			}
			gc := b["generationConfig"].(map[string]any)
			tc, _ := gc["thinkingConfig"].(map[string]any)
			if gc["temperature"] != 0.4 || tc["thinkingBudget"] != 1024.0 || tc["includeThoughts"] != true || tc["thinkingLevel"] != nil {
				t.Fatalf("generationConfig = %v", gc)
			}
			// Thought tokens are output, and reported as reasoning.
			if u := w.usage(); len(u) != 1 || u[0].provider != "gemini" || u[0].input != 25 || u[0].output != 15 || u[0].reasoning != 10 {
				t.Fatalf("usage rows %+v, want 25 in, 15 out of which 10 thoughts", u)
			}

			// Gemini 3: the same portable level becomes thinkingLevel.
			w.persona("gem3", "gemini", "gemini-3-pro-preview", `{"reasoning": "high"}`)
			w.send(discordfake.MessageSpec{Content: "@gem3 hello"})
			if w.lastPost().Content != "Hello there!" {
				t.Fatalf("posted %q", w.lastPost().Content)
			}
			tc, _ = w.gemini.Latest().Body["generationConfig"].(map[string]any)["thinkingConfig"].(map[string]any)
			if tc["thinkingLevel"] != "high" || tc["thinkingBudget"] != nil {
				t.Fatalf("Gemini 3 thinkingConfig = %v", tc)
			}
		})
	}
}

// failingReply sends one message to slug and returns what the channel and
// the user's DMs got. A failed reply posts the personality's error message
// with a reference, never an empty message.
func (w *providerWorld) failingReply(slug string) (channel, dm string) {
	w.t.Helper()
	before := len(w.dms(userID))
	w.send(discordfake.MessageSpec{Content: "@" + slug + " hello"})
	channel = w.lastPost().Content
	if !refPattern.MatchString(channel) {
		w.t.Fatalf("the channel got %q, want the error message with its reference", channel)
	}
	dms := w.dms(userID)
	if len(dms) != before+1 {
		w.t.Fatalf("%d new DMs, want 1", len(dms)-before)
	}
	return channel, dms[len(dms)-1].Content
}

func TestProviderFailuresEndToEnd(t *testing.T) {
	// Not parallel with the other tests: its worlds compile two more plugins,
	// which would starve the 1 s timeouts of tests running beside them.
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			w := newProviderWorld(t, stream)

			// 529 overloaded: retried by the host (http_attempts 3), then told.
			w.persona("busy", "anthropic", "overloaded", "")
			n := w.anthropic.Count()
			_, dm := w.failingReply("busy")
			if got := w.anthropic.Count() - n; got != 3 {
				t.Errorf("a 529 was tried %d times, want 3 (http_attempts)", got)
			}
			if !strings.Contains(dm, "anthropic could not be reached or answered with an error") || !strings.Contains(dm, "Anthropic is overloaded right now") {
				t.Errorf("DM %q", dm)
			}

			// Only thinking, no text: a clear message, not an empty post.
			w.persona("ponder", "anthropic", "thinking-only", `{"thinking": "minimal"}`)
			_, dm = w.failingReply("ponder")
			if !strings.Contains(dm, "spent all its output tokens (2048) thinking and wrote no reply: raise max_tokens or lower the thinking level") {
				t.Errorf("DM %q", dm)
			}
			w.persona("gponder", "gemini", "gemini-2.5-flash-thinkonly", `{"reasoning": "low"}`)
			_, dm = w.failingReply("gponder")
			if !strings.Contains(dm, "thinking and wrote no reply") {
				t.Errorf("DM %q", dm)
			}

			// A blocked prompt is a content error.
			w.persona("blocked", "gemini", "gemini-2.5-flash-blocked", "")
			_, dm = w.failingReply("blocked")
			if !strings.Contains(dm, "gemini's content filter blocked the reply") || !strings.Contains(dm, "blockReason PROHIBITED_CONTENT") {
				t.Errorf("DM %q", dm)
			}

			if stream {
				// A Gemini stream cut between events (no finishReason): the
				// partial text is never posted as if it were the reply. With
				// streamed replies it may already be in the channel: the
				// message then ends with the error notice and its reference
				// (docs/pipeline.md, Streamed replies); else it is the notice.
				endsWithNotice := regexp.MustCompile(`^(?:(Hello|Par)[^\n]*\n\n)?[^\n]*\(ref: [0-9A-Z]{6}\)$`)
				w.persona("cut", "gemini", "gemini-2.5-flash-cut", "")
				channel, dm := w.failingReply("cut")
				if !endsWithNotice.MatchString(channel) || !strings.Contains(dm, "gemini could not be reached or answered with an error") {
					t.Errorf("channel %q, DM %q", channel, dm)
				}
				// Anthropic's stream cut the same way.
				w.persona("acut", "anthropic", "cut", "")
				channel, dm = w.failingReply("acut")
				if !endsWithNotice.MatchString(channel) || !strings.Contains(dm, "anthropic could not be reached or answered with an error") {
					t.Errorf("channel %q, DM %q", channel, dm)
				}
			}
			// No failure above is billed as a reply that was posted.
			for _, u := range w.usage() {
				if u.provider != "anthropic" && u.provider != "gemini" {
					t.Errorf("usage row for %q", u.provider)
				}
			}
		})
	}
}

// TestOpenAIPersonalityStreamsEndToEnd: with TZUROT_STREAM_REPLIES on, an
// OpenAI-compatible personality's answer is streamed from the provider and
// posted once, whole; its reasoning is stored, not posted; usage comes
// from the stream's usage chunk.
func TestOpenAIPersonalityStreamsEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *chat.Config) { c.Stream = true }})
	h.provider.reasoning = "They said hi; say hi back."
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	h.send(discordfake.MessageSpec{Content: "@bambi hello there"})
	posted := h.posted()
	if len(posted) != 1 || posted[0].Content != "echo: Alice: hello there" || posted[0].WebhookID == "" {
		t.Fatalf("posted %+v", posted)
	}
	req := h.provider.received()[0]
	if !req.Stream || req.StreamOptions == nil || !req.StreamOptions.IncludeUsage {
		t.Fatalf("the request did not ask for a stream with usage: %+v", req)
	}
	r, ok, err := h.store.ReasoningForMessage(h.ctx, posted[0].ID, userID)
	if err != nil || !ok || r.Text != "They said hi; say hi back." {
		t.Fatalf("stored reasoning = %+v %v %v", r, ok, err)
	}
	var in, out int64
	if err := h.store.Pool().QueryRow(h.ctx, `SELECT input_tokens, output_tokens FROM usage_logs`).Scan(&in, &out); err != nil || in != 42 || out != 7 {
		t.Fatalf("usage %d in, %d out (%v); want 42 and 7", in, out, err)
	}
}
