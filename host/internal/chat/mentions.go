package chat

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
)

// MentionSource lists the names that mention personalities; *store.Store
// implements it.
type MentionSource interface {
	MentionNames(ctx context.Context) ([]store.MentionName, error)
	MentionNamesVersion(ctx context.Context) (string, error)
}

// mentions keeps the trigger's alias index in step with the database: loaded
// whole at start, reloaded when this process changes a name or alias
// (Refresh), and when another process did (a cheap fingerprint query,
// polled).
type mentions struct {
	src   MentionSource
	index *trigger.AliasIndex
	log   *slog.Logger
	retry RetryPolicy

	mu      sync.Mutex // one reload at a time
	version string
	// logged holds the name clashes already logged, so each is logged once
	// however often the index reloads.
	logged map[trigger.ConflictError]bool
}

// refresh reloads the index if the fingerprint changed (or always, when
// force is set).
func (m *mentions) refresh(ctx context.Context, force bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := retry2(ctx, m.retry, m.src.MentionNamesVersion)
	if err != nil {
		return err
	}
	if !force && v == m.version {
		return nil
	}
	names, err := retry2(ctx, m.retry, m.src.MentionNames)
	if err != nil {
		return err
	}
	all := make([]trigger.Alias, 0, len(names))
	skipped := 0
	for _, n := range names {
		if n.Name == "" || n.PersonalityID == 0 || utf8.RuneCountInString(n.Name) > trigger.MaxAliasRunes {
			skipped++
			continue
		}
		all = append(all, trigger.Alias{Name: n.Name, PersonalityID: n.PersonalityID})
	}
	conflicts, err := m.index.Replace(all)
	if err != nil {
		return fmt.Errorf("load the mention index: %w", err)
	}
	m.logConflicts(conflicts)
	m.version = v
	m.log.Debug("mention index loaded", slog.Int("names", m.index.Len()), slog.Int("skipped", skipped))
	return nil
}

// logConflicts logs each name two personalities claim, once. The database
// allows one holder per name, so a clash means the index reads a name
// differently from the database (see trigger.Key); the first holder keeps
// the name, the other is not called by it.
func (m *mentions) logConflicts(conflicts []trigger.ConflictError) {
	for _, c := range conflicts {
		if m.logged[c] {
			continue
		}
		if m.logged == nil {
			m.logged = map[trigger.ConflictError]bool{}
		}
		m.logged[c] = true
		m.log.Error("mention index: a name is claimed by two personalities; the first keeps it (run `tzurot doctor names`)",
			slog.String("name", c.Name), slog.Int64("holder_personality_id", c.HolderID), slog.Int64("refused_personality_id", c.ClaimantID))
	}
}

// poll refreshes every interval until ctx ends.
func (m *mentions) poll(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.refresh(ctx, false); err != nil && ctx.Err() == nil {
			m.log.Warn("cannot refresh the mention index; keeping the current one", slog.Any("err", err))
		}
	}
}
