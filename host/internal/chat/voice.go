package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Voice is the part of the plugin host the voice features use: speech for
// replies, transcription of voice messages, and the check of a personality's
// voice settings against the speaking plugin's voice_schema. HostVoice
// adapts *plugin.Host. A pipeline without one never speaks or listens.
type Voice interface {
	// Speak turns text into audio with the named plugins.toml entry.
	Speak(ctx context.Context, name string, req abi.SpeakRequest) (Speech, []abi.Usage, error)
	// Transcribe turns audio (whose type and length the host measured)
	// into text with the named entry.
	Transcribe(ctx context.Context, name string, audio []byte, ref abi.AudioRef, req abi.TranscribeRequest) (abi.TranscribeResponse, []abi.Usage, error)
	// ValidateVoiceSettings checks a settings object against the entry's
	// voice_schema, with an error that names the field.
	ValidateVoiceSettings(name string, settings json.RawMessage) error
}

// Speech is the audio a speak call returned.
type Speech struct {
	Audio    []byte
	MimeType string
	// DurationMS is the audio's length when the plugin said.
	DurationMS int64
}

// Speech and transcription defaults (Config fields of the same names).
const (
	DefaultSpeechTimeout  = 60 * time.Second
	DefaultSpeechMaxChars = 2500
	// maxTranscriptQuote bounds the "> 🎤 ..." line that shows a transcript.
	maxTranscriptQuote = 600
)

// voiceUnavailableNote is what a reply says when its audio failed: the text
// is there, the voice is not.
func voiceUnavailableNote(reason string) string {
	return "(The voice could not be made this time: " + reason + ".)"
}

// voiceTooLargeNote replaces audio over the channel's upload limit.
const voiceTooLargeNote = "(The voice message was too large to upload here, so this reply is text only.)"

// wantsVoice is the voice decision's first half, from what the load step
// read. A user who turned voice on (user_preferences.voice_enabled true)
// asked for voice replies and gets one every time; a user who turned it
// off gets none. Without an override the personality's default decides
// (personalities.voice_enabled), and then voice_frequency, the share of
// replies that get audio as shapes.inc had it, is drawn with roll (a
// number in [0, 1)). A personality without a voice never speaks: no voice
// config, or one that names no voice and speaks to nobody by default (the
// config an import makes for a personality that only transcribes).
func wantsVoice(user store.User, pers store.Personality, roll func() float64) bool {
	if pers.Voice == nil || (pers.Voice.VoiceID == "" && pers.Voice.Frequency <= 0) {
		return false
	}
	if user.VoiceEnabled != nil {
		return *user.VoiceEnabled
	}
	if !pers.VoiceEnabled {
		return false
	}
	f := pers.Voice.Frequency
	switch {
	case f <= 0:
		return false
	case f >= 1:
		return true
	}
	return roll() < f
}

// voicePlugin finds the loaded entry named name that grants capability
// (voice_configs.provider names the plugins.toml entry), with its key slot.
func (p *Pipeline) voicePlugin(name, capability string) (slot string, ok bool) {
	for _, st := range p.plugins.Status() {
		if st.Name != name || st.State != plugin.StateLoaded {
			continue
		}
		for _, c := range st.Capabilities {
			if c == capability {
				return st.KeySlot, true
			}
		}
	}
	return "", false
}

// transcriber is the entry that transcribes: Config.TranscribePlugin when
// set, else the first loaded entry granting voice.transcribe.
func (p *Pipeline) transcriber() (name, slot string, ok bool) {
	if p.cfg.TranscribePlugin != "" {
		slot, ok = p.voicePlugin(p.cfg.TranscribePlugin, abi.CapTranscribe)
		return p.cfg.TranscribePlugin, slot, ok
	}
	for _, st := range p.plugins.Status() {
		if st.State != plugin.StateLoaded {
			continue
		}
		for _, c := range st.Capabilities {
			if c == abi.CapTranscribe {
				return st.Name, st.KeySlot, true
			}
		}
	}
	return "", "", false
}

// hasKey reports whether the user has a key for slot, or may use the
// deployment's fallback key for it. The user's own key is read into use (so
// the plugin call serves it from memory, like the chat call's).
func (p *Pipeline) hasKey(ctx context.Context, use *keyUse, userID, guildID, slot string) (bool, error) {
	if slot == "" {
		return true, nil // the entry needs no key (a local speech server)
	}
	use.allowFallback = p.cfg.Fallback.Allowed(userID, guildID)
	if p.keys == nil {
		// No key source to ask ahead: the call itself finds out.
		return true, nil
	}
	if err := p.keys.prepare(ctx, use, userID, slot); err != nil {
		return false, err
	}
	if r := use.prepared(userID, slot); r != nil && r.ok {
		return true, nil
	}
	return use.allowFallback && p.keys.Fallback.Keys[slot] != "", nil
}

// speechPlan is a reply's voice: decided before the chat call, its key read
// while the model writes, so deciding costs the reply no extra round trip.
type speechPlan struct {
	plugin string
	keys   keyUse
	ready  chan struct{} // closed when the key check is done
	ok     bool          // after ready: speak
}

