package chat_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// TestStoredParametersCheckedBeforeEachCall: parameters saved under older
// rules (or imported, never checked) that the plugin's current rules
// refuse send no request; the user is told which field to change, in
// words, and others keep being answered.
func TestStoredParametersCheckedBeforeEachCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	for _, tc := range []struct {
		slug, model, params string
		want                []string
	}{
		// The harness's entry is the openai plugin with flavor openai, which
		// declares OpenAI's per-model rules.
		{"reasoner", "o3-mini", `{"temperature": 0.7}`,
			[]string{"do not suit o3-mini on openrouter, so no request was sent", "temperature: OpenAI's reasoning models (o-series, gpt-5) take no temperature", "(it is 0.7)", "/personality llm"}},
		{"hothead", modelName, `{"temperature": 7}`,
			[]string{"temperature: must be at most 2, but it is 7"}},
		{"typo", modelName, `{"temprature": 1}`,
			[]string{"`temprature` is not a parameter this provider takes"}},
	} {
		id := h.personality(personalitySpec{slug: tc.slug})
		if err := h.store.SetLLMConfig(h.ctx, id, 0, store.LLMConfig{Provider: "openrouter", Model: tc.model, AdvancedParameters: json.RawMessage(tc.params)}); err != nil {
			t.Fatal(err)
		}
		before := len(h.dms(userID))
		h.send(discordfake.MessageSpec{Content: "@" + tc.slug + " hi"})
		dms := h.dms(userID)
		if len(dms) != before+1 {
			t.Fatalf("%s: %d new DMs, want 1", tc.slug, len(dms)-before)
		}
		for _, w := range tc.want {
			if !strings.Contains(dms[len(dms)-1].Content, w) {
				t.Errorf("%s: DM %q does not say %q", tc.slug, dms[len(dms)-1].Content, w)
			}
		}
	}
	if n := h.provider.calls.Load(); n != 0 {
		t.Fatalf("refused parameters still reached the provider %d times", n)
	}
	if n := h.usageRows(); n != 0 {
		t.Fatalf("%d usage rows for calls never made", n)
	}
	// The same model without the refused field is answered.
	h.personality(personalitySpec{slug: "fine"})
	h.send(discordfake.MessageSpec{Content: "@fine hi"})
	if n := h.provider.calls.Load(); n != 1 {
		t.Fatalf("a valid personality made %d calls", n)
	}
}
