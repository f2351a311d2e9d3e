package providerfake

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// OpenAI is OpenAI's API on loopback for embeddings and (non-streamed)
// chat completions, behaving like the real one where a plugin can tell:
// routes under /v1, "Authorization: Bearer <key>", OpenAI's JSON shapes,
// its error body ({"error":{"message","type","param","code"}}) and the
// request rules it enforces (an empty input, more than 2,048 inputs, an
// unknown encoding_format and dimensions on a model that cannot shorten
// its vectors are 400s).
//
// Embeddings are deterministic and meaningful enough to search with: a
// hashed bag of the text's lower-cased words, L2-normalised as OpenAI's
// are, so texts sharing words are near and unrelated texts are not.
type OpenAI struct {
	T testing.TB

	plugintest.Recorder // every request, for the tests to check

	// Reply, when set, answers a chat completion (the request's messages
	// in, the assistant's content out); else the content is "ok".
	Reply func(messages []ChatMessage) string

	mu     sync.Mutex
	embeds int // texts embedded so far
}

// ChatMessage is one message of a chat completion request.
type ChatMessage struct {
	Role    string `json:"role"`
	Name    string `json:"name,omitempty"`
	Content string `json:"content"`
}

// Keys the fake API knows. Anything else is refused with a 401.
const (
	OpenAIKeyGood  = "sk-proj-good-0123456789abcdefghijklmn"
	OpenAIKeyBroke = "sk-proj-broke-0123456789abcdefghijklm" // insufficient_quota
)

// OpenAI's embedding models and the length of their vectors.
var openAIEmbedDims = map[string]int{
	"text-embedding-3-small": 1536,
	"text-embedding-3-large": 3072,
	"text-embedding-ada-002": 1536,
}

// Embedded is how many texts the fake has embedded.
func (f *OpenAI) Embedded() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.embeds
}

func openAIErr(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var c any
	if code != "" {
		c = code
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}})
}

func (f *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seen := f.Record(f.T, r)
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch key {
	case OpenAIKeyGood:
	case OpenAIKeyBroke:
		openAIErr(w, http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota",
			"You exceeded your current quota, please check your plan and billing details.")
		return
	default:
		openAIErr(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
		return
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/v1/embeddings":
		f.embeddings(w, seen.Body)
	case r.Method == "POST" && r.URL.Path == "/v1/chat/completions":
		f.chat(w, seen.Body)
	default:
		openAIErr(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL: "+r.Method+" "+r.URL.Path+".")
	}
}

func (f *OpenAI) embeddings(w http.ResponseWriter, body map[string]any) {
	model, _ := body["model"].(string)
	dims, ok := openAIEmbedDims[model]
	if !ok {
		openAIErr(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "The model `"+model+"` does not exist or you do not have access to it.")
		return
	}
	var inputs []string
	switch in := body["input"].(type) {
	case string:
		inputs = []string{in}
	case []any:
		for _, v := range in {
			s, ok := v.(string)
			if !ok {
				openAIErr(w, http.StatusBadRequest, "invalid_request_error", "", "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")
				return
			}
			inputs = append(inputs, s)
		}
	}
	if len(inputs) == 0 || len(inputs) > 2048 {
		openAIErr(w, http.StatusBadRequest, "invalid_request_error", "", "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")
		return
	}
	for _, s := range inputs {
		if s == "" {
			openAIErr(w, http.StatusBadRequest, "invalid_request_error", "", "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")
			return
		}
	}
	if d, ok := body["dimensions"].(float64); ok {
		if model == "text-embedding-ada-002" {
			openAIErr(w, http.StatusBadRequest, "invalid_request_error", "", "This model does not support specifying dimensions.")
			return
		}
		if d < 1 || int(d) > dims {
			openAIErr(w, http.StatusBadRequest, "invalid_request_error", "", "Invalid value for 'dimensions'.")
			return
		}
		dims = int(d)
	}
	format, _ := body["encoding_format"].(string)
	if format != "" && format != "float" && format != "base64" {
		openAIErr(w, http.StatusBadRequest, "invalid_request_error", "", "Invalid value for 'encoding_format': '"+format+"'. Supported values are: 'float' and 'base64'.")
		return
	}
	data := make([]any, len(inputs))
	tokens := 0
	for i, s := range inputs {
		v := FakeEmbedding(s, dims)
		tokens += max(1, len(strings.Fields(s)))
		var emb any = v
		if format == "base64" {
			b := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			emb = base64.StdEncoding.EncodeToString(b)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	f.mu.Lock()
	f.embeds += len(inputs)
	f.mu.Unlock()
	plugintest.WriteJSON(w, map[string]any{"object": "list", "data": data, "model": model,
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens}})
}

// FakeEmbedding is the fake's vector for text: each lower-cased word
// (letters and digits) adds ±1 at a hashed position, then the vector is
// scaled to length 1. Exported so tests can compute expected neighbours.
func FakeEmbedding(text string, dims int) []float32 {
	v := make([]float32, dims)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		h := fnv.New64a()
		_, _ = h.Write([]byte(w))
		x := h.Sum64()
		sign := float32(1)
		if x>>63 == 1 {
			sign = -1
		}
		v[x%uint64(dims)] += sign
	}
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		v[0] = 1
		return v
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

func (f *OpenAI) chat(w http.ResponseWriter, body map[string]any) {
	var req struct {
		Model    string        `json:"model"`
		Messages []ChatMessage `json:"messages"`
		Stream   bool          `json:"stream"`
	}
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &req); err != nil || len(req.Messages) == 0 {
		openAIErr(w, http.StatusBadRequest, "invalid_request_error", "", "'messages' must contain at least one message.")
		return
	}
	if req.Stream {
		openAIErr(w, http.StatusBadRequest, "invalid_request_error", "", "this fake does not stream")
		return
	}
	content := "ok"
	if f.Reply != nil {
		content = f.Reply(req.Messages)
	}
	in := 0
	for _, m := range req.Messages {
		in += len(strings.Fields(m.Content)) + 3
	}
	plugintest.WriteJSON(w, map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
		"usage":   map[string]any{"prompt_tokens": in, "completion_tokens": len(strings.Fields(content)), "total_tokens": in + len(strings.Fields(content))},
	})
}
