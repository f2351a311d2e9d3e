package discordfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Routes, as recorded in Request.Route and accepted by FailNext. REST routes live under /api/v10.
const (
	RouteGateway             = "GET /gateway"
	RouteGatewayBot          = "GET /gateway/bot"
	RouteGlobalCommands      = "PUT /applications/{app}/commands"
	RouteGuildCommands       = "PUT /applications/{app}/guilds/{guild}/commands"
	RouteInteractionCallback = "POST /interactions/{id}/{token}/callback"
	RouteTyping              = "POST /channels/{channel}/typing"
	RouteCreateMessage       = "POST /channels/{channel}/messages"
	RouteGetMessages         = "GET /channels/{channel}/messages"
	RouteGetMessage          = "GET /channels/{channel}/messages/{message}"
	RouteGetChannel          = "GET /channels/{channel}"
	RouteListWebhooks        = "GET /channels/{channel}/webhooks"
	RouteCreateWebhook       = "POST /channels/{channel}/webhooks"
	RouteExecuteWebhook      = "POST /webhooks/{id}/{token}" // also interaction follow-ups (id = application id)
	RouteEditOriginal        = "PATCH /webhooks/{id}/{token}/messages/@original"
	RouteEditWebhookMessage  = "PATCH /webhooks/{id}/{token}/messages/{message}"
	RouteDeleteWebhookMsg    = "DELETE /webhooks/{id}/{token}/messages/{message}"
	RouteDeleteWebhook       = "DELETE /webhooks/{id}"
	RouteCreateDM            = "POST /users/@me/channels"
	RouteCDN                 = "GET /cdn/{path...}" // outside /api/v10
)

// MaxContent is Discord's limit on message content, in characters.
const MaxContent = 2000

type authKind int

const (
	authBot  authKind = iota // Authorization: Bot <token> required
	authNone                 // webhook and interaction routes: no Authorization expected
)

func (s *Server) routes(mux *http.ServeMux) {
	api := func(route string, auth authKind, h func(http.ResponseWriter, *http.Request, *Request)) {
		method, path, _ := strings.Cut(route, " ")
		mux.HandleFunc(method+" /api/v10"+path, s.wrap(route, auth, h))
	}
	api(RouteGateway, authNone, s.getGateway)
	api(RouteGatewayBot, authBot, s.getGatewayBot)
	api(RouteGlobalCommands, authBot, s.putCommands)
	api(RouteGuildCommands, authBot, s.putCommands)
	api(RouteInteractionCallback, authNone, s.interactionCallback)
	api(RouteTyping, authBot, s.sendTyping)
	api(RouteCreateMessage, authBot, s.createMessage)
	api(RouteGetMessages, authBot, s.getMessages)
	api(RouteGetMessage, authBot, s.getMessage)
	api(RouteGetChannel, authBot, s.getChannel)
	api(RouteListWebhooks, authBot, s.listWebhooks)
	api(RouteCreateWebhook, authBot, s.createWebhook)
	api(RouteExecuteWebhook, authNone, s.executeWebhook)
	api(RouteEditOriginal, authNone, s.editOriginal)
	api(RouteEditWebhookMessage, authNone, s.editWebhookMessage)
	api(RouteDeleteWebhookMsg, authNone, s.deleteWebhookMessage)
	api(RouteDeleteWebhook, authBot, s.deleteWebhook)
	api(RouteCreateDM, authBot, s.createDM)
	api(RouteGetMe, authBot, s.getMe)
	api(RouteGetApplication, authBot, s.getApplication)
	api(RouteGetMyGuilds, authBot, s.getMyGuilds)
	mux.HandleFunc(RouteCDN, s.wrap(RouteCDN, authNone, s.getCDN))
}

