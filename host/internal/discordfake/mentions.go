package discordfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Allowed mentions.
//
// Discord does not refuse a message without allowed_mentions: it pings everything the content
// names (@everyone and @here, every <@&role>, every <@user>) and, for a reply, the replied-to
// author. So a body that forgets allowed_mentions works in every test and pings a whole server in
// production. The fake behaves like Discord (the stored message gets the pings Discord would
// deliver: MentionEveryone, MentionUsers, MentionRoles) and additionally records every body that
// creates or edits a message, so a test can check each one stated allowed_mentions and allowed no
// more than the project means to (MentionProblems; New checks it when the test ends).

// MessageKind says which kind of message a body creates or edits.
type MessageKind string

// Message kinds.
const (
	// KindInteractionResponse is an initial interaction response that creates or updates a
	// message (callback types 4, 5 and 7; type 5, "thinking…", becomes the answer when edited; a
	// bare {"type":5} carries no message data and is not recorded).
	KindInteractionResponse MessageKind = "interaction response"
	// KindInteractionEdit edits an interaction's @original or one of its follow-ups.
	KindInteractionEdit MessageKind = "interaction edit"
	// KindFollowUp is an interaction follow-up message.
	KindFollowUp MessageKind = "interaction follow-up"
	// KindWebhook is a webhook message (execute) or an edit of one.
	KindWebhook MessageKind = "webhook message"
	// KindChannelMessage is a message the bot posts in a channel or DM.
	KindChannelMessage MessageKind = "channel message"
)

// Mentions is what a message may ping.
type Mentions struct {
	Everyone    bool // @everyone and @here
	Roles       bool // <@&role> (any role when parsed, some when listed)
	Users       bool // <@user> (any user when parsed, some when listed)
	RepliedUser bool // the author of the message replied to
}

func (m Mentions) String() string {
	var parts []string
	for _, p := range []struct {
		on   bool
		name string
	}{{m.Everyone, "@everyone/@here"}, {m.Roles, "roles"}, {m.Users, "users"}, {m.RepliedUser, "the replied-to author"}} {
		if p.on {
			parts = append(parts, p.name)
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// exceeds lists what m allows beyond limit.
func (m Mentions) exceeds(limit Mentions) Mentions {
	return Mentions{
		Everyone: m.Everyone && !limit.Everyone, Roles: m.Roles && !limit.Roles,
		Users: m.Users && !limit.Users, RepliedUser: m.RepliedUser && !limit.RepliedUser,
	}
}

// everything is what Discord pings when a body has no allowed_mentions.
var everything = Mentions{Everyone: true, Roles: true, Users: true, RepliedUser: true}

// ProjectMentionLimit is tzurot's rule and the fake's default limit: replies to slash commands
// (interaction responses, edits, follow-ups) ping nobody; personalities (webhooks) and the
// bot's own messages may ping the users they name, never @everyone, @here or roles, and the bot
// does not ping the author of a message it replies to.
func ProjectMentionLimit(kind MessageKind) Mentions {
	switch kind {
	case KindWebhook, KindChannelMessage:
		return Mentions{Users: true}
	}
	return Mentions{}
}

// WithMentionLimit replaces ProjectMentionLimit as the most each kind of message may allow.
func WithMentionLimit(limit func(MessageKind) Mentions) Option {
	return func(s *Server) { s.mentionLimit = limit }
}

// MessageBody is one recorded request body that creates or edits a message.
type MessageBody struct {
	Route string
	Kind  MessageKind
	// Content is the content the body set, if any.
	Content string
	// AllowedMentions is the allowed_mentions object as sent (JSON); empty when absent.
	AllowedMentions string
	// Allows is what Discord would let this body ping (everything when AllowedMentions is empty).
	Allows Mentions
}

// MessageBodies returns every body that created or edited a message, in order, whatever the
// answer was (a body is sent, and would ping, even when the fake then fails the request).
func (s *Server) MessageBodies() []MessageBody {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}

// MentionProblems lists the message bodies that did not state allowed_mentions or allowed more
// than the limit (ProjectMentionLimit unless WithMentionLimit), in words.
func (s *Server) MentionProblems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mentionProblems)
}

// AssertMentionsSafe fails the test for each entry of MentionProblems. New calls it when the
// test ends, so every test that talks to the fake checks every message body it caused.
func (s *Server) AssertMentionsSafe(t testing.TB) {
	t.Helper()
	for _, p := range s.MentionProblems() {
		t.Errorf("unsafe mentions: %s", p)
	}
}

// allowedMentions is Discord's allowed_mentions object. Fields are raw so that a missing field and
// null can be told from an empty list.
type allowedMentions struct {
	Parse       *[]string `json:"parse"`
	Roles       *[]flexID `json:"roles"`
	Users       *[]flexID `json:"users"`
	RepliedUser bool      `json:"replied_user"`
}

// parseAllowedMentions reads raw (the allowed_mentions value, possibly empty) and returns what it
// allows, the object, and a Discord validation error (empty when valid).
func parseAllowedMentions(raw json.RawMessage) (Mentions, *allowedMentions, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return everything, nil, ""
	}
	var am allowedMentions
	if err := json.Unmarshal(raw, &am); err != nil {
		return everything, nil, "allowed_mentions is not an object"
	}
	var m Mentions
	if am.Parse != nil {
		for _, p := range *am.Parse {
			switch p {
			case "everyone":
				m.Everyone = true
			case "roles":
				m.Roles = true
			case "users":
				m.Users = true
			default:
				return m, &am, fmt.Sprintf("allowed_mentions.parse: %q is not one of everyone, roles, users", p)
			}
		}
	}
	if am.Roles != nil && len(*am.Roles) > 0 {
		if m.Roles {
			return m, &am, "allowed_mentions: parse roles and a roles list are mutually exclusive"
		}
		m.Roles = true
	}
	if am.Users != nil && len(*am.Users) > 0 {
		if m.Users {
			return m, &am, "allowed_mentions: parse users and a users list are mutually exclusive"
		}
		m.Users = true
	}
	m.RepliedUser = am.RepliedUser
	return m, &am, ""
}

