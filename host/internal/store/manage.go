package store

// Methods for the slash commands (package commands): editing a personality,
// finding the personalities a user may manage, the daily usage series behind
// /usage's chart and the top users behind /admin usage.
//
// These statements are plain SQL on the pool rather than sqlc queries: each
// is used by one command, and keeping them next to their Go types makes the
// dynamic parts (the optional fields of an edit) easier to read.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
)

// Birthday is a personality's birthday; Year is 0 when unknown.
type Birthday struct {
	Month, Day, Year int
}

// PersonalityPatch lists the fields an edit changes; nil leaves a field as
// it is.
type PersonalityPatch struct {
	Name         *string
	DisplayName  *string
	SystemPrompt *string
	AvatarURL    *string
	IsPublic     *bool
	// ErrorMessage: a pointer to "" resets it to the host's generic message.
	ErrorMessage *string
	// Birthday: a pointer to the zero Birthday clears it.
	Birthday *Birthday
	// StreamReplies: a pointer to StreamDefault clears the personality's
	// choice (the deployment's default applies), StreamOn/StreamOff set it.
	StreamReplies *StreamChoice
}

// StreamChoice is a personality's choice about streamed replies
// (personalities.stream_replies).
type StreamChoice int

// The three choices: the deployment's default (NULL), on, off.
const (
	StreamDefault StreamChoice = iota
	StreamOn
	StreamOff
)

// Empty reports whether the patch changes nothing.
func (p PersonalityPatch) Empty() bool {
	return p.Name == nil && p.DisplayName == nil && p.SystemPrompt == nil && p.AvatarURL == nil &&
		p.IsPublic == nil && p.ErrorMessage == nil && p.Birthday == nil && p.StreamReplies == nil
}

// UpdatePersonality applies patch to the personality in one statement, so
// either every field changes or (on a rule the database refuses) none does.
func (s *Store) UpdatePersonality(ctx context.Context, id int64, patch PersonalityPatch) error {
	if patch.Empty() {
		return nil
	}
	var (
		sets []string
		args = []any{id}
	)
	set := func(column string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", column, len(args)))
	}
	if patch.Name != nil {
		set("name", strings.TrimSpace(*patch.Name))
	}
	if patch.DisplayName != nil {
		set("display_name", strings.TrimSpace(*patch.DisplayName))
	}
	if patch.SystemPrompt != nil {
		set("system_prompt", *patch.SystemPrompt)
	}
	if patch.AvatarURL != nil {
		set("avatar_url", *patch.AvatarURL)
	}
	if patch.IsPublic != nil {
		set("is_public", *patch.IsPublic)
	}
	if c := patch.StreamReplies; c != nil {
		var v *bool // NULL: the deployment's default
		if *c != StreamDefault {
			on := *c == StreamOn
			v = &on
		}
		set("stream_replies", v)
	}
	if patch.ErrorMessage != nil {
		var msg *string
		if *patch.ErrorMessage != "" {
			msg = patch.ErrorMessage
		}
		set("error_message", msg)
	}
	if b := patch.Birthday; b != nil {
		var month, day, year *int16
		if b.Month != 0 {
			m, d := int16(b.Month), int16(b.Day)
			month, day = &m, &d
		}
		if b.Year != 0 {
			y := int16(b.Year)
			year = &y
		}
		set("birth_month", month)
		set("birth_day", day)
		set("birth_year", year)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE personalities SET "+strings.Join(sets, ", ")+" WHERE id = $1", args...)
	if err != nil {
		return s.withHolder(ctx, fmt.Errorf("update personality %d: %w", id, mapError(err)))
	}
	s.changed(cache.KindPersonality, id)
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("personality %d: %w", id, ErrPersonalityAbsent)
	}
	return nil
}

// ManageablePersonalities lists up to limit personalities whose slug, name
// or alias contains search (case-insensitive), owned by ownerUserID, or
// every personality when ownerUserID is 0 (a bot owner). For autocomplete.
func (s *Store) ManageablePersonalities(ctx context.Context, ownerUserID int64, search string, limit int) ([]PersonalitySummary, error) {
	rows, err := s.pool.Query(ctx, `
SELECT p.id, p.slug, p.name, p.display_name, p.avatar_url, p.is_public, p.owner_user_id
FROM personalities p
WHERE ($1::bigint IS NULL OR p.owner_user_id = $1)
  AND ($2 = '' OR strpos(lower(p.slug), lower($2)) > 0 OR strpos(lower(p.name), lower($2)) > 0
       OR EXISTS (SELECT 1 FROM personality_aliases a WHERE a.personality_id = p.id AND strpos(lower(a.alias), lower($2)) > 0))
ORDER BY starts_with(lower(p.slug), lower($2)) DESC, p.slug
LIMIT $3`, optionalID(ownerUserID), search, limit)
	if err != nil {
		return nil, fmt.Errorf("search personalities: %w", mapError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PersonalitySummary])
	if err != nil {
		return nil, fmt.Errorf("search personalities: %w", mapError(err))
	}
	return out, nil
}

