package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/audio"
	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// ---- /voice: the user's own override --------------------------------------------------

func (c *Commands) voiceEnable(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	return c.setVoicePreference(ctx, e, r, ptr(true))
}

func (c *Commands) voiceDisable(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	return c.setVoicePreference(ctx, e, r, ptr(false))
}

func (c *Commands) voiceReset(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	return c.setVoicePreference(ctx, e, r, nil)
}

func (c *Commands) setVoicePreference(ctx context.Context, e *handler.CommandEvent, r *reply, on *bool) error {
	u, err := c.store.UserByDiscordID(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	if err := c.store.SetVoicePreference(ctx, u.ID, on); err != nil {
		return err
	}
	switch {
	case on == nil:
		return r.Send("Voice override removed: each personality's own default decides whether its replies to you get a voice again. See `/voice status`.")
	case *on:
		return r.Send("Voice on: every reply to you gets a voice from each personality that has one (speech needs a key for its voice plugin: see `/voice status`).")
	}
	return r.Send("Voice off: replies to you are text only, whatever the personality's default. `/voice reset` goes back to the defaults.")
}

// Whose key would pay for a plugin call.
const (
	keyNotNeeded = iota // the plugin has no key slot
	keyOwn              // the user's own key
	keyShared           // the deployment's fallback key covers the user
	keyNone             // neither
)

// keyCover says whether the user can pay for a plugin's key slot, and how
// to say so.
func (c *Commands) keyCover(ctx context.Context, discordID, guildID, slot string) (int, string, error) {
	if slot == "" {
		return keyNotNeeded, "it needs no key", nil
	}
	keys, err := c.store.ListAPIKeys(ctx, discordID)
	if err != nil {
		return 0, "", err
	}
	for _, k := range keys {
		if k.Provider == slot {
			return keyOwn, fmt.Sprintf("you have a `%s` key (`%s`)", slot, k.Hint), nil
		}
	}
	if c.fallback != nil && c.fallback(discordID, guildID, slot) {
		return keyShared, fmt.Sprintf("you have no `%s` key, but the bot's shared key covers you here", slot), nil
	}
	return keyNone, fmt.Sprintf("you have **no `%s` key**, so replies stay text: add one with `/wallet set %s`", slot, slot), nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func (c *Commands) voiceStatus(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	discordID := e.User().ID.String()
	var pref *bool
	_, known, err := c.store.UserID(ctx, discordID)
	if err != nil {
		return err
	}
	if known {
		u, err := c.store.UserByDiscordID(ctx, discordID) // known: reads, writes nothing
		if err != nil {
			return err
		}
		pref = u.VoiceEnabled
	}
	var b strings.Builder
	switch {
	case pref == nil:
		b.WriteString("**Your voice override:** not set: each personality's own default decides (`/voice enable` or `/voice disable` to choose for all).")
	default:
		fmt.Fprintf(&b, "**Your voice override:** %s, for every personality (`/voice reset` goes back to their defaults).", onOff(*pref))
	}
	typed, named := e.SlashCommandInteractionData().OptString("personality")
	if !named {
		b.WriteString("\nName a personality to see what applies to its replies.")
		return r.Send(b.String())
	}
	p, err := c.findPersonality(ctx, typed)
	if err != nil {
		return err
	}
	uid, _, err := c.store.UserID(ctx, discordID)
	if err != nil {
		return err
	}
	if !p.IsPublic && !c.isOwner(discordID) && (!known || p.OwnerUserID == nil || *p.OwnerUserID != uid) {
		// A private personality's settings are its owner's business.
		return sayf("There is no personality called `%s` that you can talk to.", truncate(typed, 100))
	}
	guildID := ""
	if g := e.GuildID(); g != nil {
		guildID = g.String()
	}
	fmt.Fprintf(&b, "\n\n**%s**", p.Name)
	applies := p.VoiceEnabled
	if pref != nil {
		applies = *pref
		fmt.Fprintf(&b, "\n- Voice for you: **%s**, because of your override (its default is %s).", onOff(applies), onOff(p.VoiceEnabled))
	} else {
		fmt.Fprintf(&b, "\n- Voice for you: **%s**, its default (you have no override).", onOff(applies))
	}
	cfg := store.DefaultVoiceConfig()
	if p.Voice != nil {
		cfg = *p.Voice
	}
	st, loaded := c.loadedPlugin(cfg.Provider)
	switch {
	case !loaded:
		fmt.Fprintf(&b, "\n- Voice plugin: `%s`, which is **not loaded** on this bot, so it cannot speak.", cfg.Provider)
	case !grants(st, abi.CapSpeak):
		fmt.Fprintf(&b, "\n- Voice plugin: `%s`, which is **not allowed to speak** here (plugins.toml does not grant `voice.speak`).", cfg.Provider)
	default:
		_, cover, err := c.keyCover(ctx, discordID, guildID, st.KeySlot)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n- Voice plugin: `%s`; %s.", cfg.Provider, cover)
	}
	switch {
	case p.Voice == nil || (cfg.VoiceID == "" && cfg.Frequency <= 0):
		// What the pipeline calls no voice (chat's wantsVoice): nothing to
		// say it with, whatever the switches say.
		b.WriteString("\n- It has **no voice** yet (no voice id, frequency 0), so its replies stay text; its owner sets one with `/personality voice`.")
	case applies && pref != nil:
		// The pipeline speaks every reply for a user who turned voice on.
		b.WriteString("\n- Frequency: every reply, because you turned voice on (its own frequency is for users without an override).")
	case applies && cfg.Frequency == 0:
		b.WriteString("\n- Frequency: 0%, so **no** reply gets a voice until its owner raises it (`/personality voice frequency:`).")
	case applies:
		fmt.Fprintf(&b, "\n- Frequency: %s of replies get a voice.", percent(cfg.Frequency))
	}
	if cfg.VoiceID == "" {
		b.WriteString("\n- Voice: the plugin's default voice (no voice id set).")
	} else {
		fmt.Fprintf(&b, "\n- Voice id: `%s`.", truncate(cfg.VoiceID, 100))
	}
	return r.Send(b.String())
}

func percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + "%"
}

// loadedPlugin returns the loaded plugins.toml entry called name.
func (c *Commands) loadedPlugin(name string) (plugin.PluginStatus, bool) {
	for _, st := range c.loadedPlugins() {
		if st.Name == name {
			return st, true
		}
	}
	return plugin.PluginStatus{}, false
}

// voicePlugin returns the loaded entry called name that is granted
// capability (voice.speak or voice.clone), or a userError listing the ones
// that are.
func (c *Commands) voicePlugin(name, capability, what string) (plugin.PluginStatus, error) {
	var names []string
	for _, st := range c.loadedPlugins() {
		if !grants(st, capability) {
			continue
		}
		if st.Name == name {
			return st, nil
		}
		names = append(names, "`"+st.Name+"`")
	}
	if len(names) == 0 {
		return plugin.PluginStatus{}, sayf("No voice plugin that can %s is loaded on this bot (plugins.toml must enable one and grant `%s`). Nothing was changed.", what, capability)
	}
	return plugin.PluginStatus{}, sayf("`%s` is not a loaded voice plugin that can %s. Pick one of: %s. Nothing was changed.", truncate(name, 63), what, strings.Join(names, ", "))
}

// ---- /personality voice-sample -------------------------------------------------------

// sampleFormatOK reports whether a sample may have this audio type (what
// cloning APIs take; OGG voice messages are for transcription only).
func sampleFormatOK(mime string) bool { return mime == audio.MIMEMP3 || mime == audio.MIMEWAV }

func (c *Commands) sampleUpload(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	att, ok := e.SlashCommandInteractionData().OptAttachment("file")
	if !ok || att.URL == "" {
		return sayf("Attach the audio file in the `file` option. Nothing was stored.")
	}
	name := truncate(att.Filename, 80)
	// Discord says how big the file is before anyone downloads it: a file
	// over the limit is refused without fetching a byte.
	if int64(att.Size) > store.MaxVoiceSampleBytes {
		return sayf("`%s` is %s; a voice sample may be at most 10 MB. Trim it or export it at a lower bitrate (MP3 at 128 kbit/s holds over 10 minutes in 10 MB). Nothing was stored.",
			name, audio.Size(int64(att.Size)))
	}
	samples, err := c.store.VoiceSamples(ctx, p.ID)
	if err != nil {
		return err
	}
	if len(samples) >= store.MaxVoiceSamples {
		return tooManySamples(p.Name)
	}
	if c.download == nil {
		return sayf("This bot cannot fetch attachments (it was started without a Discord connection). Nothing was stored.")
	}
	if err := r.Defer(); err != nil {
		return err
	}
	data, _, err := c.download(ctx, att.URL, store.MaxVoiceSampleBytes)
	if err != nil {
		if errors.Is(err, message.ErrDownloadTooLarge) {
			return sayf("`%s` is larger than 10 MB (Discord said otherwise); a voice sample may be at most 10 MB. Nothing was stored.", name)
		}
		c.log.WarnContext(ctx, "voice sample download failed", "personality_id", p.ID, "err", err)
		return sayf("I could not fetch `%s` from Discord (%s). Try uploading it again. Nothing was stored.", name, truncate(err.Error(), 200))
	}
	info, err := audio.InspectInfo(data) // the bytes decide, not the file name or Discord's content type
	switch {
	case errors.Is(err, audio.ErrNoAudio):
		return sayf("`%s` was refused: the file has no audio (0 seconds). Nothing was stored.", name)
	case err != nil:
		return sayf("`%s` was refused: %s. A voice sample must be an MP3 or a PCM WAV file. Nothing was stored.", name, err.Error())
	case !sampleFormatOK(info.MIME):
		return sayf("`%s` is %s; voice samples must be MP3 or WAV (voice messages are for talking to a personality, not for cloning). Convert it to MP3 or WAV. Nothing was stored.", name, info.Detail)
	}
	id, err := c.store.AddVoiceSample(ctx, p.ID, data, info.MIME, info.Duration)
	switch {
	case errors.Is(err, store.ErrTooManySamples):
		return tooManySamples(p.Name)
	case errors.Is(err, store.ErrSampleTooLarge):
		return sayf("`%s` is %s; a voice sample may be at most 10 MB. Nothing was stored.", name, audio.Size(int64(len(data))))
	case err != nil:
		return storeWords(err)
	}
	total := info.Duration
	for _, s := range samples {
		if s.DurationMs != nil {
			total += time.Duration(*s.DurationMs) * time.Millisecond
		}
	}
	n := len(samples) + 1
	advice := "When you are done, build the voice with `/personality voice-clone`."
	if total < 2*time.Minute {
		advice = "2 to 3 minutes of clear speech in total (one speaker, no music or noise) clones best; add more samples, then run `/personality voice-clone`."
	}
	return r.Send(fmt.Sprintf("Stored sample **#%d** for **%s**: %s, %s, %s. It now has %d of %d samples, %s in all. %s",
		id, p.Name, info.Detail, audio.Duration(info.Duration), audio.Size(int64(len(data))), n, store.MaxVoiceSamples, audio.Duration(total), advice))
}

func tooManySamples(name string) error {
	return sayf("**%s** already has %d voice samples, the most it can have. Remove one with `/personality voice-sample remove` first. Nothing was stored.", name, store.MaxVoiceSamples)
}

func (c *Commands) sampleList(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	samples, err := c.store.VoiceSamples(ctx, p.ID)
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return r.Send(fmt.Sprintf("**%s** has no voice samples. Upload MP3 or WAV files (at most 10 MB each, 2 to 3 minutes of clear speech in all) with `/personality voice-sample upload`.", p.Name))
	}
	var b strings.Builder
	var total time.Duration
	fmt.Fprintf(&b, "Voice samples of **%s** (%d of %d):", p.Name, len(samples), store.MaxVoiceSamples)
	for _, s := range samples {
		var d time.Duration
		if s.DurationMs != nil {
			d = time.Duration(*s.DurationMs) * time.Millisecond
		}
		total += d
		kind := "MP3"
		if s.MimeType == audio.MIMEWAV {
			kind = "WAV"
		}
		fmt.Fprintf(&b, "\n- **#%d** %s, %s, %s, added <t:%d:d>", s.ID, kind, audio.Duration(d), audio.Size(int64(s.Size)), s.CreatedAt.Unix())
	}
	fmt.Fprintf(&b, "\nIn all: %s of audio. Remove one with `/personality voice-sample remove`; build the voice with `/personality voice-clone`.", audio.Duration(total))
	return r.Send(b.String())
}

