package chat_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
)

// TestReasoningTokensAreCountedOnce sends replies whose usage is the providers' own numbers for a
// reasoning model (completion 18 tokens, 11 of them reasoning, prompt 25) through the real
// openai plugin and checks every layer: the usage row says output 18 and reasoning 11, /usage's
// totals say 18, and the daily budget is charged 25 + 18 = 43 per reply, not 54.
func TestReasoningTokensAreCountedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{limits: &ratelimit.Settings{UserTokensPerDay: 1_000_000}, config: fixedClock})
	h.setKey(userID)
	pid := h.personality(personalitySpec{slug: "bambi"})

	cases := []struct {
		name              string
		usage             map[string]any
		output, reasoning int
		charged           int64
	}{
		{"OpenAI", map[string]any{
			"prompt_tokens": 25, "completion_tokens": 18, "total_tokens": 43,
			"prompt_tokens_details":     map[string]any{"cached_tokens": 0, "audio_tokens": 0},
			"completion_tokens_details": map[string]any{"reasoning_tokens": 11, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
		}, 18, 11, 43},
		{"OpenRouter", map[string]any{
			"prompt_tokens": 25, "completion_tokens": 18, "total_tokens": 43, "cost": 0.000123, "is_byok": true,
			"prompt_tokens_details":     map[string]any{"cached_tokens": 0},
			"cost_details":              map[string]any{"upstream_inference_cost": 0.000123},
			"completion_tokens_details": map[string]any{"reasoning_tokens": 11, "image_tokens": 0},
		}, 18, 11, 43},
		// A provider that counts reasoning apart from its output breaks the ABI's rule visibly
		// (reasoning > output): the reasoning is added, so the reply is never charged less.
		{"reasoning outside output", map[string]any{
			"prompt_tokens": 25, "completion_tokens": 5, "total_tokens": 41,
			"completion_tokens_details": map[string]any{"reasoning_tokens": 11},
		}, 16, 11, 41},
	}
	var wantOutput, wantReasoning int64
	var wantCharged int64
	for i, c := range cases {
		h.provider.then(func(w http.ResponseWriter, r *http.Request) { answerUsage(w, "thought about it", "", c.usage) })
		msg := h.send(discordfake.MessageSpec{Content: "@bambi think hard"})
		reqID := fmt.Sprintf("%s-%d", msg, pid)
		var output, reasoning int
		var delivery string
		if err := h.store.Pool().QueryRow(h.ctx, `SELECT output_tokens, reasoning_tokens, delivery FROM usage_logs WHERE request_id = $1`, reqID).
			Scan(&output, &reasoning, &delivery); err != nil {
			t.Fatalf("%s: usage row: %v", c.name, err)
		}
		if output != c.output || reasoning != c.reasoning || delivery != "posted" {
			t.Errorf("%s: usage row output %d reasoning %d delivery %q, want %d, %d, posted", c.name, output, reasoning, delivery, c.output, c.reasoning)
		}
		wantOutput += int64(c.output)
		wantReasoning += int64(c.reasoning)
		wantCharged += c.charged
		var used int64
		if err := h.store.Pool().QueryRow(h.ctx, `SELECT used FROM rate_limit_counters WHERE scope = 'user-tpd' AND key = $1`, userID).Scan(&used); err != nil {
			t.Fatal(err)
		}
		if used != wantCharged {
			t.Errorf("after reply %d (%s): daily budget charged %d tokens, want %d", i+1, c.name, used, wantCharged)
		}
	}
	u, err := h.store.UserByDiscordID(h.ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	totals, err := h.store.UsageForUser(h.ctx, u.ID, time.Now().Add(-time.Hour))
	if err != nil || len(totals) != 1 {
		t.Fatalf("/usage totals %+v %v", totals, err)
	}
	if totals[0].OutputTokens != wantOutput || totals[0].ReasoningTokens != wantReasoning || totals[0].InputTokens != 75 {
		t.Fatalf("/usage totals %+v, want output %d (reasoning %d of it), input 75", totals[0], wantOutput, wantReasoning)
	}
	if !strings.Contains(h.logs.String(), "more reasoning tokens than output tokens") {
		t.Error("the broken usage record was not logged")
	}
}