// planSpeech makes the voice decision for the job and, when audio is
// wanted, starts the key check in the background. nil means no audio.
func (j *job) planSpeech(ctx context.Context) *speechPlan {
	p, pers := j.p, j.personality
	if p.voice == nil || !wantsVoice(j.user, *pers, p.cfg.Rand) {
		return nil
	}
	name := pers.Voice.Provider
	slot, ok := p.voicePlugin(name, abi.CapSpeak)
	if !ok {
		j.log.Info("voice wanted but no loaded plugin entry of that name grants voice.speak; replying with text only", slog.String("voice_plugin", name))
		return nil
	}
	sp := &speechPlan{plugin: name, ready: make(chan struct{})}
	go func() {
		defer close(sp.ready)
		ok, err := p.hasKey(ctx, &sp.keys, j.msg.Author.ID, j.msg.GuildID, slot)
		if err != nil {
			j.log.Warn("cannot read the voice key; replying with text only", slog.Any("err", err))
			return
		}
		if !ok {
			j.log.Debug("no key for the voice plugin; replying with text only", slog.String("voice_plugin", name), slog.String("slot", slot))
		}
		sp.ok = ok
	}()
	return sp
}

// speechResult is what became of a speech call.
type speechResult struct {
	plugin string
	speech Speech
	usage  []abi.Usage
	took   time.Duration
	// note replaces the audio when the call failed ("" on success).
	note string
	// file is what was handed to the sender; file.Attached says whether
	// the audio reached Discord.
	file *File
	// received is true once the call's result was taken from its channel.
	received bool
}

// speak starts the speech call for text as soon as the text is known and
// returns the channel its result arrives on (exactly one value). The call
// is bounded by Config.SpeechTimeout.
func (j *job) speak(ctx context.Context, sp *speechPlan, text string) <-chan speechResult {
	out := make(chan speechResult, 1)
	go func() {
		<-sp.ready
		if !sp.ok {
			out <- speechResult{}
			return
		}
		defer sp.keys.done()
		r := j.callSpeak(ctx, sp, text)
		r.plugin = sp.plugin
		out <- r
	}()
	return out
}

func (j *job) callSpeak(ctx context.Context, sp *speechPlan, text string) speechResult {
	p, pers := j.p, j.personality
	settings, err := voiceSettings(*pers.Voice)
	if err == nil {
		err = p.voice.ValidateVoiceSettings(sp.plugin, settings)
	}
	if err != nil {
		j.log.Warn("the personality's voice settings are not valid for its voice plugin; replying with text only",
			slog.String("voice_plugin", sp.plugin), slog.Any("err", err))
		return speechResult{note: voiceUnavailableNote("the personality's voice settings are not valid (" + err.Error() + ")")}
	}
	req := abi.SpeakRequest{Text: speakable(text, p.cfg.SpeechMaxChars), VoiceID: pers.Voice.VoiceID, Model: pers.Voice.Model, Settings: settings, Format: "mp3"}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.SpeechTimeout)
	defer cancel()
	callCtx := plugin.WithCall(withKeyUse(ctx, &sp.keys), plugin.Call{
		UserID:        j.msg.Author.ID,
		PersonalityID: strconv.FormatInt(pers.ID, 10),
		RequestID:     j.stats.RequestID + voiceSuffix,
	})
	start := time.Now()
	speech, usage, err := p.voice.Speak(callCtx, sp.plugin, req)
	took := time.Since(start)
	if err != nil {
		j.log.Warn("speech failed; the reply goes out as text with a notice", slog.String("voice_plugin", sp.plugin), slog.Any("err", err))
		return speechResult{usage: usage, took: took, note: voiceUnavailableNote(speechFailure(err, ctx.Err() != nil, sp.keys.used.Load() == keyFallback))}
	}
	return speechResult{speech: speech, usage: usage, took: took}
}

// voiceSuffix ends the request id of a reply's speech call and usage row.
const voiceSuffix = "-voice"

// transcribeSuffix ends the request id of a message's transcription.
const transcribeSuffix = "-transcribe"

// speechFailure says in a few public words why speech failed: the notice is
// posted in the channel, so it names the kind of failure, never the
// provider's message (which may quote account details). own is false when
// the deployment's fallback key was used: a key problem is then the host's.
func speechFailure(err error, timedOut, fallback bool) string {
	var ae *abi.Error
	if timedOut || errors.Is(err, context.DeadlineExceeded) {
		return "the voice service took too long"
	}
	if !errors.As(err, &ae) {
		return "something went wrong inside the bot"
	}
	switch ae.Code {
	case abi.ErrInvalidKey, abi.ErrNoKey:
		if fallback {
			return "the voice service refused the bot's key"
		}
		return "the voice service refused your key (check it with `/wallet`)"
	case abi.ErrNoCredit:
		return "the voice account has no credit left"
	case abi.ErrRateLimited:
		return "the voice service is busy right now"
	case abi.ErrTimeout:
		return "the voice service took too long"
	case abi.ErrBadRequest:
		return "the voice service refused the request (check the voice id and settings)"
	case abi.ErrContent:
		return "the voice service's content filter refused the text"
	}
	return "the voice service failed"
}

