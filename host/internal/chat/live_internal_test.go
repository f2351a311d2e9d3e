package chat

import (
	"context"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// liveSender is a sender that can stream; nothing here posts.
type liveSender struct{ Sender }

func (liveSender) StartLive(context.Context, string, string, string, string) (message.LiveReply, error) {
	return nil, nil
}

type noLedger struct{}

func (noLedger) Posted(context.Context, string) (bool, error)        { return false, nil }
func (noLedger) Claim(context.Context, string, string) (bool, error) { return true, nil }
func (noLedger) Finish(context.Context, string, []string) error      { return nil }

// A reply a worker runs from the queue is posted whole even where replies
// stream: a half-shown message of an attempt killed mid-stream would stay
// beside the retry's reply (docs/scaling.md, Exactly once).
func TestQueuedRepliesAreNeverLive(t *testing.T) {
	on := true
	p := &Pipeline{sender: liveSender{}}
	p.cfg.Stream = true
	guild := message.Message{GuildID: "1", ChannelID: "2"}
	j := &job{p: p, msg: guild, personality: &store.Personality{}}
	if !j.streams() {
		t.Fatal("a single-process reply in a server with streaming on is not live")
	}
	j.personality.StreamReplies = &on
	j.ledger = noLedger{}
	if j.streams() {
		t.Fatal("a queued reply (with a delivery ledger) would be shown live")
	}
}
