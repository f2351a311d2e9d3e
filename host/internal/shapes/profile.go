package shapes

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Custom field keys an import writes at the top level of custom_fields.
// Named keys follow the reference project's camelCase names so data
// imported by either project reads the same.
const (
	// CustomExtra holds every profile key the mapping does not know,
	// verbatim under its original name: nothing in a backup is lost because
	// this code has not heard of it yet.
	CustomExtra = "shapesExtra"
	// CustomRejected holds values that were present but could not be used
	// where they belong (a voice stability of 1.7, a temperature of "hot"),
	// verbatim under their original key, each with a warning.
	CustomRejected = "shapesRejected"
	// CustomBirthday holds a birthday that is not a valid date, verbatim.
	CustomBirthday = "birthday"
)

// Where a profile field lands. The test suite checks that a value sent to
// each of these arrives there, and that docs/import.md lists every key.
//
//	column:<col>[,<col>]   personalities column(s)
//	custom:<key>           custom_fields key (the value verbatim)
//	llm:model              llm_configs.model
//	llm:<param>            llm_configs.advanced_parameters.<param>
//	voice:<col>            voice_configs column
//	special:<what>         handled by name (id, username, birthday, ...)
//	drop:<reason>          deliberately not stored
type fieldRule struct {
	Key  string
	Dest string
}

// profileFields is every profile key the mapping knows (A.4 of the
// reference notes), in the order docs/import.md lists them.
var profileFields = []fieldRule{
	// identity and prompts
	{"id", "special:shapes_id"},
	{"name", "column:name,display_name"},
	{"username", "special:slug"},
	{"avatar", "column:avatar_url"},
	{"avatar_url", "column:avatar_url"},
	{"jailbreak", "column:system_prompt"},
	{"user_prompt", "column:character_info"},
	{"aliases", "special:aliases"},
	// personality
	{"personality_traits", "column:traits"},
	{"personality_tone", "column:tone"},
	{"personality_age", "column:age"},
	{"personality_appearance", "column:appearance"},
	{"personality_likes", "column:likes"},
	{"personality_dislikes", "column:dislikes"},
	{"personality_conversational_goals", "column:conversational_goals"},
	{"personality_conversational_examples", "column:conversational_examples"},
	{"personality_history", "custom:personalityHistory"},
	// engine
	{"engine_model", "llm:model"},
	{"fallback_engine_model", "custom:fallbackEngineModel"},
	{"engine_temperature", "llm:temperature"},
	{"engine_top_p", "llm:top_p"},
	{"engine_top_k", "llm:top_k"},
	{"engine_frequency_penalty", "llm:frequency_penalty"},
	{"engine_presence_penalty", "llm:presence_penalty"},
	{"engine_repetition_penalty", "llm:repetition_penalty"},
	{"engine_min_p", "llm:min_p"},
	{"engine_top_a", "llm:top_a"},
	// memory settings
	{"stm_window", "custom:stmWindow"},
	{"ltm_enabled", "custom:ltmEnabled"},
	{"ltm_threshold", "custom:ltmThreshold"},
	{"ltm_max_retrieved_summaries", "custom:ltmMaxRetrievedSummaries"},
	// messages and misc
	{"error_message", "column:error_message"},
	{"wack_message", "custom:wackMessage"},
	{"sleep_message", "custom:sleepMessage"},
	{"birthday", "special:birthday"},
	{"favorite_reacts", "custom:favoriteReacts"},
	{"keywords", "custom:keywords"},
	{"search_description", "custom:searchDescription"},
	{"search_tags_v2", "custom:searchTags"},
	{"shape_settings", "special:shape_settings"}, // known keys mapped, the rest in custom:shapeSettings
	{"created_by", "custom:shapesCreatedBy"},
	{"timezone", "custom:timezone"},
	// voice
	{"voice_model", "voice:model"},
	{"voice_id", "voice:voice_id"},
	{"voice_stability", "voice:stability"},
	{"voice_similarity", "voice:similarity"},
	{"voice_style", "voice:style"},
	{"voice_frequency", "voice:frequency"},
	{"voice_transcription_enabled", "voice:transcription_enabled"},
	{"voice_file", "custom:voiceFile"},
	{"voice_engine_instructions", "custom:voiceEngineInstructions"},
	{"voice_history_instructions", "custom:voiceHistoryInstructions"},
	// image
	{"image_jailbreak", "custom:imageJailbreak"},
	{"image_model", "custom:imageModel"},
	{"image_size", "custom:imageSize"},
	{"force_image_size", "custom:forceImageSize"},
	// account and moderation
	{"deleted", "special:deleted"},
	{"x_auth_url", "drop:a sign-in link for X (Twitter) that can carry an access token; credentials are never stored"},
}

