package plugintest

import (
	"fmt"
	"math"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Embed calls the embed export (capability llm.embed) for the harness's
// user. A typed error is returned for the test to inspect; a trap fails
// the test. An answer the host would refuse (docs/plugin-abi.md §5.11: not
// one vector per input, vectors of mixed lengths, a length outside
// 1..8192 or not the dimensions asked for, a value that is not finite)
// fails the test too, so a plugin's tests catch what the host would.
func (h *Harness) Embed(req abi.EmbedRequest) (abi.EmbedResponse, *abi.Error) {
	h.tb.Helper()
	var out abi.EmbedResponse
	if e := h.mustOK(abi.EmbedExport, h.Call(abi.EmbedExport, req), &out); e != nil {
		return out, e
	}
	if err := checkEmbedding(out.Vectors, len(req.Inputs), req.Dimensions); err != nil {
		h.tb.Errorf("embed answer the host would refuse: %v", err)
	}
	if out.Usage.Kind != "" && out.Usage.Kind != abi.UsageEmbed {
		h.tb.Errorf("embed usage kind %q, want %q", out.Usage.Kind, abi.UsageEmbed)
	}
	return out, nil
}

func checkEmbedding(vs [][]float32, n, dims int) error {
	if len(vs) != n {
		return fmt.Errorf("%d vectors for %d inputs", len(vs), n)
	}
	if n == 0 {
		return nil
	}
	want := len(vs[0])
	if want < 1 || want > abi.MaxEmbedDimensions || dims > 0 && want != dims {
		return fmt.Errorf("vectors of %d dimensions (asked %d, at most %d)", want, dims, abi.MaxEmbedDimensions)
	}
	for i, v := range vs {
		if len(v) != want {
			return fmt.Errorf("vector %d has %d values, the first %d", i, len(v), want)
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("vector %d holds %v", i, x)
			}
		}
	}
	return nil
}
