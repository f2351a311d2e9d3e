package app

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tzurot-go/tzurot/host/internal/config"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// Missing is one required setting that is not set, with what fixes it.
type Missing struct {
	Name string
	// Err says it in words; it is the package's own sentinel where one
	// exists (vault.ErrNoMasterKey, config.ErrNoDatabaseURL).
	Err error
}

// ErrNoDiscordToken says how to fix a missing DISCORD_TOKEN.
var ErrNoDiscordToken = errors.New(EnvDiscordToken + " is not set: copy the bot token from the Bot page of your application at https://discord.com/developers/applications")

// MissingSettings lists every required setting that is not set, all at
// once, in the order a first run fills them in. `tzurot doctor` and
// serve's start both use it, so they say the same thing.
func MissingSettings(getenv func(string) string) []Missing {
	var out []Missing
	if strings.TrimSpace(getenv(EnvDiscordToken)) == "" {
		out = append(out, Missing{EnvDiscordToken, ErrNoDiscordToken})
	}
	if strings.TrimSpace(getenv(vault.EnvMasterKey)) == "" {
		out = append(out, Missing{vault.EnvMasterKey, vault.ErrNoMasterKey})
	}
	if _, err := config.DatabaseURL(getenv); err != nil {
		out = append(out, Missing{config.EnvDatabaseURL, err})
	}
	return out
}

// MissingError is serve's refusal to start without required settings: it
// lists them all and says what to do next.
type MissingError struct{ Missing []Missing }

// FirstRunHelp is what to do on a machine with nothing configured.
const FirstRunHelp = "To set up: run `./bin/tzurot init` (writes .env with a fresh master key), put the bot token in DISCORD_TOKEN there, " +
	"then `make doctor` checks everything; README.md \"Running the bot\" walks through it."

func (e *MissingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d required setting(s) missing:\n", len(e.Missing))
	for _, m := range e.Missing {
		fmt.Fprintf(&b, "  - %v\n", m.Err)
	}
	b.WriteString(FirstRunHelp)
	return b.String()
}

// Unwrap lets errors.Is find each setting's own sentinel.
func (e *MissingError) Unwrap() []error {
	out := make([]error, len(e.Missing))
	for i, m := range e.Missing {
		out[i] = m.Err
	}
	return out
}