// messageKind returns the kind of message the request creates or edits, or "" when it does not.
func (s *Server) messageKind(rec *Request, r *http.Request) MessageKind {
	switch rec.Route {
	case RouteCreateMessage:
		return KindChannelMessage
	case RouteExecuteWebhook:
		if r.PathValue("id") == s.AppID {
			return KindFollowUp
		}
		return KindWebhook
	case RouteEditOriginal:
		return KindInteractionEdit
	case RouteEditWebhookMessage:
		if r.PathValue("id") == s.AppID {
			return KindInteractionEdit
		}
		return KindWebhook
	case RouteInteractionCallback:
		var body struct {
			Type int `json:"type"`
		}
		if json.Unmarshal(rec.PayloadJSON, &body) == nil && (body.Type == 4 || body.Type == 5 || body.Type == 7) {
			return KindInteractionResponse
		}
	}
	return ""
}

// messageBodyPayload is the data object of a request that creates or edits a message.
func messageBodyPayload(rec *Request) []byte {
	if rec.Route != RouteInteractionCallback {
		return rec.PayloadJSON
	}
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(rec.PayloadJSON, &body)
	return body.Data
}

// noteMessageBody records a body that creates or edits a message and checks its allowed_mentions
// against the limit. It answers 400 (and returns false) when Discord would refuse the object.
func (s *Server) noteMessageBody(w http.ResponseWriter, r *http.Request, rec *Request) bool {
	kind := s.messageKind(rec, r)
	data := messageBodyPayload(rec)
	if kind == "" || (rec.Route == RouteInteractionCallback && (len(data) == 0 || string(data) == "null")) {
		// Not a message, or a bare deferral ({"type":5}): no message data, nothing to ping.
		return true
	}
	var p struct {
		Content         *string         `json:"content"`
		AllowedMentions json.RawMessage `json:"allowed_mentions"`
	}
	_ = json.Unmarshal(data, &p)
	allows, _, invalid := parseAllowedMentions(p.AllowedMentions)
	b := MessageBody{Route: rec.Route, Kind: kind, AllowedMentions: string(p.AllowedMentions), Allows: allows}
	if p.Content != nil {
		b.Content = *p.Content
	}
	limit := ProjectMentionLimit
	if s.mentionLimit != nil {
		limit = s.mentionLimit
	}
	var problem string
	switch over := allows.exceeds(limit(kind)); {
	case len(p.AllowedMentions) == 0 || string(p.AllowedMentions) == "null":
		problem = fmt.Sprintf("%s (%s) has no allowed_mentions, so Discord would ping everything its content names (@everyone, roles, users); state it explicitly", rec.Route, kind)
	case over != Mentions{}:
		problem = fmt.Sprintf("%s (%s) allows %s to be pinged: %s, more than a %s may (%s)", rec.Route, kind, over, b.AllowedMentions, kind, limit(kind))
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, b)
	if problem != "" {
		s.mentionProblems = append(s.mentionProblems, problem)
	}
	s.mu.Unlock()
	if invalid != "" {
		s.violate("%s: %s", rec.Route, invalid)
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"message": "Invalid Form Body", "code": 50035,
			"errors": map[string]any{"allowed_mentions": map[string]any{"_errors": []any{map[string]any{
				"code": "ALLOWED_MENTIONS_INVALID", "message": invalid}}}},
		})
		return false
	}
	return true
}

