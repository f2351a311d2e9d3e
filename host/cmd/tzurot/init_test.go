package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// readEnvFile parses KEY=value lines as make run's `. ./.env` would.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	return vars
}

// tzurot init writes a .env with a usable master key and placeholders that
// doctor (and serve) name as missing, private to the user; a second run
// never overwrites it.
func TestInitWritesEnvOnceAndNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	var out, errOut bytes.Buffer
	if err := initEnv([]string{"--file", path}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "make doctor") || !strings.Contains(out.String(), "DISCORD_TOKEN") {
		t.Errorf("init does not say what to do next:\n%s", out.String())
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf(".env mode %v, %v; want 0600", st.Mode(), err)
	}
	vars := readEnvFile(t, path)
	key, err := vault.ParseMasterKey(vault.EnvMasterKey, vars["APP_MASTER_KEY"])
	if err != nil || len(key) != vault.KeySize {
		t.Fatalf("APP_MASTER_KEY %q: %v", vars["APP_MASTER_KEY"], err)
	}
	missing := app.MissingSettings(func(k string) string { return vars[k] })
	if len(missing) != 1 || missing[0].Name != "DISCORD_TOKEN" {
		t.Fatalf("after init, missing %+v; want only DISCORD_TOKEN", missing)
	}

	// Filled in by hand, then init again: refused, the file untouched.
	edited := strings.Replace(mustRead(t, path), "DISCORD_TOKEN=", "DISCORD_TOKEN=mine", 1)
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	err = initEnv([]string{"--file", path}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "already exists and was left as it is") {
		t.Fatalf("second init: %v", err)
	}
	if got := mustRead(t, path); got != edited {
		t.Fatal("a second init changed the existing .env")
	}
	// Two runs make two different keys.
	other := filepath.Join(t.TempDir(), ".env")
	if err := initEnv([]string{"--file", other}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if readEnvFile(t, other)["APP_MASTER_KEY"] == vars["APP_MASTER_KEY"] {
		t.Fatal("init wrote the same master key twice")
	}
	if _, err := base64.StdEncoding.DecodeString(vars["APP_MASTER_KEY"]); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tzurot version names the module version, the commit and the ABI.
func TestVersionPrintsCommitAndABI(t *testing.T) {
	var out bytes.Buffer
	printVersion(&out, &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tzurot-go/tzurot", Version: "v0.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}})
	for _, want := range []string{"tzurot     v0.4.0", "commit     0123abcd (with uncommitted changes)", "go         go1.26.8", "plugin ABI v1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	printVersion(&out, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}})
	if !strings.Contains(out.String(), "commit     (not recorded") {
		t.Errorf("version without VCS stamping:\n%s", out.String())
	}
}
