package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tzurot-go/tzurot/host/internal/audio"
	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// DefaultMaxSpeechBytes caps the audio one speak call may return (see
// Options.MaxSpeechBytes): far above any reply's speech (a minute of
// 128 kbit/s MP3 is under 1 MB), and Discord refuses larger uploads anyway.
const DefaultMaxSpeechBytes = 25 << 20

// errNotAudio is the cause when a voice plugin's audio is not audio.
var errNotAudio = errors.New("the voice plugin returned something that is not audio")

// voiceCall prepares ctx for a voice call: the Call's blob store (a new
// one when the caller gave none), which the caller's inputs go into and
// the plugin's audio comes back in.
func voiceCall(ctx context.Context) (context.Context, *Blobs) {
	c, _ := CallFrom(ctx)
	c.OnChunk = nil // voice exports stream nothing to the user
	if c.Blobs == nil {
		c.Blobs = NewBlobs()
	}
	return WithCall(ctx, c), c.Blobs
}

// voiceUsage applies Chat's usage rules to a voice call: the rows the
// plugin recorded win; else the response's usage (kind voice when it says
// none), checked like a record_usage row, is the one row. u is the
// response's usage: scrubbed, emptied when refused, and stamped with
// whose usage it is.
func (h *Host) voiceUsage(ctx context.Context, name, export string, r Result, u *abi.Usage) []abi.Usage {
	u.Kind, u.Model = r.redact(u.Kind), r.redact(u.Model)
	rows := r.Usage
	if len(rows) == 0 && *u != (abi.Usage{}) {
		if u.Kind == "" {
			u.Kind = abi.UsageVoice
		}
		if err := checkUsage(*u); err != nil {
			// As for chat: the answer stands, the row is not recorded.
			h.log.WarnContext(ctx, "plugin usage in "+export+" response rejected", "plugin", name, "reason", err)
			*u = abi.Usage{}
		} else {
			u.Provider, u.Plugin = r.Provider, name
			rows = []abi.Usage{*u}
		}
	}
	u.Provider, u.Plugin = r.Provider, name
	return rows
}

// badAnswer is the error for a voice answer the host cannot use.
func badAnswer(name, export, code, msg string, cause error) error {
	if cause == nil {
		cause = errors.New(msg)
	}
	return fmt.Errorf("plugin %s: %s: %w", name, export, &callError{&abi.Error{Code: code, Message: msg}, cause})
}

// Speak asks plugin name (capability voice.speak) to say req.Text, for the
// call in ctx. req.Settings is checked against the plugin's voice_schema
// first (a bad value is a bad_request naming the field). The audio comes
// back as bytes read from the blob the response names; that blob must
// exist, be non-empty, at most MaxSpeechBytes, declared audio/* and look
// like audio (audio.Sniff): an HTML error page served with status 200 is
// an error, never a voice message. resp.Audio.MimeType is the sniffed
// type. Usage follows Chat's rules, with kind voice; it is returned with
// an unusable-audio error too (the provider may have billed the speech),
// so the caller records it either way.
func (h *Host) Speak(ctx context.Context, name string, req abi.SpeakRequest) (abi.SpeakResponse, []byte, []abi.Usage, error) {
	if strings.TrimSpace(req.Text) == "" {
		return abi.SpeakResponse{}, nil, nil, &abi.Error{Code: abi.ErrBadRequest, Message: "there is no text to speak"}
	}
	if err := h.ValidateVoiceSettings(name, req.Settings); err != nil {
		return abi.SpeakResponse{}, nil, nil, err
	}
	ctx, blobs := voiceCall(ctx)
	in, err := json.Marshal(req)
	if err != nil {
		return abi.SpeakResponse{}, nil, nil, fmt.Errorf("plugin %s: speak: encode request: %w", name, err)
	}
	r, err := h.invoke(ctx, name, abi.CapSpeak, abi.SpeakExport, in)
	if err != nil {
		return abi.SpeakResponse{}, nil, nil, err
	}
	var resp abi.SpeakResponse
	if err := json.Unmarshal(r.Output, &resp); err != nil {
		return abi.SpeakResponse{}, nil, nil, badAnswer(name, abi.SpeakExport, abi.ErrInternal, "the plugin's answer was not a speak response", err)
	}
	resp.Audio.MimeType, resp.Audio.Filename = r.redact(resp.Audio.MimeType), r.redact(resp.Audio.Filename)
	usage := h.voiceUsage(ctx, name, abi.SpeakExport, r, &resp.Usage)

	data, ok := blobs.Get(resp.Audio.Blob)
	switch {
	case resp.Audio.Blob == 0 || !ok:
		return resp, nil, usage, badAnswer(name, abi.SpeakExport, abi.ErrInternal,
			fmt.Sprintf("the voice plugin named audio blob %d, which does not exist", resp.Audio.Blob), nil)
	case len(data) == 0:
		return resp, nil, usage, badAnswer(name, abi.SpeakExport, abi.ErrUnavailable, "the voice plugin returned empty audio", nil)
	case int64(len(data)) > h.maxSpeech:
		return resp, nil, usage, badAnswer(name, abi.SpeakExport, abi.ErrDenied,
			fmt.Sprintf("the speech is %s, over the %s limit", sizeWords(int64(len(data))), sizeWords(h.maxSpeech)), nil)
	}
	declared := strings.ToLower(strings.TrimSpace(resp.Audio.MimeType))
	sniffed, isAudio := audio.Sniff(data)
	switch {
	case !isAudio:
		return resp, nil, usage, badAnswer(name, abi.SpeakExport, abi.ErrUnavailable,
			fmt.Sprintf("%s (it starts with %q)", errNotAudio.Error(), printable(string(data[:min(len(data), 16)]))), errNotAudio)
	case !strings.HasPrefix(declared, "audio/"):
		return resp, nil, usage, badAnswer(name, abi.SpeakExport, abi.ErrInternal,
			fmt.Sprintf("the voice plugin said its audio is %q, not an audio/* MIME type", resp.Audio.MimeType), nil)
	}
	// The bytes decide: a plugin that says audio/mpeg for Opus in Ogg would
	// give the file the wrong extension on Discord.
	resp.Audio.MimeType = sniffed
	return resp, data, usage, nil
}

