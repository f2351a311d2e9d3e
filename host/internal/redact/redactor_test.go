package redact

import (
	"strings"
	"testing"
)

// Keys used across the tests; their bodies are random-looking on purpose so
// that a leak shows up as a substring of the output.
const (
	openRouterKey = "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"
	anthropicKey  = "sk-ant-api03-Zq9xW2vB7nM4kL1pR8tY3uI6oP0aS5dF9gH2jK7lZ4xC1vB8nM3qW6eR0tY5uI9oP2aS7d"
	openAIKey     = "sk-proj-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7"
	googleKey     = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
	discordToken  = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhJkLm.Zx8Cv7Bn6Mq5Wr4Et3Yu2Io1Pa0Sd9Fg8Hj7Kl"
	jwtToken      = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)

func TestStringMasksCredentialShapes(t *testing.T) {
	r := New(nil)
	cases := []struct{ in, want string }{
		{"calling with " + openRouterKey + " now", "calling with sk-or-[REDACTED] now"},
		{"key=" + anthropicKey, "key=[REDACTED]"},
		{"anthropic said no to " + anthropicKey, "anthropic said no to sk-ant-[REDACTED]"},
		{"(" + openAIKey + ")", "(sk-[REDACTED])"},
		{"https://generativelanguage.googleapis.com/v1/models?key=" + googleKey,
			"https://generativelanguage.googleapis.com/v1/models?key=[REDACTED]"},
		{"google " + googleKey + ".", "google AIza[REDACTED]."},
		{"gateway login with " + discordToken + " failed", "gateway login with [REDACTED] failed"},
		{"Authorization: Bot " + discordToken, "Authorization: Bot [REDACTED]"},
		{"header Bot abcdefghijklmnopqrstuvwxyz0123 sent", "header Bot [REDACTED] sent"},
		{"Authorization: Bearer abc.def-ghi_jkl~mno+pqr/stu=", "Authorization: Bearer [REDACTED]"},
		{"got bearer xyz12345 from cache", "got bearer [REDACTED] from cache"},
		{"session " + jwtToken, "session [REDACTED]"},
		{"hf token hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "hf token hf_[REDACTED]"},
		{"connect postgres://tzurot:s3cr3t-pa55@db:5432/tzurot?sslmode=disable",
			"connect postgres://tzurot:***@db:5432/tzurot?sslmode=disable"},
		{"postgresql://u:p@ss:w0rd@localhost/db", "postgresql://u:***@localhost/db"},
		{"redis://:hunter22@cache:6379/0", "redis://:***@cache:6379/0"},
		{`{"api_key": "abc123", "model": "gpt"}`, `{"api_key": "[REDACTED]", "model": "gpt"}`},
		{`{"apiKey":"abc\"123","x":1}`, `{"apiKey":"[REDACTED]","x":1}`},
		{`body {\"token\":\"abc123\",\"n\":2}`, `body {\"token\":\"[REDACTED]\",\"n\":2}`},
		{`{'password': 'hunter2'}`, `{'password': '[REDACTED]'}`},
		{`{"Authorization":["Bearer abc"],"X-Api-Key":["k1","k2"]}`,
			`{"Authorization":["[REDACTED]"],"X-Api-Key":["[REDACTED]","[REDACTED]"]}`},
		{"map[Authorization:[Basic dXNlcjpwYXNz] Accept:[*/*]]", "map[Authorization:[[REDACTED]] Accept:[*/*]]"},
		{"host=db user=tzurot password=hunter2 dbname=tzurot", "host=db user=tzurot password=[REDACTED] dbname=tzurot"},
		{`password="correct horse battery staple" user=bob`, `password="[REDACTED]" user=bob`},
		{"Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"},
		{`{"client_secret":"abc`, `{"client_secret":"[REDACTED]`}, // cut off mid-value
		{"pass=\tpassword: hunter2-hunter2; ok", "pass=\t[REDACTED] [REDACTED]; ok"},
		{"'password': hunter2, 'token': 12, \"secret\": null", "'password': [REDACTED], 'token': 12, \"secret\": null"},
	}
	for _, c := range cases {
		if got := r.String(c.in); got != c.want {
			t.Errorf("String(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestStringLeavesOrdinaryTextAlone(t *testing.T) {
	r := New(nil)
	for _, in := range []string{
		"skill issue",
		"task-12 finished in 3.2s",
		"risk-assessment-for-the-quarterly-plan",
		"ask-the-user-for-confirmation-before",
		"sk-short",
		`{"input_tokens": 123, "output_tokens": 45, "model": "anthropic/claude-sonnet-4"}`,
		`{"token": null, "max_tokens": 4096, "tokenizer": "cl100k"}`,
		"input_tokens=123 output_tokens=45 total_tokens=168",
		"user 123456789012345678 in channel 987654321098765432",
		"request 0f8fad5b-d9cb-469f-a165-70867728950e done",
		"POST https://openrouter.ai/api/v1/chat/completions 200",
		"postgres://localhost:5432/tzurot",
		"https://example.com:8443/path?user=bob#frag",
		"mail bob@example.com about task-12",
		"bot ready as Tzurot#1234",
		"Bot connected to gateway",
		"error: context deadline exceeded",
		"12:30:45 cache_key=abc idempotency_key=def public_key=ghi",
		"the Bearer of bad news",
		"",
		"ok",
	} {
		if got := r.String(in); got != in {
			t.Errorf("String(%q) = %q, want it unchanged", in, got)
		}
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"key": true, "api_key": true, "apiKey": true, "X-Api-Key": true, "OPENAI_KEY": true,
		"openaiKey": true, "TZUROT_FALLBACK_KEY": true, "APP_MASTER_KEY_PREVIOUS": true,
		"secret": true, "client_secret": true, "password": true, "DB_PASSWORD": true,
		"token": true, "access_token": true, "DISCORD_TOKEN": true, "Authorization": true,
		"Set-Cookie": true, "credentials": true, "auth": true,

		"input_tokens": false, "output_tokens": false, "max_tokens": false, "tokenizer": false,
		"cache_key": false, "idempotencyKey": false, "public_key": false, "monkey": false,
		"hotkey": false, "model": false, "user_id": false, "keys": false, "PWD": false,
		"author": false, "": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestStringDoesNotAllocateWhenNothingToMask(t *testing.T) {
	r := New(NewSecrets(16))
	r.secrets.Observe("a-registered-secret-value")
	line := "plugin openrouter answered in 812ms with 1534 tokens for user 123456789012345678"
	allocs := testing.AllocsPerRun(100, func() {
		if r.String(line) != line {
			t.Fatal("ordinary line changed")
		}
	})
	if allocs != 0 {
		t.Errorf("String allocated %v times on an ordinary line; it sits on every log line", allocs)
	}
	if !strings.Contains(r.String(line+" a-registered-secret-value"), Mask) {
		t.Error("registered secret not masked")
	}
}

func TestStringMasksJSONInsideJSONStrings(t *testing.T) {
	r := New(nil)
	for in, want := range map[string]string{
		`{"body":"{\"api_key\":\"a\\\"b-rest\",\"n\":1}"}`: `{"body":"{\"api_key\":\"[REDACTED]\",\"n\":1}"}`,
		`{"body":"{\"token\":\"x\\\\\",\"n\":1}"}`:         `{"body":"{\"token\":\"[REDACTED]\",\"n\":1}"}`,
		`{"body":"{\"token\":\"cut-off`:                    `{"body":"{\"token\":\"[REDACTED]`,
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%s)\n got %s\nwant %s", in, got, want)
		}
	}
}

// Where a value ends is a guess; a separator inside a masked value may
// introduce a secret that runs past the guess, and must still be seen.
func TestStringLooksInsideMaskedValues(t *testing.T) {
	r := New(nil)
	for _, in := range []string{
		`pass='{"X-Api-Key":"'secret-one-1234"}`,
		"pass=\tpassword: secret-one-1234; ok",
		`token=["a", "password": "secret-one-1234"]`,
	} {
		if got := r.String(in); strings.Contains(got, "secret-one") || !strings.Contains(got, Mask) {
			t.Errorf("String(%q) = %q", in, got)
		}
	}
}
