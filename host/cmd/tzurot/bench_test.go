package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

func TestBenchCommand(t *testing.T) {
	ctx := context.Background()
	var out, errOut bytes.Buffer
	// No database anywhere: a usage error that says how to give one.
	err := bench(ctx, []string{"-n", "5"}, dataTestEnv(nil), &out, &errOut)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "-database-url") {
		t.Fatalf("no database: %v", err)
	}
	err = bench(ctx, []string{"-n", "0", "-database-url", "postgres://x@127.0.0.1/db"}, dataTestEnv(nil), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Fatalf("-n 0: %v", err)
	}

	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	wasm := plugintest.Build(t, filepath.Join(root, "plugins", "openai"))
	out.Reset()
	err = bench(ctx, []string{"-n", "20", "-concurrency", "4", "-plugin", wasm, "-users", "3"},
		dataTestEnv(map[string]string{"DATABASE_URL": pgtest.DSN(t)}), &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"messages            20 (0 failed)", "replies/s", "host overhead       p50", "recorded            20 usage rows, 20 message ids"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
