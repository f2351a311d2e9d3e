// Package discordfake is a fake Discord for tests: REST under /api/v10 and a websocket gateway,
// both on a loopback httptest server, plus builders for the JSON payloads Discord sends and a
// helper to inject events into a disgo client without a websocket.
//
// The fake keeps a small world (channels, threads, DMs, messages, webhooks, CDN files), records
// every request, and enforces the Discord rules a bot can break: the bot token on bot routes and
// none on webhook and interaction routes, message content of at most 2,000 characters, no empty
// messages, webhook names of 1-80 characters without "clyde" or "discord", no webhooks on threads,
// thread_id only for threads of the webhook's channel. A broken rule gets the status and error
// code Discord would answer with and is listed by Violations, so a test can assert there were
// none.
//
// Tests can make a route fail (FailNext: 429 with Retry-After and Discord's rate-limit headers,
// 500 before or after the request was carried out, a reset connection, or any status and code),
// delete a webhook behind the bot's back, make a channel unreadable, or block a user's DMs.
//
// It also records every body that creates or edits a message and, as Discord does, pings what the
// content names unless allowed_mentions says otherwise; New fails the test if a body did not state
// allowed_mentions or allowed more than the project means to (mentions.go).
//
// Details disgo depends on (heartbeat ACKs delayed about 5 ms, because instant ACKs make disgo
// v0.19 think the connection is a zombie; 429s with a bucket header, an integer Retry-After and a
// Via header; JSON rather than 204 where disgo expects a body) are explained in docs/discord.md,
// "Testing".
package discordfake

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DefaultAppID is the application (and bot user) id of a fake created without options.
const DefaultAppID = "111111111111111111"

// Channel types used by the fake (Discord's numbers).
const (
	ChannelGuildText    = 0
	ChannelDM           = 1
	ChannelPublicThread = 11
)

// TokenFor returns a bot token disgo accepts for appID: disgo reads the application id from the
// token's first segment (the id in unpadded base64).
func TokenFor(appID string) string {
	return base64.RawStdEncoding.EncodeToString([]byte(appID)) + ".fake.token"
}

// Server is a fake Discord. Create it with New; it shuts down with the test.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port); REST lives under URL+"/api/v10".
	URL string
	// AppID is the application id, which is also the bot's user id.
	AppID string
	// Token is the bot token the fake accepts.
	Token string

	srv *httptest.Server
	// conns counts the TCP connections the server accepted (Connections).
	conns atomic.Int64

	mu          sync.Mutex
	nextID      uint64
	channels    map[string]*Channel
	messages    map[string][]*Message // channel (or thread) id -> messages, oldest first
	webhooks    map[string]*Webhook   // webhook id -> webhook
	everHooks   []Webhook             // every webhook ever added, deleted ones included
	created     int                   // webhooks created through the API
	dms         map[string]string     // user id -> DM channel id
	blockedDMs  map[string]bool       // user ids whose DMs are closed
	cdn         map[string]cdnFile    // path under /cdn/ -> file
	typing      map[string]int
	requests    []Request
	failures    map[string][]Failure
	nonces      map[string]*Message // channel/nonce -> message, for enforce_nonce
	violations  []string
	responses   []InteractionResponse
	originals   map[string]*Message   // interaction token -> @original
	followUps   map[string][]*Message // interaction token -> follow-ups
	commandPuts [][]byte
	uploadLimit int64                  // bytes of files one request may carry (WithUploadLimit)
	hookLimit   hookLimit              // per-webhook rate limit (WithWebhookRateLimit); zero: none
	hookCalls   map[string][]time.Time // webhook id -> times of its requests within the window
	hook429s    int                    // requests refused by the per-webhook limit
	edits       map[string][]Edit      // message id -> its edits, in order
	appFlags    *int                   // GET /applications/@me flags; nil: AppFlagMessageContent
	guildPerms  map[string]uint64      // bot permissions per guild (identity.go)

	bodies          []MessageBody // every body that created or edited a message (mentions.go)
	mentionProblems []string
	mentionLimit    func(MessageKind) Mentions
	noMentionCheck  bool

	gw *gatewayServer
}

// Option configures a Server.
type Option func(*Server)

// WithAppID sets the application id (default DefaultAppID); the token follows it.
func WithAppID(appID string) Option {
	return func(s *Server) {
		s.AppID = appID
		s.Token = TokenFor(appID)
	}
}

// DefaultUploadLimit is Discord's upload limit for a server without boosts: 10 MiB of files
// per message.
const DefaultUploadLimit = 10 << 20

