package providerfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// Gemini is the Gemini API (v1beta) on loopback, behaving like the real
// one where the plugin can tell: the same routes
// (models/{model}:generateContent, :streamGenerateContent?alt=sse,
// GET models), the key in x-goog-api-key, GenerateContentResponse JSON,
// SSE events framed with CRLF ("data: {...}\r\n\r\n"), Google's error
// bodies ({"error":{"code","message","status","details"}}) and the
// request rules the real API enforces (roles user/model, thinkingLevel
// only on Gemini 3, thinkingBudget not there, no unknown fields), which it
// answers with a 400 INVALID_ARGUMENT as the real one does. The model
// name picks a geminiScenario, so one server serves every test.
type Gemini struct {
	T testing.TB
	plugintest.Recorder
	// PageMax, when > 0, makes GET models pages smaller than asked, so
	// tests see paging.
	PageMax atomic.Int64
}

// Keys the fake API knows. Anything else is refused as the real API does
// (HTTP 400, reason API_KEY_INVALID).
const (
	GeminiKeyGood    = "AIzaSyA-good-0123456789abcdefghijklmnopq"
	GeminiKeyLimited = "AIzaSyA-limited-0123456789abcdefghijklm" // models list answers 429
	GeminiKeyFlaky   = "AIzaSyA-flaky-0123456789abcdefghijklmno" // models list answers 503
	GeminiKeyWrong   = "AIzaSyA-wrong-0123456789abcdefghijklmno"
)

// Latest is the last request the fake received.
func (f *Gemini) Latest() plugintest.Request { return f.Last(f.T) }

// geminiAPIErr writes Google's error body.
func geminiAPIErr(w http.ResponseWriter, code int, status, msg string, details ...map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	e := map[string]any{"code": code, "message": msg, "status": status}
	if len(details) > 0 {
		e["details"] = details
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func geminiKeyInvalid(w http.ResponseWriter, key string) {
	// The real API does not echo the key; a careless proxy might.
	geminiAPIErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key. ("+key+")",
		map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
			"domain": "googleapis.com", "metadata": map[string]any{"service": "generativelanguage.googleapis.com"}})
}

