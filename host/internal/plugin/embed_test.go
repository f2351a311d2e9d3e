package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// embedHost starts a host with the embedder test plugin as entry
// "embedder" (no key slot), its answers capped at 64 KiB; grant decides
// whether plugins.toml grants llm.embed.
func embedHost(t testing.TB, grant bool) (*Host, *logBuffer) {
	t.Helper()
	caps := `["llm.embed"]`
	if !grant {
		caps = `[]`
	}
	h, logs := testHost(t, fmt.Sprintf(`
[plugins.embedder]
path = %q
capabilities = %s
[plugins.embedder.limits]
pool_size = 1
max_response_bytes = 65536
`, buildExtra(t, "embedder"), caps), nil)
	if st := statusOf(t, h, "embedder"); st.State != StateLoaded {
		t.Fatalf("embedder %s: %s", st.State, st.Reason)
	}
	return h, logs
}

func embedCtx() context.Context {
	return WithCall(context.Background(), Call{UserID: "u1", RequestID: "embed-test"})
}

// TestEmbedVectorsAndUsage: one vector per text, in order, of the asked
// length, and one usage row of kind embed billed to the plugin entry.
func TestEmbedVectorsAndUsage(t *testing.T) {
	h, _ := embedHost(t, true)
	resp, usage, err := h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Model: "m1", Inputs: []string{"a", "bb", "ccc"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vectors) != 3 || len(resp.Vectors[0]) != 4 || resp.Vectors[1][0] != 3 || resp.Vectors[2][0] != 4 || resp.Model != "embed-test:m1" {
		t.Errorf("vectors %v model %q", resp.Vectors, resp.Model)
	}
	if len(usage) != 1 || usage[0].Kind != abi.UsageEmbed || usage[0].InputTokens != 9 || usage[0].Provider != "embedder" || usage[0].Plugin != "embedder" {
		t.Errorf("usage %+v", usage)
	}
	resp, _, err = h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Inputs: []string{"a"}, Dimensions: 16})
	if err != nil || len(resp.Vectors[0]) != 16 {
		t.Errorf("dimensions 16: %v, %v", err, resp.Vectors)
	}
	// A recorded row wins over the response's; a response row that is not
	// valid is not billed, and the vectors still stand.
	_, usage, err = h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Inputs: []string{"record"}})
	if err != nil || len(usage) != 1 || usage[0].Model != "recorded" || usage[0].InputTokens != 7 {
		t.Errorf("recorded: %+v, %v", usage, err)
	}
	resp, usage, err = h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Inputs: []string{"bad-usage"}})
	if err != nil || len(usage) != 0 || len(resp.Vectors) != 1 {
		t.Errorf("bad usage: %+v, %v", usage, err)
	}
}

// TestEmbedHostileAnswers: a vector set the host could not trust is an
// error in words, with no vector handed on (so none is stored), and the
// host keeps serving.
func TestEmbedHostileAnswers(t *testing.T) {
	h, _ := embedHost(t, true)
	cases := []struct {
		first string
		dims  int
		want  string
	}{
		{"fewer", 0, "returned 2 vectors for 3 texts"},
		{"ragged", 0, "vectors of different lengths (4 and 5, text 2)"},
		{"nan", 0, "a value that is not a finite number"},
		{"overflow", 0, "a value that is not a finite number"},
		{"dims:0", 0, "vectors of 0 dimensions, outside 1..8192"},
		{"dims:8193", 0, "vectors of 8193 dimensions"}, // over the 64 KiB cap or the bound: refused either way
		{"dims:12", 8, "vectors of 12 dimensions, not the 8 asked for"},
		{"bytes:100000", 0, "larger than its 65536-byte limit"},
	}
	for _, c := range cases {
		t.Run(c.first, func(t *testing.T) {
			resp, _, err := h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Inputs: []string{c.first, "two", "three"}, Dimensions: c.dims})
			var ae *abi.Error
			if !errors.As(err, &ae) || ae.Code != abi.ErrInternal {
				t.Fatalf("err %v, want an internal *abi.Error", err)
			}
			if c.first == "dims:8193" {
				if !strings.Contains(err.Error(), "larger than its 65536-byte limit") && !strings.Contains(err.Error(), c.want) {
					t.Errorf("err %q", err)
				}
			} else if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %q, want it to say %q", err, c.want)
			}
			if resp.Vectors != nil {
				t.Errorf("vectors handed on with an error: %v", resp.Vectors)
			}
		})
	}
	if resp, _, err := h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Inputs: []string{"fine"}}); err != nil || len(resp.Vectors) != 1 {
		t.Errorf("after the hostile answers: %v", err)
	}
}

// TestEmbedDimensionBound: a vector longer than abi.MaxEmbedDimensions is
// refused by the host even when it fits the plugin's output limit.
func TestEmbedDimensionBound(t *testing.T) {
	h, _ := testHost(t, fmt.Sprintf(`
[plugins.embedder]
path = %q
capabilities = ["llm.embed"]
[plugins.embedder.limits]
max_response_bytes = 4194304
`, buildExtra(t, "embedder")), nil)
	_, _, err := h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Inputs: []string{"dims:9000"}})
	if err == nil || !strings.Contains(err.Error(), "vectors of 9000 dimensions, outside 1..8192") {
		t.Fatalf("err %v", err)
	}
}

// TestEmbedBadRequests are refused before the plugin runs.
func TestEmbedBadRequests(t *testing.T) {
	h, _ := embedHost(t, true)
	many := make([]string, abi.MaxEmbedInputs+1)
	for i := range many {
		many[i] = "x"
	}
	for _, c := range []struct {
		req  abi.EmbedRequest
		want string
	}{
		{abi.EmbedRequest{}, "there is no text to embed"},
		{abi.EmbedRequest{Inputs: many}, "257 texts to embed at once is more than the 256 allowed"},
		{abi.EmbedRequest{Inputs: []string{"a", "  "}}, "text 2 to embed is empty"},
		{abi.EmbedRequest{Inputs: []string{"a"}, Dimensions: 9000}, "dimensions 9000 is outside"},
	} {
		_, _, err := h.Embed(embedCtx(), "embedder", c.req)
		var ae *abi.Error
		if !errors.As(err, &ae) || ae.Code != abi.ErrBadRequest || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want bad_request %q", c.req, err, c.want)
		}
	}
	// A 1 MB text is cut, not refused: the start says what it is about.
	resp, _, err := h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Inputs: []string{strings.Repeat("word ", 200_000)}})
	if err != nil || len(resp.Vectors) != 1 {
		t.Errorf("1 MB text: %v", err)
	}
}

// TestEmbedNotGranted: a plugin asking for llm.embed without the grant
// loads (an old plugins.toml keeps working) and Embed is denied.
func TestEmbedNotGranted(t *testing.T) {
	h, logs := embedHost(t, false)
	_, _, err := h.Embed(embedCtx(), "embedder", abi.EmbedRequest{Inputs: []string{"a"}})
	var ae *abi.Error
	if !errors.As(err, &ae) || ae.Code != abi.ErrDenied {
		t.Fatalf("err %v, want denied", err)
	}
	if !strings.Contains(logs.String(), "llm.embed") {
		t.Errorf("no log line says llm.embed is off:\n%s", logs.String())
	}
}
