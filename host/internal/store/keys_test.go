package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// The store plugs into the plugin host without an adapter.
var _ plugin.KeySource = (*store.Store)(nil)

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, vault.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func vaultWith(t testing.TB, cur, prev []byte) *vault.Vault {
	t.Helper()
	v, err := vault.New(cur, prev)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAPIKeyRoundTripHintAndLastUsed(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	alice, bob := snowflake(), snowflake()
	const key = "sk-or-v1-aaaabbbbccccddddeeeeffff00001111a1b2"
	if err := s.SetAPIKey(ctx, alice, "openrouter", "  "+key+"\n"); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.APIKey(ctx, alice, "openrouter")
	if err != nil || !ok || got != key {
		t.Fatalf("APIKey = %q, %v, %v", got, ok, err)
	}
	// Other user, other slot: nothing, and no error.
	for _, c := range [][2]string{{bob, "openrouter"}, {alice, "elevenlabs"}, {"nonsense", "openrouter"}} {
		if got, ok, err := s.APIKey(ctx, c[0], c[1]); ok || got != "" || err != nil {
			t.Errorf("APIKey(%s, %s) = %q, %v, %v", c[0], c[1], got, ok, err)
		}
	}
	list, err := s.ListAPIKeys(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Provider != "openrouter" || list[0].Hint != "sk-or-…a1b2" || list[0].LastUsedAt == nil || list[0].ValidatedAt != nil {
		t.Fatalf("list = %+v", list)
	}
	if err := s.MarkValidated(ctx, alice, "openrouter"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkValidated(ctx, bob, "openrouter"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("validate missing key: %v", err)
	}
	list, _ = s.ListAPIKeys(ctx, alice)
	if list[0].ValidatedAt == nil {
		t.Fatal("validated_at not set")
	}
	// Replacing the key clears validation.
	if err := s.SetAPIKey(ctx, alice, "openrouter", "sk-or-v1-zzzzyyyyxxxxwwwwvvvvuuuu9999c3d4"); err != nil {
		t.Fatal(err)
	}
	list, _ = s.ListAPIKeys(ctx, alice)
	if list[0].ValidatedAt != nil || list[0].Hint != "sk-or-…c3d4" {
		t.Fatalf("after replace: %+v", list[0])
	}
	if removed, err := s.RemoveAPIKey(ctx, alice, "openrouter"); err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if _, ok, _ := s.APIKey(ctx, alice, "openrouter"); ok {
		t.Fatal("removed key still returned")
	}
}

func TestBadAPIKeyInputIsRefused(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	u := snowflake()
	for name, c := range map[string][2]string{
		"empty key":       {"openrouter", "   "},
		"spaces in key":   {"openrouter", "sk-abc def"},
		"bad provider":    {"Open Router", "sk-abcdef0123456789"},
		"provider inject": {"openrouter'; --", "sk-abcdef0123456789"},
	} {
		err := s.SetAPIKey(ctx, u, c[0], c[1])
		if !errors.Is(err, store.ErrInvalidInput) {
			t.Errorf("%s: err = %v", name, err)
		}
		if err != nil && strings.TrimSpace(c[1]) != "" && strings.Contains(err.Error(), c[1]) {
			t.Errorf("%s: error repeats the key", name)
		}
	}
	if list, _ := s.ListAPIKeys(ctx, u); len(list) != 0 {
		t.Fatalf("refused keys stored: %+v", list)
	}
	if err := store.New(pgtest.New(t), nil, nil).SetAPIKey(ctx, u, "openrouter", "sk-abcdef0123456789"); !errors.Is(err, store.ErrNoVault) {
		t.Fatalf("no vault: %v", err)
	}
}

// A ciphertext copied to another user's row, or altered in place, fails to
// open with a clear error; nothing leaks.
func TestMovedOrTamperedCiphertextFails(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	s := store.New(pool, newVault(t), nil)
	alice, bob := snowflake(), snowflake()
	if err := s.SetAPIKey(ctx, alice, "openrouter", "sk-or-alice-0000000000000000"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAPIKey(ctx, bob, "openrouter", "sk-or-bob-11111111111111111"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAPIKey(ctx, bob, "elevenlabs", "el-bob-2222222222222222222"); err != nil {
		t.Fatal(err)
	}
	// Move alice's sealed openrouter key into bob's openrouter row.
	if _, err := pool.Exec(ctx, `
		UPDATE user_api_keys b SET nonce = a.nonce, ciphertext = a.ciphertext, key_version = a.key_version
		FROM user_api_keys a JOIN users ua ON ua.id = a.user_id, users ub
		WHERE ua.discord_id = $1 AND a.provider = 'openrouter' AND ub.id = b.user_id AND ub.discord_id = $2 AND b.provider = 'openrouter'`,
		alice, bob); err != nil {
		t.Fatal(err)
	}
	_, ok, err := s.APIKey(ctx, bob, "openrouter")
	if !errors.Is(err, vault.ErrOpen) || ok {
		t.Fatalf("moved ciphertext: ok=%v err=%v", ok, err)
	}
	if strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "sk-or") {
		t.Fatalf("error leaks the secret: %v", err)
	}
	// Flip one byte of bob's elevenlabs ciphertext.
	if _, err := pool.Exec(ctx, `
		UPDATE user_api_keys k SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)
		FROM users u WHERE u.id = k.user_id AND u.discord_id = $1 AND k.provider = 'elevenlabs'`, bob); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.APIKey(ctx, bob, "elevenlabs"); !errors.Is(err, vault.ErrOpen) {
		t.Fatalf("tampered ciphertext: %v", err)
	}
	// Alice's own key is untouched.
	if got, ok, err := s.APIKey(ctx, alice, "openrouter"); err != nil || !ok || got != "sk-or-alice-0000000000000000" {
		t.Fatalf("alice's key after the attack: %q %v %v", got, ok, err)
	}
}

func TestWrongMasterKeyFailsWithClearMessage(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	u := snowflake()
	if err := store.New(pool, newVault(t), nil).SetAPIKey(ctx, u, "openrouter", "sk-or-v1-secretsecretsecret"); err != nil {
		t.Fatal(err)
	}
	_, ok, err := store.New(pool, newVault(t), nil).APIKey(ctx, u, "openrouter")
	if ok || !errors.Is(err, vault.ErrUnknownKey) || !strings.Contains(err.Error(), "APP_MASTER_KEY_PREVIOUS") {
		t.Fatalf("wrong master key: ok=%v err=%v", ok, err)
	}
}

// dumpDatabase returns every text, bytea and json value of every table in
// the public schema, the way pg_dump would see them.
func dumpDatabase(t *testing.T, pool *pgxpool.Pool) [][]byte {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'jsonb', 'json', 'character varying', 'ARRAY')`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, column, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cols) < 20 {
		t.Fatalf("only %d columns to scan", len(cols))
	}
	var out [][]byte
	for _, c := range cols {
		expr := pgx.Identifier{c.column}.Sanitize()
		if c.typ != "bytea" {
			expr += "::text"
		}
		r, err := pool.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s IS NOT NULL`,
			expr, pgx.Identifier{c.table}.Sanitize(), pgx.Identifier{c.column}.Sanitize()))
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var b []byte
			if err := r.Scan(&b); err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestNoPlaintextSecretAnywhereInTheDatabase(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	s := store.New(pool, newVault(t), nil)
	secrets := map[string]string{}
	for i, p := range []string{"openrouter", "elevenlabs", "zai", "mistral", "openai"} {
		u := snowflake()
		secret := fmt.Sprintf("sk-%s-%d-%x", p, i, randomKey(t)[:12])
		secrets[u+"/"+p] = secret
		if err := s.SetAPIKey(ctx, u, p, secret); err != nil {
			t.Fatal(err)
		}
	}
	token := fmt.Sprintf("webhook-token-%x", randomKey(t))
	if err := s.PutChannelWebhook(ctx, "123456789012345678", store.Webhook{ID: "223456789012345678", Token: token}); err != nil {
		t.Fatal(err)
	}
	// Use them, so last_used_at and friends are written too.
	for k, want := range secrets {
		u, p, _ := strings.Cut(k, "/")
		if got, ok, err := s.APIKey(ctx, u, p); err != nil || !ok || got != want {
			t.Fatalf("APIKey: %v %v", ok, err)
		}
	}
	dump := dumpDatabase(t, pool)
	all := append([]string{token}, values(secrets)...)
	for _, secret := range all {
		for _, v := range dump {
			// Whole secret, and any 12-byte window of it (a partial leak).
			for i := 0; i+12 <= len(secret); i += 4 {
				if bytes.Contains(v, []byte(secret[i:i+12])) {
					t.Fatalf("a fragment of a secret is stored in plaintext: %q", v)
				}
			}
		}
	}
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestRotationReSealsEverythingResumablyWithoutDowntime(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	oldKey, newKey := randomKey(t), randomKey(t)
	before := store.New(pool, vaultWith(t, oldKey, nil), nil)

	secrets := map[string]string{}
	for i := range 7 {
		u := snowflake()
		secrets[u] = fmt.Sprintf("sk-or-v1-rotate-%02d-%x", i, randomKey(t)[:8])
		if err := before.SetAPIKey(ctx, u, "openrouter", secrets[u]); err != nil {
			t.Fatal(err)
		}
	}
	if err := before.PutChannelWebhook(ctx, "987654321098765432", store.Webhook{ID: "887654321098765432", Token: "tok-abcdefghijklmnop"}); err != nil {
		t.Fatal(err)
	}
	// A row nobody can open (sealed under a key that is gone).
	lost := snowflake()
	if err := store.New(pool, newVault(t), nil).SetAPIKey(ctx, lost, "openrouter", "sk-lost-key-000000000000"); err != nil {
		t.Fatal(err)
	}

	during := store.New(pool, vaultWith(t, newKey, oldKey), nil)
	// One key is set again during the rotation: it is already current.
	var fresh string
	for u := range secrets {
		fresh = u
		break
	}
	secrets[fresh] = "sk-or-v1-reset-during-rotation-0000"
	if err := during.SetAPIKey(ctx, fresh, "openrouter", secrets[fresh]); err != nil {
		t.Fatal(err)
	}
	// Readers work with both versions mid-rotation.
	for u, want := range secrets {
		if got, ok, err := during.APIKey(ctx, u, "openrouter"); err != nil || !ok || got != want {
			t.Fatalf("read during rotation: %v %v", ok, err)
		}
	}

	rep, err := during.RotateKeys(ctx, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 6 old API keys + 1 webhook token rotated, 1 re-set key already current,
	// 1 lost key failed.
	if rep.Rotated != 7 || rep.AlreadyCurrent != 1 || rep.Failed != 1 {
		t.Fatalf("report = %+v, want 7 rotated, 1 current, 1 failed", rep)
	}
	// Running again (as after an interruption) has nothing left to do but
	// still reports the unreadable row.
	rep, err = during.RotateKeys(ctx, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rotated != 0 || rep.AlreadyCurrent != 8 || rep.Failed != 1 {
		t.Fatalf("second run = %+v", rep)
	}
	// The old key can now be dropped.
	after := store.New(pool, vaultWith(t, newKey, nil), nil)
	for u, want := range secrets {
		if got, ok, err := after.APIKey(ctx, u, "openrouter"); err != nil || !ok || got != want {
			t.Fatalf("read after rotation with the new key alone: %v %v", ok, err)
		}
	}
	if w, ok, err := after.ChannelWebhook(ctx, "987654321098765432"); err != nil || !ok || w.Token != "tok-abcdefghijklmnop" {
		t.Fatalf("webhook after rotation: %v %v", ok, err)
	}
	if _, _, err := after.APIKey(ctx, lost, "openrouter"); !errors.Is(err, vault.ErrUnknownKey) {
		t.Fatalf("lost key: %v", err)
	}
}
