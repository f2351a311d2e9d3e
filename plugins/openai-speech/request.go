package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// Defaults when plugins.toml sets nothing. gpt-4o-mini-tts is OpenAI's
// current speech model (it takes instructions); whisper-1 is the one
// transcription model every OpenAI-compatible server offers under that
// name or answers for (Speaches and LocalAI map it to a local Whisper).
const (
	defaultBaseURL         = "https://api.openai.com"
	defaultSpeechModel     = "gpt-4o-mini-tts"
	defaultVoice           = "alloy"
	defaultTranscribeModel = "whisper-1"

	// maxInputChars is OpenAI's limit on /v1/audio/speech input.
	maxInputChars = 4096
	// maxInstructionsChars bounds the instructions setting (OpenAI takes
	// up to 4096 characters of them too).
	maxInstructionsChars = 4096
)

// settings is the plugin's config from plugins.toml.
type settings struct {
	// BaseURL is the server's root without the /v1 the API paths start
	// with, e.g. https://api.openai.com or http://127.0.0.1:8000.
	BaseURL           string
	SpeechModel       string
	Voice             string
	TranscribeModel   string
	UseAuth           bool // false for a local server without a key
	TranscribeTimeout int  // ms; 0 leaves the host's http_timeout
}

// newSettings reads the config through get (sdk.Config in the plugin).
func newSettings(get func(string) (string, bool)) (settings, error) {
	s := settings{BaseURL: defaultBaseURL, SpeechModel: defaultSpeechModel, Voice: defaultVoice, TranscribeModel: defaultTranscribeModel}
	if v, ok := get("base_url"); ok && v != "" {
		s.BaseURL = v
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	// A base_url copied from the chat plugin's entry ends in /v1; the API
	// paths below carry it already, so take it off rather than ask for
	// /v1/v1/audio/speech.
	s.BaseURL = strings.TrimSuffix(s.BaseURL, "/v1")
	u, err := url.Parse(s.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return s, fmt.Errorf("plugin config base_url %q is not an http(s) URL (for example https://api.openai.com)", s.BaseURL)
	}
	for key, dst := range map[string]*string{"default_model": &s.SpeechModel, "default_voice": &s.Voice, "default_transcription_model": &s.TranscribeModel} {
		if v, ok := get(key); ok && v != "" {
			*dst = v
		}
	}
	auth, _ := get("auth")
	if s.UseAuth, err = provider.UsesKey(u, auth); err != nil {
		return s, err
	}
	return s, nil
}

// httpRequest is a request to the server; the key is never in it: the host
// injects it (Auth).
func (s settings) httpRequest(method, path string) abi.HTTPRequest {
	r := abi.HTTPRequest{Method: method, URL: s.BaseURL + path, Headers: map[string]string{}}
	if s.UseAuth {
		r.Auth = &abi.Auth{}
	}
	return r
}

// Output formats of /v1/audio/speech and the MIME type of each. opus comes
// in an Ogg container, which is what Discord plays as a voice message.
var formatMIME = map[string]string{
	"mp3":  "audio/mpeg",
	"opus": "audio/ogg",
	"aac":  "audio/aac",
	"flac": "audio/flac",
	"wav":  "audio/wav",
	"pcm":  "audio/pcm", // raw 24 kHz 16-bit little-endian mono, no header
}

// speechBody is the JSON body of POST /v1/audio/speech.
type speechBody struct {
	Model          string   `json:"model"`
	Input          string   `json:"input"`
	Voice          string   `json:"voice"`
	ResponseFormat string   `json:"response_format"`
	Speed          *float64 `json:"speed,omitempty"`
	Instructions   string   `json:"instructions,omitempty"`
}

// voiceSettings is SpeakRequest.Settings as this plugin reads it: the
// portable keys (accepted, and ignored: OpenAI's voices have no such
// knobs) plus speed and instructions. Anything else is refused, as the
// voice_schema says, so a typo is not silently dropped.
type voiceSettings struct {
	Stability       *float64 `json:"stability"`
	SimilarityBoost *float64 `json:"similarity_boost"`
	Style           *float64 `json:"style"`
	SpeakerBoost    *bool    `json:"speaker_boost"`
	Speed           *float64 `json:"speed"`
	Instructions    *string  `json:"instructions"`
}

// parseSettings decodes and checks raw against the plugin's voice_schema
// (the host checks it too; the plugin does not rely on that).
func parseSettings(raw json.RawMessage) (voiceSettings, error) {
	var v voiceSettings
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return v, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		return v, fmt.Errorf("voice settings: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	for name, p := range map[string]*float64{"stability": v.Stability, "similarity_boost": v.SimilarityBoost, "style": v.Style} {
		if p != nil && (*p < 0 || *p > 1 || math.IsNaN(*p)) {
			return v, fmt.Errorf("%s: must be between 0 and 1 (it is %g)", name, *p)
		}
	}
	if v.Speed != nil && (*v.Speed < 0.25 || *v.Speed > 4) {
		return v, fmt.Errorf("speed: must be between 0.25 and 4 (it is %g)", *v.Speed)
	}
	if v.Instructions != nil && utf8.RuneCountInString(*v.Instructions) > maxInstructionsChars {
		return v, fmt.Errorf("instructions: must be at most %d characters", maxInstructionsChars)
	}
	return v, nil
}

// takesInstructions reports whether a speech model takes instructions:
// OpenAI's tts-1 and tts-1-hd refuse them; gpt-4o-mini-tts and the models
// of local servers take or ignore them.
func takesInstructions(model string) bool { return !strings.HasPrefix(model, "tts-1") }

// buildSpeech turns a SpeakRequest into the speech request body, or says
// in words why it cannot be sent. dropped names settings the model does
// not take (left out, not an error: a personality may switch models).
func (s settings) buildSpeech(req abi.SpeakRequest) (body speechBody, mime string, dropped []string, err error) {
	n := utf8.RuneCountInString(req.Text)
	switch {
	case strings.TrimSpace(req.Text) == "":
		return body, "", nil, fmt.Errorf("there is no text to speak")
	case n > maxInputChars:
		return body, "", nil, fmt.Errorf("the text is %d characters long; the speech API takes at most %d", n, maxInputChars)
	}
	format := req.Format
	if format == "" {
		format = "mp3"
	}
	mime, ok := formatMIME[format]
	if !ok {
		return body, "", nil, fmt.Errorf("format %q is not one of mp3, opus, aac, flac, wav, pcm", req.Format)
	}
	vs, err := parseSettings(req.Settings)
	if err != nil {
		return body, "", nil, err
	}
	body = speechBody{Model: req.Model, Input: req.Text, Voice: req.VoiceID, ResponseFormat: format, Speed: vs.Speed}
	if body.Model == "" {
		body.Model = s.SpeechModel
	}
	if body.Voice == "" {
		body.Voice = s.Voice
	}
	if vs.Instructions != nil && *vs.Instructions != "" {
		if takesInstructions(body.Model) {
			body.Instructions = *vs.Instructions
		} else {
			dropped = append(dropped, "instructions")
		}
	}
	return body, mime, dropped, nil
}

// speechAnswerIsAudio checks the Content-Type of a 2xx speech answer: the
// audio itself stays host-side (response_blob), so its type is what the
// plugin can check. OpenAI sends audio/*; some local servers send
// application/octet-stream or nothing. JSON, HTML or text is a server
// that answered with something else (a proxy page, an error with 200).
func speechAnswerIsAudio(contentType string) bool {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	return ct == "" || strings.HasPrefix(ct, "audio/") || strings.HasPrefix(ct, "application/octet-stream") ||
		strings.HasPrefix(ct, "video/ogg") || strings.HasPrefix(ct, "application/ogg")
}

// transcribeFormat is the response_format to ask a transcription model
// for: verbose_json gives the language and the duration, but OpenAI's
// gpt-4o transcription models offer only json (and text).
func transcribeFormat(model string) string {
	if strings.HasPrefix(model, "gpt-4o") {
		return "json"
	}
	return "verbose_json"
}

// mimeExt is the file extension the transcription API expects for a MIME
// type: it tells formats apart by the file name, so a part named "audio"
// without an extension is refused. It is not sdk.AudioExtension: OpenAI
// takes only flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav and webm, so
// AAC goes as m4a (its container) and video/* types are named too.
var mimeExt = map[string]string{
	"audio/mpeg":   "mp3",
	"audio/mp3":    "mp3",
	"audio/wav":    "wav",
	"audio/wave":   "wav",
	"audio/x-wav":  "wav",
	"audio/ogg":    "ogg",
	"audio/opus":   "ogg",
	"audio/webm":   "webm",
	"video/webm":   "webm",
	"audio/flac":   "flac",
	"audio/x-flac": "flac",
	"audio/mp4":    "m4a",
	"audio/m4a":    "m4a",
	"audio/x-m4a":  "m4a",
	"audio/aac":    "m4a",
	"video/mp4":    "mp4",
}

// uploadName is the file name of the audio part: the caller's, when it
// has an extension, else "audio.<ext>" from the MIME type.
func uploadName(a abi.AudioRef) (string, error) {
	mime := strings.ToLower(strings.TrimSpace(strings.SplitN(a.MimeType, ";", 2)[0]))
	if a.Filename != "" && strings.Contains(a.Filename, ".") {
		return a.Filename, nil
	}
	ext, ok := mimeExt[mime]
	if !ok {
		return "", fmt.Errorf("audio of type %q cannot be transcribed (send mp3, wav, ogg, webm, flac or m4a)", a.MimeType)
	}
	return "audio." + ext, nil
}

// buildTranscription is the multipart form of POST
// /v1/audio/transcriptions: the file part names the caller's blob, so the
// host sends the audio without it entering the plugin.
func (s settings) buildTranscription(req abi.TranscribeRequest) (parts []abi.MultipartPart, model, format string, err error) {
	if req.Audio.Blob <= 0 {
		return nil, "", "", fmt.Errorf("no audio was given (blob handle %d)", req.Audio.Blob)
	}
	name, err := uploadName(req.Audio)
	if err != nil {
		return nil, "", "", err
	}
	model = req.Model
	if model == "" {
		model = s.TranscribeModel
	}
	format = transcribeFormat(model)
	ct := req.Audio.MimeType
	if ct == "" {
		ct = "application/octet-stream"
	}
	parts = []abi.MultipartPart{
		{Name: "file", Blob: req.Audio.Blob, Filename: name, ContentType: ct},
		{Name: "model", Value: model},
		{Name: "response_format", Value: format},
	}
	if lang := strings.TrimSpace(req.Language); lang != "" {
		parts = append(parts, abi.MultipartPart{Name: "language", Value: isoLanguage(lang)})
	}
	return parts, model, format, nil
}

// transcription is the JSON answer of /v1/audio/transcriptions, in both
// json and verbose_json form.
type transcription struct {
	Text     *string  `json:"text"`
	Language string   `json:"language"` // verbose_json: Whisper's English name, e.g. "english"
	Duration *float64 `json:"duration"` // verbose_json: seconds
	// Usage is how gpt-4o transcription models bill: by tokens, or by
	// duration in seconds.
	Usage *struct {
		Type    string   `json:"type"`
		Seconds *float64 `json:"seconds"`
	} `json:"usage"`
}

// parseTranscription reads a transcription answer. fallbackMS is the
// caller's measure of the audio, used when the server gives no duration.
func parseTranscription(body []byte, model, hint string, fallbackMS int64) (abi.TranscribeResponse, error) {
	var t transcription
	if err := json.Unmarshal(body, &t); err != nil || t.Text == nil {
		return abi.TranscribeResponse{}, fmt.Errorf("not a transcription")
	}
	ms := fallbackMS
	switch {
	case t.Duration != nil && *t.Duration >= 0:
		ms = int64(math.Round(*t.Duration * 1000))
	case t.Usage != nil && t.Usage.Type == "duration" && t.Usage.Seconds != nil && *t.Usage.Seconds >= 0:
		ms = int64(math.Round(*t.Usage.Seconds * 1000))
	}
	lang := isoLanguage(t.Language)
	if lang == "" && hint != "" {
		lang = isoLanguage(hint) // json answers carry no language: the caller's is the one used
	}
	return abi.TranscribeResponse{
		Text:       strings.TrimSpace(*t.Text),
		Language:   lang,
		DurationMS: ms,
		Usage:      abi.Usage{Kind: abi.UsageVoice, Model: model, AudioMS: ms},
	}, nil
}
