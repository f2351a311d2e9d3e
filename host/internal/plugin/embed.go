package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// MaxEmbedInputBytes caps one text sent to an embed call. Embedding models
// take a few thousand tokens at most (OpenAI's: 8,192); a 1 MB memory is
// cut rather than refused, since the start of a memory says what it is about.
const MaxEmbedInputBytes = 32 << 10

// errNotFinite is the cause when an embedding holds NaN or ±Inf (or a
// number too large for a 32-bit float).
var errNotFinite = errors.New("a vector value is not a finite number")

// Embed asks plugin name (capability llm.embed) for one vector per text in
// req.Inputs, for the call in ctx. The host checks the request (1 to
// abi.MaxEmbedInputs non-empty texts, each cut to MaxEmbedInputBytes) and
// the answer: exactly one vector per input, all of one length between 1
// and abi.MaxEmbedDimensions (the requested Dimensions when one was asked
// for), every value a finite number. An answer that fails any of these is
// an error and none of its vectors is returned, so nothing half-wrong is
// ever stored. Usage follows Chat's rules, with kind embed; it is returned
// with a refused answer too (the provider billed the call), so the caller
// records it either way.
func (h *Host) Embed(ctx context.Context, name string, req abi.EmbedRequest) (abi.EmbedResponse, []abi.Usage, error) {
	switch {
	case len(req.Inputs) == 0:
		return abi.EmbedResponse{}, nil, &abi.Error{Code: abi.ErrBadRequest, Message: "there is no text to embed"}
	case len(req.Inputs) > abi.MaxEmbedInputs:
		return abi.EmbedResponse{}, nil, &abi.Error{Code: abi.ErrBadRequest,
			Message: fmt.Sprintf("%d texts to embed at once is more than the %d allowed", len(req.Inputs), abi.MaxEmbedInputs)}
	case req.Dimensions < 0 || req.Dimensions > abi.MaxEmbedDimensions:
		return abi.EmbedResponse{}, nil, &abi.Error{Code: abi.ErrBadRequest,
			Message: fmt.Sprintf("dimensions %d is outside 1..%d", req.Dimensions, abi.MaxEmbedDimensions)}
	}
	inputs := make([]string, len(req.Inputs))
	for i, s := range req.Inputs {
		s = strings.ToValidUTF8(cutBytes(s, MaxEmbedInputBytes), "\uFFFD")
		if strings.TrimSpace(s) == "" {
			return abi.EmbedResponse{}, nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("text %d to embed is empty", i+1)}
		}
		inputs[i] = s
	}
	req.Inputs = inputs

	c, _ := CallFrom(ctx)
	c.OnChunk = nil // vectors have nothing to show while they load
	in, err := json.Marshal(req)
	if err != nil {
		return abi.EmbedResponse{}, nil, fmt.Errorf("plugin %s: embed: encode request: %w", name, err)
	}
	r, err := h.invoke(WithCall(ctx, c), name, abi.CapEmbed, abi.EmbedExport, in)
	if err != nil {
		return abi.EmbedResponse{}, nil, err
	}
	var resp abi.EmbedResponse
	if err := json.Unmarshal(r.Output, &resp); err != nil {
		usage := r.Usage
		// A number JSON cannot carry (NaN, Infinity) or one too large for a
		// float32 is a bad vector, and is said so.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && strings.HasPrefix(te.Value, "number") || nonFinite(r.Output) {
			return abi.EmbedResponse{}, usage, badAnswer(name, abi.EmbedExport, abi.ErrInternal,
				"the embedding plugin returned a vector with a value that is not a finite number", errNotFinite)
		}
		return abi.EmbedResponse{}, usage, badAnswer(name, abi.EmbedExport, abi.ErrInternal, "the plugin's answer was not an embedding response", err)
	}
	resp.Model = r.redact(resp.Model)
	usage := h.pluginUsage(ctx, name, abi.EmbedExport, r, &resp.Usage, abi.UsageEmbed)
	if err := checkVectors(resp.Vectors, len(req.Inputs), req.Dimensions); err != nil {
		return abi.EmbedResponse{}, usage, badAnswer(name, abi.EmbedExport, abi.ErrInternal, err.Error(), err)
	}
	return resp, usage, nil
}

// nonFinite reports whether a plugin's output spells a number JSON has no
// room for, which encoding/json refuses as a syntax error.
func nonFinite(out []byte) bool {
	return bytes.Contains(out, []byte("NaN")) || bytes.Contains(out, []byte("Infinity"))
}

// checkVectors is Embed's check of an answer: n vectors of one length in
// 1..abi.MaxEmbedDimensions (dims when > 0), every value finite.
func checkVectors(vs [][]float32, n, dims int) error {
	if len(vs) != n {
		return fmt.Errorf("the embedding plugin returned %d vectors for %d texts", len(vs), n)
	}
	want := len(vs[0])
	if dims > 0 && want != dims {
		return fmt.Errorf("the embedding plugin returned vectors of %d dimensions, not the %d asked for", want, dims)
	}
	if want == 0 || want > abi.MaxEmbedDimensions {
		return fmt.Errorf("the embedding plugin returned vectors of %d dimensions, outside 1..%d", want, abi.MaxEmbedDimensions)
	}
	for i, v := range vs {
		if len(v) != want {
			return fmt.Errorf("the embedding plugin returned vectors of different lengths (%d and %d, text %d)", want, len(v), i+1)
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("the embedding plugin returned a vector with a value that is not a finite number (text %d)", i+1)
			}
		}
	}
	return nil
}
