package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tzurot-go/tzurot/host/internal/vault"
)

const initUsage = `usage: tzurot init [--file .env]

Writes a .env for a first run: a fresh APP_MASTER_KEY, the local database,
and placeholders for what only you can fill in (the bot token, your Discord
user id). Never overwrites an existing file. Then: put the bot token in it
and run make doctor.`

// envTemplate is the .env init writes; %s is the master key. Empty values
// are placeholders doctor lists as missing until they are filled in.
const envTemplate = `# Written by tzurot init. Never commit this file: it holds the bot token and
# the master key that unlocks every stored API key. Every variable is in
# docs/pipeline.md; README.md "Running the bot" walks through the setup.

# The bot token, from the Bot page of your application at
# https://discord.com/developers/applications (Reset Token). Required.
DISCORD_TOKEN=

# 32 random bytes made by tzurot init. Keep a copy somewhere safe: losing it
# makes every stored API key unreadable. Never change it by hand; rotate it
# with tzurot keys rotate (docs/schema.md).
APP_MASTER_KEY=%s

# PostgreSQL; created at start if the user may create databases.
DATABASE_URL=postgres://postgres@127.0.0.1:5432/tzurot?sslmode=disable

# Your Discord user id (comma-separate several): /admin and every personality.
TZUROT_OWNER_IDS=

# Optional: register slash commands in one server only while testing.
#TZUROT_DEV_GUILD_ID=
# Optional: serve /metrics, /healthz and /readyz (docs/operations.md).
#TZUROT_METRICS_ADDR=127.0.0.1:9090
`

// runInit implements `tzurot init`.
func runInit(_ context.Context, args []string) error {
	return initEnv(args, os.Stdout, os.Stderr)
}

func initEnv(args []string, stdout, stderr io.Writer) error {
	fls := flag.NewFlagSet("init", flag.ContinueOnError)
	fls.SetOutput(stderr)
	fls.Usage = func() { fmt.Fprintln(stderr, initUsage); fls.PrintDefaults() }
	path := fls.String("file", ".env", "the file to write")
	if err := fls.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fls.NArg() > 0 {
		return fmt.Errorf("%w: init takes no arguments", errUsage)
	}
	k := make([]byte, vault.KeySize)
	if _, err := rand.Read(k); err != nil {
		return fmt.Errorf("read random bytes: %w", err)
	}
	// O_EXCL: an existing .env (with a master key that may already seal
	// users' keys) is never replaced, not even by a race.
	f, err := os.OpenFile(*path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists and was left as it is (its APP_MASTER_KEY may already protect stored keys); "+
			"edit it, or move it away and run tzurot init again; `tzurot keys generate` prints a key alone", *path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", *path, err)
	}
	if _, err := fmt.Fprintf(f, envTemplate, base64.StdEncoding.EncodeToString(k)); err != nil {
		f.Close()
		os.Remove(*path)
		return fmt.Errorf("write %s: %w", *path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(*path)
		return fmt.Errorf("write %s: %w", *path, err)
	}
	fmt.Fprintf(stdout, "wrote %s (readable by you only) with a fresh APP_MASTER_KEY.\n"+
		"Next:\n  1. put the bot token in DISCORD_TOKEN there (and your Discord user id in TZUROT_OWNER_IDS)\n"+
		"  2. make doctor     (loads .env, checks everything and says what to fix)\n"+
		"  3. make run\n", *path)
	return nil
}