func (c *Commands) sampleRemove(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	id := int64(e.SlashCommandInteractionData().Int("sample"))
	removed, err := c.store.DeleteVoiceSample(ctx, p.ID, id)
	if err != nil {
		return err
	}
	if !removed {
		return sayf("**%s** has no voice sample #%d (see `/personality voice-sample list`). Nothing was changed.", p.Name, id)
	}
	return r.Send(fmt.Sprintf("Removed voice sample #%d from **%s**. A voice already cloned keeps sounding the same until you run `/personality voice-clone` again.", id, p.Name))
}

// ---- /personality voice ----------------------------------------------------------------

// voiceRangeFields are the config values that must lie in 0..1, by option name.
var voiceRangeFields = []string{"stability", "similarity", "style", "frequency"}

// speakSettings builds the settings object a speak call receives (the
// portable VoiceSettings from the config's columns, merged with the
// plugin's own keys), which the plugin's voice_schema must accept.
func speakSettings(v store.VoiceConfig) (json.RawMessage, error) {
	obj := map[string]any{}
	if len(v.Settings) > 0 && string(v.Settings) != "null" {
		if err := json.Unmarshal(v.Settings, &obj); err != nil {
			return nil, fmt.Errorf("stored voice settings: %w", err)
		}
	}
	obj["stability"], obj["similarity_boost"], obj["style"], obj["speaker_boost"] = v.Stability, v.Similarity, v.Style, v.SpeakerBoost
	return json.Marshal(obj)
}

