// Command embedder is the host's test plugin for llm.embed. What it
// answers is chosen by the first input text, so one host serves every
// case: well-behaved vectors and hostile answers (too few vectors, mixed
// lengths, NaN, a number too large for a float32, thousands of
// dimensions, an answer over max_response_bytes). Like echo it talks to
// the host through raw tzurot:host/v1 imports and encoding/json.
package main

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/extism/go-pdk"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

//go:wasmimport tzurot:host/v1 record_usage
func hostRecordUsage(usage uint64) int32

func main() {}

func fail(code, msg string) int32 {
	b, _ := json.Marshal(abi.Error{Code: code, Message: msg})
	pdk.SetErrorString(string(b))
	return 1
}

func output(v any) int32 {
	b, err := json.Marshal(v)
	if err != nil {
		return fail("internal", err.Error())
	}
	pdk.Output(b)
	return 0
}

//go:wasmexport tzurot_abi_v1
func marker() int32 { return 0 }

//go:wasmexport describe
func describe() int32 {
	return output(abi.Description{ABI: abi.Version, Name: "embedder", Version: "1.0.0", Summary: "embed test plugin",
		Capabilities: []string{abi.CapEmbed}})
}

// vec is a 4-dimensional vector of text: deterministic, non-zero.
func vec(s string, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(len(s)%7+1) / float32(i+1)
	}
	return v
}

// embed answers by the first input:
//
//	"fewer"         one vector less than there are inputs
//	"ragged"        the second vector one value longer
//	"nan"           NaN written into the JSON (which JSON cannot carry)
//	"overflow"      a value of 1e39, too large for a float32
//	"dims:N"        vectors of N dimensions
//	"bytes:N"       about N bytes of output (whitespace padding)
//	"record"        record_usage a row and put another in the response
//	"bad-usage"     a response usage with negative input tokens
//	anything else   4-dimensional vectors, or req.Dimensions of them;
//	                usage kind embed in the response
//
//go:wasmexport embed
func embed() int32 {
	var req abi.EmbedRequest
	if json.Unmarshal(pdk.Input(), &req) != nil || len(req.Inputs) == 0 {
		return fail("bad_request", "not an embed request")
	}
	dims := 4
	if req.Dimensions > 0 {
		dims = req.Dimensions
	}
	first := req.Inputs[0]
	if strings.HasPrefix(first, "dims:") {
		dims, _ = strconv.Atoi(strings.TrimPrefix(first, "dims:"))
	}
	resp := abi.EmbedResponse{Model: "embed-test:" + req.Model, Usage: abi.Usage{Kind: abi.UsageEmbed, Model: "embed-test", InputTokens: int64(len(req.Inputs)) * 3}}
	for _, s := range req.Inputs {
		resp.Vectors = append(resp.Vectors, vec(s, dims))
	}
	switch {
	case first == "fewer":
		resp.Vectors = resp.Vectors[:len(resp.Vectors)-1]
	case first == "ragged" && len(resp.Vectors) > 1:
		resp.Vectors[1] = append(resp.Vectors[1], 1)
	case first == "nan":
		pdk.OutputString(`{"vectors":[[0.5,NaN,0.1,0.2]],"usage":{"kind":"embed","input_tokens":3}}`)
		return 0
	case first == "overflow":
		pdk.OutputString(`{"vectors":[[0.5,1e39,0.1,0.2]],"usage":{"kind":"embed","input_tokens":3}}`)
		return 0
	case strings.HasPrefix(first, "bytes:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(first, "bytes:"))
		b, _ := json.Marshal(resp)
		pdk.Output(append(b[:len(b)-1], append([]byte(strings.Repeat(" ", n)), '}')...))
		return 0
	case first == "record":
		b, _ := json.Marshal(abi.Usage{Kind: abi.UsageEmbed, Model: "recorded", InputTokens: 7})
		mem := pdk.AllocateBytes(b)
		defer mem.Free()
		if hostRecordUsage(mem.Offset()) != 0 {
			return fail("internal", "usage rejected")
		}
	case first == "bad-usage":
		resp.Usage.InputTokens = -1
	}
	return output(resp)
}
