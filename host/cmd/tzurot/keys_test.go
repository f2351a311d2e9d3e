package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

func newMasterKey(t *testing.T) string {
	t.Helper()
	var out bytes.Buffer
	if err := keys(context.Background(), []string{"generate"}, dataTestEnv(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	k := strings.TrimSpace(out.String())
	if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != 32 {
		t.Fatalf("generated key %q is not 32 bytes of base64", k)
	}
	return k
}

func TestKeysRotateCommand(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	pool := pgtest.Pool(t, dsn)
	oldKey, newKey := newMasterKey(t), newMasterKey(t)
	if oldKey == newKey {
		t.Fatal("generate returned the same key twice")
	}

	oldVault, err := vault.FromEnv(dataTestEnv(map[string]string{vault.EnvMasterKey: oldKey}))
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(pool, oldVault, nil)
	for _, u := range []string{"1001", "1002", "1003"} {
		if err := s.SetAPIKey(ctx, u, "openrouter", "sk-or-v1-"+u+"-abcdefabcdefabcdef"); err != nil {
			t.Fatal(err)
		}
	}

	env := dataTestEnv(map[string]string{"DATABASE_URL": dsn, vault.EnvMasterKey: newKey, vault.EnvMasterKeyPrevious: oldKey})
	var out, errOut bytes.Buffer
	if err := keys(ctx, []string{"rotate", "-batch", "2"}, env, &out, &errOut); err != nil {
		t.Fatalf("rotate: %v\n%s", err, errOut.String())
	}
	if got := strings.TrimSpace(out.String()); got != "rotated 3, already current 0, failed 0" {
		t.Fatalf("report %q", got)
	}
	if strings.Contains(errOut.String(), "sk-or-v1") {
		t.Fatal("rotation logged a key")
	}
	out.Reset()
	if err := keys(ctx, []string{"rotate"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "rotated 0, already current 3, failed 0" {
		t.Fatalf("second run %q", got)
	}
	newVault, _ := vault.FromEnv(dataTestEnv(map[string]string{vault.EnvMasterKey: newKey}))
	if got, ok, err := store.New(pool, newVault, nil).APIKey(ctx, "1002", "openrouter"); err != nil || !ok || got != "sk-or-v1-1002-abcdefabcdefabcdef" {
		t.Fatalf("after rotation: %q %v %v", got, ok, err)
	}

	// A third key that never sealed anything: every row fails, clearly.
	out.Reset()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	err = keys(ctx, []string{"rotate"}, dataTestEnv(map[string]string{"DATABASE_URL": dsn, vault.EnvMasterKey: base64.StdEncoding.EncodeToString(k)}), &out, &errOut)
	if !errors.Is(err, store.ErrRotationIncomplete) || !strings.Contains(out.String(), "failed 3") {
		t.Fatalf("wrong key: %v / %s", err, out.String())
	}

	// No master key: refuse before touching anything.
	err = keys(ctx, []string{"rotate"}, dataTestEnv(map[string]string{"DATABASE_URL": dsn}), &out, &errOut)
	if !errors.Is(err, vault.ErrNoMasterKey) {
		t.Fatalf("no master key: %v", err)
	}
	if err := keys(ctx, []string{"spin"}, env, &out, &errOut); !errors.Is(err, errUsage) {
		t.Fatalf("unknown command: %v", err)
	}
}