// sizeWords is a byte count for people: "1.5 MiB", "300 KiB", "12 bytes".
func sizeWords(n int64) string {
	switch {
	case n >= 1<<20:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/(1<<20)), ".0") + " MiB"
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// putAudio stores the caller's audio bytes for a voice call, or, when data
// is nil, checks that the handle the caller set names a blob of the call.
// A missing MIME type is sniffed from the bytes.
func putAudio(blobs *Blobs, ref *abi.AudioRef, data []byte, what string) error {
	if data != nil {
		ref.Blob = blobs.Put(data)
	} else {
		var ok bool
		if data, ok = blobs.Get(ref.Blob); !ok {
			return &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("%s: there is no blob %d in this call", what, ref.Blob)}
		}
	}
	if len(data) == 0 {
		return &abi.Error{Code: abi.ErrBadRequest, Message: what + " is empty"}
	}
	if ref.MimeType == "" {
		m, ok := audio.Sniff(data)
		if !ok {
			return &abi.Error{Code: abi.ErrBadRequest, Message: what + " is not audio in a format the host recognises (MP3, WAV, Ogg, FLAC, WebM, MP4/M4A, AAC)"}
		}
		ref.MimeType = m
	}
	return nil
}

// CloneVoice asks plugin name (capability voice.clone) to build a voice
// from samples. samples[i] is the audio of req.Samples[i]; the host puts
// each into the call's blob store and sets its handle. With samples nil,
// the handles in req.Samples must already name blobs of ctx's Call.Blobs.
// The plugin typically uploads them with a host-built multipart body, so
// the samples never enter its memory.
func (h *Host) CloneVoice(ctx context.Context, name string, req abi.CloneVoiceRequest, samples [][]byte) (abi.CloneVoiceResponse, []abi.Usage, error) {
	if samples != nil && len(samples) != len(req.Samples) {
		return abi.CloneVoiceResponse{}, nil, fmt.Errorf("plugin %s: clone_voice: %d sample descriptions for %d samples", name, len(req.Samples), len(samples))
	}
	if len(req.Samples) == 0 {
		return abi.CloneVoiceResponse{}, nil, &abi.Error{Code: abi.ErrBadRequest, Message: "there are no voice samples to clone from"}
	}
	ctx, blobs := voiceCall(ctx)
	req.Samples = append([]abi.AudioRef(nil), req.Samples...)
	for i := range req.Samples {
		var data []byte
		if samples != nil {
			data = samples[i]
			if data == nil {
				data = []byte{}
			}
		}
		if err := putAudio(blobs, &req.Samples[i], data, fmt.Sprintf("sample %d", i+1)); err != nil {
			return abi.CloneVoiceResponse{}, nil, err
		}
	}
	in, err := json.Marshal(req)
	if err != nil {
		return abi.CloneVoiceResponse{}, nil, fmt.Errorf("plugin %s: clone_voice: encode request: %w", name, err)
	}
	r, err := h.invoke(ctx, name, abi.CapVoiceClone, abi.CloneVoiceExport, in)
	if err != nil {
		return abi.CloneVoiceResponse{}, nil, err
	}
	var resp abi.CloneVoiceResponse
	err = json.Unmarshal(r.Output, &resp)
	resp.VoiceID = r.redact(resp.VoiceID)
	if err != nil || strings.TrimSpace(resp.VoiceID) == "" {
		if err == nil {
			err = errors.New("no voice_id")
		}
		return abi.CloneVoiceResponse{}, nil, badAnswer(name, abi.CloneVoiceExport, abi.ErrInternal, "the plugin's answer was not a voice id", err)
	}
	usage := h.voiceUsage(ctx, name, abi.CloneVoiceExport, r, &resp.Usage)
	return resp, usage, nil
}

