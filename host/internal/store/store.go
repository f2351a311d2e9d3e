// Package store is the host's one door to PostgreSQL: typed queries generated
// by sqlc (package query, from schema/queries) wrapped in methods that speak
// the host's nouns and turn constraint violations into clear, errors.Is-able
// errors. Secrets pass through the vault on their way in and out; plaintext is
// never cached.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	_ "time/tzdata" // time zones work even on hosts without /usr/share/zoneinfo

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/store/query"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// Store wraps a pool, the generated queries and the vault.
type Store struct {
	pool   *pgxpool.Pool
	q      *query.Queries
	vault  *vault.Vault
	logger *slog.Logger

	// zones caches *time.Location by name: LoadLocation parses tzdata on
	// every call, and a reply needs the user's zone.
	zones sync.Map

	// cache is nil unless EnableCache was called (cached.go).
	cache *caches
	// alsoTell hears of the store's own writes too (AlsoTell).
	alsoTell []cache.Subscriber
}

// New returns a Store. v may be nil for tools that never touch secrets (an
// importer); every method that seals or opens a secret then fails with
// ErrNoVault instead of storing anything unprotected.
func New(pool *pgxpool.Pool, v *vault.Vault, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, q: query.New(), vault: v, logger: logger.With("component", "store")}
}

// Pool returns the pool, for callers that need a transaction across store
// methods and their own statements.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// ---- users ----------------------------------------------------------------

// User is a Discord user as the host knows them.
type User struct {
	ID        int64
	DiscordID string
	// Timezone is an IANA name; Location is it loaded.
	Timezone string
	Location *time.Location
	// Preferences; nil means "not set, use the default".
	VoiceEnabled  *bool
	ShowReasoning *bool
	CreatedAt     time.Time
}

// UserByDiscordID returns the user with this Discord id, creating them on
// first contact. It is one statement and writes nothing for a known user.
func (s *Store) UserByDiscordID(ctx context.Context, discordID string) (User, error) {
	if err := checkSnowflake("Discord user id", discordID); err != nil {
		return User{}, err
	}
	if s.cache == nil {
		return s.loadUser(ctx, discordID)
	}
	if u, ok := s.cache.users.Get(discordID); ok {
		return u, nil
	}
	t := s.cache.users.Begin()
	u, err := s.loadUser(ctx, discordID)
	if err == nil {
		s.cache.users.Put(t, discordID, u.ID, u)
	}
	return u, err
}

// loadUser is UserByDiscordID from the database.
func (s *Store) loadUser(ctx context.Context, discordID string) (User, error) {
	row, err := s.q.UpsertUser(ctx, s.pool, discordID)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another process inserted the user after this statement's snapshot:
		// the row is committed now, so a second read finds it.
		row, err = s.q.UpsertUser(ctx, s.pool, discordID)
	}
	if err != nil {
		return User{}, fmt.Errorf("load user: %w", mapError(err))
	}
	loc, err := s.location(row.Timezone)
	if err != nil {
		// A zone that this build's tzdata lacks must not stop replies.
		s.logger.Warn("stored time zone not loadable, using UTC", "user_id", row.ID, "timezone", row.Timezone)
		loc = time.UTC
	}
	return User{
		ID:            row.ID,
		DiscordID:     row.DiscordID,
		Timezone:      row.Timezone,
		Location:      loc,
		VoiceEnabled:  row.PrefVoiceEnabled,
		ShowReasoning: row.PrefShowReasoning,
		CreatedAt:     row.CreatedAt,
	}, nil
}

// SetTimezone validates name as an IANA time zone and stores it for the
// user (creating the user if needed). Invalid names change nothing.
func (s *Store) SetTimezone(ctx context.Context, discordID, name string) error {
	if err := checkSnowflake("Discord user id", discordID); err != nil {
		return err
	}
	if _, err := s.location(name); err != nil {
		return err
	}
	id, err := s.q.SetUserTimezone(ctx, s.pool, query.SetUserTimezoneParams{DiscordID: discordID, Timezone: name})
	if err != nil {
		return fmt.Errorf("set time zone: %w", mapError(err))
	}
	s.changed(cache.KindUser, id)
	return nil
}

// location loads an IANA zone, refusing the names LoadLocation accepts but
// that are not zones ("" and "Local" mean the server's zone).
func (s *Store) location(name string) (*time.Location, error) {
	if v, ok := s.zones.Load(name); ok {
		return v.(*time.Location), nil
	}
	if name == "" || name == "Local" || len(name) > 64 {
		return nil, &InvalidTimezoneError{Name: name}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, &InvalidTimezoneError{Name: name}
	}
	s.zones.Store(name, loc)
	return loc, nil
}

// SetVoicePreference sets (or with nil clears) the user's voice override.
func (s *Store) SetVoicePreference(ctx context.Context, userID int64, enabled *bool) error {
	if err := s.q.SetVoicePreference(ctx, s.pool, query.SetVoicePreferenceParams{UserID: userID, VoiceEnabled: enabled}); err != nil {
		return fmt.Errorf("set voice preference: %w", mapError(err))
	}
	s.changed(cache.KindUser, userID)
	return nil
}

// SetShowReasoningPreference sets (or with nil clears) whether the user wants
// to be offered the model's reasoning.
func (s *Store) SetShowReasoningPreference(ctx context.Context, userID int64, show *bool) error {
	if err := s.q.SetShowReasoningPreference(ctx, s.pool, query.SetShowReasoningPreferenceParams{UserID: userID, ShowReasoning: show}); err != nil {
		return fmt.Errorf("set reasoning preference: %w", mapError(err))
	}
	s.changed(cache.KindUser, userID)
	return nil
}

// DeleteUser deletes the user and everything that belongs to them (keys,
// preferences, overrides, usage, reasoning, DM session). It reports whether
// the user existed.
func (s *Store) DeleteUser(ctx context.Context, discordID string) (bool, error) {
	n, err := s.q.DeleteUser(ctx, s.pool, discordID)
	if err != nil {
		return false, fmt.Errorf("delete user: %w", mapError(err))
	}
	if id, ok := s.cachedUserID(discordID); ok {
		s.changed(cache.KindUser, id)
		s.changed(cache.KindKeys, id)
	} else {
		s.changedAll(cache.KindUser, cache.KindKeys)
	}
	return n > 0, nil
}