// checkVoiceSettings validates the settings object against the plugin's
// voice_schema through the plugin host (the same check it repeats before
// each speak call), naming each refused field.
func (c *Commands) checkVoiceSettings(st plugin.PluginStatus, settings json.RawMessage) error {
	err := c.plugins.ValidateVoiceSettings(st.Name, settings)
	var se *plugin.SettingsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		lines := make([]string, len(se.Problems))
		for i, p := range se.Problems {
			if field, why, ok := strings.Cut(p, ": "); ok && !strings.Contains(field, " ") {
				p = "`" + field + "`: " + why
			}
			lines[i] = "- " + p
		}
		return sayf("The **%s** voice plugin does not accept these settings:\n%s\nNothing was changed.", st.Name, strings.Join(lines, "\n"))
	}
	return fmt.Errorf("check voice settings: %w", err)
}

func (c *Commands) personalityVoice(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	d := e.SlashCommandInteractionData()
	cfg := store.DefaultVoiceConfig()
	if p.Voice != nil {
		cfg = *p.Voice
	}
	var changed []string
	var enabled *bool
	if v, ok := d.OptBool("enabled"); ok {
		enabled, changed = &v, append(changed, "voice "+onOff(v))
	}
	providerGiven := false
	if v, ok := d.OptString("provider"); ok {
		cfg.Provider, providerGiven, changed = strings.TrimSpace(v), true, append(changed, "voice plugin")
	}
	if v, ok := d.OptString("voice_id"); ok {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, clearWord) {
			v = ""
		}
		if utf8.RuneCountInString(v) > 200 || strings.ContainsAny(v, " \t\r\n") {
			return sayf("A voice id is at most 200 characters without spaces (\"none\" for the plugin's default voice). Nothing was changed.")
		}
		cfg.VoiceID, changed = v, append(changed, "voice id")
	}
	if v, ok := d.OptString("model"); ok {
		v = strings.TrimSpace(v)
		if n := utf8.RuneCountInString(v); n < 1 || n > 200 || strings.ContainsAny(v, " \t\r\n") {
			return sayf("A speech model name is 1 to 200 characters without spaces (e.g. `eleven_flash_v2_5`). Nothing was changed.")
		}
		cfg.Model, changed = v, append(changed, "model")
	}
	var problems []string
	for _, name := range voiceRangeFields {
		v, ok := d.OptFloat(name)
		if !ok {
			continue
		}
		switch {
		case math.IsNaN(v) || v < 0:
			problems = append(problems, fmt.Sprintf("- `%s`: must be at least 0, but it is %s", name, strconv.FormatFloat(v, 'f', -1, 64)))
		case v > 1:
			problems = append(problems, fmt.Sprintf("- `%s`: must be at most 1, but it is %s", name, strconv.FormatFloat(v, 'f', -1, 64)))
		}
		switch name {
		case "stability":
			cfg.Stability = v
		case "similarity":
			cfg.Similarity = v
		case "style":
			cfg.Style = v
		case "frequency":
			cfg.Frequency = v
		}
		changed = append(changed, name)
	}
	if len(problems) > 0 {
		return sayf("These voice settings are out of range (each goes from 0 to 1):\n%s\nNothing was changed.", strings.Join(problems, "\n"))
	}
	if v, ok := d.OptBool("speaker_boost"); ok {
		cfg.SpeakerBoost, changed = v, append(changed, "speaker boost")
	}
	if v, ok := d.OptBool("transcription"); ok {
		cfg.TranscriptionEnabled, changed = v, append(changed, "transcription")
	}
	if v, ok := d.OptString("settings"); ok {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, clearWord) {
			cfg.Settings = json.RawMessage(`{}`)
		} else {
			var obj map[string]any
			if err := json.Unmarshal([]byte(v), &obj); err != nil || obj == nil {
				return sayf("`settings` must be a JSON object of the voice plugin's own options, e.g. `{\"speed\": 1.1}` (\"none\" to clear). Nothing was changed.")
			}
			for _, k := range []string{"stability", "similarity_boost", "style", "speaker_boost"} {
				if _, dup := obj[k]; dup {
					return sayf("`%s` has its own option in `/personality voice`; leave it out of `settings`. Nothing was changed.", k)
				}
			}
			canon, _ := json.Marshal(obj)
			cfg.Settings = canon
		}
		changed = append(changed, "plugin settings")
	}
	if len(changed) == 0 {
		return r.Send(c.describeVoice(p, cfg))
	}
	// Frequency 0 means no reply ever speaks: turning voice on without
	// saying how often means every reply, not none.
	if _, freqGiven := d.OptFloat("frequency"); enabled != nil && *enabled && !freqGiven && cfg.Frequency == 0 {
		cfg.Frequency, changed = 1, append(changed, "frequency (100%: every reply; lower it with `frequency:`)")
	}

	// The plugin must exist when it is being chosen; when only a value
	// changes, an absent plugin (e.g. imported configs on a bot without
	// it) only means its own checks cannot run.
	note := ""
	st, loaded := c.loadedPlugin(cfg.Provider)
	if providerGiven || (loaded && !grants(st, abi.CapSpeak)) {
		if st, err = c.voicePlugin(cfg.Provider, abi.CapSpeak, "speak"); err != nil {
			return err
		}
		loaded = true
	}
	if loaded {
		settings, err := speakSettings(cfg)
		if err != nil {
			return err
		}
		if err := c.checkVoiceSettings(st, settings); err != nil {
			return err
		}
	} else {
		note = fmt.Sprintf(" (The `%s` voice plugin is not loaded on this bot, so only the ranges were checked; it will not speak until a self-hoster enables it.)", cfg.Provider)
	}
	if err := c.store.SetPersonalityVoice(ctx, p.ID, cfg, enabled); err != nil {
		var vp *store.VoiceParamError
		if errors.As(err, &vp) {
			return sayf("`%s`: must be between 0 and 1. Nothing was changed.", vp.Param)
		}
		return storeWords(err)
	}
	if enabled != nil {
		p.VoiceEnabled = *enabled
	}
	return r.Send(fmt.Sprintf("Updated the %s of **%s**.%s\n%s", strings.Join(changed, ", "), p.Name, note, c.describeVoice(p, cfg)))
}