// WithUploadLimit sets how many bytes of files one request may carry (default
// DefaultUploadLimit; boosted servers allow more).
func WithUploadLimit(n int64) Option {
	return func(s *Server) { s.uploadLimit = n }
}

// New starts a fake Discord on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := Start(opts...)
	t.Cleanup(func() {
		s.Close()
		if !s.noMentionCheck {
			s.AssertMentionsSafe(t)
		}
	})
	return s
}

// WithoutMentionCheck stops New from failing the test over MentionProblems, for tests of the
// fake itself that post raw bodies about other rules. MentionProblems still lists them.
func WithoutMentionCheck() Option {
	return func(s *Server) { s.noMentionCheck = true }
}

// Start is New for programs that are not tests (the load command, tzurot
// bench): the caller stops the server with Close.
func Start(opts ...Option) *Server {
	s := &Server{
		AppID:       DefaultAppID,
		Token:       TokenFor(DefaultAppID),
		nextID:      1_300_000_000_000_000_000,
		channels:    map[string]*Channel{},
		messages:    map[string][]*Message{},
		webhooks:    map[string]*Webhook{},
		dms:         map[string]string{},
		blockedDMs:  map[string]bool{},
		cdn:         map[string]cdnFile{},
		typing:      map[string]int{},
		failures:    map[string][]Failure{},
		nonces:      map[string]*Message{},
		originals:   map[string]*Message{},
		followUps:   map[string][]*Message{},
		uploadLimit: DefaultUploadLimit,
	}
	for _, o := range opts {
		o(s)
	}
	s.gw = newGateway(s)
	mux := http.NewServeMux()
	s.routes(mux)
	mux.HandleFunc("GET /gateway", s.gw.serve)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close drops gateway connections and stops the server. It is safe to call twice.
func (s *Server) Close() {
	s.gw.closeAll()
	s.srv.Close()
}

// Connections returns how many TCP connections clients opened to the fake
// (REST, CDN and gateway together): a client that reuses its connections
// opens few however many requests it makes.
func (s *Server) Connections() int64 { return s.conns.Load() }

// RESTURL is the base URL to give disgo's rest.WithURL.
func (s *Server) RESTURL() string { return s.URL + "/api/v10" }

// GatewayURL is the websocket URL GET /gateway returns.
func (s *Server) GatewayURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/gateway" }

// NewID returns a fresh snowflake, larger than every earlier one.
func (s *Server) NewID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newIDLocked()
}

// discordEpoch is the first millisecond of 2015 (UTC), where Discord's snowflakes count from.
const discordEpoch = 1420070400000

// newIDLocked makes a snowflake as Discord does, with the creation time in its upper bits (a bot
// can tell from an id when a message was made), and larger than every earlier one.
func (s *Server) newIDLocked() string {
	id := uint64(time.Now().UnixMilli()-discordEpoch) << 22
	if id <= s.nextID {
		id = s.nextID + 1
	}
	s.nextID = id
	return strconv.FormatUint(id, 10)
}

// ---- world ---------------------------------------------------------------------------------

// Channel is a channel in the fake's world.
type Channel struct {
	ID      string
	GuildID string // empty for DMs
	Name    string
	Type    int    // ChannelGuildText, ChannelDM or ChannelPublicThread
	Parent  string // a thread's parent channel
	// Unreadable makes GET on the channel and its messages answer 403 Missing Access, as when the
	// bot lacks View Channel / Read Message History.
	Unreadable bool
	// NoManageWebhooks makes creating and listing webhooks answer 403 Missing Permissions.
	NoManageWebhooks bool
	// Recipient is the other user of a DM channel.
	Recipient string
	// NSFW marks an age-restricted channel (Discord's channel flag nsfw). Set it on a thread
	// too when its parent is age-restricted: the fake does not inherit it.
	NSFW bool
}

// AddChannel adds (or replaces) a channel. A zero ID gets a fresh one. It returns the channel.
func (s *Server) AddChannel(c Channel) Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == "" {
		c.ID = s.newIDLocked()
	}
	if c.Name == "" {
		c.Name = "channel-" + c.ID
	}
	cc := c
	s.channels[c.ID] = &cc
	if c.Type == ChannelDM && c.Recipient != "" {
		s.dms[c.Recipient] = c.ID
	}
	return c
}

// AddTextChannel adds a text channel in guildID and returns it.
func (s *Server) AddTextChannel(guildID string) Channel {
	return s.AddChannel(Channel{GuildID: guildID, Type: ChannelGuildText})
}

// AddThread adds a public thread under parent and returns it.
func (s *Server) AddThread(parent Channel) Channel {
	return s.AddChannel(Channel{GuildID: parent.GuildID, Type: ChannelPublicThread, Parent: parent.ID})
}

