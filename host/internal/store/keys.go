package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/store/query"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// Tables whose rows carry sealed values; the names are part of each value's
// associated data, so they must never change.
const (
	apiKeysTable  = "user_api_keys"
	webhooksTable = "channel_webhooks"
)

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,39}$`)

// MaxAPIKeyLength bounds what a user can paste as a key.
const MaxAPIKeyLength = 1024

// apiKeyAAD binds a sealed API key to its row: the internal user id and the
// provider. A ciphertext copied to another user or provider fails to open.
func apiKeyAAD(userID int64, provider string) []byte {
	return vault.RowAAD(apiKeysTable, strconv.FormatInt(userID, 10), provider)
}

// SetAPIKey stores the user's key for provider, sealed by the vault, with a
// masked hint for display. Setting a key again replaces it and clears its
// validation. The plaintext is never logged nor returned in errors.
func (s *Store) SetAPIKey(ctx context.Context, discordUserID, provider, plaintext string) error {
	if s.vault == nil {
		return ErrNoVault
	}
	if !providerName.MatchString(provider) {
		return fmt.Errorf("%w: %q is not a provider name (lowercase letters, digits, '.', '_' or '-')", ErrInvalidInput, provider)
	}
	key := strings.TrimSpace(plaintext)
	if key == "" {
		return fmt.Errorf("%w: the API key is empty", ErrInvalidInput)
	}
	if len(key) > MaxAPIKeyLength || strings.ContainsAny(key, " \t\r\n") {
		return fmt.Errorf("%w: that does not look like an API key (too long or contains spaces)", ErrInvalidInput)
	}
	u, err := s.UserByDiscordID(ctx, discordUserID)
	if err != nil {
		return err
	}
	sealed, err := s.vault.Seal([]byte(key), apiKeyAAD(u.ID, provider))
	if err != nil {
		return fmt.Errorf("seal api key: %w", err)
	}
	err = s.q.UpsertAPIKey(ctx, s.pool, query.UpsertAPIKeyParams{
		UserID: u.ID, Provider: provider, Nonce: sealed.Nonce, Ciphertext: sealed.Ciphertext,
		KeyVersion: sealed.KeyVersion, Hint: vault.Mask(key),
	})
	if err != nil {
		return fmt.Errorf("store api key: %w", mapError(err))
	}
	s.changed(cache.KindKeys, u.ID)
	return nil
}

// APIKey returns the user's key for slot (a provider name), opened at the
// moment of the call; ok is false when the user has none. The plaintext is
// never cached: with the store's cache on, only the sealed key is kept in
// memory (and dropped when the key changes in any process), and the vault
// opens it on every call. last_used_at is stamped at most once a minute
// per key (by the read, or with the next batch of reply records when the
// key came from the cache). It implements plugin.KeySource.
func (s *Store) APIKey(ctx context.Context, userID, slot string) (string, bool, error) {
	if s.vault == nil {
		return "", false, ErrNoVault
	}
	if !snowflake.MatchString(userID) || !providerName.MatchString(slot) {
		return "", false, nil
	}
	sk, internalID, err := s.sealedAPIKey(ctx, userID, slot)
	if err != nil || !sk.ok {
		return "", false, err
	}
	plain, err := s.vault.Open(vault.Sealed{Nonce: sk.nonce, Ciphertext: sk.ciphertext, KeyVersion: sk.keyVersion},
		apiKeyAAD(internalID, slot))
	if err != nil {
		return "", false, fmt.Errorf("open %s api key of user %d: %w", slot, internalID, err)
	}
	return string(plain), true, nil
}

// sealedAPIKey reads the sealed key (from the cache when it can) and the
// user's internal id (0 when neither the cache nor a key row knew it).
func (s *Store) sealedAPIKey(ctx context.Context, discordID, slot string) (sealedKey, int64, error) {
	uid, known := s.cachedUserID(discordID)
	if known {
		k := keyKey{uid, slot}
		if sk, ok := s.cache.keys.Get(k); ok {
			if sk.ok {
				s.cache.stamper.used(k, time.Now(), false)
			}
			return sk, uid, nil
		}
	}
	var t cache.Token
	if s.cache != nil {
		t = s.cache.keys.Begin()
	}
	row, err := s.q.APIKeyForUse(ctx, s.pool, query.APIKeyForUseParams{DiscordID: discordID, Provider: slot})
	if errors.Is(err, pgx.ErrNoRows) {
		if known {
			// No key: remembered too, so a user served by the fallback key
			// costs no read either. Setting a key drops it.
			s.cache.keys.Put(t, keyKey{uid, slot}, uid, sealedKey{})
		}
		return sealedKey{}, uid, nil
	}
	if err != nil {
		return sealedKey{}, 0, fmt.Errorf("load api key: %w", mapError(err))
	}
	sk := sealedKey{ok: true, nonce: row.Nonce, ciphertext: row.Ciphertext, keyVersion: row.KeyVersion}
	if s.cache != nil {
		k := keyKey{row.UserID, slot}
		s.cache.keys.Put(t, k, row.UserID, sk)
		s.cache.stamper.used(k, time.Now(), true)
	}
	return sk, row.UserID, nil
}

// APIKeyInfo describes a stored key without revealing it.
type APIKeyInfo struct {
	Provider    string
	Hint        string
	ValidatedAt *time.Time
	LastUsedAt  *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ListAPIKeys lists the user's keys (hints only, never plaintext).
func (s *Store) ListAPIKeys(ctx context.Context, discordUserID string) ([]APIKeyInfo, error) {
	rows, err := s.q.ListAPIKeys(ctx, s.pool, discordUserID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", mapError(err))
	}
	out := make([]APIKeyInfo, len(rows))
	for i, r := range rows {
		out[i] = APIKeyInfo{Provider: r.Provider, Hint: r.Hint, ValidatedAt: r.ValidatedAt,
			LastUsedAt: r.LastUsedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

// RemoveAPIKey deletes the user's key for provider and reports whether there
// was one.
func (s *Store) RemoveAPIKey(ctx context.Context, discordUserID, provider string) (bool, error) {
	n, err := s.q.DeleteAPIKey(ctx, s.pool, query.DeleteAPIKeyParams{DiscordID: discordUserID, Provider: provider})
	if err != nil {
		return false, fmt.Errorf("remove api key: %w", mapError(err))
	}
	if id, ok := s.cachedUserID(discordUserID); ok {
		s.changed(cache.KindKeys, id)
	} else {
		s.changedAll(cache.KindKeys)
	}
	return n > 0, nil
}

// MarkValidated records that the provider accepted the user's key just now.
func (s *Store) MarkValidated(ctx context.Context, discordUserID, provider string) error {
	n, err := s.q.MarkAPIKeyValidated(ctx, s.pool, query.MarkAPIKeyValidatedParams{DiscordID: discordUserID, Provider: provider})
	if err != nil {
		return fmt.Errorf("mark api key validated: %w", mapError(err))
	}
	if n == 0 {
		return fmt.Errorf("no %s key stored for this user: %w", provider, ErrNotFound)
	}
	return nil
}
