package vault_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/vault"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, vault.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustVault(t testing.TB, cur, prev []byte, opts ...vault.Option) *vault.Vault {
	t.Helper()
	v, err := vault.New(cur, prev, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSealOpenRoundTripWithFreshNonces(t *testing.T) {
	v := mustVault(t, newKey(t), nil)
	aad := vault.RowAAD("user_api_keys", "42", "openrouter")
	secret := []byte("sk-or-v1-0123456789abcdef0123456789abcdef")
	a, err := v.Seal(secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Seal(secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Nonce, b.Nonce) || bytes.Equal(a.Ciphertext, b.Ciphertext) {
		t.Fatal("two seals of the same secret share a nonce or ciphertext")
	}
	if len(a.Nonce) != 12 {
		t.Fatalf("nonce is %d bytes, want 12", len(a.Nonce))
	}
	if bytes.Contains(a.Ciphertext, secret) {
		t.Fatal("ciphertext contains the plaintext")
	}
	if a.KeyVersion != v.CurrentVersion() {
		t.Fatalf("key version %d, want current %d", a.KeyVersion, v.CurrentVersion())
	}
	got, err := v.Open(a, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, secret) {
		t.Fatalf("opened %q", got)
	}
}

func TestTamperedOrMovedCiphertextFails(t *testing.T) {
	v := mustVault(t, newKey(t), nil)
	aad := vault.RowAAD("user_api_keys", "42", "openrouter")
	s, err := v.Seal([]byte("sk-secret-value-123456"), aad)
	if err != nil {
		t.Fatal(err)
	}
	tampered := s
	tampered.Ciphertext = bytes.Clone(s.Ciphertext)
	tampered.Ciphertext[3] ^= 0x01
	if _, err := v.Open(tampered, aad); !errors.Is(err, vault.ErrOpen) {
		t.Fatalf("tampered ciphertext: err = %v, want ErrOpen", err)
	}
	for name, other := range map[string][]byte{
		"other user":     vault.RowAAD("user_api_keys", "43", "openrouter"),
		"other provider": vault.RowAAD("user_api_keys", "42", "elevenlabs"),
		"other table":    vault.RowAAD("channel_webhooks", "42", "openrouter"),
		"shifted parts":  vault.RowAAD("user_api_keys", "42o", "penrouter"),
	} {
		if _, err := v.Open(s, other); !errors.Is(err, vault.ErrOpen) {
			t.Errorf("moved to %s: err = %v, want ErrOpen", name, err)
		}
	}
}

func TestWrongMasterKeyFailsClearly(t *testing.T) {
	aad := vault.RowAAD("user_api_keys", "1", "openrouter")
	s, err := mustVault(t, newKey(t), nil).Seal([]byte("sk-abcdefghijklmnop"), aad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustVault(t, newKey(t), nil).Open(s, aad)
	if !errors.Is(err, vault.ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), "APP_MASTER_KEY_PREVIOUS") {
		t.Fatalf("error does not tell the operator what to do: %v", err)
	}
}

func TestRotationOpensBothAndResealsToCurrent(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	aad := vault.RowAAD("user_api_keys", "7", "openrouter")
	old := mustVault(t, oldKey, nil)
	s, err := old.Seal([]byte("sk-rotate-me-0123456789"), aad)
	if err != nil {
		t.Fatal(err)
	}
	rot := mustVault(t, newK, oldKey)
	if rot.IsCurrent(s) {
		t.Fatal("old value reported current")
	}
	if prev, ok := rot.PreviousVersion(); !ok || prev != old.CurrentVersion() {
		t.Fatalf("previous version %d,%v; want %d", prev, ok, old.CurrentVersion())
	}
	got, err := rot.Open(s, aad)
	if err != nil || string(got) != "sk-rotate-me-0123456789" {
		t.Fatalf("open old value during rotation: %q, %v", got, err)
	}
	re, err := rot.Reseal(s, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !rot.IsCurrent(re) {
		t.Fatal("resealed value is not current")
	}
	// After the rotation the previous key can be dropped.
	if got, err := mustVault(t, newK, nil).Open(re, aad); err != nil || string(got) != "sk-rotate-me-0123456789" {
		t.Fatalf("open resealed value with the new key alone: %q, %v", got, err)
	}
	if _, err := vault.New(newK, newK); err == nil {
		t.Fatal("same key as current and previous accepted")
	}
}

func TestObserverSeesEachOpenedSecret(t *testing.T) {
	var seen []string
	v := mustVault(t, newKey(t), nil, vault.WithObserver(func(s string) { seen = append(seen, s) }))
	aad := vault.RowAAD("t", "1")
	s, _ := v.Seal([]byte("sk-observed-1234567890"), aad)
	if len(seen) != 0 {
		t.Fatal("observer called on seal")
	}
	if _, err := v.Open(s, aad); err != nil {
		t.Fatal(err)
	}
	var late []string
	v.OnOpen(func(s string) { late = append(late, s) })
	if _, err := v.Open(s, aad); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "sk-observed-1234567890" || len(late) != 1 {
		t.Fatalf("observers saw %q and %q", seen, late)
	}
}

func TestFromEnvFailsClosed(t *testing.T) {
	key := newKey(t)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	if _, err := vault.FromEnv(env(nil)); !errors.Is(err, vault.ErrNoMasterKey) {
		t.Fatalf("missing key: err = %v", err)
	}
	bad := map[string]string{
		"short base64": base64.StdEncoding.EncodeToString(key[:16]),
		"not encoded":  "correct horse battery staple!!",
		"short hex":    hex.EncodeToString(key[:31]),
	}
	for name, val := range bad {
		_, err := vault.FromEnv(env(map[string]string{vault.EnvMasterKey: val}))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), val) {
			t.Errorf("%s: error repeats the key: %v", name, err)
		}
		if !strings.Contains(err.Error(), vault.EnvMasterKey) {
			t.Errorf("%s: error does not name the variable: %v", name, err)
		}
	}
	for _, enc := range []string{base64.StdEncoding.EncodeToString(key), hex.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key) + "\n"} {
		v, err := vault.FromEnv(env(map[string]string{vault.EnvMasterKey: enc}))
		if err != nil {
			t.Fatalf("valid key %q rejected: %v", enc, err)
		}
		if v.CurrentVersion() != mustVault(t, key, nil).CurrentVersion() {
			t.Fatal("same key, different key id")
		}
	}
	_, err := vault.FromEnv(env(map[string]string{
		vault.EnvMasterKey:         base64.StdEncoding.EncodeToString(key),
		vault.EnvMasterKeyPrevious: "nope",
	}))
	if err == nil || !strings.Contains(err.Error(), vault.EnvMasterKeyPrevious) {
		t.Fatalf("bad previous key: %v", err)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"sk-or-v1-0123456789abcdefa1b2": "sk-or-…a1b2",
		"sk-0123456789abcdefa1b2":       "sk-…a1b2",
		"AIzaSyD0123456789abcdefa1b2":   "…a1b2",
		"shortkey12":                    "…12",
		"":                              "",
	} {
		if got := vault.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
