package discordfake

import (
	"net/http"
	"slices"
	"strconv"
)

// Routes of the bot's own identity, as `tzurot doctor` reads them.
const (
	RouteGetMe            = "GET /users/@me"
	RouteGetApplication   = "GET /applications/@me"
	RouteGetMyGuilds      = "GET /users/@me/guilds"
	AppFlagMessageContent = 1 << 19 // GATEWAY_MESSAGE_CONTENT_LIMITED: the toggle of an unverified bot
	// DefaultGuildPermissions is what the README's invite link grants (Manage Webhooks included).
	DefaultGuildPermissions uint64 = 275414895616
)

// SetApplicationFlags sets the flags GET /applications/@me reports (default
// AppFlagMessageContent: the Message Content intent is on).
func (s *Server) SetApplicationFlags(flags int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appFlags = &flags
}

// SetGuildPermissions sets the bot's permissions in a guild, as GET
// /users/@me/guilds reports them (default DefaultGuildPermissions for
// every guild that has a channel).
func (s *Server) SetGuildPermissions(guildID string, perms uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.guildPerms == nil {
		s.guildPerms = map[string]uint64{}
	}
	s.guildPerms[guildID] = perms
}

func (s *Server) getMe(w http.ResponseWriter, _ *http.Request, _ *Request) {
	writeJSON(w, http.StatusOK, map[string]any{"id": s.AppID, "username": "Tzurot", "discriminator": "0", "bot": true, "global_name": nil, "avatar": nil})
}

func (s *Server) getApplication(w http.ResponseWriter, _ *http.Request, _ *Request) {
	s.mu.Lock()
	flags := AppFlagMessageContent
	if s.appFlags != nil {
		flags = *s.appFlags
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": s.AppID, "name": "Tzurot", "description": "", "bot_public": false,
		"bot_require_code_grant": false, "verify_key": "", "flags": flags})
}

func (s *Server) getMyGuilds(w http.ResponseWriter, _ *http.Request, _ *Request) {
	s.mu.Lock()
	perms := map[string]uint64{}
	for _, c := range s.channels {
		if c.GuildID != "" {
			perms[c.GuildID] = DefaultGuildPermissions
		}
	}
	for g, p := range s.guildPerms {
		perms[g] = p
	}
	s.mu.Unlock()
	ids := make([]string, 0, len(perms))
	for g := range perms {
		ids = append(ids, g)
	}
	slices.Sort(ids)
	out := make([]map[string]any, 0, len(ids))
	for _, g := range ids {
		out = append(out, map[string]any{"id": g, "name": "Guild " + g, "icon": nil, "owner": false,
			"permissions": strconv.FormatUint(perms[g], 10), "features": []string{}})
	}
	writeJSON(w, http.StatusOK, out)
}