// describeVoice shows a personality's voice config.
func (c *Commands) describeVoice(p store.Personality, v store.VoiceConfig) string {
	voice := "the plugin's default voice"
	if v.VoiceID != "" {
		voice = "`" + truncate(v.VoiceID, 100) + "`"
	}
	settings := "{}"
	if len(v.Settings) > 0 {
		settings = truncate(string(v.Settings), 500)
	}
	return fmt.Sprintf("Voice of **%s**: %s by default, plugin `%s`, voice %s, model `%s`, stability %s, similarity %s, style %s, speaker boost %s, frequency %s, transcription %s, plugin settings `%s`.",
		p.Name, onOff(p.VoiceEnabled), v.Provider, voice, v.Model, num(v.Stability), num(v.Similarity), num(v.Style),
		onOff(v.SpeakerBoost), percent(v.Frequency), onOff(v.TranscriptionEnabled), settings)
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ---- /personality voice-clone ------------------------------------------------------------

func (c *Commands) voiceClone(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	cfg := store.DefaultVoiceConfig()
	if p.Voice != nil {
		cfg = *p.Voice
	}
	st, err := c.voicePlugin(cfg.Provider, abi.CapVoiceClone, "clone voices")
	if err != nil {
		return sayf("**%s** speaks through `%s`, which cannot clone voices here. Choose another voice plugin with `/personality voice provider:`, or ask the bot's owner. Nothing was changed.", p.Name, cfg.Provider)
	}
	samples, err := c.store.VoiceSamples(ctx, p.ID)
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return sayf("**%s** has no voice samples yet. Upload MP3 or WAV files with `/personality voice-sample upload` (2 to 3 minutes of clear speech in all), then run this again. Nothing was changed.", p.Name)
	}
	discordID := e.User().ID.String()
	guildID := ""
	if g := e.GuildID(); g != nil {
		guildID = g.String()
	}
	// The voice is created in the account whose key pays, so cloning takes
	// the user's own key: the deployment's shared key pays for replies, not
	// for voices stored in the bot host's account.
	if who, _, err := c.keyCover(ctx, discordID, guildID, st.KeySlot); err != nil {
		return err
	} else if who == keyShared || who == keyNone {
		return sayf("Cloning creates the voice in your own account at the provider: add your `%s` key with `/wallet set %s` first. Nothing was changed.", st.KeySlot, st.KeySlot)
	}
	if err := r.Defer(); err != nil { // uploading up to 25 samples takes a while
		return err
	}
	refs := make([]abi.AudioRef, 0, len(samples))
	datas := make([][]byte, 0, len(samples))
	for _, s := range samples {
		data, mime, err := c.store.VoiceSampleData(ctx, p.ID, s.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return err
		}
		ext := ".mp3"
		if mime == audio.MIMEWAV {
			ext = ".wav"
		}
		ref := abi.AudioRef{MimeType: mime, Filename: fmt.Sprintf("sample-%d%s", s.ID, ext)}
		if s.DurationMs != nil {
			ref.DurationMS = int64(*s.DurationMs)
		}
		refs, datas = append(refs, ref), append(datas, data)
	}
	reqID := "clone-" + newRef()
	// The host puts the samples in the call's blobs; the plugin names them
	// in a host-built multipart upload, so they never enter its memory.
	callCtx := plugin.WithCall(ctx, plugin.Call{UserID: discordID, PersonalityID: strconv.FormatInt(p.ID, 10), RequestID: reqID})
	start := time.Now()
	resp, usage, err := c.plugins.CloneVoice(callCtx, st.Name, abi.CloneVoiceRequest{
		Name: p.Name, Description: "Cloned for the personality " + p.Name + " (" + p.Slug + ")", Samples: refs,
	}, datas)
	if err != nil {
		return c.cloneFailed(ctx, p, st, err)
	}
	voiceID := strings.TrimSpace(resp.VoiceID)
	if voiceID == "" || utf8.RuneCountInString(voiceID) > 200 || strings.ContainsAny(voiceID, " \t\r\n") {
		c.log.ErrorContext(ctx, "voice plugin returned no usable voice id", "plugin", st.Name, "personality_id", p.ID)
		return sayf("`%s` answered without a usable voice id, so nothing was saved. Try again later; if it keeps happening, tell the bot's owner.", st.Name)
	}
	c.recordCloneUsage(ctx, discordID, p.ID, reqID, st.Name, usage, time.Since(start))
	cfg.VoiceID = voiceID
	if err := c.store.SetPersonalityVoice(ctx, p.ID, cfg, nil); err != nil {
		return storeWords(err)
	}
	hint := ""
	if !p.VoiceEnabled {
		hint = " Its replies are text by default: turn voice on with `/personality voice enabled:True` (or each user with `/voice enable`)."
	}
	return r.Send(fmt.Sprintf("Cloned **%s**'s voice at `%s` from %d samples: voice id `%s` is saved in its voice settings.%s",
		p.Name, st.Name, len(refs), voiceID, hint))
}