// Transcribe asks plugin name (capability voice.transcribe) for the text
// of the audio in data (put into the call's blob store by the host; with
// data nil, req.Audio.Blob must name a blob of ctx's Call.Blobs). Every
// text field of the answer is scrubbed of keys the plugin was served.
// Usage follows Chat's rules, with kind voice (audio_ms set by plugins
// that know the length).
func (h *Host) Transcribe(ctx context.Context, name string, req abi.TranscribeRequest, data []byte) (abi.TranscribeResponse, []abi.Usage, error) {
	ctx, blobs := voiceCall(ctx)
	if err := putAudio(blobs, &req.Audio, data, "the audio to transcribe"); err != nil {
		return abi.TranscribeResponse{}, nil, err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return abi.TranscribeResponse{}, nil, fmt.Errorf("plugin %s: transcribe: encode request: %w", name, err)
	}
	r, err := h.invoke(ctx, name, abi.CapTranscribe, abi.TranscribeExport, in)
	if err != nil {
		return abi.TranscribeResponse{}, nil, err
	}
	var resp abi.TranscribeResponse
	if err := json.Unmarshal(r.Output, &resp); err != nil {
		return abi.TranscribeResponse{}, nil, badAnswer(name, abi.TranscribeExport, abi.ErrInternal, "the plugin's answer was not a transcription", err)
	}
	resp.Text, resp.Language = r.redact(resp.Text), r.redact(resp.Language)
	if resp.DurationMS < 0 {
		resp.DurationMS = 0
	}
	usage := h.voiceUsage(ctx, name, abi.TranscribeExport, r, &resp.Usage)
	return resp, usage, nil
}

// SettingsError is a voice config the plugin's voice_schema refuses. It
// reads as a bad_request *abi.Error too (errors.As).
type SettingsError struct {
	Plugin string
	// Problems name each wrong field: "stability: must be at most 1, but it is 1.2".
	Problems []string
}

func (e *SettingsError) Error() string {
	return fmt.Sprintf("voice settings for plugin %s: %s", e.Plugin, strings.Join(e.Problems, "; "))
}

// Unwrap lets callers treat it as the bad_request it is.
func (e *SettingsError) Unwrap() error {
	return &abi.Error{Code: abi.ErrBadRequest, Message: "the voice settings are not valid: " + strings.Join(e.Problems, "; ")}
}

// ValidateVoiceSettings checks a voice settings object (SpeakRequest
// .Settings: the portable VoiceSettings keys plus the plugin's own) against
// the voice_schema plugin name declared; the commands that save a voice
// config call it, and Speak calls it before every call. Empty settings are
// valid; settings must be a JSON object; a plugin without a voice_schema
// accepts any object. A refusal is a *SettingsError naming each field.
func (h *Host) ValidateVoiceSettings(name string, settings json.RawMessage) error {
	s, l, err := h.acquire(name)
	if err != nil {
		return err
	}
	defer s.leave()
	problems, err := checkSettings(l.voiceSchema, settings, `{"stability": 0.5}`)
	if err != nil {
		return fmt.Errorf("plugin %s: validate voice settings: %w", name, err)
	}
	if len(problems) > 0 {
		return &SettingsError{Plugin: name, Problems: problems}
	}
	return nil
}

// checkSettings checks a settings object (voice or image) against a
// plugin's declared schema: empty or null settings are valid; anything else
// must be a JSON object (example shows one); a nil schema accepts any
// object. It returns the problems in words, naming each field, or an error
// when the validator itself failed.
func checkSettings(schema *jsonschema.Schema, settings json.RawMessage, example string) ([]string, error) {
	raw := bytes.TrimSpace(settings)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return []string{"the settings must be a JSON object such as " + example}, nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return []string{"the settings are not valid JSON: " + err.Error()}, nil
	}
	if schema == nil {
		return nil, nil
	}
	if err := schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		return paramschema.Problems(ve), nil
	}
	return nil, nil
}
