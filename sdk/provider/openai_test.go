package provider

import (
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func TestOpenAIError(t *testing.T) {
	body := func(msg, typ, code string) []byte {
		return []byte(`{"error":{"message":"` + msg + `","type":"` + typ + `","code":` + code + `}}`)
	}
	cases := []struct {
		name       string
		status     int
		body       []byte
		retryAfter string
		code       string
		retryable  bool
		msg        string
	}{
		{"bad key, key masked", 401, body("Incorrect API key provided: sk-proj-abcdefghijklmnop.", "invalid_request_error", `"invalid_api_key"`), "", abi.ErrInvalidKey, false, "Incorrect API key provided: sk-proj…"},
		{"quota is no credit", 429, body("You exceeded your current quota", "insufficient_quota", `"insufficient_quota"`), "20", abi.ErrNoCredit, false, "You exceeded your current quota"},
		{"rate limit says how long", 429, body("Rate limit reached for tts-1", "requests", `"rate_limit_exceeded"`), "7", abi.ErrRateLimited, true, "Rate limit reached for tts-1 (the provider asks to wait 7 s before trying again)"},
		{"rate limit with a date", 429, body("slow down", "requests", "null"), "Wed, 21 Oct 2015 07:28:00 GMT", abi.ErrRateLimited, true, "slow down"},
		{"openrouter numeric code", 402, body("Insufficient credits", "", "402"), "", abi.ErrNoCredit, false, "Insufficient credits"},
		{"bad request keeps the provider's words", 400, body("Invalid value for 'voice'.", "invalid_request_error", `"invalid_value"`), "", abi.ErrBadRequest, false, "Invalid value for 'voice'."},
		{"content policy", 400, body("blocked", "invalid_request_error", `"content_policy_violation"`), "", abi.ErrContent, false, "blocked"},
		{"html 502", 502, []byte("<html>502 Bad Gateway</html>"), "", abi.ErrUnavailable, true, "<html>502 Bad Gateway</html>"},
		{"gateway timeout", 504, nil, "", abi.ErrTimeout, true, "the provider answered HTTP 504"},
	}
	for _, c := range cases {
		e := OpenAIError(c.status, c.body, c.retryAfter)
		if e.Code != c.code || e.Retryable != c.retryable || e.HTTPStatus != c.status || e.Message != c.msg {
			t.Errorf("%s: got %+v, want code %s retryable %v message %q", c.name, e, c.code, c.retryable, c.msg)
		}
		if strings.Contains(e.Message, "abcdefghijklmnop") {
			t.Errorf("%s: a key leaked: %q", c.name, e.Message)
		}
	}
}

func TestOpenAIErrorBodyCodeText(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"message":"m","code":"invalid_api_key"}}`: "invalid_api_key",
		`{"error":{"message":"m","code":429}}`:               "429",
		`{"error":{"message":"m","code":null}}`:              "",
	} {
		e, ok := ParseOpenAIError([]byte(body))
		if !ok || e.CodeText() != want || e.Message != "m" {
			t.Errorf("%s: %+v %v, want code %q", body, e, ok, want)
		}
	}
	for _, body := range []string{`not json`, `{"data":[]}`, `{"error":null}`} {
		if _, ok := ParseOpenAIError([]byte(body)); ok {
			t.Errorf("%s read as an error body", body)
		}
	}
}
