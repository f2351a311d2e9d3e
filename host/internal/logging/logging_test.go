package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tzurot-go/tzurot/host/internal/redact"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func noEnviron() []string { return nil }

func TestJSONWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	logger, err := New(&buf, Options{Getenv: env(nil), Environ: noEnviron})
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("bot ready", "guilds", 3)
	logger.Debug("not shown at the default level")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want one JSON line, got %q: %v", buf.String(), err)
	}
	if line["msg"] != "bot ready" || line["guilds"] != 3.0 || line["level"] != "INFO" {
		t.Errorf("line = %v", line)
	}
}

func TestLogFormatAndLevelFromEnvironment(t *testing.T) {
	var buf bytes.Buffer
	logger, err := New(&buf, Options{
		Getenv:  env(map[string]string{"LOG_FORMAT": "text", "LOG_LEVEL": "debug"}),
		Environ: func() []string { return []string{"DISCORD_TOKEN=a-discord-token-value"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("loading plugin", "name", "openrouter")
	out := buf.String()
	if !strings.Contains(out, "DBG log redaction ready masked_env_vars=DISCORD_TOKEN") || strings.Contains(out, "a-discord-token-value") {
		t.Errorf("want the masked variable named at debug level, never its value: %q", out)
	}
	if !strings.Contains(out, "DBG loading plugin name=openrouter") {
		t.Errorf("want a tint debug line, got %q", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colours written to a non-terminal: %q", out)
	}

	buf.Reset()
	logger, err = New(&buf, Options{Getenv: env(map[string]string{"LOG_FORMAT": "json", "LOG_LEVEL": "WARN"}), Environ: noEnviron})
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("hidden")
	logger.Warn("rate limited", "retry_after", "2s")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"rate limited"`) {
		t.Errorf("want only the warning, as JSON: %q", out)
	}
}

func TestBadLogSettingsAreRefusedClearly(t *testing.T) {
	for vars, want := range map[[2]string]string{
		{"LOG_LEVEL", "loud"}: `LOG_LEVEL="loud" is not a log level: use debug, info, warn or error`,
		{"LOG_FORMAT", "xml"}: `LOG_FORMAT="xml" is not a log format: use text or json`,
	} {
		_, err := New(&bytes.Buffer{}, Options{Getenv: env(map[string]string{vars[0]: vars[1]}), Environ: noEnviron})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: err = %v, want it to say %q", vars[0], vars[1], err, want)
		}
	}
}

// On a terminal the logger picks tint, in colour, unless NO_COLOR is set.
func TestTintInColourOnATerminal(t *testing.T) {
	for _, noColor := range []bool{false, true} {
		t.Run(fmt.Sprintf("NO_COLOR=%v", noColor), func(t *testing.T) {
			terminal, screen := openPTY(t)
			vars := map[string]string{}
			if noColor {
				vars["NO_COLOR"] = "1"
			}
			logger, err := New(terminal, Options{Getenv: env(vars), Environ: noEnviron})
			if err != nil {
				t.Fatal(err)
			}
			logger.Warn("provider slow", "err", fmt.Errorf("timeout after 30s"))
			line, err := bufio.NewReader(screen).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(line, "provider slow") || strings.HasPrefix(line, "{") {
				t.Errorf("want a tint line on the terminal, got %q", line)
			}
			if coloured := strings.Contains(line, "\x1b["); coloured == noColor {
				t.Errorf("colours = %v with NO_COLOR=%v: %q", coloured, noColor, line)
			}
		})
	}
}

// openPTY returns the two ends of a new pseudo-terminal: the one a program
// writes to (a terminal to term.IsTerminal) and the one a screen reads.
func openPTY(t *testing.T) (terminal, screen *os.File) {
	t.Helper()
	screen, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { screen.Close() })
	fd := int(screen.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pseudo-terminal: %v", err)
	}
	terminal, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the terminal side: %v", err)
	}
	t.Cleanup(func() { terminal.Close() })
	return terminal, screen
}

func TestEnvironmentCredentialsAreMaskedFromTheFirstLine(t *testing.T) {
	const (
		masterKey   = "q3Jx9vT2mW8pL5nR7kY4bH6cF1dG0sA2eZ8uI3oP5wE="
		discord     = "not-shaped-like-a-token-but-still-secret"
		dbPassword  = "p@ss word/9"
		fallbackKey = "fallback-4b1d9e77c2a0"
	)
	environ := []string{
		"APP_MASTER_KEY=" + masterKey,
		"APP_MASTER_KEY_PREVIOUS=old-master-key-material",
		"DISCORD_TOKEN=" + discord,
		"DATABASE_URL=postgres://tzurot:p%40ss%20word%2F9@db:5432/tzurot",
		"TZUROT_FALLBACK_KEY=" + fallbackKey,
		"REPLICA_DSN=host=replica user=ro password=replica-pass-123",
		"HOME=/home/tzurot",
		"MAX_TOKENS=4096",
		"PGPASSWORD=short",
	}
	var buf bytes.Buffer
	logger, err := New(&buf, Options{Getenv: env(nil), Environ: func() []string { return environ }})
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("config "+masterKey, "discord", discord, "db", "login failed for "+dbPassword,
		"fallback", fallbackKey, "old", "old-master-key-material", "replica", "replica-pass-123",
		"home", "/home/tzurot", "max_tokens", "4096")
	out := buf.String()
	for _, leak := range []string{masterKey, discord, dbPassword, "p%40ss%20word%2F9", fallbackKey, "old-master-key-material", "replica-pass-123"} {
		if strings.Contains(out, leak) {
			t.Errorf("output leaks %q: %s", leak, out)
		}
	}
	for _, kept := range []string{`"home":"/home/tzurot"`, `"max_tokens":"4096"`} {
		if !strings.Contains(out, kept) {
			t.Errorf("ordinary value lost, want %s in %s", kept, out)
		}
	}

	names := ObserveEnvironment(redact.NewSecrets(0), environ)
	want := []string{"APP_MASTER_KEY", "APP_MASTER_KEY_PREVIOUS", "DATABASE_URL", "DISCORD_TOKEN", "REPLICA_DSN", "TZUROT_FALLBACK_KEY"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("ObserveEnvironment names = %v, want %v (PGPASSWORD is too short to register)", names, want)
	}
}

// The vault reports each key it decrypts to the shared registry; from then
// on the logger masks it, whatever its shape.
func TestKeysObservedLaterAreMasked(t *testing.T) {
	secrets := redact.NewSecrets(0)
	var buf bytes.Buffer
	logger, err := New(&buf, Options{Getenv: env(nil), Environ: noEnviron, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	const userKey = "zai-7c0ffee1234abcd5678"
	secrets.Observe(userKey) // what the vault does on decrypt
	logger.Warn("provider rejected key " + userKey)
	if out := buf.String(); strings.Contains(out, userKey) || !strings.Contains(out, redact.Mask) {
		t.Errorf("decrypted key not masked: %s", out)
	}
}