// voiceSettings builds SpeakRequest.Settings: the portable VoiceSettings
// from the voice_configs columns, merged with the plugin's own knobs
// (voice_configs.settings, which win on a clash: they are the more specific).
func voiceSettings(v store.VoiceConfig) (json.RawMessage, error) {
	out := map[string]any{
		"stability":        v.Stability,
		"similarity_boost": v.Similarity,
		"style":            v.Style,
		"speaker_boost":    v.SpeakerBoost,
	}
	if s := strings.TrimSpace(string(v.Settings)); s != "" && s != "null" && s != "{}" {
		var extra map[string]any
		if err := json.Unmarshal(v.Settings, &extra); err != nil {
			return nil, fmt.Errorf("the voice config's settings are not a JSON object: %w", err)
		}
		for k, val := range extra {
			out[k] = val
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode voice settings: %w", err)
	}
	return b, nil
}

// speakable turns a reply's markdown into text to read aloud: code blocks,
// emphasis marks, quote and heading prefixes and spoiler bars are dropped, and
// the text is cut at a sentence end within max characters.
func speakable(text string, max int) string {
	var b strings.Builder
	inCode := false
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			inCode = !inCode
			continue
		}
		if inCode {
			continue
		}
		t = strings.TrimLeft(t, "#> ")
		if strings.HasPrefix(t, "-# ") {
			t = t[3:]
		}
		b.WriteString(t)
		b.WriteByte('\n')
	}
	s := strings.NewReplacer("**", "", "__", "", "~~", "", "||", "", "`", "", "*", "").Replace(b.String())
	s = strings.TrimSpace(s)
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)[:max]
	cut := string(r)
	if i := strings.LastIndexAny(cut, ".!?\n"); i > len(cut)/2 {
		cut = cut[:i+1]
	}
	return strings.TrimSpace(cut)
}

// audioFile names the reply's audio after the personality, with the
// extension of its type (Discord clients choose the player by it).
func audioFile(name string, s Speech) *File {
	ext := ".mp3"
	switch strings.ToLower(strings.TrimSpace(strings.Split(s.MimeType, ";")[0])) {
	case "audio/ogg", "audio/opus":
		ext = ".ogg"
	case "audio/wav", "audio/x-wav", "audio/wave":
		ext = ".wav"
	case "audio/flac":
		ext = ".flac"
	case "audio/aac":
		ext = ".aac"
	case "audio/mp4":
		ext = ".m4a"
	case "audio/webm":
		ext = ".webm"
	}
	base := strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return r
		}
		return '-'
	}, strings.TrimSpace(name))
	base = strings.Trim(base, "-")
	if base == "" {
		base = "voice"
	}
	if len(base) > 40 {
		base = base[:40]
	}
	return &File{Name: base + ext, Data: s.Audio, TooLargeNote: voiceTooLargeNote}
}

// lastPart is the sender's callback for a spoken reply: it waits for the
// speech call (bounded by its timeout) and hands over the audio, or the
// notice that replaces it.
func (j *job) lastPart(result <-chan speechResult, got *speechResult) LastPart {
	return func(ctx context.Context) (*File, string) {
		select {
		case r := <-result:
			*got = r
			got.received = true
		case <-ctx.Done():
			*got = speechResult{note: voiceUnavailableNote("the reply could not wait for it any longer")}
		}
		if got.note != "" || len(got.speech.Audio) == 0 {
			return nil, got.note
		}
		got.file = audioFile(personalityName(*j.personality), got.speech)
		return got.file, ""
	}
}

// recordSpeech writes the speech call's usage (kind voice, characters) as
// rows of their own (the reply's request id + "-voice"), whether or not the
// audio reached Discord: the provider charged for it either way.
func (j *job) recordSpeech(ctx context.Context, r speechResult) {
	posted := r.file != nil && r.file.Attached
	if len(r.usage) == 0 {
		return
	}
	delivery := store.DeliveryPosted
	if !posted {
		delivery = store.DeliveryNone
	}
	rec := store.ReplyRecord{Usage: j.usageRows(j.stats.RequestID+voiceSuffix, r.usage, store.KindVoice, r.plugin, r.took, delivery)}
	if err := j.p.recorder.Record(context.WithoutCancel(ctx), rec); err != nil && !errors.Is(err, errSpooled) {
		j.log.Error("the speech usage was not recorded", slog.Any("err", err))
	}
}

// quoteTranscript is the line that shows the user what the personality
// heard: "> 🎤 " and the transcript (cut), each line quoted.
func quoteTranscript(t string) string {
	t = strings.TrimSpace(t)
	if utf8.RuneCountInString(t) > maxTranscriptQuote {
		t = string([]rune(t)[:maxTranscriptQuote]) + "…"
	}
	lines := strings.Split(t, "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	lines[0] = "> 🎤 " + strings.TrimPrefix(lines[0], "> ")
	return strings.Join(lines, "\n")
}
