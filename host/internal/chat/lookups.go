package chat

// Small pieces the pipeline and its jobs share: the user-id cache, the
// notice throttle and the retrying lookups the trigger detector uses.

import (
	"context"
	"sync"
	"time"
)

// idCache maps Discord user ids to the store's internal ids, which never
// change for a user. It is bounded: when full it starts over (a miss costs
// one sequential read, nothing else).
type idCache struct {
	mu sync.RWMutex
	m  map[string]int64
}

const maxCachedUserIDs = 100_000

func (c *idCache) get(discordID string) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.m[discordID]
	return id, ok
}

func (c *idCache) put(discordID string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedUserIDs {
		c.m = make(map[string]int64)
	}
	c.m[discordID] = id
}

// throttle lets a notice through at most once per period per key.
type throttle struct {
	mu   sync.Mutex
	next map[string]time.Time
}

func (t *throttle) allow(key string, period time.Duration) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next == nil {
		t.next = map[string]time.Time{}
	}
	if now.Before(t.next[key]) {
		return false
	}
	if len(t.next) > 10000 {
		for k, until := range t.next {
			if now.After(until) {
				delete(t.next, k)
			}
		}
	}
	t.next[key] = now.Add(period)
	return true
}

// retryingLookups gives the trigger detector store lookups that ride out a
// database restart.
type retryingLookups struct{ p *Pipeline }

func (r retryingLookups) PersonalityForMessage(ctx context.Context, messageID string) (int64, bool, error) {
	return r.lookup(ctx, func(ctx context.Context) (int64, bool, error) {
		return r.p.store.PersonalityForMessage(ctx, messageID)
	})
}

func (r retryingLookups) ActivatedPersonality(ctx context.Context, channelID string) (int64, bool, error) {
	return r.lookup(ctx, func(ctx context.Context) (int64, bool, error) {
		return r.p.store.ActivatedPersonality(ctx, channelID)
	})
}

func (r retryingLookups) LastDMPersonality(ctx context.Context, discordUserID string) (int64, bool, error) {
	return r.lookup(ctx, func(ctx context.Context) (int64, bool, error) {
		u, err := r.p.store.UserByDiscordID(ctx, discordUserID)
		if err != nil {
			return 0, false, err
		}
		return r.p.store.DMSession(ctx, u.ID)
	})
}

func (r retryingLookups) lookup(ctx context.Context, op func(context.Context) (int64, bool, error)) (int64, bool, error) {
	type res struct {
		id int64
		ok bool
	}
	v, err := retry2(ctx, r.p.cfg.Retry, func(ctx context.Context) (res, error) {
		id, ok, err := op(ctx)
		return res{id, ok}, err
	})
	return v.id, v.ok, err
}
