package discord

import (
	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/httpserver"
	"github.com/disgoorg/snowflake/v2"
)

// noMentions pings nobody. Lists are empty rather than null so the object reads the same to
// Discord whatever it makes of null.
func noMentions() discord.AllowedMentions {
	return discord.AllowedMentions{Parse: []discord.AllowedMentionType{}, Roles: []snowflake.ID{}, Users: []snowflake.ID{}}
}

// Why a default: disgo fills in allowed_mentions for any message body that has none, and its own
// default is "everyone, roles and users" (so a deferred reply edited with "@everyone" in it would
// ping the whole server). The bot sets its REST default to noMentions, and HTTP interaction
// responses (which disgo writes as the HTTP answer, without any default) get the same through
// withDefaultMentions. Code that wants pings (personalities may ping users) says so explicitly.

// withDefaultMentions wraps the HTTP-interactions event handler so that a response creating or
// updating a message without allowed_mentions pings nobody, as over the gateway.
func withDefaultMentions(next httpserver.EventHandlerFunc) httpserver.EventHandlerFunc {
	return func(respond httpserver.RespondFunc, event httpserver.EventInteractionCreate) {
		next(func(r discord.InteractionResponse) error {
			r.Data = defaultMentions(r.Data)
			return respond(r)
		}, event)
	}
}

// defaultMentions sets noMentions on message data that states no allowed_mentions.
func defaultMentions(data discord.InteractionResponseData) discord.InteractionResponseData {
	none := noMentions()
	switch d := data.(type) {
	case discord.MessageCreate:
		if d.AllowedMentions == nil {
			d.AllowedMentions = &none
		}
		return d
	case *discord.MessageCreate:
		if d != nil && d.AllowedMentions == nil {
			c := *d
			c.AllowedMentions = &none
			return c
		}
	case discord.MessageUpdate:
		if d.AllowedMentions == nil {
			d.AllowedMentions = &none
		}
		return d
	case *discord.MessageUpdate:
		if d != nil && d.AllowedMentions == nil {
			c := *d
			c.AllowedMentions = &none
			return c
		}
	}
	return data
}