// SetUnreadable makes a channel readable or not by the bot.
func (s *Server) SetUnreadable(channelID string, unreadable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channels[channelID]; c != nil {
		c.Unreadable = unreadable
	}
}

// BlockDMs makes the user refuse direct messages from the bot (Discord error 50007).
func (s *Server) BlockDMs(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blockedDMs[userID] = true
}

// DMChannel returns the id of the DM channel the bot opened with userID, if any.
func (s *Server) DMChannel(userID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.dms[userID]
	return id, ok
}

// Message is a message in the fake's world: posted by users (through UserMessage), by the bot,
// or through a webhook.
type Message struct {
	ID        string
	ChannelID string // the thread's id for messages posted into a thread
	GuildID   string
	Content   string
	AuthorID  string
	// AuthorName is the username, or the webhook's username override.
	AuthorName string
	Bot        bool
	WebhookID  string
	// AvatarURL is the avatar override of a webhook message.
	AvatarURL string
	// ThreadID is the thread_id a webhook message was executed with.
	ThreadID string
	// ReferenceID is the message this one replies to.
	ReferenceID string
	// AllowedMentions is the allowed_mentions object sent with the message, as JSON.
	AllowedMentions string
	// MentionEveryone, MentionUsers and MentionRoles are the pings Discord delivered for the
	// message: what its content names, filtered by AllowedMentions (everything when it is empty).
	MentionEveryone bool
	MentionUsers    []string
	MentionRoles    []string
	Flags           int
	Files           []File
	Attachments     []Attachment
	CreatedAt       time.Time
	// EditedAt is when the message was last edited (zero if never), as Discord's
	// edited_timestamp.
	EditedAt time.Time
}

// File is an uploaded file of a multipart request.
type File struct {
	Field       string // files[0], files[1]...
	Name        string
	ContentType string
	Data        []byte
}

// Webhook is a channel webhook in the fake's world.
type Webhook struct {
	ID            string
	ChannelID     string
	GuildID       string
	Name          string
	Token         string
	ApplicationID string // empty for webhooks another integration created
}

// AddWebhook adds a webhook directly (for example one made by another bot, without our
// application id). A zero ID or Token gets a fresh one.
func (s *Server) AddWebhook(w Webhook) Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.ID == "" {
		w.ID = s.newIDLocked()
	}
	if w.Token == "" {
		w.Token = "whtoken-" + s.newIDLocked()
	}
	ww := w
	s.webhooks[w.ID] = &ww
	s.everHooks = append(s.everHooks, w)
	return w
}

// AllWebhooks returns every webhook the fake ever held, deleted ones included (to check that no
// token leaked anywhere).
func (s *Server) AllWebhooks() []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.everHooks)
}

// DeleteWebhook removes a webhook as a server admin would; executing it then answers 404
// Unknown Webhook.
func (s *Server) DeleteWebhook(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.webhooks, id)
}

// Webhooks returns the webhooks of a channel.
func (s *Server) Webhooks(channelID string) []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Webhook
	for _, w := range s.webhooks {
		if w.ChannelID == channelID {
			out = append(out, *w)
		}
	}
	slices.SortFunc(out, func(a, b Webhook) int { return compareIDs(a.ID, b.ID) })
	return out
}

// WebhooksCreated counts webhooks created through the API.
func (s *Server) WebhooksCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

// Messages returns the messages of a channel or thread, oldest first.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.messages[channelID]))
	for _, m := range s.messages[channelID] {
		out = append(out, *m)
	}
	return out
}

// TypingCount counts typing indicators sent to a channel.
func (s *Server) TypingCount(channelID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.typing[channelID]
}

// ---- interactions ------------------------------------------------------------------------

// InteractionResponse is a recorded initial response (POST /interactions/{id}/{token}/callback).
type InteractionResponse struct {
	InteractionID string
	Token         string
	Type          int
	Content       string
	Flags         int
	// Data is the response's data object as JSON.
	Data string
}

// InteractionResponses returns the initial interaction responses received over REST.
func (s *Server) InteractionResponses() []InteractionResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.responses)
}

// Original returns the @original message of an interaction, as last edited.
func (s *Server) Original(token string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.originals[token]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// FollowUps returns the follow-up messages of an interaction.
func (s *Server) FollowUps(token string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.followUps[token] {
		out = append(out, *m)
	}
	return out
}

// CommandPuts returns the bodies of bulk command overwrites (global and guild), in order.
func (s *Server) CommandPuts() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commandPuts)
}

// ---- CDN ---------------------------------------------------------------------------------