// cloneFailed words a provider's refusal for the user; nothing was saved.
func (c *Commands) cloneFailed(ctx context.Context, p store.Personality, st plugin.PluginStatus, err error) error {
	var ae *abi.Error
	if !errors.As(err, &ae) {
		return fmt.Errorf("clone voice of personality %d: %w", p.ID, err)
	}
	msg := truncate(ae.Message, 300)
	c.log.WarnContext(ctx, "voice clone refused", "plugin", st.Name, "personality_id", p.ID, "code", ae.Code, "http_status", ae.HTTPStatus)
	switch ae.Code {
	case abi.ErrInvalidKey:
		return sayf("`%s` refused your key (%s). Check it with `/wallet test %s` or replace it with `/wallet set %s`. Nothing was saved.", st.Name, msg, st.KeySlot, st.KeySlot)
	case abi.ErrNoKey:
		return sayf("Cloning needs your own `%s` key: add it with `/wallet set %s`. Nothing was saved.", st.KeySlot, st.KeySlot)
	case abi.ErrNoCredit:
		return sayf("Your `%s` account cannot clone right now (%s); instant voice cloning needs a plan that includes it. Nothing was saved.", st.Name, msg)
	case abi.ErrRateLimited:
		return sayf("`%s` is rate limiting your account (%s). Wait a minute and run `/personality voice-clone` again. Nothing was saved.", st.Name, msg)
	case abi.ErrBadRequest, abi.ErrContent:
		return sayf("`%s` rejected the voice: %s. Check the samples (`/personality voice-sample list`): one clear speaker, no music. Nothing was saved.", st.Name, msg)
	case abi.ErrTimeout:
		return sayf("`%s` did not answer in time. Try again later. Nothing was saved.", st.Name)
	case abi.ErrUnavailable:
		return sayf("`%s` is not answering properly right now (%s). Try again later. Nothing was saved.", st.Name, msg)
	}
	return fmt.Errorf("clone voice of personality %d: %w", p.ID, err)
}