// wrap records the request, sets rate-limit headers, checks authorization and applies a queued
// failure before the route's handler runs.
func (s *Server) wrap(route string, auth authKind, h func(http.ResponseWriter, *http.Request, *Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec, err := readRequest(route, r)
		if err != nil {
			writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, *rec)
		s.mu.Unlock()

		h32 := fnv.New32a()
		h32.Write([]byte(route))
		w.Header().Set("X-RateLimit-Bucket", fmt.Sprintf("%08x", h32.Sum32()))
		w.Header().Set("X-RateLimit-Limit", "50")
		w.Header().Set("X-RateLimit-Remaining", "49")
		w.Header().Set("X-RateLimit-Reset-After", "1.000")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
		w.Header().Set("Via", "1.1 google")

		authz := r.Header.Get("Authorization")
		switch auth {
		case authBot:
			if authz != "Bot "+s.Token {
				writeError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
				return
			}
		case authNone:
			if authz != "" {
				s.violate("%s %s carried an Authorization header; webhook, interaction and CDN routes take none", r.Method, route)
			}
		}

		if !s.checkUploadSize(w, rec) {
			return
		}
		if !s.noteMessageBody(w, r, rec) {
			return
		}

		s.mu.Lock()
		var (
			f      Failure
			failed bool
		)
		if q := s.failures[route]; len(q) > 0 {
			f, failed = q[0], true
			s.failures[route] = q[1:]
		}
		s.mu.Unlock()
		if !failed || !f.active() {
			h(w, r, rec)
			return
		}
		if f.AfterProcessing {
			// Carry the request out, throw its answer away, then fail.
			h(newDiscardWriter(), r, rec)
		}
		if f.Reset {
			resetConnection(w)
			return
		}
		writeFailure(w, f)
	}
}

// resetConnection drops the connection without an answer, as a network failure would.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, not FIN
	}
	_ = conn.Close()
}

func readRequest(route string, r *http.Request) (*Request, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	rec := &Request{
		Method: r.Method, Route: route, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, PayloadJSON: body, At: time.Now(),
	}
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "multipart/form-data" {
		return rec, nil
	}
	rec.PayloadJSON = nil
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read multipart body: %w", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("read multipart part: %w", err)
		}
		if p.FormName() == "payload_json" {
			rec.PayloadJSON = data
			continue
		}
		ctype := p.Header.Get("Content-Type")
		if ct := typeByExtension(p.FileName()); ct != "" && (ctype == "" || ctype == "application/octet-stream") {
			// Discord names an upload's type from its extension when the client sent none.
			ctype = ct
		}
		rec.Files = append(rec.Files, File{Field: p.FormName(), Name: p.FileName(), ContentType: ctype, Data: data})
	}
	return rec, nil
}

// typeByExtension names a file's type from its extension, as Discord does for uploads sent as
// application/octet-stream (disgo sends every file so). The audio types are listed here because
// Go's own table depends on the machine's mime.types.
func typeByExtension(name string) string {
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".mp3":
		return "audio/mpeg"
	case ".ogg", ".opus":
		return "audio/ogg"
	case ".wav":
		return "audio/wav"
	default:
		return mime.TypeByExtension(ext)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{"message": message, "code": code})
}

func writeFailure(w http.ResponseWriter, f Failure) {
	if f.Status == http.StatusTooManyRequests {
		// The headers Discord sends with a route's 429 (a global one adds X-RateLimit-Global).
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset-After", fmt.Sprintf("%d.000", f.RetryAfter))
		w.Header().Set("X-RateLimit-Reset", fmt.Sprintf("%.3f", float64(time.Now().Add(time.Duration(f.RetryAfter)*time.Second).UnixMilli())/1000))
		w.Header().Set("X-RateLimit-Scope", "user")
		msg := f.Message
		if msg == "" {
			msg = "You are being rate limited."
		}
		writeJSON(w, f.Status, map[string]any{"message": msg, "retry_after": f.RetryAfter, "global": false})
		return
	}
	msg := f.Message
	if msg == "" {
		msg = fmt.Sprintf("%d: %s", f.Status, http.StatusText(f.Status))
	}
	writeError(w, f.Status, f.Code, msg)
}

// ---- payload checks ------------------------------------------------------------------------

