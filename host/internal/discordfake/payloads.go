package discordfake

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/disgoorg/disgo/bot"
	"github.com/disgoorg/disgo/gateway"
)

// User is a Discord user in a payload.
type User struct {
	ID         string
	Username   string
	GlobalName string
	Bot        bool
}

func (u User) json() map[string]any {
	name := u.Username
	if name == "" {
		name = "user-" + u.ID
	}
	out := map[string]any{"id": u.ID, "username": name, "discriminator": "0", "avatar": nil}
	if u.GlobalName != "" {
		out["global_name"] = u.GlobalName
	} else {
		out["global_name"] = nil
	}
	if u.Bot {
		out["bot"] = true
	}
	return out
}

// MessageSpec describes a MESSAGE_CREATE.
type MessageSpec struct {
	ID        string
	ChannelID string
	// GuildID is empty for a direct message.
	GuildID string
	Author  User
	// Nick is the author's server nickname (guild messages only).
	Nick      string
	WebhookID string
	Content   string
	// ReplyToID makes the message a reply. Referenced is the replied-to message Discord includes
	// as referenced_message; leave it nil to simulate Discord leaving it out.
	ReplyToID   string
	Referenced  *MessageSpec
	Mentions    []User
	Attachments []Attachment
	Timestamp   time.Time
	// Flags are the message flags (FlagIsVoiceMessage for a voice message).
	Flags int
}

func (m MessageSpec) json() map[string]any {
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	mentions := []any{}
	for _, u := range m.Mentions {
		mentions = append(mentions, u.json())
	}
	atts := []any{}
	for _, a := range m.Attachments {
		atts = append(atts, attachmentJSON(a))
	}
	out := map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "type": 0, "content": m.Content, "author": m.Author.json(),
		"timestamp": ts.UTC().Format(time.RFC3339Nano), "edited_timestamp": nil, "tts": false,
		"mention_everyone": false, "mentions": mentions, "mention_roles": []any{}, "attachments": atts,
		"embeds": []any{}, "pinned": false, "flags": m.Flags,
	}
	if m.GuildID != "" {
		out["guild_id"] = m.GuildID
		if m.WebhookID == "" {
			member := map[string]any{"roles": []any{}, "joined_at": ts.Add(-time.Hour).UTC().Format(time.RFC3339),
				"deaf": false, "mute": false, "flags": 0}
			if m.Nick != "" {
				member["nick"] = m.Nick
			}
			out["member"] = member
		}
	}
	if m.WebhookID != "" {
		out["webhook_id"] = m.WebhookID
	}
	if m.ReplyToID != "" {
		out["type"] = 19
		ref := map[string]any{"type": 0, "message_id": m.ReplyToID, "channel_id": m.ChannelID}
		if m.GuildID != "" {
			ref["guild_id"] = m.GuildID
		}
		out["message_reference"] = ref
		if m.Referenced != nil {
			inner := *m.Referenced
			inner.ReplyToID, inner.Referenced = "", nil
			out["referenced_message"] = inner.json()
		}
	}
	return out
}

// MessageCreate returns the data of a MESSAGE_CREATE event.
func MessageCreate(m MessageSpec) []byte {
	return mustJSON(m.json())
}

// UserMessage completes m (a fresh ID and the current time if unset; the replied-to message from
// the fake's world if ReplyToID names one and Referenced is nil), stores it in the channel's
// history so the bot can read it back over REST, and returns the MESSAGE_CREATE data.
func (s *Server) UserMessage(m MessageSpec) []byte {
	s.mu.Lock()
	if m.ID == "" {
		m.ID = s.newIDLocked()
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = time.Now()
	}
	if m.ReplyToID != "" && m.Referenced == nil {
		for _, r := range s.messages[m.ChannelID] {
			if r.ID == m.ReplyToID {
				m.Referenced = &MessageSpec{ID: r.ID, ChannelID: r.ChannelID, GuildID: r.GuildID,
					Author: User{ID: r.AuthorID, Username: r.AuthorName, Bot: r.Bot}, WebhookID: r.WebhookID,
					Content: r.Content, Timestamp: r.CreatedAt}
			}
		}
	}
	stored := &Message{ID: m.ID, ChannelID: m.ChannelID, GuildID: m.GuildID, Content: m.Content,
		AuthorID: m.Author.ID, AuthorName: m.Author.Username, Bot: m.Author.Bot, WebhookID: m.WebhookID,
		ReferenceID: m.ReplyToID, Attachments: m.Attachments, Flags: m.Flags, CreatedAt: m.Timestamp}
	s.messages[m.ChannelID] = append(s.messages[m.ChannelID], stored)
	s.mu.Unlock()
	return MessageCreate(m)
}

