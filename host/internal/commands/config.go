package commands

import (
	"fmt"
	"strings"

	"github.com/disgoorg/snowflake/v2"
)

// Environment variables the commands read (through Settings).
const (
	// EnvOwnerIDs lists the bot owners' Discord user ids, separated by
	// commas or spaces.
	EnvOwnerIDs = "TZUROT_OWNER_IDS"
	// EnvDevGuildID, when set, registers the commands in that one server
	// instead of globally: guild commands update at once, which is what you
	// want while developing.
	EnvDevGuildID = "TZUROT_DEV_GUILD_ID"
)

// Settings are the commands' settings from the environment.
type Settings struct {
	OwnerIDs   []string
	DevGuildID snowflake.ID // 0: register globally
}

// SettingsFromEnv reads TZUROT_OWNER_IDS and TZUROT_DEV_GUILD_ID; getenv is
// os.Getenv in production. A malformed id is an error naming the variable,
// so a typo cannot silently leave the bot without owners.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	var s Settings
	for _, id := range strings.FieldsFunc(getenv(EnvOwnerIDs), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if _, err := snowflake.Parse(id); err != nil {
			return Settings{}, fmt.Errorf("%s: %q is not a Discord user id (enable Developer Mode, right-click your name, Copy User ID)", EnvOwnerIDs, id)
		}
		s.OwnerIDs = append(s.OwnerIDs, id)
	}
	if g := strings.TrimSpace(getenv(EnvDevGuildID)); g != "" {
		id, err := snowflake.Parse(g)
		if err != nil || id == 0 {
			return Settings{}, fmt.Errorf("%s: %q is not a Discord server id (right-click the server icon, Copy Server ID)", EnvDevGuildID, g)
		}
		s.DevGuildID = id
	}
	return s, nil
}
