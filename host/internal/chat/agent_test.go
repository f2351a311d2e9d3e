package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The test tool plugin (testdata/tools), built once, on first use.
var (
	toolsWasmOnce sync.Once
	toolsWasmPath string
	toolsWasmErr  error
)

// toolsWasm builds testdata/tools and the real plugins/clock, returning
// the paths of both.
func toolsWasm(t *testing.T) (tools, clock string) {
	t.Helper()
	toolsWasmOnce.Do(func() {
		root, err := plugintest.ModuleRoot()
		if err != nil {
			toolsWasmErr = err
			return
		}
		dir, err := os.MkdirTemp("", "chat-tools-wasm")
		if err != nil {
			toolsWasmErr = err
			return
		}
		toolsWasmPath = filepath.Join(dir, "tools.wasm")
		if toolsWasmErr = plugintest.BuildTo(filepath.Join("testdata", "tools"), toolsWasmPath); toolsWasmErr != nil {
			return
		}
		toolsWasmErr = plugintest.BuildTo(filepath.Join(root, "plugins", "clock"), filepath.Join(dir, "clock.wasm"))
	})
	if toolsWasmErr != nil {
		t.Fatal(toolsWasmErr)
	}
	return toolsWasmPath, filepath.Join(filepath.Dir(toolsWasmPath), "clock.wasm")
}

// grants is the personality tool grants a deployment would keep in the
// personality_tools table: the same list for every personality here.
type grants []string

func (g grants) PersonalityTools(context.Context, int64) ([]string, error) { return g, nil }

// storeGrants reads the grants from the real personality_tools table (the
// store exists only once the harness is built).
type storeGrants struct{ s *store.Store }

func (g *storeGrants) PersonalityTools(ctx context.Context, id int64) ([]string, error) {
	return g.s.PersonalityTools(ctx, id)
}

// nsfwChannels says which channels are age-restricted.
type nsfwChannels map[string]bool

func (n nsfwChannels) ChannelNSFW(_ context.Context, id string) (bool, error) { return n[id], nil }

const toolsTOML = defaultPluginsTOML + `
[plugins.tools]
path = "{tools}"
capabilities = ["tool"]
[plugins.tools.limits]
call_timeout = "20s"

[plugins.clock]
path = "{clock}"
capabilities = ["tool"]
[plugins.clock.limits]
call_timeout = "20s"
max_response_bytes = 65536
`

// toolHarness is the pipeline with the real openai plugin, the test tool
// plugin granted "tool" in plugins.toml, and g granted to every
// personality (nil: the grants in the database's personality_tools).
func toolHarness(t *testing.T, g grants, tune func(*chat.Config), channels chat.ChannelInfo) *harness {
	t.Helper()
	var tg chat.ToolGrants = g
	sg := &storeGrants{}
	if g == nil {
		tg = sg
	}
	tools, clock := toolsWasm(t)
	h := newHarness(t, harnessOptions{
		pluginsTOML: strings.NewReplacer("{tools}", tools, "{clock}", clock).Replace(toolsTOML),
		config:      tune,
		deps: func(d *chat.Deps, host *plugin.Host) {
			d.Tools = &chat.PluginTools{Host: host}
			d.ToolGrants = tg
			d.Channels = channels
		},
	})
	sg.s = h.store
	h.setKey(userID)
	return h
}

// answerTools writes a completion that calls tools, as OpenAI's chat
// completions API does: content null, tool_calls of type function with the
// arguments as JSON text, finish_reason tool_calls. calls are name, arguments pairs.
func answerTools(w http.ResponseWriter, calls ...string) {
	var tcs []any
	for i := 0; i+1 < len(calls); i += 2 {
		tcs = append(tcs, map[string]any{"id": fmt.Sprintf("call_%d_%s", i/2, calls[i]), "type": "function",
			"function": map[string]any{"name": calls[i], "arguments": calls[i+1]}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "cmpl-tools", "object": "chat.completion", "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "tool_calls",
			"message": map[string]any{"role": "assistant", "content": nil, "tool_calls": tcs}}},
		"usage": map[string]any{"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
	})
}

