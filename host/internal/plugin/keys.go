package plugin

import (
	"context"
	"sync"
)

// KeySource hands out a user's API key for a provider slot. The real one
// decrypts from the database; the host asks it only on behalf of the call
// in progress and only for the slot plugins.toml binds to the plugin.
type KeySource interface {
	// APIKey returns the key of userID for slot. ok is false when the user
	// has none; err is for a failing store, never for "no key".
	APIKey(ctx context.Context, userID, slot string) (key string, ok bool, err error)
}

// MemoryKeys is an in-memory KeySource for tests and the CLI. The zero
// value has no keys; it is safe for concurrent use.
type MemoryKeys struct {
	mu   sync.RWMutex
	keys map[[2]string]string
	// Fallback, when set, is returned for any user and slot without a key of
	// its own (the CLI's TZUROT_PLUGIN_KEY).
	Fallback string
}

// Set stores key for userID and slot.
func (m *MemoryKeys) Set(userID, slot, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = make(map[[2]string]string)
	}
	m.keys[[2]string{userID, slot}] = key
}

// APIKey implements KeySource.
func (m *MemoryKeys) APIKey(_ context.Context, userID, slot string) (string, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if k, ok := m.keys[[2]string{userID, slot}]; ok {
		return k, true, nil
	}
	if m.Fallback != "" {
		return m.Fallback, true, nil
	}
	return "", false, nil
}
