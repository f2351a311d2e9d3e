package discord

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

// slowFirst records the order messages reach the handler; the first message of each channel is
// slow, so without ordering the later ones would overtake it.
type slowFirst struct {
	mu       sync.Mutex
	order    map[string][]string
	inFlight map[string]int
	overlap  bool
	bothBusy bool // two channels were handled at the same time
	seen     map[string]bool
	done     chan struct{}
	total    int
	handled  int
}

func (s *slowFirst) HandleMessage(_ context.Context, m message.Message) {
	s.mu.Lock()
	first := !s.seen[m.ChannelID]
	s.seen[m.ChannelID] = true
	s.inFlight[m.ChannelID]++
	if s.inFlight[m.ChannelID] > 1 {
		s.overlap = true
	}
	if len(s.inFlight) > 1 {
		busy := 0
		for _, n := range s.inFlight {
			if n > 0 {
				busy++
			}
		}
		s.bothBusy = s.bothBusy || busy > 1
	}
	s.mu.Unlock()
	if first {
		time.Sleep(300 * time.Millisecond)
	}
	s.mu.Lock()
	s.inFlight[m.ChannelID]--
	s.order[m.ChannelID] = append(s.order[m.ChannelID], m.Content)
	s.handled++
	if s.handled == s.total {
		close(s.done)
	}
	s.mu.Unlock()
}

func TestChannelOrderHandsAChannelsMessagesOverInArrivalOrder(t *testing.T) {
	h := &slowFirst{order: map[string][]string{}, inFlight: map[string]int{}, seen: map[string]bool{}, done: make(chan struct{}), total: 16}
	tb := newTestBot(t, h, WithChannelOrder())
	a, b := tb.fake.AddTextChannel(guildID), tb.fake.AddTextChannel(guildID)
	for i := 0; i < 8; i++ {
		for _, ch := range []string{a.ID, b.ID} {
			tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch, GuildID: guildID, Author: alice, Content: fmt.Sprintf("m%d", i)}))
		}
	}
	select {
	case <-h.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("not every message was handled")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	want := "[m0 m1 m2 m3 m4 m5 m6 m7]"
	for _, ch := range []string{a.ID, b.ID} {
		if got := fmt.Sprint(h.order[ch]); got != want {
			t.Errorf("channel %s handled %s, want %s", ch, got, want)
		}
	}
	if h.overlap {
		t.Error("two messages of one channel were handled at the same time")
	}
	if !h.bothBusy {
		t.Error("the two channels never ran side by side: ordering must be per channel")
	}
}
