package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// doctorSetup is a machine set up right: a migrated database, a fake
// Discord that knows the token, a plugins.toml with one chat plugin whose
// only host is a loopback name.
type doctorSetup struct {
	fake    *discordfake.Server
	env     map[string]string
	dir     string
	wasm    string
	channel discordfake.Channel
}

func newDoctorSetup(t *testing.T) *doctorSetup {
	t.Helper()
	s := &doctorSetup{fake: discordfake.New(t), dir: t.TempDir()}
	s.channel = s.fake.AddTextChannel("800000000000000001")
	s.wasm = filepath.Join(s.dir, "echo.wasm")
	if err := plugintest.BuildTo("../../internal/plugin/testdata/echo", s.wasm); err != nil {
		t.Fatal(err)
	}
	s.env = map[string]string{
		"DATABASE_URL":   pgtest.DSN(t),
		"DISCORD_TOKEN":  s.fake.Token,
		"APP_MASTER_KEY": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"TZUROT_PLUGINS": s.pluginsTOML(t, "", "localhost:443"),
	}
	return s
}

// pluginsTOML writes a plugins.toml granting the echo plugin llm.chat and
// host; sha, when set, is the hash it must have.
func (s *doctorSetup) pluginsTOML(t *testing.T, sha, host string) string {
	t.Helper()
	shaLine := ""
	if sha != "" {
		shaLine = fmt.Sprintf("sha256 = %q\n", sha)
	}
	toml := fmt.Sprintf(`
[runtime]
cache_dir = "cache"

[plugins.echo]
path = %q
%skey_slot = "echo"
raw_key = true
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
`, s.wasm, shaLine, host)
	path := filepath.Join(s.dir, "plugins.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *doctorSetup) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o := doctorOptions{getenv: dataTestEnv(s.env), stdout: &out, stderr: &errOut}
	if s.fake != nil {
		o.discordURL = s.fake.RESTURL()
	}
	err := doctorWith(context.Background(), args, o)
	return out.String(), err
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("doctor output lacks %q:\n%s", w, out)
		}
	}
}

// Everything right: every check ok, exit status 0.
func TestDoctorAllChecksPass(t *testing.T) {
	s := newDoctorSetup(t)
	out, err := s.run(t)
	if err != nil {
		t.Fatalf("doctor on a good setup: %v\n%s", err, out)
	}
	wantLines(t, out,
		"ok    env ", "ok    masterkey  32 bytes", "ok    database   PostgreSQL at 127.0.0.1:5432 answers, schema current",
		"ok    names", "ok    memory     memories are indexed by personality and word", "ok    pgvector   memory vector search is off (TZUROT_EMBED_PLUGIN is not set", "ok    plugins    echo: echo 1.0.0 (ABI v1), granted llm.chat, llm.validate_key",
		"ok    discord    token valid: bot Tzurot", "ok    discord    Message Content intent enabled",
		"ok    discord    Manage Webhooks in all 1 server(s)", "ok    dns        1 provider host name(s) resolve")
	if strings.Contains(out, "FAIL") || strings.Contains(out, s.fake.Token) || strings.Contains(out, s.env["APP_MASTER_KEY"]) {
		t.Errorf("a good setup shows a failure or a secret:\n%s", out)
	}
}

// Nothing configured: every missing setting in one run, with what to do
// next; the checks that need them are skipped, not failed again.
func TestDoctorListsEveryMissingSettingAtOnce(t *testing.T) {
	s := &doctorSetup{env: map[string]string{"TZUROT_PLUGINS": filepath.Join(t.TempDir(), "none.toml")}}
	out, err := s.run(t, "env", "masterkey", "database", "discord")
	if err == nil || !strings.Contains(err.Error(), "3 problem") {
		t.Fatalf("doctor with nothing set: %v\n%s", err, out)
	}
	wantLines(t, out, "FAIL  env        DISCORD_TOKEN is not set", "FAIL  env        APP_MASTER_KEY is not set",
		"FAIL  env        DATABASE_URL is not set", "fix: copy the bot token from the Bot page", "tzurot init",
		"skip  masterkey", "skip  database", "skip  discord")
}

