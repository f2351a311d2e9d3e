package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/abijson"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// Defaults of the plugin's config (plugins.toml [plugins.elevenlabs.config]).
const (
	defaultBaseURL = "https://api.elevenlabs.io"
	// defaultModel is ElevenLabs' fast, cheap multilingual model (half the
	// credits of multilingual_v2), the right default for chat replies.
	defaultModel        = "eleven_flash_v2_5"
	defaultOutputFormat = "mp3_44100_128"
	// mimeMP3 is what every output format this plugin accepts produces.
	mimeMP3 = "audio/mpeg"
)

// voiceSchema is the JSON Schema of SpeakRequest.Settings (Description.
// VoiceSchema). The host checks a personality's voice config against it
// when it is saved and before each call, so a stability of 1.2 is refused
// with the field named before ElevenLabs is asked; parseVoiceSettings
// checks the same ranges again so the plugin never sends what the API
// would refuse, whatever the host did. The ranges are ElevenLabs' own
// (speed 0.7 to 1.2 as of the speed setting's introduction).
const voiceSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "stability": {"type": "number", "minimum": 0, "maximum": 1, "description": "How steady the voice is between generations: lower is more expressive, higher more monotone."},
    "similarity_boost": {"type": "number", "minimum": 0, "maximum": 1, "description": "How closely the speech follows the original voice."},
    "style": {"type": "number", "minimum": 0, "maximum": 1, "description": "Style exaggeration of the original speaker; above 0 costs latency."},
    "speaker_boost": {"type": "boolean", "description": "Boosts the likeness to the original speaker (use_speaker_boost)."},
    "speed": {"type": "number", "minimum": 0.7, "maximum": 1.2, "description": "Speaking rate; 1 is normal."}
  }
}`

// settings is the plugin's config from plugins.toml.
type settings struct {
	BaseURL      string // e.g. https://api.elevenlabs.io, without /v1
	DefaultModel string
	DefaultVoice string // "" when a personality must name its voice
	OutputFormat string // an mp3_<rate>_<bitrate> format
	// RemoveNoise asks ElevenLabs to clean cloning samples of background
	// noise (remove_background_noise); off by default, as ElevenLabs
	// warns it can hurt clean samples.
	RemoveNoise bool
}

// mp3Format is the shape of ElevenLabs' MP3 output formats. Only MP3 is
// allowed: the plugin answers audio/mpeg, and the host sniffs the bytes.
var mp3Format = regexp.MustCompile(`^mp3_[0-9]{4,6}_[0-9]{2,3}$`)

// newSettings reads the config through get (sdk.Config in the plugin).
func newSettings(get func(string) (string, bool)) (settings, error) {
	s := settings{BaseURL: defaultBaseURL, DefaultModel: defaultModel, OutputFormat: defaultOutputFormat}
	if base, ok := get("base_url"); ok {
		// "…/v1" is a common way to write it; the paths below add /v1.
		s.BaseURL = strings.TrimSuffix(strings.TrimRight(base, "/"), "/v1")
		if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return s, fmt.Errorf("plugin config base_url %q is not an http(s) URL", base)
		}
	}
	if m, ok := get("default_model"); ok {
		s.DefaultModel = m
	}
	if v, ok := get("default_voice"); ok {
		if !validVoiceID(v) {
			return s, fmt.Errorf("plugin config default_voice %q is not an ElevenLabs voice id (letters, digits, _ and -)", v)
		}
		s.DefaultVoice = v
	}
	if f, ok := get("output_format"); ok {
		if !mp3Format.MatchString(f) {
			return s, fmt.Errorf("plugin config output_format %q is not an ElevenLabs MP3 format such as %s", f, defaultOutputFormat)
		}
		s.OutputFormat = f
	}
	if v, ok := get("remove_background_noise"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("plugin config remove_background_noise %q is not true or false", v)
		}
		s.RemoveNoise = b
	}
	return s, nil
}

// validVoiceID reports whether id can be an ElevenLabs voice id. It goes
// into the URL path, so anything that could change the path (/, ?, %, ..)
// is refused rather than escaped: no real voice id has them.
func validVoiceID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// request is an API request with what every call carries. The key is
// never in it: the host injects it into xi-api-key, bare, as ElevenLabs
// wants.
func (s settings) request(method, path string) abi.HTTPRequest {
	return abi.HTTPRequest{
		Method:  method,
		URL:     s.BaseURL + path,
		Headers: map[string]string{"Accept": "application/json"},
		Auth:    &abi.Auth{Header: "xi-api-key", Scheme: "-"},
	}
}

// voiceSettings is SpeakRequest.Settings as this plugin reads it: the
// portable abi.VoiceSettings keys, nothing else.
type voiceSettings struct {
	Stability       *float64 `json:"stability"`
	SimilarityBoost *float64 `json:"similarity_boost"`
	Style           *float64 `json:"style"`
	SpeakerBoost    *bool    `json:"speaker_boost"`
	Speed           *float64 `json:"speed"`
}

// parseVoiceSettings decodes and checks the settings object. Its errors
// name the field and the allowed range, as the host's schema check does.
func parseVoiceSettings(raw json.RawMessage) (voiceSettings, error) {
	var v voiceSettings
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return v, fmt.Errorf("ElevenLabs has no voice setting %s (it knows stability, similarity_boost, style, speaker_boost and speed)", f)
		}
		return v, fmt.Errorf("the voice settings are not valid: %s", strings.TrimPrefix(msg, "json: "))
	}
	for _, r := range []struct {
		name     string
		v        *float64
		min, max float64
	}{
		{"stability", v.Stability, 0, 1},
		{"similarity_boost", v.SimilarityBoost, 0, 1},
		{"style", v.Style, 0, 1},
		{"speed", v.Speed, 0.7, 1.2},
	} {
		if r.v != nil && (*r.v < r.min || *r.v > r.max) {
			return v, fmt.Errorf("%s: must be between %g and %g (it is %g)", r.name, r.min, r.max, *r.v)
		}
	}
	return v, nil
}

// Wire types of the text-to-speech request. Pointers with omitempty send
// exactly the settings the personality has, zero included: 0 stability
// is a real choice, not "unset".
type (
	ttsBody struct {
		Text          string             `json:"text"`
		ModelID       string             `json:"model_id"`
		VoiceSettings *wireVoiceSettings `json:"voice_settings,omitempty"`
	}
	wireVoiceSettings struct {
		Stability       *float64 `json:"stability,omitempty"`
		SimilarityBoost *float64 `json:"similarity_boost,omitempty"`
		Style           *float64 `json:"style,omitempty"`
		UseSpeakerBoost *bool    `json:"use_speaker_boost,omitempty"`
		Speed           *float64 `json:"speed,omitempty"`
	}
)

// appendTTSBody appends b as json.Marshal encodes it (a test holds the
// two equal), with abijson: encoding/json costs tens of microseconds a
// call inside a plugin (docs/performance.md).
func appendTTSBody(dst []byte, b *ttsBody) ([]byte, error) {
	dst = append(dst, `{"text":`...)
	dst = abijson.AppendString(dst, b.Text)
	dst = append(dst, `,"model_id":`...)
	dst = abijson.AppendString(dst, b.ModelID)
	if v := b.VoiceSettings; v != nil {
		dst = append(dst, `,"voice_settings":`...)
		// Each field is written with a leading comma; the first comma
		// becomes the object's opening brace.
		open := len(dst)
		var err error
		for _, f := range []struct {
			name string
			v    *float64
		}{{"stability", v.Stability}, {"similarity_boost", v.SimilarityBoost}, {"style", v.Style}} {
			if dst, err = abijson.AppendOptFloat(dst, f.name, f.v); err != nil {
				return nil, err
			}
		}
		if v.UseSpeakerBoost != nil {
			dst = append(dst, `,"use_speaker_boost":`...)
			dst = strconv.AppendBool(dst, *v.UseSpeakerBoost)
		}
		if dst, err = abijson.AppendOptFloat(dst, "speed", v.Speed); err != nil {
			return nil, err
		}
		if len(dst) == open {
			dst = append(dst, '{')
		} else {
			dst[open] = '{'
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// speech is one text-to-speech call, checked and ready to send.
type speech struct {
	voice, model string
	body         []byte
	characters   int64
}

// prepareSpeech checks req against what ElevenLabs accepts and builds the
// request body. Every error is bad_request, found before any request.
func (s settings) prepareSpeech(req abi.SpeakRequest) (speech, error) {
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return speech{}, fmt.Errorf("there is no text to speak")
	}
	if !utf8.ValidString(text) {
		return speech{}, fmt.Errorf("the text to speak is not valid UTF-8")
	}
	switch strings.ToLower(req.Format) {
	case "", "mp3", mimeMP3:
	default:
		return speech{}, fmt.Errorf("ElevenLabs speaks MP3 here, not %q", req.Format)
	}
	voice := req.VoiceID
	if voice == "" {
		voice = s.DefaultVoice
	}
	switch {
	case voice == "":
		return speech{}, fmt.Errorf("no ElevenLabs voice id is set for this personality (and plugins.toml sets no default_voice)")
	case !validVoiceID(voice):
		return speech{}, fmt.Errorf("%q is not an ElevenLabs voice id (letters, digits, _ and - only)", voice)
	}
	model := req.Model
	if model == "" {
		model = s.DefaultModel
	}
	vs, err := parseVoiceSettings(req.Settings)
	if err != nil {
		return speech{}, err
	}
	body := ttsBody{Text: text, ModelID: model}
	if vs != (voiceSettings{}) {
		body.VoiceSettings = &wireVoiceSettings{
			Stability: vs.Stability, SimilarityBoost: vs.SimilarityBoost, Style: vs.Style,
			UseSpeakerBoost: vs.SpeakerBoost, Speed: vs.Speed,
		}
	}
	raw, err := appendTTSBody(make([]byte, 0, 160+len(text)+len(model)), &body)
	if err != nil {
		return speech{}, fmt.Errorf("encode the speech request: %v", err)
	}
	return speech{voice: voice, model: model, body: raw, characters: int64(utf8.RuneCountInString(text))}, nil
}

// httpRequest is the text-to-speech request for sp. The audio stays
// host-side (ResponseBlob): it never enters the plugin's memory.
func (s settings) speechRequest(sp speech) abi.HTTPRequest {
	r := s.request("POST", "/v1/text-to-speech/"+sp.voice+"?output_format="+url.QueryEscape(s.OutputFormat))
	r.Headers["Accept"] = mimeMP3
	r.Headers["Content-Type"] = "application/json"
	r.Body = string(sp.body)
	r.ResponseBlob = true
	return r
}

// checkAudio checks a 2xx text-to-speech answer before its blob is handed
// on: ElevenLabs sends audio/mpeg; anything else (an HTML page from a
// proxy, JSON) is not speech, and saying so here beats a player failing
// later. The host also sniffs the bytes themselves.
func checkAudio(headers map[string]string) *abi.Error {
	ct := strings.ToLower(strings.TrimSpace(headers["content-type"]))
	if strings.HasPrefix(ct, "audio/") {
		return nil
	}
	if ct == "" {
		ct = "no content type"
	}
	return &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
		Message: fmt.Sprintf("ElevenLabs answered with something that is not audio (%s)", ct)}
}

// transportError words a failed round trip (no HTTP answer, or one that
// broke off) for a user, keeping its code.
func transportError(what string, err *abi.Error) *abi.Error {
	e := *err
	switch {
	case e.Code == abi.ErrNoKey || e.Code == abi.ErrDenied:
		return &e
	case strings.Contains(e.Message, "unexpected EOF"):
		e.Code, e.Retryable = abi.ErrUnavailable, true
		e.Message = "ElevenLabs' answer to " + what + " broke off before it was complete; try again"
	default:
		e.Message = "could not reach ElevenLabs for " + what + ": " + e.Message
	}
	return &e
}

// apiDetail is ElevenLabs' error body: {"detail": {"status", "message"}},
// {"detail": "text"} or, for request validation (HTTP 422), FastAPI's
// {"detail": [{"loc": [...], "msg": "..."}]}.
type apiDetail struct {
	Status  string
	Message string
}

func parseDetail(body []byte) (apiDetail, bool) {
	var env struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Detail) == 0 {
		return apiDetail{}, false
	}
	var obj struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if json.Unmarshal(env.Detail, &obj) == nil && (obj.Status != "" || obj.Message != "") {
		return apiDetail{Status: obj.Status, Message: obj.Message}, true
	}
	var text string
	if json.Unmarshal(env.Detail, &text) == nil && text != "" {
		return apiDetail{Message: text}, true
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(env.Detail, &list) == nil && len(list) > 0 {
		parts := make([]string, 0, len(list))
		for _, it := range list {
			loc := make([]string, 0, len(it.Loc))
			for _, l := range it.Loc {
				if s := fmt.Sprint(l); s != "body" {
					loc = append(loc, s)
				}
			}
			parts = append(parts, strings.TrimSpace(strings.Join(loc, ".")+": "+it.Msg))
		}
		return apiDetail{Status: "validation_error", Message: strings.Join(parts, "; ")}, true
	}
	return apiDetail{}, false
}

// elevenKey matches text shaped like an ElevenLabs key (sk_ and 40+ hex
// digits, or the older bare 32 hex digits), which provider.Scrub does not
// know: the host scrubs the caller's own key, this catches any other.
var elevenKey = regexp.MustCompile(`(sk_[0-9a-fA-F]{4})[0-9a-fA-F]{8,}|\b[0-9a-f]{32}\b`)

func scrub(s string) string {
	return elevenKey.ReplaceAllStringFunc(provider.Scrub(s), func(m string) string {
		if strings.HasPrefix(m, "sk_") {
			return m[:7] + "…"
		}
		return "…"
	})
}

// op says which call an error came from, for its wording.
type op int

const (
	opSpeak op = iota
	opClone
	opValidate
)

// apiError turns a non-2xx answer into the typed error a user reads.
// ElevenLabs' detail.status decides first (it sends quota_exceeded with
// HTTP 401, for instance), the HTTP status after.
func apiError(o op, status int, headers map[string]string, body []byte, voice string) *abi.Error {
	d, ok := parseDetail(body)
	if !ok && len(bytes.TrimSpace(body)) > 0 {
		d.Message = provider.Snippet(body)
	}
	msg := scrub(strings.TrimSpace(d.Message))
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d", status)
	}
	e := &abi.Error{HTTPStatus: status}
	st := strings.ToLower(d.Status)
	switch {
	case st == "quota_exceeded" || status == 402 || st == "payment_required":
		e.Code = abi.ErrNoCredit
		e.Message = "the ElevenLabs account has no characters left for this (" + msg + ")"
	case st == "detected_unusual_activity":
		e.Code = abi.ErrNoCredit
		e.Message = "ElevenLabs turned off free use for this key (" + msg + "); a paid plan is needed"
	case st == "voice_not_found" || (o == opSpeak && status == 404):
		e.Code = abi.ErrBadRequest
		e.Message = fmt.Sprintf("ElevenLabs does not know the voice id %s (%s)", voice, msg)
	case status == 429 || st == "too_many_concurrent_requests" || st == "system_busy" || st == "rate_limit_exceeded":
		e.Code, e.Retryable = abi.ErrRateLimited, true
		e.Message = "ElevenLabs is rate limiting this key (" + msg + ")"
		if secs, err := strconv.Atoi(strings.TrimSpace(headers["retry-after"])); err == nil && secs >= 0 {
			e.Message += fmt.Sprintf("; it asks to wait %d s before trying again", secs)
		}
	case st == "voice_limit_reached":
		e.Code = abi.ErrBadRequest
		e.Message = "the ElevenLabs account has no room for another voice (" + msg + "); delete one at elevenlabs.io first"
	case strings.Contains(st, "voice_cloning") || strings.Contains(st, "subscription"):
		e.Code = abi.ErrBadRequest
		e.Message = "the ElevenLabs plan of this key does not allow this (" + msg + ")"
	case st == "invalid_api_key" || st == "needs_authorization" || st == "missing_permissions" || status == 401 || status == 403:
		e.Code = abi.ErrInvalidKey
		e.Message = "ElevenLabs refused the API key (" + msg + ")"
	case status == 408 || status == 504:
		e.Code, e.Retryable = abi.ErrTimeout, true
		e.Message = "ElevenLabs took too long to answer (" + msg + ")"
	case status >= 500:
		e.Code, e.Retryable = abi.ErrUnavailable, true
		e.Message = "ElevenLabs is having trouble right now (" + msg + ")"
	default:
		e.Code = abi.ErrBadRequest
		e.Message = "ElevenLabs refused the request (" + msg + ")"
	}
	return e
}

// subscription is the part of GET /v1/user/subscription validate_key reads.
type subscription struct {
	Tier                   string `json:"tier"`
	Status                 string `json:"status"`
	CharacterCount         int64  `json:"character_count"`
	CharacterLimit         int64  `json:"character_limit"`
	CanExtendCharacterLimt bool   `json:"can_extend_character_limit"`
}

// validation is validate_key's answer to the subscription check. A key
// whose plan has used every character (and may not go over) works but
// cannot speak: no_credit, so the user knows before a reply goes silent.
func validation(status int, headers map[string]string, body []byte) abi.ValidateKeyResult {
	if status >= 200 && status <= 299 {
		var sub subscription
		if json.Unmarshal(body, &sub) != nil {
			return abi.ValidateKeyResult{Status: abi.KeyUnreachable,
				Message: "ElevenLabs answered the key check with something unexpected: " + scrub(provider.Snippet(body))}
		}
		if sub.CharacterLimit > 0 && sub.CharacterCount >= sub.CharacterLimit && !sub.CanExtendCharacterLimt {
			return abi.ValidateKeyResult{Status: abi.KeyNoCredit,
				Message: fmt.Sprintf("the key works, but its %s plan has used all %d characters of this period", orUnknown(sub.Tier), sub.CharacterLimit)}
		}
		return abi.ValidateKeyResult{Status: abi.KeyValid}
	}
	if d, ok := parseDetail(body); ok && d.Status == "missing_permissions" {
		// A key restricted to some endpoints (ElevenLabs' scoped keys)
		// authenticated fine; it just may not read the account.
		return abi.ValidateKeyResult{Status: abi.KeyValid,
			Message: "the key works but may not read the account (" + scrub(d.Message) + "); make sure it allows text to speech and voices"}
	}
	return provider.KeyCheckRefused("ElevenLabs", status, apiError(opValidate, status, headers, body, ""))
}

func orUnknown(s string) string {
	if s == "" {
		return "current"
	}
	return s
}

// cloneResult is the answer of POST /v1/voices/add.
type cloneResult struct {
	VoiceID              string `json:"voice_id"`
	RequiresVerification bool   `json:"requires_verification"`
}

// cloneParts builds the multipart form of POST /v1/voices/add: name,
// optional description, then one "files" part per sample, naming the
// sample's blob so the host streams it from its own memory.
func cloneParts(req abi.CloneVoiceRequest, removeNoise bool) ([]abi.MultipartPart, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" {
		return nil, fmt.Errorf("the voice needs a name")
	}
	if len(req.Samples) == 0 {
		return nil, fmt.Errorf("cloning a voice needs at least one voice sample")
	}
	parts := []abi.MultipartPart{{Name: "name", Value: name}}
	if d := strings.TrimSpace(req.Description); d != "" {
		parts = append(parts, abi.MultipartPart{Name: "description", Value: d})
	}
	parts = append(parts, abi.MultipartPart{Name: "remove_background_noise", Value: strconv.FormatBool(removeNoise)})
	for i, s := range req.Samples {
		if s.Blob <= 0 {
			return nil, fmt.Errorf("voice sample %d has no audio", i+1)
		}
		fn := s.Filename
		if fn == "" {
			fn = fmt.Sprintf("sample-%d%s", i+1, extFor(s.MimeType))
		}
		ct := s.MimeType
		if ct == "" {
			ct = "application/octet-stream"
		}
		parts = append(parts, abi.MultipartPart{Name: "files", Blob: s.Blob, Filename: fn, ContentType: ct})
	}
	return parts, nil
}

func extFor(mime string) string {
	switch strings.ToLower(mime) {
	case "audio/mpeg", "audio/mp3":
		return ".mp3"
	case "audio/wav", "audio/x-wav", "audio/wave":
		return ".wav"
	case "audio/ogg":
		return ".ogg"
	}
	return ""
}
