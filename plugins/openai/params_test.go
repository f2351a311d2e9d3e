//go:build !wasip1

package main

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/provider"
)

// The level a personality's parameters ask for: thinking first, then the
// reasoning object, where a bare budget means high for OpenAI.
func TestLevel(t *testing.T) {
	yes, no, n := true, false, 2000
	for _, c := range []struct {
		a    advanced
		want string
	}{
		{advanced{}, ""},
		{advanced{Thinking: "low", Reasoning: &provider.Reasoning{Effort: "high"}}, "low"},
		{advanced{Thinking: "extreme", Reasoning: &provider.Reasoning{Effort: "xhigh"}}, "max"},
		{advanced{Reasoning: &provider.Reasoning{MaxTokens: &n}}, "high"},
		{advanced{Reasoning: &provider.Reasoning{Enabled: &yes}}, "medium"},
		{advanced{Reasoning: &provider.Reasoning{Enabled: &no, MaxTokens: &n}}, "off"},
	} {
		if got := c.a.level(); got != c.want {
			t.Errorf("%+v: level %q, want %q", c.a, got, c.want)
		}
	}
}