// Application command option types.
const (
	OptionSubCommand      = 1
	OptionSubCommandGroup = 2
	OptionString          = 3
	OptionInteger         = 4
	OptionBoolean         = 5
	OptionUser            = 6
	OptionAttachment      = 11
)

// CommandOption is an option of a slash command or autocomplete interaction.
type CommandOption struct {
	Name    string
	Type    int
	Value   any
	Focused bool
	Options []CommandOption
}

func (o CommandOption) json() map[string]any {
	out := map[string]any{"name": o.Name, "type": o.Type}
	if o.Value != nil {
		out["value"] = o.Value
	}
	if o.Focused {
		out["focused"] = true
	}
	if len(o.Options) > 0 {
		var sub []any
		for _, so := range o.Options {
			sub = append(sub, so.json())
		}
		out["options"] = sub
	}
	return out
}

// InteractionSpec describes who sent an interaction and where.
type InteractionSpec struct {
	ID    string
	Token string
	// AppID defaults to DefaultAppID.
	AppID string
	// GuildID is empty for an interaction in a DM with the bot.
	GuildID   string
	ChannelID string
	User      User
	// Attachments resolved for attachment options (by their ID).
	Attachments []Attachment
	// NSFW marks the interaction's channel age-restricted (the channel object's nsfw).
	NSFW bool
	// ThreadParentID, when set, makes ChannelID a public thread of that channel (the
	// interaction's channel object then says so, as Discord's does; it has no nsfw flag).
	ThreadParentID string
	// AttachmentSizeLimit is the upload limit Discord tells the app for this server (0 =
	// DefaultUploadLimit; boosted servers have more).
	AttachmentSizeLimit int
}

