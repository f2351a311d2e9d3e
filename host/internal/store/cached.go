package store

// The store's in-memory caches (package cache): what a reply reads on every
// message and a slash command changes now and then. A store without a
// cache, or whose listener is not connected, reads the database every time.

import (
	"slices"
	"sync"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/cache"
)

// DefaultCacheEntries bounds each of the store's caches.
const DefaultCacheEntries = 100_000

type persKey struct{ id, userID int64 }

type keyKey struct {
	userID   int64
	provider string
}

// sealedKey is a user's API key as stored: the ciphertext only. It is
// opened by the vault on every call; the plaintext is never kept.
type sealedKey struct {
	ok                bool // false: the user has no key for the provider
	nonce, ciphertext []byte
	keyVersion        int32
}

type imageEntry struct {
	c  ImageConfig
	ok bool
}

// caches implements cache.Subscriber for the store.
type caches struct {
	users   *cache.Map[string, User] // by Discord id, grouped by users.id
	pers    *cache.Map[persKey, Personality]
	tools   *cache.Map[int64, []string]
	images  *cache.Map[int64, imageEntry]
	keys    *cache.Map[keyKey, sealedKey]
	stamper keyStamps
}

// EnableCache gives the store its caches and returns what the process's
// cache.Listener must tell about changes. Call it before the store is used;
// nothing is cached until the listener is connected.
func (s *Store) EnableCache(entries int) cache.Subscriber {
	if entries <= 0 {
		entries = DefaultCacheEntries
	}
	s.cache = &caches{
		users:  cache.NewMap[string, User](entries),
		pers:   cache.NewMap[persKey, Personality](entries),
		tools:  cache.NewMap[int64, []string](entries),
		images: cache.NewMap[int64, imageEntry](entries),
		keys:   cache.NewMap[keyKey, sealedKey](entries),
	}
	return s.cache
}

// Invalidate implements cache.Subscriber.
func (c *caches) Invalidate(kind byte, id int64) {
	switch kind {
	case cache.KindUser:
		c.users.DropGroup(id)
	case cache.KindPersonality:
		c.pers.DropGroup(id)
		c.tools.DropGroup(id)
		c.images.DropGroup(id)
	case cache.KindKeys:
		c.keys.DropGroup(id)
	case cache.KindMemory, cache.KindPersona:
		// memory.Presence's, not ours.
	default:
		c.Reset(true)
	}
}

// Reset implements cache.Subscriber.
func (c *caches) Reset(live bool) {
	c.users.Reset(live)
	c.pers.Reset(live)
	c.tools.Reset(live)
	c.images.Reset(live)
	c.keys.Reset(live)
}

// changed drops what this process cached about id at once, after one of
// its own writes committed; the notification the write sent does the same
// in every other process (and here again, harmlessly, a moment later).
func (s *Store) changed(kind byte, id int64) {
	if s.cache != nil {
		s.cache.Invalidate(kind, id)
	}
	for _, sub := range s.alsoTell {
		sub.Invalidate(kind, id)
	}
}

// AlsoTell makes the store's own writes drop sub's entries at once too (as
// they do the store's caches), not only when their notification comes
// back: memory.Presence must not skip the retrieval of a reply that follows
// a /persona set or /personality knowledge add. Call it before the store
// is used.
func (s *Store) AlsoTell(sub cache.Subscriber) {
	s.alsoTell = append(s.alsoTell, sub)
}

// changedAll drops every entry of the kinds given (a write whose ids are
// not known here).
func (s *Store) changedAll(kinds ...byte) {
	if s.cache == nil {
		return
	}
	for _, k := range kinds {
		switch k {
		case cache.KindUser:
			s.cache.users.Clear()
		case cache.KindKeys:
			s.cache.keys.Clear()
		}
	}
}

// cachedUserID returns the internal id of a user the cache knows.
func (s *Store) cachedUserID(discordID string) (int64, bool) {
	if s.cache == nil {
		return 0, false
	}
	u, ok := s.cache.users.Get(discordID)
	return u.ID, ok
}

// copyPersonality returns a copy a caller may change without changing the
// cached one (the voice config is behind a pointer).
func copyPersonality(p Personality) Personality {
	if p.Voice != nil {
		v := *p.Voice
		p.Voice = &v
	}
	p.Aliases = slices.Clone(p.Aliases)
	return p
}

// keyStamps remembers which keys served from the cache are due a
// last_used_at stamp: at most one a minute per key and process, written
// with the next batch of reply records (no round trip of its own).
type keyStamps struct {
	mu      sync.Mutex
	last    map[keyKey]time.Time
	pending map[keyKey]struct{}
}

const maxStampedKeys = 100_000

// used notes that k was used now; stamped says the database read that
// served it has stamped it already.
func (k *keyStamps) used(key keyKey, now time.Time, stamped bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last == nil || len(k.last) >= maxStampedKeys {
		k.last = map[keyKey]time.Time{}
	}
	if stamped {
		k.last[key] = now
		return
	}
	if t, ok := k.last[key]; ok && now.Sub(t) < time.Minute {
		return
	}
	k.last[key] = now
	if k.pending == nil {
		k.pending = map[keyKey]struct{}{}
	}
	if len(k.pending) < maxStampedKeys {
		k.pending[key] = struct{}{}
	}
}

// take returns the pending stamps and forgets them.
func (k *keyStamps) take() (users []int64, providers []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key := range k.pending {
		users = append(users, key.userID)
		providers = append(providers, key.provider)
	}
	clear(k.pending)
	return users, providers
}

// putBack keeps stamps whose write failed for the next batch.
func (k *keyStamps) putBack(users []int64, providers []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pending == nil {
		k.pending = map[keyKey]struct{}{}
	}
	for i := range users {
		if len(k.pending) >= maxStampedKeys {
			return
		}
		k.pending[keyKey{users[i], providers[i]}] = struct{}{}
	}
}

const stampKeysSQL = `
UPDATE user_api_keys uk SET last_used_at = now()
FROM unnest($1::bigint[], $2::text[]) AS k(user_id, provider)
WHERE uk.user_id = k.user_id AND uk.provider = k.provider
  AND (uk.last_used_at IS NULL OR uk.last_used_at < now() - interval '1 minute')`
