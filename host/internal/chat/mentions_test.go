package chat

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/logtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
)

// clashingSource lists two spellings that the index reads alike for two
// personalities (what would happen if the index and the database ever
// normalised differently).
type clashingSource struct{ version string }

func (c *clashingSource) MentionNames(context.Context) ([]store.MentionName, error) {
	return []store.MentionName{{Name: "nyx", PersonalityID: 1}, {Name: "NYX", PersonalityID: 2}, {Name: "impostor", PersonalityID: 2}}, nil
}

func (c *clashingSource) MentionNamesVersion(context.Context) (string, error) { return c.version, nil }

// A clash in the mention index is an error logged once with both
// personality ids, however often the index reloads, and the first holder
// keeps the name: a later entry never silently wins.
func TestMentionIndexClashIsLoggedOnceAndTheFirstHolderAnswers(t *testing.T) {
	logs := &logtest.Buffer{}
	src := &clashingSource{version: "1"}
	m := &mentions{src: src, index: trigger.NewAliasIndex(), log: slog.New(slog.NewTextHandler(logs, nil)), retry: RetryPolicy{}}
	for i, v := range []string{"1", "2", "3"} {
		src.version = v
		if err := m.refresh(context.Background(), i == 0); err != nil {
			t.Fatal(err)
		}
	}
	if pid, ok := m.index.Lookup("@Nyx"); !ok || pid != 1 {
		t.Fatalf("@Nyx calls %d, want 1 (the first holder)", pid)
	}
	lines := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "claimed by two personalities") {
			lines++
			if !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "holder_personality_id=1") || !strings.Contains(l, "refused_personality_id=2") || !strings.Contains(l, "name=nyx") {
				t.Errorf("clash log line lacks the level, name or ids: %s", l)
			}
		}
	}
	if lines != 1 {
		t.Fatalf("the clash was logged %d times over three reloads, want once:\n%s", lines, logs.String())
	}
}