func (in InteractionSpec) json(typ int, data map[string]any) map[string]any {
	app := in.AppID
	if app == "" {
		app = DefaultAppID
	}
	channel := map[string]any{"id": in.ChannelID, "type": ChannelGuildText, "name": "channel", "permissions": "2251799813685247", "flags": 0}
	limit := in.AttachmentSizeLimit
	if limit == 0 {
		limit = DefaultUploadLimit
	}
	out := map[string]any{
		"id": in.ID, "application_id": app, "type": typ, "token": in.Token, "version": 1,
		"channel_id": in.ChannelID, "app_permissions": "2251799813685247", "locale": "en-US",
		"entitlements": []any{}, "authorizing_integration_owners": map[string]any{"0": in.GuildID},
		"data": data, "attachment_size_limit": limit,
	}
	if in.GuildID != "" {
		channel["guild_id"] = in.GuildID
		channel["nsfw"] = in.NSFW
		if in.ThreadParentID != "" {
			// Threads carry their parent, not an nsfw flag of their own.
			delete(channel, "nsfw")
			channel["type"] = ChannelPublicThread
			channel["parent_id"] = in.ThreadParentID
			channel["owner_id"] = in.User.ID
			channel["message_count"], channel["member_count"] = 0, 1
			channel["thread_metadata"] = map[string]any{"archived": false, "auto_archive_duration": 1440,
				"archive_timestamp": time.Now().UTC().Format(time.RFC3339), "locked": false}
		}
		out["guild_id"] = in.GuildID
		out["guild_locale"] = "en-US"
		out["context"] = 0
		out["member"] = map[string]any{"user": in.User.json(), "roles": []any{}, "permissions": "2251799813685247",
			"joined_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "deaf": false, "mute": false, "flags": 0}
	} else {
		channel["type"] = ChannelDM
		delete(channel, "name")
		out["user"] = in.User.json()
		out["context"] = 1
		out["authorizing_integration_owners"] = map[string]any{"1": in.User.ID}
	}
	out["channel"] = channel
	if len(in.Attachments) > 0 {
		atts := map[string]any{}
		for _, a := range in.Attachments {
			atts[a.ID] = attachmentJSON(a)
		}
		data["resolved"] = map[string]any{"attachments": atts}
	}
	return out
}

func commandData(name string, options []CommandOption) map[string]any {
	opts := []any{}
	for _, o := range options {
		opts = append(opts, o.json())
	}
	return map[string]any{"id": "1200000000000000001", "name": name, "type": 1, "options": opts}
}

// SlashCommand returns the data of an INTERACTION_CREATE for a slash command. Subcommands are
// options of type OptionSubCommand holding their own options.
func SlashCommand(in InteractionSpec, name string, options ...CommandOption) []byte {
	return mustJSON(in.json(2, commandData(name, options)))
}

// MessageCommand returns the data of an INTERACTION_CREATE for a message context-menu command
// (application command type 3: right-click a message, Apps, name) used on target, which Discord
// sends as data.target_id and in data.resolved.messages.
func MessageCommand(in InteractionSpec, name string, target MessageSpec) []byte {
	data := map[string]any{"id": "1200000000000000002", "name": name, "type": 3, "target_id": target.ID,
		"resolved": map[string]any{"messages": map[string]any{target.ID: target.json()}}}
	return mustJSON(in.json(2, data))
}

// Autocomplete returns the data of an INTERACTION_CREATE asking for autocomplete choices; mark
// the option being typed with Focused.
func Autocomplete(in InteractionSpec, name string, options ...CommandOption) []byte {
	return mustJSON(in.json(4, commandData(name, options)))
}

// ModalSubmit returns the data of an INTERACTION_CREATE for a submitted modal whose text inputs
// (custom id -> value) are wrapped in labels, as disgo v0.19 builds them.
func ModalSubmit(in InteractionSpec, customID string, fields map[string]string) []byte {
	comps := []any{}
	id := 1
	for k, v := range fields {
		comps = append(comps, map[string]any{"type": 18, "id": id, "component": map[string]any{
			"type": 4, "id": id + 1, "custom_id": k, "value": v}})
		id += 2
	}
	return mustJSON(in.json(5, map[string]any{"custom_id": customID, "components": comps}))
}

// ButtonClick returns the data of an INTERACTION_CREATE for a click on a button (message
// component type 2) whose custom id is customID, on message (the message carrying the button: for
// an ephemeral answer, Discord sends it with flag 64 and the app as its author).
func ButtonClick(in InteractionSpec, customID string, message MessageSpec) []byte {
	msg := message.json()
	if message.Flags == 0 {
		msg["flags"] = 64
	}
	out := in.json(3, map[string]any{"custom_id": customID, "component_type": 2})
	out["message"] = msg
	return mustJSON(out)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of plain values are marshalled here
	}
	return b
}

// Inject delivers an event to a disgo client as if its gateway had received it, without a
// websocket: gateway.UnmarshalEventData, then EventManager.HandleGatewayEvent. The client needs a
// gateway (which need not be open).
func Inject(t testing.TB, c *bot.Client, typ gateway.EventType, raw []byte) {
	t.Helper()
	if c.Gateway == nil {
		t.Fatal("discordfake.Inject: the client has no gateway; build it in gateway mode")
	}
	data, err := gateway.UnmarshalEventData(raw, typ)
	if err != nil {
		t.Fatalf("discordfake.Inject: decode %s: %v", typ, err)
	}
	c.EventManager.HandleGatewayEvent(c.Gateway, typ, 1, data)
}
