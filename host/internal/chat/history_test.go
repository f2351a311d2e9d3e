package chat

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

func msg(id int) Message {
	return Message{ID: strconv.Itoa(1000 + id), ChannelID: "1", Content: "m" + strconv.Itoa(id)}
}

func contents(ms []Message) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Content)
	}
	return strings.Join(out, ",")
}

func TestInsertByIDKeepsTheNewestInOrder(t *testing.T) {
	var log []Message
	for _, i := range []int{1, 2, 3, 5, 4, 6} { // 4 arrives late
		log = insertByID(log, msg(i), 4)
	}
	if got := contents(log); got != "m3,m4,m5,m6" {
		t.Fatalf("got %s", got)
	}
	log = insertByID(log, msg(2), 4) // older than everything kept: dropped
	if got := contents(log); got != "m3,m4,m5,m6" {
		t.Fatalf("after a stale message: %s", got)
	}
	edited := msg(5)
	edited.Content = "m5 (edited)"
	log = insertByID(log, edited, 4)
	if got := contents(log); got != "m3,m4,m5 (edited),m6" {
		t.Fatalf("after a repeat: %s", got)
	}
	if got := contents(olderThan(log, msg(6).ID, 2)); got != "m4,m5 (edited)" {
		t.Fatalf("olderThan: %s", got)
	}
	if got := contents(olderThan(log, "", 10)); got != "m3,m4,m5 (edited),m6" {
		t.Fatalf("olderThan everything: %s", got)
	}
	if compareIDs("999", "1000") >= 0 || compareIDs("1000", "999") <= 0 || compareIDs("5", "5") != 0 {
		t.Fatal("ids are not ordered numerically")
	}
}

// pageReader is Discord's message history for one channel.
type pageReader struct {
	msgs   []Message
	calls  int
	during func() // runs while "the request is in flight"
}

func (r *pageReader) RecentMessages(_ context.Context, _, beforeID string, limit int) ([]Message, error) {
	r.calls++
	if r.during != nil {
		r.during()
	}
	return olderThan(r.msgs, beforeID, limit), nil
}

func (r *pageReader) Message(context.Context, string, string) (Message, error) {
	return Message{}, ErrNoAccess
}

func TestHistorySeedsOnceThenFollowsTheChannel(t *testing.T) {
	// Discord has m1..m5; m5 is the message being answered.
	r := &pageReader{msgs: []Message{msg(1), msg(2), msg(3), msg(4), msg(5)}}
	h := newHistory(r, 5, 10, time.Hour)
	h.observe(msg(5))
	// m6 arrives while the seed is being fetched: it must not be lost.
	r.during = func() { h.observe(msg(6)) }
	got, err := h.before(context.Background(), "1", msg(5).ID, 5)
	if err != nil || contents(got) != "m1,m2,m3,m4" {
		t.Fatalf("seed: %s %v", contents(got), err)
	}
	r.during = nil
	h.observe(msg(7))
	got, _ = h.before(context.Background(), "1", msg(7).ID, 5)
	if contents(got) != "m3,m4,m5,m6" || r.calls != 1 {
		t.Fatalf("after the seed: %s (%d REST calls)", contents(got), r.calls)
	}
	// A stale seed is read again.
	h.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := h.before(context.Background(), "1", msg(8).ID, 3); err != nil || r.calls != 2 {
		t.Fatalf("expired seed not refreshed: %d calls, %v", r.calls, err)
	}
}

func TestHistoryForgetsTheLeastRecentChannel(t *testing.T) {
	h := newHistory(&pageReader{}, 5, 2, time.Hour)
	for _, ch := range []string{"a", "b", "a", "c"} {
		m := msg(1)
		m.ChannelID = ch
		h.observe(m)
	}
	if _, ok := h.channels["b"]; ok || len(h.channels) != 2 {
		t.Fatalf("channels kept: %v", h.channels)
	}
}
