package commands_test

import (
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/commands"
)

func TestSettingsFromEnv(t *testing.T) {
	env := map[string]string{
		commands.EnvOwnerIDs:   " 111111111111111111, 222222222222222222 333333333333333333 ",
		commands.EnvDevGuildID: "444444444444444444",
	}
	s, err := commands.SettingsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.OwnerIDs, ",") != "111111111111111111,222222222222222222,333333333333333333" || s.DevGuildID.String() != "444444444444444444" {
		t.Fatalf("settings = %+v", s)
	}

	none, err := commands.SettingsFromEnv(func(string) string { return "" })
	if err != nil || len(none.OwnerIDs) != 0 || none.DevGuildID != 0 {
		t.Fatalf("empty environment: %+v, %v", none, err)
	}

	for k, v := range map[string]string{commands.EnvOwnerIDs: "111, @me", commands.EnvDevGuildID: "my-server"} {
		_, err := commands.SettingsFromEnv(func(name string) string {
			if name == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: error %v should name the variable", k, v, err)
		}
	}
}