func geminiRateLimited(w http.ResponseWriter) {
	geminiAPIErr(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.",
		map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{map[string]any{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"}}},
		map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"})
}

// geminiModels is what GET /v1beta/models lists: chat models beside an
// embedding model and an image model, as the real list has.
var geminiModels = []map[string]any{
	{"name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
		"description": "Stable version of Gemini 2.5 Flash.", "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
		"supportedGenerationMethods": []string{"generateContent", "countTokens", "createCachedContent", "batchGenerateContent"},
		"temperature":                1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": true},
	{"name": "models/embedding-001", "version": "001", "displayName": "Embedding 001",
		"inputTokenLimit": 2048, "outputTokenLimit": 1, "supportedGenerationMethods": []string{"embedContent"}},
	{"name": "models/gemini-2.0-flash", "version": "2.0", "displayName": "Gemini 2.0 Flash",
		"inputTokenLimit": 1048576, "outputTokenLimit": 8192,
		"supportedGenerationMethods": []string{"generateContent", "countTokens"}, "temperature": 1, "topP": 0.95, "topK": 40, "maxTemperature": 2},
	{"name": "models/imagen-4.0-generate-001", "version": "001", "displayName": "Imagen 4",
		"inputTokenLimit": 480, "outputTokenLimit": 8192, "supportedGenerationMethods": []string{"predict"}},
	{"name": "models/gemini-3-pro-preview", "version": "3-pro-preview-11-2025", "displayName": "Gemini 3 Pro Preview",
		"inputTokenLimit": 1048576, "outputTokenLimit": 65536,
		"supportedGenerationMethods": []string{"generateContent", "countTokens", "createCachedContent", "batchGenerateContent"},
		"temperature":                1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": true},
}

// models serves one page of the list as the real API does: pageSize
// (default 50, at most 1000) and an opaque pageToken/nextPageToken.
// PageMax, when > 0, makes pages smaller than asked so tests see paging.
func (f *Gemini) models(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := 50
	if s := q.Get("pageSize"); s != "" {
		if _, err := fmt.Sscanf(s, "%d", &size); err != nil || size < 1 {
			geminiAPIErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid value at 'page_size' (TYPE_INT32), \""+s+"\"")
			return
		}
		size = min(size, 1000)
	}
	if m := int(f.PageMax.Load()); m > 0 {
		size = min(size, m)
	}
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		if _, err := fmt.Sscanf(tok, "page-%d", &start); err != nil || start < 0 || start > len(geminiModels) {
			geminiAPIErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid page token.")
			return
		}
	}
	end := min(start+size, len(geminiModels))
	page := map[string]any{"models": geminiModels[start:end]}
	if end < len(geminiModels) {
		page["nextPageToken"] = fmt.Sprintf("page-%d", end)
	}
	plugintest.WriteJSON(w, page)
}

func (f *Gemini) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seen := f.Record(f.T, r)
	if r.URL.Query().Has("key") {
		f.T.Errorf("the key must never be in the URL: %s", r.URL)
	}
	if r.Header.Get("Authorization") != "" {
		f.T.Errorf("the key must go in x-goog-api-key only, but Authorization was %q", r.Header.Get("Authorization"))
	}
	key := r.Header.Get("x-goog-api-key")
	switch key {
	case GeminiKeyGood, GeminiKeyLimited, GeminiKeyFlaky:
	case "":
		geminiAPIErr(w, http.StatusForbidden, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	default:
		geminiKeyInvalid(w, key)
		return
	}

	path := r.URL.Path
	switch {
	case r.Method == "GET" && path == "/v1beta/models":
		switch key {
		case GeminiKeyLimited:
			geminiRateLimited(w)
		case GeminiKeyFlaky:
			geminiAPIErr(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The model is overloaded. Please try again later.")
		default:
			f.models(w, r)
		}
	case r.Method == "POST" && strings.HasPrefix(path, "/v1beta/models/") && strings.Contains(path, ":"):
		model, method, _ := strings.Cut(strings.TrimPrefix(path, "/v1beta/models/"), ":")
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			geminiAPIErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. content-type "+ct)
			return
		}
		if msg := geminiCheckBody(model, seen.Body); msg != "" {
			geminiAPIErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg)
			return
		}
		switch method {
		case "generateContent":
			f.generate(w, model, seen.Body, false)
		case "streamGenerateContent":
			if r.URL.Query().Get("alt") != "sse" {
				f.T.Errorf("streaming without alt=sse gives a JSON array, not events: %s", r.URL)
			}
			f.generate(w, model, seen.Body, true)
		default:
			geminiAPIErr(w, http.StatusNotFound, "NOT_FOUND", "Method not found.")
		}
	default:
		geminiAPIErr(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
	}
}

// geminiCheckBody applies the API's request rules, with its wording.
func geminiCheckBody(model string, b map[string]any) string {
	top := map[string]bool{"contents": true, "systemInstruction": true, "generationConfig": true, "safetySettings": true,
		"tools": true, "toolConfig": true, "cachedContent": true}
	for k := range b {
		if !top[k] {
			return fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", k)
		}
	}
	contents, ok := b["contents"].([]any)
	if !ok || len(contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified"
	}
	for i, c := range contents {
		cm, _ := c.(map[string]any)
		if role := cm["role"]; role != "user" && role != "model" {
			return fmt.Sprintf("Please use a valid role: user, model. (contents[%d].role %v)", i, role)
		}
		parts, _ := cm["parts"].([]any)
		if len(parts) == 0 {
			return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		for j, p := range parts {
			pm, _ := p.(map[string]any)
			kinds := 0
			for _, k := range []string{"text", "functionCall", "functionResponse"} {
				if _, ok := pm[k]; ok {
					kinds++
				}
			}
			if kinds != 1 {
				return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].data: required oneof field 'data' must have one initialized field", i, j)
			}
			if fc, ok := pm["functionCall"].(map[string]any); ok {
				if _, isObj := fc["args"].(map[string]any); fc["name"] == "" || !isObj || cm["role"] != "model" {
					return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].function_call: bad function call", i, j)
				}
			}
			if fr, ok := pm["functionResponse"].(map[string]any); ok {
				if _, isObj := fr["response"].(map[string]any); fr["name"] == "" || !isObj || cm["role"] != "user" {
					return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].function_response: bad function response", i, j)
				}
			}
		}
	}
	if tools, ok := b["tools"].([]any); ok {
		for i, t := range tools {
			decls, _ := t.(map[string]any)["functionDeclarations"].([]any)
			for j, d := range decls {
				dm, _ := d.(map[string]any)
				if dm["name"] == nil || dm["name"] == "" {
					return fmt.Sprintf("* GenerateContentRequest.tools[%d].function_declarations[%d].name: Name cannot be empty.", i, j)
				}
				if _, both := dm["parameters"]; both && dm["parametersJsonSchema"] != nil {
					return fmt.Sprintf("* GenerateContentRequest.tools[%d].function_declarations[%d]: parameters and parameters_json_schema are mutually exclusive", i, j)
				}
			}
		}
	}
	gc, _ := b["generationConfig"].(map[string]any)
	okGC := map[string]bool{"temperature": true, "topP": true, "topK": true, "maxOutputTokens": true, "stopSequences": true,
		"candidateCount": true, "thinkingConfig": true, "responseMimeType": true, "seed": true}
	for k := range gc {
		if !okGC[k] {
			return fmt.Sprintf("Invalid JSON payload received. Unknown name %q at 'generation_config': Cannot find field.", k)
		}
	}
	if t, ok := gc["temperature"].(float64); ok && (t < 0 || t > 2) {
		return "* GenerateContentRequest.generation_config.temperature: must be in [0, 2]"
	}
	if s, _ := gc["stopSequences"].([]any); len(s) > 5 {
		return "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences"
	}
	tc, _ := gc["thinkingConfig"].(map[string]any)
	_, hasLevel := tc["thinkingLevel"]
	_, hasBudget := tc["thinkingBudget"]
	gemini3 := strings.HasPrefix(model, "gemini-3")
	switch {
	case hasLevel && !gemini3:
		return "Thinking level is not supported for this model."
	case hasBudget && gemini3 && hasLevel:
		return "You can only set only one of thinking budget and thinking level."
	case strings.HasPrefix(model, "gemini-2.5-pro") && tc["thinkingBudget"] == 0.0:
		return "Budget 0 is invalid. This model only works in thinking mode."
	}
	return ""
}

// generate answers by geminiScenario (the model name's suffix).
func (f *Gemini) generate(w http.ResponseWriter, model string, body map[string]any, stream bool) {
	gc, _ := body["generationConfig"].(map[string]any)
	tc, _ := gc["thinkingConfig"].(map[string]any)
	thoughts := tc["includeThoughts"] == true
	usage := func(cand, thought int) map[string]any {
		u := map[string]any{"promptTokenCount": 25, "candidatesTokenCount": cand, "totalTokenCount": 25 + cand + thought,
			"promptTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": 25}}}
		if thought > 0 {
			u["thoughtsTokenCount"] = thought
		}
		return u
	}
	textPart := func(s string) map[string]any { return map[string]any{"text": s} }
	thoughtPart := map[string]any{"text": "**Greeting** The user says hi; answer warmly.", "thought": true}
	cand := func(finish string, parts ...map[string]any) map[string]any {
		c := map[string]any{"index": 0}
		if len(parts) > 0 {
			ps := []any{}
			for _, p := range parts {
				ps = append(ps, p)
			}
			c["content"] = map[string]any{"role": "model", "parts": ps}
		}
		if finish != "" {
			c["finishReason"] = finish
			c["safetyRatings"] = []any{map[string]any{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}}
		}
		return c
	}
	event := func(u map[string]any, cands ...map[string]any) map[string]any {
		e := map[string]any{"modelVersion": model, "responseId": "mBnYaP-test", "usageMetadata": u}
		if len(cands) > 0 {
			cs := []any{}
			for _, c := range cands {
				cs = append(cs, c)
			}
			e["candidates"] = cs
		}
		return e
	}

	var events []map[string]any
	switch {
	case strings.HasSuffix(model, "-429"):
		geminiRateLimited(w)
		return
	case strings.HasSuffix(model, "-503"):
		geminiAPIErr(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The model is overloaded. Please try again later.")
		return
	case strings.HasSuffix(model, "-504"):
		geminiAPIErr(w, http.StatusGatewayTimeout, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")
		return
	case strings.HasSuffix(model, "-blocked"):
		events = []map[string]any{{"promptFeedback": map[string]any{"blockReason": "PROHIBITED_CONTENT"},
			"usageMetadata": map[string]any{"promptTokenCount": 25, "totalTokenCount": 25}, "modelVersion": model}}
	case strings.HasSuffix(model, "-safety"):
		events = []map[string]any{event(usage(0, 0), cand("SAFETY"))}
	case strings.HasSuffix(model, "-thinkonly"):
		// All of maxOutputTokens went to thinking: no text part at all.
		if thoughts {
			events = append(events, event(usage(0, 64), cand("", thoughtPart)))
		}
		events = append(events, event(usage(0, 64), cand("MAX_TOKENS")))
	case strings.HasSuffix(model, "-tools"):
		// A function call (no id, as Gemini 2.x sends it) until the
		// conversation ends with its functionResponse; then the answer.
		contents, _ := body["contents"].([]any)
		last, _ := contents[len(contents)-1].(map[string]any)
		answered := false
		for _, p := range last["parts"].([]any) {
			if _, ok := p.(map[string]any)["functionResponse"]; ok {
				answered = true
			}
		}
		if answered {
			events = []map[string]any{event(usage(6, 0), cand("STOP", textPart("It rains in Bergen.")))}
		} else {
			call := map[string]any{"functionCall": map[string]any{"name": "get_weather", "args": map[string]any{"city": "Oslo"}}}
			events = []map[string]any{event(usage(4, 0), cand("STOP", textPart("Let me check."), call))}
		}
	case strings.HasSuffix(model, "-cut"):
		events = []map[string]any{event(usage(2, 0), cand("", textPart("Hello")))}
	case strings.HasSuffix(model, "-streamerror"):
		events = []map[string]any{event(usage(2, 0), cand("", textPart("Hello"))),
			{"error": map[string]any{"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}}
	default:
		if thoughts {
			events = append(events, event(usage(0, 10), cand("", thoughtPart)))
		}
		thought := 0
		if !strings.HasPrefix(model, "gemini-2.0") {
			thought = 10 // thinking models think whether or not thoughts are returned
		}
		events = append(events,
			event(usage(2, thought), cand("", textPart("Hello"))),
			event(usage(5, thought), cand("STOP", textPart(" there!"))))
	}

	if !stream {
		// The whole reply is the events merged: parts joined, last usage.
		whole := map[string]any{}
		var parts []map[string]any
		finish := ""
		for _, e := range events {
			for k, v := range e {
				if k != "candidates" {
					whole[k] = v
				}
			}
			cs, _ := e["candidates"].([]any)
			for _, c := range cs {
				cm := c.(map[string]any)
				if ct, ok := cm["content"].(map[string]any); ok {
					for _, p := range ct["parts"].([]any) {
						parts = append(parts, p.(map[string]any))
					}
				}
				if fr, ok := cm["finishReason"].(string); ok {
					finish = fr
				}
			}
		}
		if finish != "" || len(parts) > 0 {
			whole["candidates"] = []any{cand(finish, parts...)}
		}
		plugintest.WriteJSON(w, whole)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, e := range events {
		b, _ := json.Marshal(e)
		fmt.Fprintf(w, "data: %s\r\n\r\n", b)
		w.(http.Flusher).Flush()
	}
}