var (
	everyoneRe = regexp.MustCompile(`@(everyone|here)\b`)
	userRe     = regexp.MustCompile(`<@!?(\d+)>`)
	roleRe     = regexp.MustCompile(`<@&(\d+)>`)
)

// applyMentions sets the pings Discord would deliver for m (its Content, AllowedMentions and
// ReferenceID): nothing the allowed_mentions object leaves out.
func applyMentions(m *Message, repliedAuthor string) {
	allows, am, _ := parseAllowedMentions(json.RawMessage(m.AllowedMentions))
	m.MentionEveryone = allows.Everyone && everyoneRe.MatchString(m.Content)
	listed := func(list *[]flexID, id string) bool {
		return list != nil && slices.Contains(*list, flexID(id))
	}
	m.MentionUsers, m.MentionRoles = nil, nil
	for _, g := range userRe.FindAllStringSubmatch(m.Content, -1) {
		parsed := am == nil || (am.Parse != nil && slices.Contains(*am.Parse, "users"))
		if (parsed || (am != nil && listed(am.Users, g[1]))) && !slices.Contains(m.MentionUsers, g[1]) {
			m.MentionUsers = append(m.MentionUsers, g[1])
		}
	}
	for _, g := range roleRe.FindAllStringSubmatch(m.Content, -1) {
		parsed := am == nil || (am.Parse != nil && slices.Contains(*am.Parse, "roles"))
		if (parsed || (am != nil && listed(am.Roles, g[1]))) && !slices.Contains(m.MentionRoles, g[1]) {
			m.MentionRoles = append(m.MentionRoles, g[1])
		}
	}
	if repliedAuthor != "" && allows.RepliedUser && !slices.Contains(m.MentionUsers, repliedAuthor) {
		m.MentionUsers = append(m.MentionUsers, repliedAuthor)
	}
}

// AnsweredOverHTTP records the answer a bot in HTTP-interactions mode gave, as the body of its
// HTTP response, to the interaction it was sent (interaction is that request's body). Discord
// receives that answer as it receives a REST callback, so the fake treats it the same way: it is
// listed by InteractionResponses, becomes the @original a later edit changes, and is checked like
// every other message body (allowed_mentions included). It is not listed by Requests: the bot made
// no request. It returns an error when either body is not an interaction.
func (s *Server) AnsweredOverHTTP(interaction, response []byte) error {
	var in struct {
		ID    flexID `json:"id"`
		Token string `json:"token"`
		Type  int    `json:"type"`
	}
	if err := json.Unmarshal(interaction, &in); err != nil || in.ID == "" || in.Token == "" {
		return fmt.Errorf("discordfake: the interaction body has no id and token: %s", interaction)
	}
	r := httptestRequest(RouteInteractionCallback, map[string]string{"id": string(in.ID), "token": in.Token})
	rec := &Request{Method: http.MethodPost, Route: RouteInteractionCallback, Path: r.URL.Path, Body: response, PayloadJSON: response}
	w := newDiscardWriter()
	if !s.noteMessageBody(w, r, rec) {
		return fmt.Errorf("discordfake: Discord would refuse the answer: %s", response)
	}
	s.interactionCallback(w, r, rec)
	if w.status >= 300 {
		return fmt.Errorf("discordfake: Discord would refuse the answer (%d): %s", w.status, response)
	}
	return nil
}

// httptestRequest builds the request a route handler expects, path values set.
func httptestRequest(route string, values map[string]string) *http.Request {
	method, path, _ := strings.Cut(route, " ")
	for k, v := range values {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	r, _ := http.NewRequest(method, "http://fake/api/v10"+path, nil)
	for k, v := range values {
		r.SetPathValue(k, v)
	}
	return r
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func newDiscardWriter() *discardWriter {
	return &discardWriter{h: http.Header{}, status: http.StatusOK}
}
func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(status int)      { d.status = status }
