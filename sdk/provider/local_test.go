package provider

import (
	"net/url"
	"testing"
)

// A local server (Speaches, LocalAI) gets no key unless asked; a cloud API
// always does; a typo in auth is an error, not a silent choice.
func TestUsesKey(t *testing.T) {
	for _, c := range []struct {
		base, auth string
		want       bool
	}{
		{"https://api.openai.com", "", true},
		{"http://127.0.0.1:8000", "", false},
		{"https://localhost:8443", "", false},
		{"https://10.1.2.3", "", false},
		{"https://speaches.local", "", false},
		{"http://127.0.0.1:8000", "bearer", true},
		{"https://api.openai.com", "none", false},
	} {
		u, _ := url.Parse(c.base)
		got, err := UsesKey(u, c.auth)
		if err != nil || got != c.want {
			t.Errorf("%s auth %q: key %v, %v; want %v", c.base, c.auth, got, err, c.want)
		}
	}
	u, _ := url.Parse("https://api.openai.com")
	if _, err := UsesKey(u, "Bearer "); err == nil {
		t.Error(`auth "Bearer " was accepted`)
	}
}