// shapeSettingsFields are the known keys inside shape_settings.
var shapeSettingsFields = []fieldRule{
	{"shape_initial_message", "custom:initialMessage"},
	{"appearance", "column:appearance"},
}

// maxNameLen mirrors personalities_name_length.
const maxNameLen = 100

// profileMapper maps one profile object, marking each key it uses; what is
// left at the end goes to custom_fields.shapesExtra verbatim.
type profileMapper struct {
	file     string
	obj      map[string]json.RawMessage
	used     map[string]bool
	log      *issueLog
	c        *Character
	rejected map[string]json.RawMessage
}

// mapProfile maps a parsed shapes.inc profile. dirSlug is the name the
// backup files use (the profile's file name without .json), used when the
// profile has no username. It returns nil when required fields are missing
// (each reported as an error).
func mapProfile(file, dirSlug string, obj map[string]json.RawMessage, log *issueLog) *Character {
	m := &profileMapper{
		file: file, obj: obj, used: map[string]bool{}, log: log,
		c:        &Character{Origin: OriginShapes, File: file, CustomFields: map[string]any{}},
		rejected: map[string]json.RawMessage{},
	}
	c := m.c

	// Required: without an id re-imports cannot be idempotent, without a
	// name there is nothing to call the character.
	id, _ := m.text("id")
	name, _ := m.text("name")
	missing := false
	if strings.TrimSpace(id) == "" {
		log.fail(file, "id", "required field is missing or empty: the shapes.inc id keeps re-imports from creating duplicates; personality not imported")
		missing = true
	}
	if strings.TrimSpace(name) == "" {
		log.fail(file, "name", "required field is missing or empty; personality not imported")
		missing = true
	}
	if missing {
		return nil
	}
	c.ShapesID = strings.TrimSpace(id)
	c.CustomFields["importSource"] = "shapes_inc"

	name = strings.TrimSpace(name)
	if len([]rune(name)) > maxNameLen {
		log.warn(file, "name", "longer than %d characters; shortened, the full name is kept in custom_fields.fullName", maxNameLen)
		c.CustomFields["fullName"] = name
		name = truncateRunes(name, maxNameLen)
	}
	c.Columns.Name = name
	c.Columns.DisplayName = name

	username, _ := m.text("username")
	if strings.TrimSpace(username) != "" {
		c.CustomFields["shapesUsername"] = username
		c.Slug = slugify(username)
	}
	if c.Slug == "" {
		c.Slug = slugify(dirSlug)
		if c.Slug == "" {
			c.Slug = slugify(name)
		}
		log.warn(file, "username", "missing or unusable; using the slug %q", c.Slug)
	}
	if c.Slug == "" {
		log.fail(file, "username", "no usable slug could be made from the username, the file name or the name; personality not imported")
		return nil
	}

	// Avatar: "avatar" in backups, "avatar_url" in some API versions.
	avatar, _ := m.text("avatar")
	avatarURL, _ := m.text("avatar_url")
	switch {
	case avatar != "":
		c.Columns.AvatarURL = avatar
		if avatarURL != "" && avatarURL != avatar {
			m.keepExtra("avatar_url")
		}
	default:
		c.Columns.AvatarURL = avatarURL
	}

	c.Columns.SystemPrompt, _ = m.text("jailbreak")
	if strings.TrimSpace(c.Columns.SystemPrompt) == "" {
		// What the reference project does: a character always has a prompt.
		c.Columns.SystemPrompt = fmt.Sprintf("You are %s.", name)
	}
	c.Columns.CharacterInfo, _ = m.text("user_prompt")
	c.Columns.Traits, _ = m.text("personality_traits")
	c.Columns.Tone, _ = m.text("personality_tone")
	c.Columns.Age, _ = m.text("personality_age")
	c.Columns.Appearance, _ = m.text("personality_appearance")
	c.Columns.Likes, _ = m.text("personality_likes")
	c.Columns.Dislikes, _ = m.text("personality_dislikes")
	c.Columns.ConversationalGoals, _ = m.text("personality_conversational_goals")
	c.Columns.ConversationalExamples, _ = m.text("personality_conversational_examples")
	if msg, ok := m.text("error_message"); ok && strings.TrimSpace(msg) != "" {
		c.Columns.ErrorMessage = &msg
	}
	m.birthday()
	m.shapeSettings()
	m.aliases()
	m.llm()
	m.voice()

	for _, f := range profileFields {
		if strings.HasPrefix(f.Dest, "custom:") {
			m.custom(f.Key, strings.TrimPrefix(f.Dest, "custom:"))
		}
	}

	if raw, ok := m.take("deleted"); ok {
		if del, isBool := asBool(raw); isBool && del {
			c.Skip = "marked deleted on shapes.inc"
		} else if !isBool && !isNull(raw) {
			m.keepExtra("deleted")
		}
	}
	m.take("x_auth_url") // dropped: see profileFields

	// Everything not taken is kept verbatim, except what looks like a
	// credential: a backup is not a place we trust to hold none.
	extra := map[string]json.RawMessage{}
	for k, v := range obj {
		if m.used[k] {
			continue
		}
		if looksLikeCredential(k, v) {
			log.warn(file, k, "looks like a credential (a non-empty text value under a key naming a token, secret, password, key or cookie); not stored")
			continue
		}
		extra[k] = v
	}
	if len(extra) > 0 {
		c.CustomFields[CustomExtra] = extra
	}
	if len(m.rejected) > 0 {
		c.CustomFields[CustomRejected] = m.rejected
	}
	return c
}

