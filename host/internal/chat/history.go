package chat

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// Reader reads messages from Discord's REST API. The app implements it over
// the bot's REST client.
type Reader interface {
	// RecentMessages returns up to limit messages of channelID sent before
	// the message beforeID, oldest first.
	RecentMessages(ctx context.Context, channelID, beforeID string, limit int) ([]Message, error)
	// Message returns one message. It returns an error matching ErrNoAccess
	// when the bot cannot read the channel (or the message is gone).
	Message(ctx context.Context, channelID, messageID string) (Message, error)
}

// history keeps the last messages of recently active channels in memory so
// a reply costs no REST call for its context (Discord allows only a few
// message-history requests per second per channel). A channel is seeded
// from REST the first time a reply needs it, then kept current from the
// messages the bot sees; a seed expires after ttl, so edits and deletions
// made meanwhile are picked up again.
type history struct {
	reader      Reader
	perChannel  int
	maxChannels int
	ttl         time.Duration
	now         func() time.Time

	mu       sync.Mutex
	channels map[string]*list.Element // of *channelLog, most recent at front
	lru      *list.List
}

type channelLog struct {
	id       string
	msgs     []Message // oldest first, at most perChannel
	seededAt time.Time // zero until seeded
}

func newHistory(r Reader, perChannel, maxChannels int, ttl time.Duration) *history {
	return &history{reader: r, perChannel: perChannel, maxChannels: maxChannels, ttl: ttl, now: time.Now,
		channels: map[string]*list.Element{}, lru: list.New()}
}

// observe records a message the bot saw. Messages of channels nobody asked
// about are kept too (few, bounded), so a seed taken while they arrived does
// not miss them.
func (h *history) observe(m Message) {
	if h.perChannel <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.channel(m.ChannelID)
	c.msgs = insertByID(c.msgs, m, h.perChannel)
}

// channel returns the log of id, creating it (and evicting the least
// recently used one) if needed. The caller holds the lock.
func (h *history) channel(id string) *channelLog {
	if e, ok := h.channels[id]; ok {
		h.lru.MoveToFront(e)
		return e.Value.(*channelLog)
	}
	c := &channelLog{id: id}
	h.channels[id] = h.lru.PushFront(c)
	for h.lru.Len() > h.maxChannels {
		old := h.lru.Back()
		h.lru.Remove(old)
		delete(h.channels, old.Value.(*channelLog).id)
	}
	return c
}

// peek returns up to n cached messages of the channel older than beforeID,
// oldest first, without any I/O (nil when the channel is not cached). The
// memory search reads the conversation with it, at the same time as the
// first database reads, before the history proper is loaded.
func (h *history) peek(channelID, beforeID string, n int) []Message {
	if n <= 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.channels[channelID]
	if !ok {
		return nil
	}
	return olderThan(e.Value.(*channelLog).msgs, beforeID, n)
}

// before returns up to n messages of the channel older than beforeID,
// oldest first, seeding the channel from REST when needed.
func (h *history) before(ctx context.Context, channelID, beforeID string, n int) ([]Message, error) {
	if n <= 0 {
		return nil, nil
	}
	if h.perChannel > 0 {
		h.mu.Lock()
		c := h.channel(channelID)
		fresh := !c.seededAt.IsZero() && h.now().Sub(c.seededAt) < h.ttl
		var out []Message
		if fresh {
			out = olderThan(c.msgs, beforeID, n)
		}
		h.mu.Unlock()
		if fresh {
			return out, nil
		}
	}
	fetched, err := h.reader.RecentMessages(ctx, channelID, beforeID, max(n, h.perChannel))
	if err != nil {
		return nil, err
	}
	if h.perChannel <= 0 {
		return tail(fetched, n), nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.channel(channelID)
	// Keep what arrived while fetching (newer than the fetched page), and
	// take the fetched page as the truth for what is older than beforeID.
	kept := c.msgs[:0:0]
	for _, m := range c.msgs {
		if !idLess(m.ID, beforeID) {
			kept = append(kept, m)
		}
	}
	merged := append(slices.Clone(fetched), kept...)
	slices.SortStableFunc(merged, func(a, b Message) int { return compareIDs(a.ID, b.ID) })
	merged = slices.CompactFunc(merged, func(a, b Message) bool { return a.ID == b.ID })
	out := olderThan(merged, beforeID, n)
	c.msgs = slices.Clip(tail(merged, h.perChannel))
	c.seededAt = h.now()
	return out, nil
}

// insertByID adds m in id order (gateway events can arrive slightly out of
// order), replacing a message with the same id, keeping at most limit (the
// oldest go). Messages usually arrive newest last, so this is an append
// that shifts the window in place, without allocating once the log is full.
func insertByID(msgs []Message, m Message, limit int) []Message {
	i, found := slices.BinarySearchFunc(msgs, m.ID, func(x Message, id string) int { return compareIDs(x.ID, id) })
	if found {
		msgs[i] = m
		return msgs
	}
	if len(msgs) < limit {
		if cap(msgs) < limit {
			grown := make([]Message, len(msgs), limit)
			copy(grown, msgs)
			msgs = grown
		}
		return slices.Insert(msgs, i, m)
	}
	if i == 0 {
		return msgs // older than everything kept
	}
	// Full: drop the oldest, shift the ones before the insertion point down.
	copy(msgs[:i-1], msgs[1:i])
	msgs[i-1] = m
	return msgs
}

func olderThan(msgs []Message, beforeID string, n int) []Message {
	end := len(msgs)
	if beforeID != "" {
		end, _ = slices.BinarySearchFunc(msgs, beforeID, func(x Message, id string) int { return compareIDs(x.ID, id) })
	}
	return slices.Clone(tail(msgs[:end], n))
}

func tail[T any](s []T, n int) []T {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// compareIDs orders Discord snowflakes (decimal strings) numerically.
func compareIDs(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func idLess(a, b string) bool { return compareIDs(a, b) < 0 }