// recordCloneUsage writes the clone's usage rows (the invoking user's),
// logging a failure: the voice exists at the provider either way.
func (c *Commands) recordCloneUsage(ctx context.Context, discordID string, personalityID int64, reqID, pluginName string, usage []abi.Usage, latency time.Duration) {
	if len(usage) == 0 {
		return
	}
	u, err := c.store.UserByDiscordID(ctx, discordID)
	if err != nil {
		c.log.WarnContext(ctx, "voice clone usage not recorded", "err", err)
		return
	}
	for i, x := range usage {
		id := reqID
		if i > 0 {
			id = fmt.Sprintf("%s-%d", reqID, i)
		}
		provider := x.Provider
		if provider == "" {
			provider = pluginName
		}
		kind := x.Kind
		if kind == "" {
			kind = abi.UsageVoice
		}
		if _, err := c.store.InsertUsage(ctx, store.Usage{
			RequestID: id, UserID: u.ID, PersonalityID: personalityID, Provider: provider, Model: x.Model, Kind: kind,
			InputTokens: int(x.InputTokens), OutputTokens: int(x.OutputTokens), Characters: int(x.Characters),
			AudioMS: int(x.AudioMS), Latency: latency,
		}); err != nil {
			c.log.WarnContext(ctx, "voice clone usage not recorded", "err", err)
		}
	}
}