// take marks key used and returns its raw value if present and not null.
func (m *profileMapper) take(key string) (json.RawMessage, bool) {
	raw, ok := m.obj[key]
	if !ok {
		return nil, false
	}
	m.used[key] = true
	if isNull(raw) {
		return nil, false
	}
	return raw, true
}

// text takes a string field. A value of another kind is rejected (kept in
// shapesRejected) with a warning.
func (m *profileMapper) text(key string) (string, bool) {
	raw, ok := m.take(key)
	if !ok {
		return "", false
	}
	s, ok := asString(raw)
	if !ok {
		m.reject(key, raw, "should be text but is %s", jsonKind(raw))
		return "", false
	}
	return s, true
}

// reject keeps raw under shapesRejected and warns.
func (m *profileMapper) reject(key string, raw json.RawMessage, format string, args ...any) {
	m.used[key] = true
	m.rejected[key] = raw
	m.log.warn(m.file, key, "%s; the value is kept in custom_fields.%s.%s", fmt.Sprintf(format, args...), CustomRejected, key)
}

// keepExtra marks key as still to be kept verbatim in shapesExtra.
func (m *profileMapper) keepExtra(key string) { m.used[key] = false }

// custom copies a field verbatim into custom_fields under name, unless it
// is empty (null, "", [] or {}: nothing to keep).
func (m *profileMapper) custom(key, name string) {
	raw, ok := m.take(key)
	if !ok || isEmpty(raw) {
		return
	}
	m.c.CustomFields[name] = raw
}

func (m *profileMapper) birthday() {
	raw, ok := m.take("birthday")
	if !ok || isEmpty(raw) {
		return
	}
	s, isText := asString(raw)
	if !isText {
		m.c.CustomFields[CustomBirthday] = raw
		m.log.warn(m.file, "birthday", "should be text such as \"12-24\" but is %s; kept verbatim in custom_fields.%s", jsonKind(raw), CustomBirthday)
		return
	}
	b, err := parseBirthday(s)
	if err != nil {
		m.c.CustomFields[CustomBirthday] = s
		m.log.warn(m.file, "birthday", "%v; kept verbatim in custom_fields.%s", err, CustomBirthday)
		return
	}
	month, day := int16(b.Month), int16(b.Day)
	m.c.Columns.BirthMonth, m.c.Columns.BirthDay = &month, &day
	if b.Year != 0 {
		year := int16(b.Year)
		m.c.Columns.BirthYear = &year
	}
}

