// Package cache keeps what every reply reads and almost nothing writes
// (users, personalities, sealed API keys) in memory, and keeps it correct
// across processes: PostgreSQL triggers NOTIFY the ids of changed rows
// (migration 00015), one Listener per process LISTENs and drops them.
//
// Correctness rules, each for a reason:
//
//   - A value is stored only if no invalidation happened while it was being
//     read (Map.Begin / Map.Put compare a generation). A read that raced a
//     write can hold the old row; storing it after the write's invalidation
//     would keep it forever.
//   - Nothing is cached while the listener is not connected (Reset(false)):
//     notifications sent then are lost, so a cached value could not be
//     trusted. On every (re)connection everything is dropped once more
//     (Reset(true)), since changes may have happened in the gap.
//   - Writes made by this process also drop their entries at once
//     (Map.DropGroup), so the next reply sees them without waiting for the
//     notification to come back.
package cache

import "sync"

// Map is a bounded map whose entries belong to groups (a user's or a
// personality's internal id) that are dropped together.
type Map[K comparable, V any] struct {
	mu    sync.Mutex
	live  bool
	gen   uint64
	max   int
	m     map[K]entry[V]
	group map[int64]map[K]struct{}
}

type entry[V any] struct {
	v     V
	group int64
}

// NewMap returns an empty map holding at most limit entries (at least 1).
// It stores nothing until Reset(true).
func NewMap[K comparable, V any](limit int) *Map[K, V] {
	return &Map[K, V]{max: max(limit, 1), m: map[K]entry[V]{}, group: map[int64]map[K]struct{}{}}
}

// Get returns the cached value of k.
func (c *Map[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	return e.v, ok
}

// Token is what Begin returns and Put checks.
type Token struct {
	gen  uint64
	live bool
}

// Begin is called before reading a value from the database; pass the token
// to Put with what was read.
func (c *Map[K, V]) Begin() Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Token{gen: c.gen, live: c.live}
}

// Put stores v for k in group, unless the map was invalidated since t was
// taken or the listener was not connected then.
func (c *Map[K, V]) Put(t Token, k K, group int64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.live || !c.live || t.gen != c.gen {
		return
	}
	if old, ok := c.m[k]; ok {
		c.unindex(k, old.group)
	} else if len(c.m) >= c.max {
		// Full: drop an arbitrary entry (map order is unspecified). A miss
		// costs one read, so there is no need for recency bookkeeping.
		for victim, e := range c.m {
			delete(c.m, victim)
			c.unindex(victim, e.group)
			break
		}
	}
	c.m[k] = entry[V]{v: v, group: group}
	g := c.group[group]
	if g == nil {
		g = map[K]struct{}{}
		c.group[group] = g
	}
	g[k] = struct{}{}
}

func (c *Map[K, V]) unindex(k K, group int64) {
	if g := c.group[group]; g != nil {
		delete(g, k)
		if len(g) == 0 {
			delete(c.group, group)
		}
	}
}

// DropGroup forgets every entry of the group and voids the reads in flight.
func (c *Map[K, V]) DropGroup(group int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.group[group] {
		delete(c.m, k)
	}
	delete(c.group, group)
}

// Reset forgets everything and voids the reads in flight; live says whether
// notifications are flowing (whether values may be stored from now on).
func (c *Map[K, V]) Reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.m)
	clear(c.group)
}

// Len returns the number of entries.
func (c *Map[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Clear forgets everything and voids the reads in flight, staying live or
// not as it was (a write whose ids are not known).
func (c *Map[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
	clear(c.group)
}