type cdnFile struct {
	contentType string
	data        []byte
}

// Attachment describes a file on the fake CDN, as it appears in a message.
type Attachment struct {
	ID          string
	Filename    string
	ContentType string
	Size        int
	URL         string
	// DurationSecs and Waveform are set on a voice message's recording (see VoiceMessage).
	DurationSecs float64
	Waveform     string
}

// FlagIsVoiceMessage is Discord's IS_VOICE_MESSAGE message flag (1 << 13).
const FlagIsVoiceMessage = 1 << 13

// VoiceMessage stores an Opus recording on the CDN and returns the attachment Discord sends for
// a voice message ("voice-message.ogg", audio/ogg, with the duration the client reported and a
// waveform); put it in a MessageSpec with Flags FlagIsVoiceMessage.
func (s *Server) VoiceMessage(ogg []byte, durationSecs float64) Attachment {
	a := s.AddCDNFile("voice-message.ogg", "audio/ogg", ogg)
	a.DurationSecs = durationSecs
	// 256 samples of 0..255, base64 (what clients draw); the content does not matter.
	a.Waveform = base64.StdEncoding.EncodeToString(make([]byte, 256))
	return a
}

// SetUploadLimit changes, on a running server, how many bytes of files one request may carry
// (WithUploadLimit). More is refused as Discord does: HTTP 413, code 40005 "Request entity too
// large".
func (s *Server) SetUploadLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploadLimit = int64(n)
}

// AddCDNFile stores data on the fake CDN and returns the attachment describing it.
func (s *Server) AddCDNFile(filename, contentType string, data []byte) Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addCDNFileLocked(filename, contentType, data)
}

func (s *Server) addCDNFileLocked(filename, contentType string, data []byte) Attachment {
	id := s.newIDLocked()
	path := "attachments/" + id + "/" + filename
	s.cdn[path] = cdnFile{contentType: contentType, data: slices.Clone(data)}
	return Attachment{ID: id, Filename: filename, ContentType: contentType, Size: len(data),
		URL: s.URL + "/cdn/" + path + "?ex=signed"}
}

// ---- requests, failures, violations ------------------------------------------------------

// Request is one recorded REST request.
type Request struct {
	Method string
	// Route is the route pattern without the /api/v10 prefix, e.g. "POST /channels/{channel}/messages".
	Route  string
	Path   string
	Query  string
	Header http.Header
	// Body is the raw body; for multipart requests PayloadJSON and Files hold the parts.
	Body        []byte
	PayloadJSON []byte
	Files       []File
	// At is when the fake received the request (for timelines such as time to first text).
	At time.Time
}

// Requests returns every REST request so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// RequestsTo returns the requests that matched route (one of the Route constants).
func (s *Server) RequestsTo(route string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Route == route {
			out = append(out, r)
		}
	}
	return out
}

// Failure is an error a route answers with instead of its normal reply. A zero Failure lets one
// request through, so FailNext(r, 1, Failure{}) then FailNext(r, 1, Failure{Status: 500}) fails
// the second request.
//
// The real API fails in three ways a client must tell apart, and so can the fake:
//   - an error status before anything happened (a 429 rate limit, a 5xx from the edge): the
//     default;
//   - an error status after the request was carried out (a 500 or 502 from a gateway that timed
//     out waiting for Discord, which had posted the message all the same): set AfterProcessing;
//   - no answer at all (the connection reset or dropped), before or after the request was
//     carried out: set Reset (with AfterProcessing for the second case).
type Failure struct {
	Status int
	// Code and Message form Discord's JSON error body; defaults depend on Status.
	Code    int
	Message string
	// RetryAfter is the Retry-After header of a 429, in whole seconds (disgo parses an integer).
	// 0 lets disgo retry at once, which keeps tests fast.
	RetryAfter int
	// AfterProcessing carries the request out (the message is posted) and only then answers with
	// the failure: the client cannot know its request worked.
	AfterProcessing bool
	// Reset closes the connection without an answer instead of sending Status.
	Reset bool
}

func (f Failure) active() bool { return f.Status != 0 || f.Reset }

// FailNext makes the next n requests to route answer with f.
func (s *Server) FailNext(route string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[route] = append(s.failures[route], f)
	}
}

// Violations returns the Discord rules broken so far, in words.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// AssertNoViolations fails the test if any Discord rule was broken.
func (s *Server) AssertNoViolations(t testing.TB) {
	t.Helper()
	for _, v := range s.Violations() {
		t.Errorf("Discord rule broken: %s", v)
	}
}

func (s *Server) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// compareIDs orders snowflakes numerically.
func compareIDs(a, b string) int {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