func (m *profileMapper) shapeSettings() {
	raw, ok := m.take("shape_settings")
	if !ok {
		return
	}
	settings, isObj := asObject(raw)
	if !isObj {
		m.reject("shape_settings", raw, "should be an object but is %s", jsonKind(raw))
		return
	}
	if v, ok := settings["shape_initial_message"]; ok {
		if !isEmpty(v) {
			m.c.CustomFields["initialMessage"] = v
		}
		delete(settings, "shape_initial_message")
	}
	if v, ok := settings["appearance"]; ok {
		s, isText := asString(v)
		switch {
		case isEmpty(v):
			delete(settings, "appearance")
		case isText && m.c.Columns.Appearance == "":
			m.c.Columns.Appearance = s
			delete(settings, "appearance")
		case isText && s == m.c.Columns.Appearance:
			delete(settings, "appearance")
		}
		// Otherwise it differs from personality_appearance: it stays in
		// the leftovers below.
	}
	if len(settings) > 0 {
		m.c.CustomFields["shapeSettings"] = settings
	}
}

// aliases reads an "aliases" list: strings, or {value, originalCase}
// objects as in the v2 store.
func (m *profileMapper) aliases() {
	raw, ok := m.take("aliases")
	if !ok {
		return
	}
	names, ok := parseAliasList(raw)
	if !ok {
		m.reject("aliases", raw, "should be a list of names but is %s", jsonKind(raw))
		return
	}
	var tooLong []string
	for i, n := range names {
		field := fmt.Sprintf("aliases[%d]", i)
		if len([]rune(n)) > maxAliasLen {
			// Unusable as an alias, kept like every other unusable value.
			tooLong = append(tooLong, n)
			m.log.warn(m.file, field, "alias %q is longer than %d characters, too long to call a personality by; kept in custom_fields.%s.aliases", n, maxAliasLen, CustomRejected)
			continue
		}
		m.c.Aliases = append(m.c.Aliases, Alias{Name: n, File: m.file, Field: field})
	}
	if len(tooLong) > 0 {
		m.rejected["aliases"] = mustJSON(tooLong)
	}
}

// parseAliasList accepts ["Lil", ...] and [{"value":"lil","originalCase":"Lil"}, ...].
func parseAliasList(raw json.RawMessage) ([]string, bool) {
	if jsonKind(raw) != "a list" {
		return nil, false
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, false
	}
	var out []string
	for _, it := range items {
		if s, ok := asString(it); ok {
			if strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
			continue
		}
		obj, ok := asObject(it)
		if !ok {
			return nil, false
		}
		name, _ := asString(obj["originalCase"])
		if strings.TrimSpace(name) == "" {
			name, _ = asString(obj["value"])
		}
		if strings.TrimSpace(name) == "" {
			return nil, false
		}
		out = append(out, strings.TrimSpace(name))
	}
	return out, true
}

// paramRange is the accepted range of one advanced parameter (A.7).
type paramRange struct {
	min, max float64
	integer  bool
}

var engineParams = []struct {
	key, param string
	r          paramRange
}{
	{"engine_temperature", "temperature", paramRange{0, 2, false}},
	{"engine_top_p", "top_p", paramRange{0, 1, false}},
	{"engine_top_k", "top_k", paramRange{0, 1 << 31, true}},
	{"engine_frequency_penalty", "frequency_penalty", paramRange{-2, 2, false}},
	{"engine_presence_penalty", "presence_penalty", paramRange{-2, 2, false}},
	{"engine_repetition_penalty", "repetition_penalty", paramRange{0, 2, false}},
	{"engine_min_p", "min_p", paramRange{0, 1, false}},
	{"engine_top_a", "top_a", paramRange{0, 1, false}},
}