// NameHolder returns the personality other than exceptID whose name equals
// name regardless of case: a personality's name is matched like an alias,
// so an alias must not take another personality's name.
func (s *Store) NameHolder(ctx context.Context, name string, exceptID int64) (PersonalitySummary, bool, error) {
	rows, err := s.pool.Query(ctx, `
SELECT id, slug, name, display_name, avatar_url, is_public, owner_user_id
FROM personalities WHERE lower(name) = lower($1) AND id <> $2 ORDER BY id LIMIT 1`, strings.TrimSpace(name), exceptID)
	if err != nil {
		return PersonalitySummary{}, false, fmt.Errorf("find name holder: %w", mapError(err))
	}
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[PersonalitySummary])
	if errors.Is(err, pgx.ErrNoRows) {
		return PersonalitySummary{}, false, nil
	}
	if err != nil {
		return PersonalitySummary{}, false, fmt.Errorf("find name holder: %w", mapError(err))
	}
	return p, true, nil
}

// DailyUsage is one day's usage of one provider.
type DailyUsage struct {
	// Day is midnight of the day in the zone asked for.
	Day          time.Time
	Provider     string
	Requests     int64
	InputTokens  int64
	OutputTokens int64
}

// UsageByDay returns usage since a time, per day (in loc) and provider,
// oldest first: the user's own when userID is not 0, else everyone's.
func (s *Store) UsageByDay(ctx context.Context, userID int64, since time.Time, loc *time.Location) ([]DailyUsage, error) {
	if loc == nil {
		loc = time.UTC
	}
	rows, err := s.pool.Query(ctx, `
SELECT (date_trunc('day', created_at AT TIME ZONE $3))::text AS day, provider,
       count(*)::bigint, COALESCE(sum(input_tokens), 0)::bigint, COALESCE(sum(output_tokens), 0)::bigint
FROM usage_logs
WHERE ($1::bigint IS NULL OR user_id = $1) AND created_at >= $2
GROUP BY 1, 2
ORDER BY 1, 2`, optionalID(userID), since, loc.String())
	if err != nil {
		return nil, fmt.Errorf("usage by day: %w", mapError(err))
	}
	defer rows.Close()
	var out []DailyUsage
	for rows.Next() {
		var (
			day string
			d   DailyUsage
		)
		if err := rows.Scan(&day, &d.Provider, &d.Requests, &d.InputTokens, &d.OutputTokens); err != nil {
			return nil, fmt.Errorf("usage by day: %w", err)
		}
		t, err := time.ParseInLocation("2006-01-02 15:04:05", day, loc)
		if err != nil {
			return nil, fmt.Errorf("usage by day: day %q: %w", day, err)
		}
		d.Day = t
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage by day: %w", mapError(err))
	}
	return out, nil
}

// UserUsage is one user's usage total.
type UserUsage struct {
	DiscordID    string
	Requests     int64
	InputTokens  int64
	OutputTokens int64
}

// TopUsers returns the users with the most tokens since a time.
func (s *Store) TopUsers(ctx context.Context, since time.Time, limit int) ([]UserUsage, error) {
	rows, err := s.pool.Query(ctx, `
SELECT u.discord_id, count(*)::bigint, COALESCE(sum(l.input_tokens), 0)::bigint, COALESCE(sum(l.output_tokens), 0)::bigint
FROM usage_logs l JOIN users u ON u.id = l.user_id
WHERE l.created_at >= $1
GROUP BY u.discord_id
ORDER BY sum(l.input_tokens + l.output_tokens) DESC, count(*) DESC, u.discord_id
LIMIT $2`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("top users: %w", mapError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[UserUsage])
	if err != nil {
		return nil, fmt.Errorf("top users: %w", mapError(err))
	}
	return out, nil
}

// UserID returns the internal id of a known Discord user without creating
// one (unlike UserByDiscordID), for permission checks that must not write.
func (s *Store) UserID(ctx context.Context, discordID string) (int64, bool, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM users WHERE discord_id = $1`, discordID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("find user: %w", mapError(err))
	}
	return id, true, nil
}

// AliasHolder returns the personality holding alias (any case).
func (s *Store) AliasHolder(ctx context.Context, alias string) (PersonalitySummary, bool, error) {
	h, err := s.q.AliasHolder(ctx, s.pool, strings.TrimSpace(alias))
	if errors.Is(err, pgx.ErrNoRows) {
		return PersonalitySummary{}, false, nil
	}
	if err != nil {
		return PersonalitySummary{}, false, fmt.Errorf("find alias holder: %w", mapError(err))
	}
	return PersonalitySummary{ID: h.ID, Slug: h.Slug, Name: h.Name}, true, nil
}
