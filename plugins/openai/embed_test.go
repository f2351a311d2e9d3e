//go:build !wasip1

package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/internal/providerfake"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// embedSetup loads the plugin against the faithful OpenAI fake
// (internal/providerfake) with the given extra config.
func embedSetup(t *testing.T, key string, config map[string]string) (*plugintest.Harness, *providerfake.OpenAI) {
	t.Helper()
	api := &providerfake.OpenAI{T: t}
	url, host := plugintest.Loopback(t, api)
	cfg := map[string]string{"base_url": url + "/v1", "default_model": "gpt-test", "flavor": "openai"}
	for k, v := range config {
		cfg[k] = v
	}
	return plugintest.New(t, wasmPath, plugintest.Options{Config: cfg, Key: key, AllowedHosts: []string{host}}), api
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// TestEmbed: POST /v1/embeddings with every input in one request, base64
// by default and decoded in the plugin to the same vectors the float form
// gives, in input order, usage from prompt_tokens as kind embed.
func TestEmbed(t *testing.T) {
	for _, enc := range []string{"", "float"} {
		t.Run("encoding="+enc, func(t *testing.T) {
			h, api := embedSetup(t, providerfake.OpenAIKeyGood, map[string]string{"embed_encoding": enc})
			inputs := []string{"Alice has a cat named Miso", "what is the name of Alice's cat", "the stock market fell today"}
			resp, e := h.Embed(abi.EmbedRequest{Inputs: inputs, Dimensions: 256})
			if e != nil {
				t.Fatal(e)
			}
			got := api.Last(t)
			want := "base64"
			if enc != "" {
				want = enc
			}
			if got.Path != "/v1/embeddings" || got.Body["model"] != "text-embedding-3-small" || got.Body["encoding_format"] != want ||
				got.Body["dimensions"] != 256.0 || got.Header.Get("Authorization") != "Bearer "+providerfake.OpenAIKeyGood {
				t.Errorf("request %s %v %v", got.Path, got.Body["encoding_format"], got.Header.Get("Authorization"))
			}
			if len(resp.Vectors) != 3 || len(resp.Vectors[0]) != 256 || resp.Model != "text-embedding-3-small" {
				t.Fatalf("%d vectors, model %q", len(resp.Vectors), resp.Model)
			}
			for i, in := range inputs {
				want := providerfake.FakeEmbedding(in, 256)
				for j := range want {
					if math.Abs(float64(want[j]-resp.Vectors[i][j])) > 1e-6 {
						t.Fatalf("vector %d differs from the provider's at %d", i, j)
					}
				}
			}
			// Texts sharing words are nearer than unrelated ones.
			if near, far := dot(resp.Vectors[0], resp.Vectors[1]), dot(resp.Vectors[0], resp.Vectors[2]); near <= far {
				t.Errorf("similar %.3f, unrelated %.3f", near, far)
			}
			if resp.Usage.Kind != abi.UsageEmbed || resp.Usage.InputTokens != 18 || resp.Usage.Model != "text-embedding-3-small" {
				t.Errorf("usage %+v", resp.Usage)
			}
		})
	}
}

// TestEmbedErrors: the provider's errors typed as for chat.
func TestEmbedErrors(t *testing.T) {
	h, _ := embedSetup(t, providerfake.OpenAIKeyGood, nil)
	_, e := h.Embed(abi.EmbedRequest{Model: "text-embedding-nope", Inputs: []string{"x"}})
	if e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "does not exist") {
		t.Errorf("unknown model: %+v", e)
	}
	_, e = h.Embed(abi.EmbedRequest{Model: "text-embedding-ada-002", Inputs: []string{"x"}, Dimensions: 64})
	if e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "does not support specifying dimensions") {
		t.Errorf("dimensions on ada: %+v", e)
	}
	bad, _ := embedSetup(t, "sk-proj-wrong-0123456789abcdefghijklm", nil)
	if _, e := bad.Embed(abi.EmbedRequest{Inputs: []string{"x"}}); e == nil || e.Code != abi.ErrInvalidKey {
		t.Errorf("wrong key: %+v", e)
	}
	broke, _ := embedSetup(t, providerfake.OpenAIKeyBroke, nil)
	if _, e := broke.Embed(abi.EmbedRequest{Inputs: []string{"x"}}); e == nil || e.Code != abi.ErrNoCredit {
		t.Errorf("no quota: %+v", e)
	}
	if _, e := h.Embed(abi.EmbedRequest{Inputs: []string{}}); e == nil || e.Code != abi.ErrBadRequest {
		t.Errorf("no input: %+v", e)
	}
}

// TestParseEmbeddings: answers the plugin must refuse, natively.
func TestParseEmbeddings(t *testing.T) {
	for body, want := range map[string]string{
		`<html>`: "is not JSON",
		`{"data":[{"index":0,"embedding":[1,2]}]}`:                                          "has 1 embeddings for 2 texts",
		`{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`:                "index 0 twice",
		`{"data":[{"index":0,"embedding":"!!!"},{"index":1,"embedding":[2]}]}`:              "base64 embedding that is not float32",
		`{"data":[{"index":0,"embedding":{"a":1}},{"index":1,"embedding":[2]}]}`:            "not a list of numbers",
		`{"error":{"message":"The server had an error","type":"server_error","code":null}}`: "server had an error",
	} {
		_, e := parseEmbeddings([]byte(body), 2, "m")
		if e == nil || !strings.Contains(e.Message, want) {
			t.Errorf("%s: %+v, want %q", body, e, want)
		}
	}
	// Out of order answers come back in input order.
	r, e := parseEmbeddings([]byte(`{"data":[{"index":1,"embedding":[2]},{"index":0,"embedding":[1]}],"usage":{"prompt_tokens":4}}`), 2, "m")
	if e != nil || r.Vectors[0][0] != 1 || r.Vectors[1][0] != 2 || r.Usage.InputTokens != 4 {
		b, _ := json.Marshal(r)
		t.Errorf("%s %+v", b, e)
	}
}