// number reads a number within r; anything else is rejected with a warning.
func (m *profileMapper) number(key string, r paramRange) (json.Number, float64, bool) {
	raw, ok := m.take(key)
	if !ok {
		return "", 0, false
	}
	n, f, isNum := asNumber(raw)
	switch {
	case !isNum:
		m.reject(key, raw, "should be a number but is %s", jsonKind(raw))
		return "", 0, false
	case f < r.min || f > r.max:
		m.reject(key, raw, "%s is outside the allowed range %g to %g", n, r.min, r.max)
		return "", 0, false
	case r.integer && f != float64(int64(f)):
		m.reject(key, raw, "%s should be a whole number", n)
		return "", 0, false
	}
	if r.integer {
		n = json.Number(fmt.Sprint(int64(f)))
	}
	return n, f, true
}

func (m *profileMapper) llm() {
	cfg := &LLMConfig{Provider: DefaultProvider, Model: DefaultModel, AdvancedParameters: map[string]any{}, ContextWindowTokens: DefaultContextWindow}
	if model, ok := m.text("engine_model"); ok && strings.TrimSpace(model) != "" {
		model = strings.TrimSpace(model)
		if len(model) > 200 {
			m.reject("engine_model", m.obj["engine_model"], "longer than 200 characters")
		} else {
			cfg.Model = model
		}
	}
	for _, p := range engineParams {
		if n, _, ok := m.number(p.key, p.r); ok {
			cfg.AdvancedParameters[p.param] = n
		}
	}
	m.c.LLM = cfg
}

var voiceParams = []struct {
	key string
	set func(v *VoiceConfig, f float64)
}{
	{"voice_stability", func(v *VoiceConfig, f float64) { v.Stability = f }},
	{"voice_similarity", func(v *VoiceConfig, f float64) { v.Similarity = f }},
	{"voice_style", func(v *VoiceConfig, f float64) { v.Style = f }},
	{"voice_frequency", func(v *VoiceConfig, f float64) { v.Frequency = f }},
}

// voice builds a voice config when the profile names a voice or a voice
// model, sets a tuning value or turns transcription on; tuning values
// outside 0..1 keep the default and are kept in shapesRejected with a
// warning, as is a transcription switch that is not true or false.
// Transcription off alone makes no voice config: off is the default.
func (m *profileMapper) voice() {
	v := defaultVoice()
	id, _ := m.text("voice_id")
	model, _ := m.text("voice_model")
	found := false
	if strings.TrimSpace(id) != "" {
		v.VoiceID = strings.TrimSpace(id)
		found = true
	}
	if strings.TrimSpace(model) != "" {
		v.Model = strings.TrimSpace(model)
		found = true
	}
	for _, p := range voiceParams {
		if _, f, ok := m.number(p.key, paramRange{0, 1, false}); ok {
			p.set(&v, f)
			found = true
		}
	}
	if raw, ok := m.take("voice_transcription_enabled"); ok {
		on, isBool := asBool(raw)
		switch {
		case !isBool:
			m.reject("voice_transcription_enabled", raw, "should be true or false but is %s", jsonKind(raw))
		case on:
			v.TranscriptionEnabled = true
			found = true
		}
	}
	if found {
		m.c.Voice = &v
	}
}

// sortedKeys returns m's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// credentialWords are key parts that name a secret. "token" also names
// counts (max_tokens), so only text values are dropped.
var credentialWords = map[string]bool{
	"token": true, "tokens": true, "secret": true, "secrets": true, "password": true, "passwd": true,
	"apikey": true, "cookie": true, "cookies": true, "credential": true, "credentials": true, "bearer": true,
}

// looksLikeCredential reports whether an unknown key holds what is
// probably a secret: a non-empty string under a key such as "api_key",
// "accessToken" or "session_cookie".
func looksLikeCredential(key string, raw json.RawMessage) bool {
	s, ok := asString(raw)
	if !ok || strings.TrimSpace(s) == "" {
		return false
	}
	// Split snake_case, kebab-case and camelCase into lowercase words.
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range key {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			flush()
		case r >= 'A' && r <= 'Z':
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	for i, w := range words {
		if credentialWords[w] || (w == "api" && i+1 < len(words) && words[i+1] == "key") || (w == "auth" && i+1 < len(words) && words[i+1] == "url") {
			return true
		}
	}
	return false
}