// messagePayload is the part of a message create/edit/execute body the fake looks at.
type messagePayload struct {
	Content          *string           `json:"content"`
	Username         *string           `json:"username"`
	AvatarURL        string            `json:"avatar_url"`
	Flags            int               `json:"flags"`
	Embeds           []json.RawMessage `json:"embeds"`
	AllowedMentions  json.RawMessage   `json:"allowed_mentions"`
	Nonce            flexID            `json:"nonce"`
	EnforceNonce     bool              `json:"enforce_nonce"`
	MessageReference *struct {
		MessageID flexID `json:"message_id"`
	} `json:"message_reference"`
}

// flexID accepts a snowflake sent as a JSON string or number.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	*f = flexID(strings.Trim(string(b), `"`))
	return nil
}

func (p messagePayload) content() string {
	if p.Content == nil {
		return ""
	}
	return *p.Content
}

// checkContent applies Discord's content rules; it writes the error and returns false when one
// is broken. empty reports whether an empty message is acceptable (edits may clear content).
func (s *Server) checkContent(w http.ResponseWriter, route string, p messagePayload, files int, allowEmpty bool) bool {
	c := p.content()
	if n := utf8.RuneCountInString(c); n > MaxContent {
		s.violate("%s: content of %d characters (limit %d)", route, n, MaxContent)
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"message": "Invalid Form Body", "code": 50035,
			"errors": map[string]any{"content": map[string]any{"_errors": []any{map[string]any{
				"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}}}},
		})
		return false
	}
	if !allowEmpty && strings.TrimSpace(c) == "" && files == 0 && len(p.Embeds) == 0 {
		s.violate("%s: empty message", route)
		writeError(w, http.StatusBadRequest, 50006, "Cannot send an empty message")
		return false
	}
	return true
}

// checkWebhookName applies Discord's rules for webhook names and username overrides.
func (s *Server) checkWebhookName(w http.ResponseWriter, route, field, name string) bool {
	problem := ""
	lower := strings.ToLower(name)
	switch n := utf8.RuneCountInString(name); {
	case n < 1 || n > 80:
		problem = fmt.Sprintf("must be 1-80 characters, got %d", n)
	case strings.Contains(lower, "clyde"):
		problem = `must not contain "clyde"`
	case strings.Contains(lower, "discord"):
		problem = `must not contain "discord"`
	}
	if problem == "" {
		return true
	}
	s.violate("%s: webhook %s %q %s", route, field, name, problem)
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"message": "Invalid Form Body", "code": 50035,
		"errors": map[string]any{field: map[string]any{"_errors": []any{map[string]any{
			"code": "USERNAME_INVALID", "message": "Username " + problem}}}},
	})
	return false
}

func decodePayload(w http.ResponseWriter, rec *Request) (messagePayload, bool) {
	var p messagePayload
	if len(rec.PayloadJSON) == 0 {
		return p, true
	}
	if err := json.Unmarshal(rec.PayloadJSON, &p); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return p, false
	}
	return p, true
}

// ---- handlers ------------------------------------------------------------------------------

func (s *Server) getGateway(w http.ResponseWriter, _ *http.Request, _ *Request) {
	writeJSON(w, http.StatusOK, map[string]any{"url": s.GatewayURL()})
}

func (s *Server) getGatewayBot(w http.ResponseWriter, _ *http.Request, _ *Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"url": s.GatewayURL(), "shards": 1,
		"session_start_limit": map[string]any{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 16},
	})
}

func (s *Server) putCommands(w http.ResponseWriter, r *http.Request, rec *Request) {
	var cmds []map[string]any
	if err := json.Unmarshal(rec.Body, &cmds); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	if r.PathValue("app") != s.AppID {
		writeError(w, http.StatusForbidden, 50001, "Missing Access")
		return
	}
	s.mu.Lock()
	s.commandPuts = append(s.commandPuts, rec.Body)
	for _, c := range cmds {
		c["id"] = s.newIDLocked()
		c["application_id"] = s.AppID
		c["version"] = s.newIDLocked()
		if g := r.PathValue("guild"); g != "" {
			c["guild_id"] = g
		}
		if _, ok := c["type"]; !ok {
			c["type"] = 1
		}
	}
	s.mu.Unlock()
	if cmds == nil {
		cmds = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, cmds)
}

