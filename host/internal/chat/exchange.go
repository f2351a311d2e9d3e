package chat

import (
	"context"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Exchange is one message and the personality's reply to it, as the
// pipeline tells it to an ExchangeSink once the reply is posted. It holds
// ids and text only: never a key, never anything a plugin returned besides
// the reply's text.
type Exchange struct {
	PersonalityID int64
	// UserID is the host id of the user who wrote; DiscordUserID their
	// Discord id; UserName what Discord shows for them.
	UserID        int64
	DiscordUserID string
	UserName      string
	ChannelID     string
	GuildID       string // "" in DMs
	UserText      string
	ReplyText     string
	At            time.Time
}

// IsDM reports whether the exchange happened in a direct message.
func (e Exchange) IsDM() bool { return e.GuildID == "" }

// ExchangeSink hears about every exchange (memory formation). Exchange is
// called on the reply's goroutine after the reply is posted, so it must
// not block: queue and return.
type ExchangeSink interface {
	Exchange(e Exchange)
}

// notifyExchange tells the sink about a posted reply.
func (j *job) notifyExchange(reply string) {
	if j.p.exchanges == nil || j.personality == nil {
		return
	}
	text := j.content
	if j.transcript != "" {
		text = j.transcript
	}
	name := j.msg.Author.DisplayName
	if name == "" {
		name = j.msg.Author.Username
	}
	j.p.exchanges.Exchange(Exchange{
		PersonalityID: j.personality.ID, UserID: j.user.ID, DiscordUserID: j.msg.Author.ID, UserName: name,
		ChannelID: j.msg.ChannelID, GuildID: j.msg.GuildID, UserText: text, ReplyText: reply, At: j.p.now(),
	})
}

// ChatPluginFor finds, among status, the loaded entry granted llm.chat
// that serves provider: the entry of that name, else the first whose key
// slot is that provider. The pipeline and memory formation resolve a
// personality's provider the same way.
func ChatPluginFor(status []plugin.PluginStatus, provider string) (plugin.PluginStatus, bool) {
	chat := func(st plugin.PluginStatus) bool {
		if st.State != plugin.StateLoaded {
			return false
		}
		for _, c := range st.Capabilities {
			if c == abi.CapChat {
				return true
			}
		}
		return false
	}
	for _, st := range status {
		if st.Name == provider && chat(st) {
			return st, true
		}
	}
	for _, st := range status {
		if st.KeySlot == provider && chat(st) {
			return st, true
		}
	}
	return plugin.PluginStatus{}, false
}

// WithFallbackPolicy returns ctx for a plugin call made on a user's
// behalf outside a reply (memory formation): the KeySource serves that
// user's own key, else the deployment's fallback key when allowed, exactly
// as for their replies.
func WithFallbackPolicy(ctx context.Context, allowed bool) context.Context {
	return withKeyUse(ctx, &keyUse{allowFallback: allowed})
}
