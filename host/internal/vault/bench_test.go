package vault_test

import (
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// A typical provider key (OpenRouter keys are 73 characters).
var benchSecret = []byte("sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd")

func BenchmarkSeal(b *testing.B) {
	v := mustVault(b, newKey(b), nil)
	aad := vault.RowAAD("user_api_keys", "123456", "openrouter")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Seal(benchSecret, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	v := mustVault(b, newKey(b), nil)
	aad := vault.RowAAD("user_api_keys", "123456", "openrouter")
	s, err := v.Seal(benchSecret, aad)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Open(s, aad); err != nil {
			b.Fatal(err)
		}
	}
}
