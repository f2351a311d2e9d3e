package commands_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The anthropic and gemini plugins, built only for the tests that use them.
var (
	providersOnce sync.Once
	providersWasm map[string]string
	providersErr  error
)

// withProviders adds the real anthropic and gemini plugins to the env's
// plugins.toml and reloads. They are never called here (the checks refuse
// before any call), so their base_url points nowhere reachable.
func (e *env) withProviders(t *testing.T) {
	t.Helper()
	providersOnce.Do(func() {
		root, err := plugintest.ModuleRoot()
		if err != nil {
			providersErr = err
			return
		}
		// Not t.TempDir: the files outlive the test that built them.
		dir, err := os.MkdirTemp("", "commands-test-providers")
		if err != nil {
			providersErr = err
			return
		}
		providersWasm = map[string]string{}
		for _, name := range []string{"anthropic", "gemini"} {
			out := filepath.Join(dir, name+".wasm")
			if err := plugintest.BuildTo(filepath.Join(root, "plugins", name), out); err != nil {
				providersErr = err
				return
			}
			providersWasm[name] = out
		}
	})
	if providersErr != nil {
		t.Fatal(providersErr)
	}
	e.editPlugins(fmt.Sprintf(`
[plugins.anthropic]
path = %q
key_slot = "anthropic"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["127.0.0.1:9"]
auth_headers = ["x-api-key"]
allow_private = true
[plugins.anthropic.config]
base_url = "http://127.0.0.1:9"

[plugins.gemini]
path = %q
key_slot = "gemini"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["127.0.0.1:9"]
auth_headers = ["x-goog-api-key"]
allow_private = true
[plugins.gemini.config]
base_url = "http://127.0.0.1:9"
`, providersWasm["anthropic"], providersWasm["gemini"]))
	cfg, err := e.pluginConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.plugins.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, st := range e.plugins.Status() {
		if st.State != plugin.StateLoaded {
			t.Fatalf("plugin %s: %s (%s)", st.Name, st.State, st.Reason)
		}
	}
}

// TestSavingParametersNamesTheBrokenRule: every provider's cross-field and
// per-model rules are refused when /personality llm saves them, with the
// field named and the rule in words, and nothing is written.
func TestSavingParametersNamesTheBrokenRule(t *testing.T) {
	e := newEnv(t)
	e.withProviders(t)
	u := e.user()
	e.create(u, "lilith", "Lilith")
	for _, tc := range []struct {
		name, provider, model, params string
		want                          []string
	}{
		{"claude thinking with temperature 0.7", "anthropic", "claude-sonnet-4-5", `{"thinking": "high", "temperature": 0.7}`,
			[]string{"`temperature`: Claude's extended thinking needs temperature 1 or unset", "(it is 0.7)"}},
		{"claude portable reasoning with top_k", "anthropic", "claude-sonnet-4-5", `{"reasoning": "low", "top_k": 40}`,
			[]string{"`top_k`: cannot be used while Claude's extended thinking is on", "(it is 40)"}},
		{"claude max_tokens under the thinking budget", "anthropic", "claude-sonnet-4-5", `{"thinking": "high", "max_tokens": 4096}`,
			[]string{"`max_tokens`: must be more than the thinking budget", "(it is 4096)"}},
		{"claude temperature above 1", "anthropic", "claude-sonnet-4-5", `{"temperature": 1.5}`,
			[]string{"`temperature`: must be at most 1, but it is 1.5"}},
		{"openai reasoning model with temperature", "openai", "o3-mini", `{"temperature": 0.7}`,
			[]string{"`temperature`: OpenAI's reasoning models (o-series, gpt-5) take no temperature", "(it is 0.7)"}},
		{"gpt-5 with top_p", "openai", "gpt-5-mini", `{"top_p": 0.9, "reasoning": "low"}`,
			[]string{"`top_p`: OpenAI's reasoning models (o-series, gpt-5) take no top_p", "(it is 0.9)"}},
		{"gemini 3 with a 2.5 thinking budget", "gemini", "gemini-3-pro-preview", `{"thinking_budget": 2048}`,
			[]string{"`thinking_budget`: is for Gemini 2.5 models; Gemini 3 takes thinking_level", "(it is 2048)"}},
		{"gemini 2.5 with a Gemini 3 thinking level", "gemini", "gemini-2.5-flash", `{"thinking_level": "high"}`,
			[]string{"`thinking_level`: is for Gemini 3 models; Gemini 2.5 takes thinking_budget", `(it is "high")`}},
		{"gemini 2.5 pro cannot turn thinking off", "gemini", "gemini-2.5-pro", `{"thinking_budget": 0}`,
			[]string{"`thinking_budget`: Gemini 2.5 Pro takes a thinking budget of 128 to 32768", "(it is 0)"}},
		{"wrong type", "gemini", "gemini-2.5-flash", `{"top_k": "forty"}`,
			[]string{"`top_k`: must be integer, not string"}},
		{"unknown parameter", "anthropic", "claude-sonnet-4-5", `{"frequency_penalty": 1}`,
			[]string{"`frequency_penalty` is not a parameter this provider takes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			before := e.snapshot()
			a := e.slash(u, "personality", sub("llm", str("personality", "lilith"), str("provider", tc.provider),
				str("model", tc.model), str("parameters", tc.params)))
			mustSay(t, a, append(tc.want, "does not accept these parameters with **"+tc.model+"**", "Nothing was changed")...)
			mustNotSay(t, a, "jsonschema", "allOf", "/then", "doesn't validate")
			e.unchanged(before)
		})
	}
	// The same parameters are fine where the rule does not apply.
	for _, ok := range []struct{ provider, model, params string }{
		{"anthropic", "claude-sonnet-4-5", `{"thinking": "high", "temperature": 1}`},
		{"anthropic", "claude-sonnet-4-5", `{"temperature": 0.7}`},
		{"openai", "gpt-4.1", `{"temperature": 0.7}`},
		{"openai", "gpt-5-chat-latest", `{"temperature": 0.7}`},
		{"gemini", "gemini-3-pro-preview", `{"thinking_level": "low"}`},
		{"gemini", "gemini-2.5-flash", `{"thinking_budget": 0}`},
		{"gemini", "gemini-2.5-pro", `{"reasoning": "high"}`},
	} {
		a := e.slash(u, "personality", sub("llm", str("personality", "lilith"), str("provider", ok.provider),
			str("model", ok.model), str("parameters", ok.params)))
		mustSay(t, a, "now uses **"+ok.model+"**")
	}
}

// mustNotSay fails if the answer contains any part (JSON Schema's own
// vocabulary, which users should never have to read).
func mustNotSay(t testing.TB, a answer, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(a.Content, p) {
			t.Errorf("reply %q contains %q", a.Content, p)
		}
	}
}