// wire is the part of a chat completions request the tests look at.
type wire struct {
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	Messages []struct {
		Role       string  `json:"role"`
		Content    *string `json:"content"`
		ToolCallID string  `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
}

func parseWire(t *testing.T, r providerRequest) wire {
	t.Helper()
	var w wire
	if err := json.Unmarshal(r.Raw, &w); err != nil {
		t.Fatalf("provider request: %v", err)
	}
	return w
}

func (w wire) toolNames() []string {
	var out []string
	for _, t := range w.Tools {
		out = append(out, t.Function.Name)
	}
	return out
}

// toolMessages returns the tool messages' contents by tool_call_id.
func (w wire) toolMessages() map[string]string {
	out := map[string]string{}
	for _, m := range w.Messages {
		if m.Role == "tool" && m.Content != nil {
			out[m.ToolCallID] = *m.Content
		}
	}
	return out
}

// logLines returns the JSON log lines with message msg.
func (h *harness) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (h *harness) usageIDs(reqID string) []string {
	h.t.Helper()
	rows, err := h.store.Pool().Query(h.ctx, `SELECT request_id FROM usage_logs WHERE request_id LIKE $1 ORDER BY request_id`, reqID+"%")
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestToolLoopTellsTheTimeInTokyo (grant from /personality tools, in the database): "what time is it in Tokyo" -> the model calls time_now with
// timezone Asia/Tokyo -> the real plugins/clock answers -> the model's final answer, built on the
// tool's result, is posted as the personality. Only the granted tool is offered, both chat calls
// and the tool step are metered under the reply's request id, and the step is logged with it.
func TestToolLoopTellsTheTimeInTokyo(t *testing.T) {
	t.Parallel()
	h := toolHarness(t, nil, nil, nil)
	pid := h.personality(personalitySpec{slug: "bambi"})
	if _, err := h.store.GrantTool(h.ctx, pid, "clock/time_now"); err != nil {
		t.Fatal(err)
	}
	var toolResult string
	h.provider.then(
		func(w http.ResponseWriter, r *http.Request) { answerTools(w, "time_now", `{"timezone":"Asia/Tokyo"}`) },
		func(w http.ResponseWriter, r *http.Request) {
			reqs := h.provider.received()
			toolResult = parseWire(t, reqs[len(reqs)-1]).toolMessages()["call_0_time_now"]
			answer(w, "In Tokyo: "+toolResult, "")
		},
	)
	msg := h.send(discordfake.MessageSpec{Content: "@bambi what time is it in Tokyo?"})

	reqs := h.provider.received()
	if len(reqs) != 2 {
		t.Fatalf("provider got %d requests, want 2 (tool call, final answer)", len(reqs))
	}
	first := parseWire(t, reqs[0])
	if got := first.toolNames(); len(got) != 1 || got[0] != "time_now" {
		t.Errorf("tools offered = %v, want only the granted time_now", got)
	}
	var clock map[string]string
	if err := json.Unmarshal([]byte(toolResult), &clock); err != nil {
		t.Fatalf("tool message %q: %v", toolResult, err)
	}
	if clock["timezone"] != "Asia/Tokyo" || clock["source"] != "argument" || clock["utc_offset"] != "+09:00" {
		t.Fatalf("tool message = %q, want the clock's answer for Asia/Tokyo", toolResult)
	}
	second := parseWire(t, reqs[1])
	var asked bool
	for _, m := range second.Messages {
		for _, tc := range m.ToolCalls {
			asked = asked || (m.Role == "assistant" && tc.Function.Name == "time_now" && tc.Function.Arguments == `{"timezone":"Asia/Tokyo"}`)
		}
	}
	if !asked {
		t.Error("the follow-up request does not carry the assistant's tool call")
	}
	posted := h.posted()
	if len(posted) != 1 || posted[0].Content != "In Tokyo: "+toolResult {
		t.Fatalf("posted = %+v, want the final answer with the time", posted)
	}
	reqID := fmt.Sprintf("%s-%d", msg, pid)
	if ids := h.usageIDs(reqID); len(ids) != 2 || ids[0] != reqID || ids[1] != reqID+"#1" {
		t.Errorf("usage rows = %v, want %s and %s#1", ids, reqID, reqID)
	}
	steps := h.logLines("tool step")
	if len(steps) != 1 || steps[0]["tool"] != "time_now" || steps[0]["entry"] != "clock" || steps[0]["outcome"] != "ok" || steps[0]["request_id"] != reqID {
		t.Errorf("tool step log lines = %v", steps)
	}
}

// TestToolLoopGivesTheToolTheCallersContext: the tool gets the user's timezone (from /timezone),
// the personality's name and nsfw_allowed only in an age-restricted channel.
func TestToolLoopGivesTheToolTheCallersContext(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	nsfw := nsfwChannels{}
	h := toolHarness(t, grants{"tools/echo_context"}, nil, nsfw)
	mu.Lock()
	nsfw[h.channel.ID] = true
	mu.Unlock()
	h.personality(personalitySpec{slug: "bambi", name: "Bambi"})
	if err := h.store.SetTimezone(h.ctx, userID, "Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	var got string
	h.provider.then(
		func(w http.ResponseWriter, r *http.Request) { answerTools(w, "echo_context", `{}`) },
		func(w http.ResponseWriter, r *http.Request) {
			reqs := h.provider.received()
			got = parseWire(t, reqs[len(reqs)-1]).toolMessages()["call_0_echo_context"]
			answer(w, "ok", "")
		},
	)
	h.send(discordfake.MessageSpec{Content: "@bambi who am I?"})
	var tc struct {
		Timezone        string `json:"timezone"`
		NSFWAllowed     bool   `json:"nsfw_allowed"`
		PersonalityName string `json:"personality_name"`
	}
	if err := json.Unmarshal([]byte(got), &tc); err != nil {
		t.Fatalf("tool result %q: %v", got, err)
	}
	if tc.Timezone != "Europe/Berlin" || !tc.NSFWAllowed || tc.PersonalityName != "Bambi" {
		t.Errorf("tool context = %+v, want Europe/Berlin, nsfw allowed, Bambi", tc)
	}
}

// TestToolLoopIsBoundedForAModelThatCallsToolsForever: a model that asks for a tool in every
// answer gets 5 tool steps, then one request without tools asking for the final answer; when it
// still asks for tools, the user gets a short notice. Every chat call and every step is metered.
func TestToolLoopIsBoundedForAModelThatCallsToolsForever(t *testing.T) {
	t.Parallel()
	h := toolHarness(t, grants{"tools/time_now"}, nil, nil)
	pid := h.personality(personalitySpec{slug: "bambi"})
	forever := func(w http.ResponseWriter, r *http.Request) { answerTools(w, "time_now", `{}`) }
	h.provider.then(forever, forever, forever, forever, forever, forever, forever, forever)
	msg := h.send(discordfake.MessageSpec{Content: "@bambi keep checking the time"})

	reqs := h.provider.received()
	if len(reqs) != 6 {
		t.Fatalf("provider got %d requests, want 6 (5 with tools, 1 final without)", len(reqs))
	}
	for i, r := range reqs[:5] {
		if len(parseWire(t, r).toolNames()) != 1 {
			t.Errorf("request %d offered no tool", i+1)
		}
	}
	last := parseWire(t, reqs[5])
	if len(last.Tools) != 0 {
		t.Errorf("the final request still offers tools: %v", last.toolNames())
	}
	n := 0
	for _, m := range last.Messages {
		if m.Role == "tool" {
			n++
		}
	}
	if n != 5 {
		t.Errorf("the final request carries %d tool results, want 5", n)
	}
	posted := h.posted()
	if len(posted) != 1 || !strings.Contains(posted[0].Content, "could not finish") {
		t.Fatalf("posted = %+v, want the short notice", posted)
	}
	reqID := fmt.Sprintf("%s-%d", msg, pid)
	if ids := h.usageIDs(reqID); len(ids) != 6 {
		t.Errorf("usage rows = %v, want the 6 chat calls", ids)
	}
	var ok int
	for _, s := range h.logLines("tool step") {
		if s["outcome"] == "ok" && s["request_id"] == reqID {
			ok++
		}
	}
	if ok != 5 {
		t.Errorf("%d tool steps logged ok, want 5", ok)
	}
	if len(h.logLines("tool loop bound reached; asking for the final answer")) != 1 {
		t.Error("the bound is not logged")
	}
}

// TestToolLoopAnswersAtTheBoundWhenTheModelComplies: with max 2 steps, the model's third
// request has no tools, and its words are the reply.
func TestToolLoopAnswersAtTheBoundWhenTheModelComplies(t *testing.T) {
	t.Parallel()
	h := toolHarness(t, grants{"tools/time_now"}, func(c *chat.Config) { c.Tools.MaxSteps = 2 }, nil)
	h.personality(personalitySpec{slug: "bambi"})
	call := func(w http.ResponseWriter, r *http.Request) { answerTools(w, "time_now", `{}`) }
	h.provider.then(call, call, func(w http.ResponseWriter, r *http.Request) { answer(w, "Around noon, I think.", "") })
	h.send(discordfake.MessageSpec{Content: "@bambi time?"})
	reqs := h.provider.received()
	if len(reqs) != 3 || len(parseWire(t, reqs[2]).Tools) != 0 {
		t.Fatalf("provider got %d requests; the last must offer no tools", len(reqs))
	}
	if posted := h.posted(); len(posted) != 1 || posted[0].Content != "Around noon, I think." {
		t.Fatalf("posted = %+v", posted)
	}
}

// TestToolLoopRefusesBadArgumentsAndToolsNotGranted: in one answer the model calls time_now with
// a number for timezone, echo_context (the deployment has it, the personality is not granted it)
// and a tool nobody has. None of them runs; each gets a tool message saying why (the bad
// argument named), the model answers and its answer is posted. Each is logged.
func TestToolLoopRefusesBadArgumentsAndToolsNotGranted(t *testing.T) {
	t.Parallel()
	h := toolHarness(t, grants{"tools/time_now"}, nil, nil)
	h.personality(personalitySpec{slug: "bambi"})
	var results map[string]string
	h.provider.then(
		func(w http.ResponseWriter, r *http.Request) {
			answerTools(w, "time_now", `{"timezone":5}`, "echo_context", `{}`, "delete_everything", `{}`)
		},
		func(w http.ResponseWriter, r *http.Request) {
			reqs := h.provider.received()
			results = parseWire(t, reqs[len(reqs)-1]).toolMessages()
			answer(w, "I could not look that up.", "")
		},
	)
	h.send(discordfake.MessageSpec{Content: "@bambi do things"})
	if r := results["call_0_time_now"]; !strings.Contains(r, "refused") || !strings.Contains(r, "timezone") {
		t.Errorf("bad arguments result = %q, want a refusal naming timezone", r)
	}
	if r := results["call_1_echo_context"]; !strings.Contains(r, "not available") || strings.Contains(r, "personality_name") {
		t.Errorf("not granted result = %q, want not available (and never run)", r)
	}
	if r := results["call_2_delete_everything"]; !strings.Contains(r, "not available") {
		t.Errorf("unknown tool result = %q", r)
	}
	if posted := h.posted(); len(posted) != 1 || posted[0].Content != "I could not look that up." {
		t.Fatalf("posted = %+v", posted)
	}
	outcomes := map[string]string{}
	for _, s := range h.logLines("tool step") {
		outcomes[s["tool"].(string)] = s["outcome"].(string)
	}
	if outcomes["time_now"] != "bad_arguments" || outcomes["echo_context"] != "not_available" || outcomes["delete_everything"] != "not_available" {
		t.Errorf("logged outcomes = %v", outcomes)
	}
}

// TestToolLoopSurvivesATool50MB: a tool answering 50 MB fails cleanly (the host's output cap);
// the model is told the tool failed and its reply is still delivered.
func TestToolLoopSurvivesATool50MB(t *testing.T) {
	t.Parallel()
	h := toolHarness(t, grants{"tools/huge"}, nil, nil)
	h.personality(personalitySpec{slug: "bambi"})
	var result string
	h.provider.then(
		func(w http.ResponseWriter, r *http.Request) { answerTools(w, "huge", `{}`) },
		func(w http.ResponseWriter, r *http.Request) {
			reqs := h.provider.received()
			result = parseWire(t, reqs[len(reqs)-1]).toolMessages()["call_0_huge"]
			answer(w, "That tool is broken, sorry.", "")
		},
	)
	h.send(discordfake.MessageSpec{Content: "@bambi get the big thing"})
	if !strings.HasPrefix(result, "The tool failed") || len(result) > 1000 {
		t.Errorf("tool message = %.200q (%d bytes), want a short failure", result, len(result))
	}
	if posted := h.posted(); len(posted) != 1 || posted[0].Content != "That tool is broken, sorry." {
		t.Fatalf("posted = %+v", posted)
	}
	steps := h.logLines("tool step")
	if len(steps) != 1 || steps[0]["outcome"] != "failed" {
		t.Errorf("tool step log = %v", steps)
	}
}

// TestToolsOffDeploymentWide: TZUROT_TOOLS=off (Config.Tools.Disabled) offers no tool even to a
// personality granted one.
func TestToolsOffDeploymentWide(t *testing.T) {
	t.Parallel()
	h := toolHarness(t, grants{"tools/time_now"}, func(c *chat.Config) { c.Tools.Disabled = true }, nil)
	h.personality(personalitySpec{slug: "bambi"})
	h.send(discordfake.MessageSpec{Content: "@bambi time?"})
	reqs := h.provider.received()
	if len(reqs) != 1 || len(parseWire(t, reqs[0]).Tools) != 0 {
		t.Fatalf("tools offered with tools off: %d requests", len(reqs))
	}
	if posted := h.posted(); len(posted) != 1 || !strings.HasSuffix(posted[0].Content, "time?") {
		t.Fatalf("posted = %+v", posted)
	}
}

// TestToolLoopStopsAtTheTokenBound: with a loop budget of 60 tokens and 35 per chat call, the
// second answer's tool call is not run (a tool message says the limit was reached), and the model
// is asked for its final answer without tools.
func TestToolLoopStopsAtTheTokenBound(t *testing.T) {
	t.Parallel()
	h := toolHarness(t, grants{"tools/time_now"}, func(c *chat.Config) { c.Tools.MaxTokens = 60 }, nil)
	h.personality(personalitySpec{slug: "bambi"})
	call := func(w http.ResponseWriter, r *http.Request) { answerTools(w, "time_now", `{}`) }
	var skipped string
	h.provider.then(call, call, func(w http.ResponseWriter, r *http.Request) {
		reqs := h.provider.received()
		last := parseWire(t, reqs[len(reqs)-1])
		for _, m := range last.Messages {
			if m.Role == "tool" && m.Content != nil {
				skipped = *m.Content // the last tool message
			}
		}
		if len(last.Tools) != 0 {
			t.Error("the final request offers tools")
		}
		answer(w, "It is about noon.", "")
	})
	h.send(discordfake.MessageSpec{Content: "@bambi time?"})
	if !strings.Contains(skipped, "limit") || !strings.Contains(skipped, "tokens") {
		t.Errorf("last tool message = %q, want the token limit", skipped)
	}
	if posted := h.posted(); len(posted) != 1 || posted[0].Content != "It is about noon." {
		t.Fatalf("posted = %+v", posted)
	}
	var ran int
	for _, s := range h.logLines("tool step") {
		if s["outcome"] == "ok" {
			ran++
		}
	}
	if ran != 1 {
		t.Errorf("%d tool calls ran, want 1", ran)
	}
}
