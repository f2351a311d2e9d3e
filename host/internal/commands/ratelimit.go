package commands

import (
	"context"
	"errors"
	"sync"
)

// RateLimitSettings are the limits the chat pipeline applies; 0 means no
// limit.
type RateLimitSettings struct {
	UserPerMinute    int64 // replies one user may ask for per minute
	GuildPerMinute   int64 // replies one server may ask for per minute
	UserTokensPerDay int64 // tokens one user may use per UTC day
}

// DefaultRateLimits are the settings a fresh deployment starts with.
func DefaultRateLimits() RateLimitSettings {
	return RateLimitSettings{UserPerMinute: 10, GuildPerMinute: 60, UserTokensPerDay: 0}
}

// RateLimits holds the settings in force. The chat pipeline reads them for
// every reply; /admin ratelimit changes them.
type RateLimits interface {
	RateLimitSettings() RateLimitSettings
	SetRateLimitSettings(ctx context.Context, s RateLimitSettings) error
}

// MemoryRateLimits keeps the settings in memory: they last until the
// process restarts (set the defaults in configuration for anything
// permanent). It is safe for concurrent use.
type MemoryRateLimits struct {
	mu sync.RWMutex
	s  RateLimitSettings
}

// NewMemoryRateLimits starts with s.
func NewMemoryRateLimits(s RateLimitSettings) *MemoryRateLimits { return &MemoryRateLimits{s: s} }

// RateLimitSettings returns the settings in force.
func (m *MemoryRateLimits) RateLimitSettings() RateLimitSettings {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s
}

// SetRateLimitSettings replaces the settings; negative limits are refused.
func (m *MemoryRateLimits) SetRateLimitSettings(_ context.Context, s RateLimitSettings) error {
	if s.UserPerMinute < 0 || s.GuildPerMinute < 0 || s.UserTokensPerDay < 0 {
		return errors.New("rate limits cannot be negative (0 means no limit)")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s = s
	return nil
}