// Bad input, each with its own fix: an unreachable database, a revoked
// token (401 from Discord), a plugin whose file no longer matches its
// sha256, a bad master key, a server where the bot cannot manage webhooks,
// the Message Content intent off, and a provider name that does not
// resolve (a warning).
func TestDoctorReportsEachProblemWithAFix(t *testing.T) {
	s := newDoctorSetup(t)
	s.env["DATABASE_URL"] = "postgres://postgres:hunter2@127.0.0.1:1/tzurot?sslmode=disable"
	s.env["DISCORD_TOKEN"] = discordfake.TokenFor("999999999999999999") // reset since
	s.env["APP_MASTER_KEY"] = "too-short"
	other := sha256.Sum256([]byte("the file that was trusted"))
	s.env["TZUROT_PLUGINS"] = s.pluginsTOML(t, hex.EncodeToString(other[:]), "tzurot-doctor-test.invalid:443")

	out, err := s.run(t)
	if err == nil || !strings.Contains(err.Error(), "problem") {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	wantLines(t, out,
		"FAIL  masterkey  APP_MASTER_KEY is neither base64 nor 64 hex digits", "fix: generate one with `./bin/tzurot keys generate`",
		"FAIL  database   PostgreSQL at 127.0.0.1:1 does not answer", "fix: start PostgreSQL",
		"skip  names      needs the database", "skip  pgvector   needs the database",
		"FAIL  plugins    echo: refused: sha256 mismatch", "put its new hash in sha256 (`./bin/tzurot plugins check",
		"FAIL  plugins    no loaded plugin is granted llm.chat",
		"FAIL  discord    Discord refused the bot token (401 Unauthorized)", "press Reset Token",
		"WARN  dns        tzurot-doctor-test.invalid (plugin echo) does not resolve", "check this machine's DNS")
	if strings.Contains(out, "hunter2") || strings.Contains(out, s.env["DISCORD_TOKEN"]) {
		t.Errorf("doctor output shows a secret:\n%s", out)
	}

	// PostgreSQL answers, but the database was never created: serve or
	// migrate would create it, and doctor says so.
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/tzurot_doctor_never_created"
	s.env["DATABASE_URL"] = u.String()
	out, _ = s.run(t, "database")
	wantLines(t, out, `FAIL  database   PostgreSQL at 127.0.0.1:5432 answers, but the database "tzurot_doctor_never_created" does not exist yet`,
		"fix: run `./bin/tzurot migrate up`")

	// The token is right now, but the application and a server are not.
	s.env["DISCORD_TOKEN"] = s.fake.Token
	s.fake.SetApplicationFlags(0)
	s.fake.SetGuildPermissions("800000000000000002", 1<<10|1<<11) // view channels, send messages
	out, err = s.run(t, "discord")
	if err == nil {
		t.Fatalf("doctor discord: no error\n%s", out)
	}
	wantLines(t, out, "ok    discord    token valid", "FAIL  discord    the Message Content intent is off", "turn on Message Content Intent",
		"FAIL  discord    no Manage Webhooks in 1 of 2 server(s): Guild 800000000000000002 (800000000000000002)", "Manage Webhooks (Server Settings")
}

// A database that lost the memory word index, or retrieval's planner
// statistic, gets a warning with the way back.
func TestDoctorWarnsWithoutTheMemoryIndex(t *testing.T) {
	s := newDoctorSetup(t)
	pool := pgtest.Pool(t, s.env["DATABASE_URL"])
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `ALTER TABLE personality_memories ALTER COLUMN personality_id RESET (n_distinct)`); err != nil {
		t.Fatal(err)
	}
	out, err := s.run(t, "database", "memory")
	if err != nil {
		t.Fatalf("a warning is not a failure: %v\n%s", err, out)
	}
	wantLines(t, out, "WARN  memory     personality_memories.personality_id lost its planner statistic", "SET (n_distinct = 1000)")

	// What an interrupted REINDEX CONCURRENTLY leaves behind.
	if _, err := pool.Exec(ctx, `UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'personality_memories_keys_idx'::regclass`); err != nil {
		t.Fatal(err)
	}
	out, err = s.run(t, "database", "memory")
	if err != nil {
		t.Fatalf("a warning is not a failure: %v\n%s", err, out)
	}
	wantLines(t, out, "WARN  memory     the memory word index personality_memories_keys_idx is invalid", "REINDEX INDEX personality_memories_keys_idx")

	if _, err := pool.Exec(ctx, `DROP INDEX personality_memories_keys_idx`); err != nil {
		t.Fatal(err)
	}
	out, err = s.run(t, "database", "memory")
	if err != nil {
		t.Fatalf("a warning is not a failure: %v\n%s", err, out)
	}
	wantLines(t, out, "WARN  memory     memories have no word index", "tzurot migrate down -to 18 -yes")
}
