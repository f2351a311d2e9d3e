package memory

import "github.com/tzurot-go/tzurot/host/internal/cache"

// Presence remembers which personalities have nothing retrieval could
// find (no memories, knowledge, training examples or imported
// personalizations) and which users have no persona. A reply for such a
// personality and user needs no retrieval statement at all: it was the
// most expensive statement of the commonest reply (docs/performance.md,
// "Skipping empty retrieval").
//
// Only emptiness is remembered, and only from a retrieval that saw it, so
// nothing costs an extra round trip. It is kept correct across processes
// like the store's caches: migration 00018's triggers NOTIFY "m:<id>" and
// "n:<id>" on every change, the process's cache.Listener passes them to
// Invalidate, and nothing is remembered while the listener is not
// connected. The process's own writes drop entries at once (Store.Add and
// SetPersona here, store.Store.AlsoTell for the store's writes), so a
// reply right after /persona set never misses the persona.
type Presence struct {
	emptyPers *cache.Map[int64, struct{}]
	noPersona *cache.Map[int64, struct{}]
}

// DefaultPresenceEntries bounds each of Presence's maps when NewPresence
// is given 0 (an id is 8 bytes plus the map's own).
const DefaultPresenceEntries = 100_000

// NewPresence returns a Presence holding at most entries ids of each kind
// (0: DefaultPresenceEntries). Give it to the process's cache.Listener and
// to Store.WithPresence.
func NewPresence(entries int) *Presence {
	if entries <= 0 {
		entries = DefaultPresenceEntries
	}
	return &Presence{
		emptyPers: cache.NewMap[int64, struct{}](entries),
		noPersona: cache.NewMap[int64, struct{}](entries),
	}
}

// Invalidate implements cache.Subscriber.
func (p *Presence) Invalidate(kind byte, id int64) {
	switch kind {
	case cache.KindMemory:
		p.emptyPers.DropGroup(id)
	case cache.KindPersona:
		p.noPersona.DropGroup(id)
	}
}

// Reset implements cache.Subscriber.
func (p *Presence) Reset(live bool) {
	p.emptyPers.Reset(live)
	p.noPersona.Reset(live)
}

// nothingFor reports whether retrieval for personality and user is known
// to find nothing.
func (p *Presence) nothingFor(personality, user int64) bool {
	if p == nil {
		return false
	}
	_, empty := p.emptyPers.Get(personality)
	if !empty {
		return false
	}
	_, none := p.noPersona.Get(user)
	return none
}

// presenceToken is taken before a retrieval reads the database, so what it
// saw is stored only if nothing changed meanwhile (cache.Map.Put).
type presenceToken struct{ pers, user cache.Token }

func (p *Presence) begin() presenceToken {
	if p == nil {
		return presenceToken{}
	}
	return presenceToken{pers: p.emptyPers.Begin(), user: p.noPersona.Begin()}
}

// saw records what one retrieval found out.
func (p *Presence) saw(t presenceToken, personality int64, persEmpty bool, user int64, userNoPersona bool) {
	if p == nil {
		return
	}
	if persEmpty {
		p.emptyPers.Put(t.pers, personality, personality, struct{}{})
	}
	if userNoPersona {
		p.noPersona.Put(t.user, user, user, struct{}{})
	}
}