func (s *Server) interactionCallback(w http.ResponseWriter, r *http.Request, rec *Request) {
	var body struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.PayloadJSON, &body); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	var p messagePayload
	if len(body.Data) > 0 {
		_ = json.Unmarshal(body.Data, &p)
	}
	if (body.Type == 4 || body.Type == 7) && !s.checkContent(w, RouteInteractionCallback, p, len(rec.Files), false) {
		return
	}
	token := r.PathValue("token")
	s.mu.Lock()
	s.responses = append(s.responses, InteractionResponse{InteractionID: r.PathValue("id"), Token: token,
		Type: body.Type, Content: p.content(), Flags: p.Flags, Data: string(body.Data)})
	switch body.Type {
	case 4, 7: // message (or update) with source
		s.originals[token] = &Message{ID: s.newIDLocked(), Content: p.content(), Flags: p.Flags,
			AllowedMentions: string(p.AllowedMentions), AuthorID: s.AppID, Bot: true, Files: rec.Files, CreatedAt: time.Now()}
		applyMentions(s.originals[token], "")
	case 5: // deferred: Discord shows "thinking..." until @original is edited
		if _, edited := s.originals[token]; edited {
			// An answer given over HTTP (AnsweredOverHTTP) can reach the fake after the edit
			// that followed it; Discord saw them in order, so the edit stands.
			break
		}
		s.originals[token] = &Message{ID: s.newIDLocked(), Flags: p.Flags, AllowedMentions: string(p.AllowedMentions),
			AuthorID: s.AppID, Bot: true, CreatedAt: time.Now()}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) sendTyping(w http.ResponseWriter, r *http.Request, _ *Request) {
	ch, ok := s.readableChannel(w, r.PathValue("channel"))
	if !ok {
		return
	}
	s.mu.Lock()
	s.typing[ch.ID]++
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// readableChannel looks a channel up and answers 404 or 403 when the bot cannot use it.
func (s *Server) readableChannel(w http.ResponseWriter, id string) (Channel, bool) {
	s.mu.Lock()
	c, ok := s.channels[id]
	var cc Channel
	if ok {
		cc = *c
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return Channel{}, false
	}
	if cc.Unreadable {
		writeError(w, http.StatusForbidden, 50001, "Missing Access")
		return Channel{}, false
	}
	return cc, true
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request, rec *Request) {
	ch, ok := s.readableChannel(w, r.PathValue("channel"))
	if !ok {
		return
	}
	p, ok := decodePayload(w, rec)
	if !ok || !s.checkContent(w, RouteCreateMessage, p, len(rec.Files), false) {
		return
	}
	s.mu.Lock()
	blocked := ch.Type == ChannelDM && s.blockedDMs[ch.Recipient]
	s.mu.Unlock()
	if blocked {
		writeError(w, http.StatusForbidden, 50007, "Cannot send messages to this user")
		return
	}
	// With enforce_nonce, Discord answers a message sent again with the same nonce (by the same
	// author, within a few minutes) with the message it already created.
	nonceKey := ""
	if p.EnforceNonce && p.Nonce != "" {
		nonceKey = ch.ID + "/" + string(p.Nonce)
		s.mu.Lock()
		prev, seen := s.nonces[nonceKey]
		s.mu.Unlock()
		if seen {
			writeJSON(w, http.StatusOK, s.messageJSON(prev))
			return
		}
	}
	m := &Message{ChannelID: ch.ID, GuildID: ch.GuildID, Content: p.content(), AuthorID: s.AppID,
		AuthorName: "fake-bot", Bot: true, Flags: p.Flags, AllowedMentions: string(p.AllowedMentions),
		Files: rec.Files, CreatedAt: time.Now()}
	if p.MessageReference != nil {
		m.ReferenceID = string(p.MessageReference.MessageID)
	}
	s.store(m)
	if nonceKey != "" {
		s.mu.Lock()
		s.nonces[nonceKey] = m
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, s.messageJSON(m))
}

// store assigns an id, files on the CDN, and appends m to its channel.
func (s *Server) store(m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.ID = s.newIDLocked()
	for _, f := range m.Files {
		m.Attachments = append(m.Attachments, s.addCDNFileLocked(f.Name, f.ContentType, f.Data))
	}
	replied := ""
	for _, r := range s.messages[m.ChannelID] {
		if m.ReferenceID != "" && r.ID == m.ReferenceID {
			replied = r.AuthorID
		}
	}
	applyMentions(m, replied)
	s.messages[m.ChannelID] = append(s.messages[m.ChannelID], m)
}

func (s *Server) getMessages(w http.ResponseWriter, r *http.Request, _ *Request) {
	ch, ok := s.readableChannel(w, r.PathValue("channel"))
	if !ok {
		return
	}
	limit := 50
	if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l >= 1 && l <= 100 {
		limit = l
	}
	before := r.URL.Query().Get("before")
	s.mu.Lock()
	msgs := slices.Clone(s.messages[ch.ID])
	s.mu.Unlock()
	out := []any{}
	for i := len(msgs) - 1; i >= 0 && len(out) < limit; i-- { // newest first, as Discord answers
		if before != "" && compareIDs(msgs[i].ID, before) >= 0 {
			continue
		}
		out = append(out, s.messageJSON(msgs[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, _ *Request) {
	ch, ok := s.readableChannel(w, r.PathValue("channel"))
	if !ok {
		return
	}
	if m := s.findMessage(ch.ID, r.PathValue("message")); m != nil {
		writeJSON(w, http.StatusOK, s.messageJSON(m))
		return
	}
	writeError(w, http.StatusNotFound, 10008, "Unknown Message")
}

func (s *Server) findMessage(channelID, id string) *Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages[channelID] {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request, _ *Request) {
	ch, ok := s.readableChannel(w, r.PathValue("channel"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.channelJSON(ch))
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, _ *Request) {
	ch, ok := s.readableChannel(w, r.PathValue("channel"))
	if !ok {
		return
	}
	if ch.NoManageWebhooks {
		writeError(w, http.StatusForbidden, 50013, "Missing Permissions")
		return
	}
	out := []any{}
	for _, wh := range s.Webhooks(ch.ID) {
		out = append(out, webhookJSON(wh))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, rec *Request) {
	ch, ok := s.readableChannel(w, r.PathValue("channel"))
	if !ok {
		return
	}
	if ch.Type == ChannelPublicThread {
		s.violate("%s: webhook created on thread %s; create it on the parent channel", RouteCreateWebhook, ch.ID)
		writeError(w, http.StatusBadRequest, 50024, "Cannot execute action on this channel type")
		return
	}
	if ch.NoManageWebhooks {
		writeError(w, http.StatusForbidden, 50013, "Missing Permissions")
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	if !s.checkWebhookName(w, RouteCreateWebhook, "name", body.Name) {
		return
	}
	wh := s.AddWebhook(Webhook{ChannelID: ch.ID, GuildID: ch.GuildID, Name: body.Name, ApplicationID: s.AppID})
	s.mu.Lock()
	s.created++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, webhookJSON(wh))
}

func (s *Server) executeWebhook(w http.ResponseWriter, r *http.Request, rec *Request) {
	id, token := r.PathValue("id"), r.PathValue("token")
	p, ok := decodePayload(w, rec)
	if !ok {
		return
	}
	if id == s.AppID { // an interaction follow-up
		if !s.checkContent(w, RouteExecuteWebhook, p, len(rec.Files), false) {
			return
		}
		m := &Message{Content: p.content(), Flags: p.Flags, AllowedMentions: string(p.AllowedMentions),
			AuthorID: s.AppID, Bot: true, Files: rec.Files, CreatedAt: time.Now()}
		applyMentions(m, "")
		s.mu.Lock()
		m.ID = s.newIDLocked()
		for _, f := range m.Files {
			m.Attachments = append(m.Attachments, s.addCDNFileLocked(f.Name, f.ContentType, f.Data))
		}
		s.followUps[token] = append(s.followUps[token], m)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.messageJSON(m))
		return
	}

	hook, ok := s.webhookFor(w, id, token)
	if !ok || !s.webhookAllow(w, id) {
		return
	}
	if !s.checkContent(w, RouteExecuteWebhook, p, len(rec.Files), false) {
		return
	}
	username := hook.Name
	if p.Username != nil && *p.Username != "" {
		if !s.checkWebhookName(w, RouteExecuteWebhook, "username", *p.Username) {
			return
		}
		username = *p.Username
	}
	target := hook.ChannelID
	threadID := r.URL.Query().Get("thread_id")
	if threadID != "" {
		s.mu.Lock()
		th := s.channels[threadID]
		valid := th != nil && th.Type == ChannelPublicThread && th.Parent == hook.ChannelID
		s.mu.Unlock()
		if !valid {
			s.violate("%s: thread_id %s is not a thread of the webhook's channel %s", RouteExecuteWebhook, threadID, hook.ChannelID)
			writeError(w, http.StatusBadRequest, 10003, "Unknown Channel")
			return
		}
		target = threadID
	}
	m := &Message{ChannelID: target, GuildID: hook.GuildID, Content: p.content(), AuthorID: hook.ID,
		AuthorName: username, Bot: true, WebhookID: hook.ID, AvatarURL: p.AvatarURL, ThreadID: threadID,
		Flags: p.Flags, AllowedMentions: string(p.AllowedMentions), Files: rec.Files, CreatedAt: time.Now()}
	s.store(m)
	if r.URL.Query().Get("wait") != "true" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, s.messageJSON(m))
}

func (s *Server) editOriginal(w http.ResponseWriter, r *http.Request, rec *Request) {
	p, ok := decodePayload(w, rec)
	if !ok || !s.checkContent(w, RouteEditOriginal, p, len(rec.Files), true) {
		return
	}
	if r.PathValue("id") != s.AppID {
		writeError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return
	}
	token := r.PathValue("token")
	s.mu.Lock()
	m, ok := s.originals[token]
	if !ok {
		// The initial response went out as an HTTP response body (HTTP-interactions mode), which
		// the fake never saw; Discord has it, so the edit applies to it.
		m = &Message{ID: s.newIDLocked(), AuthorID: s.AppID, Bot: true, CreatedAt: time.Now()}
		s.originals[token] = m
	}
	if p.Content != nil {
		m.Content = *p.Content
	}
	if len(p.AllowedMentions) > 0 {
		m.AllowedMentions = string(p.AllowedMentions)
	}
	applyMentions(m, "")
	for _, f := range rec.Files {
		m.Files = append(m.Files, f)
		m.Attachments = append(m.Attachments, s.addCDNFileLocked(f.Name, f.ContentType, f.Data))
	}
	cp := *m
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.messageJSON(&cp))
}

func (s *Server) editWebhookMessage(w http.ResponseWriter, r *http.Request, rec *Request) {
	p, ok := decodePayload(w, rec)
	if !ok || !s.checkContent(w, RouteEditWebhookMessage, p, len(rec.Files), true) {
		return
	}
	id, token, msgID := r.PathValue("id"), r.PathValue("token"), r.PathValue("message")
	if id != s.AppID {
		if _, ok := s.webhookFor(w, id, token); !ok || !s.webhookAllow(w, id) {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found := s.webhookMessageLocked(id, token, msgID, r.URL.Query().Get("thread_id"))
	if found == nil {
		writeError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	if p.Content != nil {
		found.Content = *p.Content
	}
	if len(p.AllowedMentions) > 0 {
		found.AllowedMentions = string(p.AllowedMentions)
	}
	// New files are added to the message's attachments (Discord keeps the old ones unless the
	// edit's attachments array says otherwise; the bot never removes any).
	for _, f := range rec.Files {
		found.Files = append(found.Files, f)
		found.Attachments = append(found.Attachments, s.addCDNFileLocked(f.Name, f.ContentType, f.Data))
	}
	found.EditedAt = time.Now()
	applyMentions(found, "")
	if s.edits == nil {
		s.edits = map[string][]Edit{}
	}
	s.edits[found.ID] = append(s.edits[found.ID], Edit{Content: found.Content, Files: len(rec.Files), At: found.EditedAt})
	cp := *found
	writeJSON(w, http.StatusOK, s.messageJSONLocked(&cp))
}

// webhookMessageLocked finds a message the webhook id posted (or an interaction follow-up when
// id is the application's). A message in a thread is found only with its thread_id, as on
// Discord, which looks in the webhook's own channel otherwise.
func (s *Server) webhookMessageLocked(id, token, msgID, threadID string) *Message {
	if id == s.AppID {
		for _, m := range s.followUps[token] {
			if m.ID == msgID {
				return m
			}
		}
		return nil
	}
	for _, msgs := range s.messages {
		for _, m := range msgs {
			if m.ID == msgID && m.WebhookID == id && m.ThreadID == threadID {
				return m
			}
		}
	}
	return nil
}

func (s *Server) deleteWebhookMessage(w http.ResponseWriter, r *http.Request, _ *Request) {
	id, token, msgID := r.PathValue("id"), r.PathValue("token"), r.PathValue("message")
	if _, ok := s.webhookFor(w, id, token); !ok || !s.webhookAllow(w, id) {
		return
	}
	s.mu.Lock()
	found := s.webhookMessageLocked(id, token, msgID, r.URL.Query().Get("thread_id"))
	if found != nil {
		msgs := s.messages[found.ChannelID]
		s.messages[found.ChannelID] = slices.DeleteFunc(msgs, func(m *Message) bool { return m == found })
	}
	s.mu.Unlock()
	if found == nil {
		writeError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhookFor checks a webhook route's id and token as Discord does (10015 Unknown Webhook, 50027
// Invalid Webhook Token) and returns the webhook.
func (s *Server) webhookFor(w http.ResponseWriter, id, token string) (Webhook, bool) {
	s.mu.Lock()
	wh, exists := s.webhooks[id]
	var hook Webhook
	if exists {
		hook = *wh
	}
	s.mu.Unlock()
	switch {
	case !exists:
		writeError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return hook, false
	case hook.Token != token:
		writeError(w, http.StatusUnauthorized, 50027, "Invalid Webhook Token")
		return hook, false
	}
	return hook, true
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, _ *Request) {
	s.mu.Lock()
	_, ok := s.webhooks[r.PathValue("id")]
	delete(s.webhooks, r.PathValue("id"))
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createDM(w http.ResponseWriter, _ *http.Request, rec *Request) {
	var body struct {
		RecipientID flexID `json:"recipient_id"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil || body.RecipientID == "" {
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	user := string(body.RecipientID)
	s.mu.Lock()
	id, ok := s.dms[user]
	s.mu.Unlock()
	var ch Channel
	if ok {
		s.mu.Lock()
		ch = *s.channels[id]
		s.mu.Unlock()
	} else {
		ch = s.AddChannel(Channel{Type: ChannelDM, Recipient: user})
	}
	writeJSON(w, http.StatusOK, s.channelJSON(ch))
}

func (s *Server) getCDN(w http.ResponseWriter, r *http.Request, _ *Request) {
	s.mu.Lock()
	f, ok := s.cdn[r.PathValue("path")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	_, _ = w.Write(f.data)
}

// ---- JSON shapes ---------------------------------------------------------------------------

func (s *Server) messageJSON(m *Message) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messageJSONLocked(m)
}

func (s *Server) messageJSONLocked(m *Message) map[string]any {
	author := map[string]any{"id": m.AuthorID, "username": m.AuthorName, "discriminator": "0", "global_name": nil}
	if m.Bot {
		author["bot"] = true
	}
	if m.WebhookID != "" {
		author["discriminator"] = "0000"
		if m.AvatarURL != "" {
			author["avatar"] = nil
		}
	}
	atts := []any{}
	for _, a := range m.Attachments {
		atts = append(atts, attachmentJSON(a))
	}
	mentions, roles := []any{}, []any{}
	for _, id := range m.MentionUsers {
		mentions = append(mentions, map[string]any{"id": id, "username": "user-" + id, "discriminator": "0", "global_name": nil})
	}
	for _, id := range m.MentionRoles {
		roles = append(roles, id)
	}
	out := map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "type": 0, "content": m.Content, "author": author,
		"timestamp": m.CreatedAt.UTC().Format(time.RFC3339Nano), "edited_timestamp": nil, "tts": false,
		"mention_everyone": m.MentionEveryone, "mentions": mentions, "mention_roles": roles, "attachments": atts,
		"embeds": []any{}, "pinned": false, "flags": m.Flags,
	}
	if !m.EditedAt.IsZero() {
		out["edited_timestamp"] = m.EditedAt.UTC().Format(time.RFC3339Nano)
	}
	if m.ChannelID == "" {
		// An interaction's @original: the callback does not say where it is, and disgo cannot
		// parse an empty snowflake.
		delete(out, "channel_id")
	}
	if m.GuildID != "" {
		out["guild_id"] = m.GuildID
	}
	if m.WebhookID != "" {
		out["webhook_id"] = m.WebhookID
	}
	if m.ReferenceID != "" {
		out["type"] = 19
		out["message_reference"] = map[string]any{"type": 0, "message_id": m.ReferenceID, "channel_id": m.ChannelID}
		for _, r := range s.messages[m.ChannelID] {
			if r.ID == m.ReferenceID && r != m {
				ref := *r
				ref.ReferenceID = "" // one level, as Discord sends
				out["referenced_message"] = s.messageJSONLocked(&ref)
			}
		}
	}
	return out
}

func attachmentJSON(a Attachment) map[string]any {
	out := map[string]any{"id": a.ID, "filename": a.Filename, "content_type": a.ContentType, "size": a.Size,
		"url": a.URL, "proxy_url": a.URL, "flags": 0}
	if a.DurationSecs > 0 {
		out["duration_secs"] = a.DurationSecs
	}
	if a.Waveform != "" {
		out["waveform"] = a.Waveform
	}
	return out
}

func (s *Server) channelJSON(c Channel) map[string]any {
	out := map[string]any{"id": c.ID, "type": c.Type, "name": c.Name, "flags": 0}
	if c.GuildID != "" {
		out["guild_id"] = c.GuildID
		// Discord sends nsfw (age-restricted) on guild channels; threads inherit their
		// parent's and say so in their own object.
		out["nsfw"] = c.NSFW
		out["position"] = 0
		out["permission_overwrites"] = []any{}
	}
	switch c.Type {
	case ChannelPublicThread:
		out["parent_id"] = c.Parent
		out["owner_id"] = s.AppID
		out["message_count"] = 0
		out["member_count"] = 1
		out["thread_metadata"] = map[string]any{"archived": false, "auto_archive_duration": 1440,
			"archive_timestamp": time.Now().UTC().Format(time.RFC3339), "locked": false}
	case ChannelDM:
		out["recipients"] = []any{map[string]any{"id": c.Recipient, "username": "user-" + c.Recipient, "discriminator": "0"}}
		delete(out, "name")
	}
	return out
}

func webhookJSON(w Webhook) map[string]any {
	out := map[string]any{"id": w.ID, "type": 1, "channel_id": w.ChannelID, "name": w.Name, "token": w.Token,
		"avatar": nil}
	if w.GuildID != "" {
		out["guild_id"] = w.GuildID
	}
	if w.ApplicationID != "" {
		out["application_id"] = w.ApplicationID
	} else {
		out["application_id"] = nil
	}
	return out
}

// checkUploadSize answers 413 as Discord does when a request's files add up to more than the
// upload limit (JSON code 40005, "Request entity too large"); nothing is posted.
func (s *Server) checkUploadSize(w http.ResponseWriter, rec *Request) bool {
	var total int64
	for _, f := range rec.Files {
		total += int64(len(f.Data))
	}
	s.mu.Lock()
	limit := s.uploadLimit
	s.mu.Unlock()
	if len(rec.Files) == 0 || total <= limit {
		return true
	}
	writeError(w, http.StatusRequestEntityTooLarge, 40005, "Request entity too large")
	return false
}
