package commands_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/disgoorg/disgo/gateway"

	"github.com/tzurot-go/tzurot/host/internal/audio/audiotest"
	"github.com/tzurot-go/tzurot/host/internal/commands"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// number is a Discord number (float) option.
func number(name string, v float64) discordfake.CommandOption {
	return discordfake.CommandOption{Name: name, Type: 10, Value: v}
}

// upload runs /personality voice-sample upload as u with a file on the
// fake CDN; size, when > 0, is what Discord says the file's size is.
func (e *env) upload(u discordfake.User, slug, filename, contentType string, data []byte, size int) answer {
	e.t.Helper()
	att := e.discord.AddCDNFile(filename, contentType, data)
	if size > 0 {
		att.Size = size
	}
	in := e.spec(u)
	in.Attachments = []discordfake.Attachment{att}
	return e.inject(in, discordfake.SlashCommand(in, "personality", group("voice-sample", sub("upload",
		str("personality", slug), discordfake.CommandOption{Name: "file", Type: discordfake.OptionAttachment, Value: att.ID}))))
}

// sampleRows returns the personality's stored samples as "mime duration_ms".
func (e *env) sampleRows(id int64) []string {
	e.t.Helper()
	rows, err := e.store.Pool().Query(context.Background(),
		`SELECT mime_type || ' ' || duration_ms || ' ' || octet_length(data) FROM voice_samples WHERE personality_id = $1 ORDER BY id`, id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestVoiceOverrideAndStatus(t *testing.T) {
	e := newEnv(t, func(d *commands.Deps) {
		d.KeyFallback = func(user, guild, slot string) bool { return false }
	})
	u := e.user()
	owner := e.user()
	id := e.create(owner, "lilith", "Lilith")
	if _, err := e.store.Pool().Exec(context.Background(), `UPDATE personalities SET is_public = true WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}

	a := e.slash(u, "voice", sub("status", str("personality", "lilith")))
	mustSay(t, a, "**Your voice override:** not set", "Voice for you: **off**, its default", "`elevenlabs`, which is **not loaded**")

	mustSay(t, e.slash(u, "voice", sub("enable")), "Voice on")
	pref := func() string {
		var v *bool
		err := e.store.Pool().QueryRow(context.Background(),
			`SELECT p.voice_enabled FROM user_preferences p JOIN users u ON u.id = p.user_id WHERE u.discord_id = $1`, u.ID).Scan(&v)
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			return "null"
		}
		return map[bool]string{true: "true", false: "false"}[*v]
	}
	if got := pref(); got != "true" {
		t.Fatalf("after /voice enable the preference is %s", got)
	}
	// Lilith has no voice yet: the override cannot make her speak.
	a = e.slash(u, "voice", sub("status", str("personality", "Lilith")))
	mustSay(t, a, "**Your voice override:** on", "Voice for you: **on**, because of your override (its default is off)", "It has **no voice** yet")
	// With a voice (an id, frequency 0), the override speaks every reply.
	if _, err := e.store.Pool().Exec(context.Background(),
		`INSERT INTO voice_configs (personality_id, voice_id, frequency) VALUES ($1, 'voice-1', 0)`, id); err != nil {
		t.Fatal(err)
	}
	a = e.slash(u, "voice", sub("status", str("personality", "Lilith")))
	mustSay(t, a, "**Your voice override:** on", "Voice for you: **on**, because of your override (its default is off)", "Frequency: every reply, because you turned voice on")

	mustSay(t, e.slash(u, "voice", sub("disable")), "Voice off")
	if got := pref(); got != "false" {
		t.Fatalf("after /voice disable the preference is %s", got)
	}
	mustSay(t, e.slash(u, "voice", sub("reset")), "override removed")
	if got := pref(); got != "null" {
		t.Fatalf("after /voice reset the preference is %s", got)
	}
	mustSay(t, e.slash(u, "voice", sub("status")), "not set", "Name a personality")

	// A private personality's voice is its owner's business.
	if _, err := e.store.Pool().Exec(context.Background(), `UPDATE personalities SET is_public = false WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	mustSay(t, e.slash(u, "voice", sub("status", str("personality", "lilith"))), "no personality called `lilith` that you can talk to")
	mustSay(t, e.slash(owner, "voice", sub("status", str("personality", "lilith"))), "**Lilith**")
}

func TestVoiceSampleUploadListRemove(t *testing.T) {
	e := newEnv(t)
	owner := e.user()
	id := e.create(owner, "lilith", "Lilith")

	mp3 := audiotest.MP3(audiotest.MP3FramesFor(90*time.Second), audiotest.MP3Options{ID3: 2048, Xing: true, XingFrames: -1})
	// Discord's content type and the name are the client's word; the bytes decide.
	a := e.upload(owner, "lilith", "take1.bin", "application/octet-stream", mp3, 0)
	mustSay(t, a, "Stored sample **#", "MP3, 44.1 kHz", "1 min 30 s", "It now has 1 of 25 samples", "2 to 3 minutes of clear speech")
	wav := audiotest.WAV(45*time.Second, audiotest.WAVOptions{Extensible: true})
	mustSay(t, e.upload(owner, "lilith", "take2.wav", "audio/wav", wav, 0), "WAV PCM, 16-bit mono, 16 kHz", "45 s", "2 of 25", "2 min 15 s in all", "/personality voice-clone")

	rows := e.sampleRows(id)
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "audio/mpeg 900") || !strings.HasPrefix(rows[1], "audio/wav 45000 ") {
		t.Fatalf("stored samples: %q", rows)
	}
	a = e.slash(owner, "personality", group("voice-sample", sub("list", str("personality", "lilith"))))
	mustSay(t, a, "Voice samples of **Lilith** (2 of 25)", "MP3, 1 min 30 s", "WAV, 45 s, 1.4 MB", "In all: 2 min 15 s")

	// Someone else may neither list, upload nor remove.
	stranger := e.user()
	before := e.snapshot()
	mustSay(t, e.upload(stranger, "lilith", "me.mp3", "audio/mpeg", mp3, 0), "Only the owner of **Lilith**")
	mustSay(t, e.slash(stranger, "personality", group("voice-sample", sub("list", str("personality", "lilith")))), "Only the owner")
	e.unchanged(before)

	var first int64
	if err := e.store.Pool().QueryRow(context.Background(), `SELECT min(id) FROM voice_samples WHERE personality_id = $1`, id).Scan(&first); err != nil {
		t.Fatal(err)
	}
	mustSay(t, e.slash(owner, "personality", group("voice-sample", sub("remove", str("personality", "lilith"), integer("sample", int(first))))), "Removed voice sample #")
	mustSay(t, e.slash(owner, "personality", group("voice-sample", sub("remove", str("personality", "lilith"), integer("sample", int(first))))), "has no voice sample #")
	if rows := e.sampleRows(id); len(rows) != 1 {
		t.Fatalf("after remove: %q", rows)
	}

	// Deleting the personality deletes its samples (and voice config).
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"), number("stability", 0.3))), "Updated the stability")
	mustSay(t, e.slash(owner, "personality", sub("delete", str("personality", "lilith"), str("confirm", "lilith"))), "Deleted **Lilith**")
	var n int
	if err := e.store.Pool().QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM voice_samples) + (SELECT count(*) FROM voice_configs)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d samples and voice configs left after delete (%v)", n, err)
	}
}

func TestVoiceSampleBadInputStoresNothing(t *testing.T) {
	e := newEnv(t)
	owner := e.user()
	id := e.create(owner, "lilith", "Lilith")

	liar := audiotest.WAV(3*time.Second, audiotest.WAVOptions{})
	liar = liar[:40000] // the data chunk says 96 KB
	liar[4], liar[5], liar[6], liar[7] = byte(len(liar)-8), byte((len(liar)-8)>>8), 0, 0
	for _, tc := range []struct {
		name, filename string
		data           []byte
		size           int
		want           []string
	}{
		{"text renamed .mp3", "voice.mp3", []byte(strings.Repeat("This is my voice, honestly. ", 500)), 0,
			[]string{"`voice.mp3` was refused: this is not an MP3, WAV or OGG audio file", "Nothing was stored"}},
		{"WAV whose sizes lie", "lie.wav", liar, 0,
			[]string{"the WAV header says 96 KB of audio but the file has 40 KB", "Nothing was stored"}},
		{"0-second file", "silence.wav", audiotest.WAV(0, audiotest.WAVOptions{}), 0,
			[]string{"the file has no audio (0 seconds)", "Nothing was stored"}},
		{"OGG voice message", "voice-message.ogg", audiotest.OggOpus(5 * time.Second), 0,
			[]string{"OGG Opus", "voice samples must be MP3 or WAV"}},
		{"11 MB file (refused before download)", "long.mp3", []byte("x"), 11_000_000,
			[]string{"`long.mp3` is 11 MB; a voice sample may be at most 10 MB", "Nothing was stored"}},
		{"Discord understated the size", "sneaky.mp3", bytes.Repeat([]byte{0}, 10<<20+1), 1000,
			[]string{"larger than 10 MB", "Nothing was stored"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			before := e.snapshot()
			cdn := len(e.discord.RequestsTo(discordfake.RouteCDN))
			mustSay(t, e.upload(owner, "lilith", tc.filename, "audio/mpeg", tc.data, tc.size), tc.want...)
			e.unchanged(before)
			fetched := len(e.discord.RequestsTo(discordfake.RouteCDN)) - cdn
			if tc.size > 10<<20 && fetched != 0 {
				t.Fatalf("an oversized file was downloaded (%d requests)", fetched)
			}
		})
	}

	// The 26th sample: refused with a clear message, nothing stored.
	small := audiotest.MP3(audiotest.MP3FramesFor(time.Second), audiotest.MP3Options{})
	for i := range 25 {
		if _, err := e.store.AddVoiceSample(context.Background(), id, small, "audio/mpeg", time.Second); err != nil {
			t.Fatalf("sample %d: %v", i+1, err)
		}
	}
	before := e.snapshot()
	mustSay(t, e.upload(owner, "lilith", "one-more.mp3", "audio/mpeg", small, 0),
		"**Lilith** already has 25 voice samples", "remove` first", "Nothing was stored")
	e.unchanged(before)
}

func TestPersonalityVoiceConfig(t *testing.T) {
	e := newEnv(t)
	owner := e.user()
	id := e.create(owner, "lilith", "Lilith")

	// No options: show the config (the defaults until one is saved).
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"))),
		"Voice of **Lilith**: off by default, plugin `elevenlabs`", "model `eleven_flash_v2_5`", "stability 0.5", "similarity 0.75")

	// Out of range: every bad field named, nothing saved.
	before := e.snapshot()
	a := e.slash(owner, "personality", sub("voice", str("personality", "lilith"), number("stability", 1.2), number("frequency", -0.5), number("style", 0.4)))
	mustSay(t, a, "- `stability`: must be at most 1, but it is 1.2", "- `frequency`: must be at least 0, but it is -0.5", "Nothing was changed")
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"), str("settings", "[1,2]"))), "must be a JSON object")
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"), str("settings", `{"stability":0.1}`))), "`stability` has its own option")
	// Choosing a plugin that is not loaded (here: none speaks) is refused.
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"), str("provider", "nope"))), "No voice plugin that can speak is loaded")
	e.unchanged(before)

	// Values change while the (imported) plugin is absent: ranges checked, the rest noted.
	a = e.slash(owner, "personality", sub("voice", str("personality", "lilith"), boolean("enabled", true), number("stability", 0.35),
		number("frequency", 0.5), boolean("transcription", true), str("voice_id", "abc123XYZ"), boolean("speaker_boost", false)))
	mustSay(t, a, "Updated the voice on, voice id, stability, frequency, speaker boost, transcription of **Lilith**", "is not loaded on this bot", "on by default", "voice `abc123XYZ`", "frequency 50%", "transcription on")
	p, err := e.store.PersonalityByID(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !p.VoiceEnabled || p.Voice == nil || p.Voice.Stability != 0.35 || p.Voice.Frequency != 0.5 || !p.Voice.TranscriptionEnabled ||
		p.Voice.VoiceID != "abc123XYZ" || p.Voice.SpeakerBoost || p.Voice.Similarity != 0.75 {
		t.Fatalf("saved: enabled=%v %+v", p.VoiceEnabled, p.Voice)
	}
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"), str("voice_id", "none"))), "the plugin's default voice")

	// Turning voice on where the frequency is 0 (no reply would ever speak)
	// means every reply.
	other := e.create(owner, "bambi", "Bambi")
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "bambi"), boolean("enabled", true))),
		"Updated the voice on, frequency (100%: every reply", "frequency 100%")
	if p, _ := e.store.PersonalityByID(context.Background(), other, 0); p.Voice == nil || p.Voice.Frequency != 1 || !p.VoiceEnabled {
		t.Fatalf("voice turned on: enabled=%v %+v", p.VoiceEnabled, p.Voice)
	}

	stranger := e.user()
	before = e.snapshot()
	mustSay(t, e.slash(stranger, "personality", sub("voice", str("personality", "lilith"), number("stability", 0.9))), "Only the owner of **Lilith**")
	e.unchanged(before)
}

// TestConcurrentUploadsStopAt25: two uploads racing for the 25th place both
// pass the early count, and the database's limit (its trigger) refuses one
// of them with the same clear message; 25 samples remain.
func TestConcurrentUploadsStopAt25(t *testing.T) {
	e := newEnv(t)
	owner := e.user()
	id := e.create(owner, "lilith", "Lilith")
	small := audiotest.MP3(audiotest.MP3FramesFor(time.Second), audiotest.MP3Options{})
	for i := range 24 {
		if _, err := e.store.AddVoiceSample(context.Background(), id, small, "audio/mpeg", time.Second); err != nil {
			t.Fatalf("sample %d: %v", i+1, err)
		}
	}
	var ins []discordfake.InteractionSpec
	for i := range 2 {
		att := e.discord.AddCDNFile(fmt.Sprintf("race%d.mp3", i), "audio/mpeg", small)
		in := e.spec(owner)
		in.Attachments = []discordfake.Attachment{att}
		ins = append(ins, in)
		// Both are in flight at once: Inject returns as soon as the handler
		// has started on its own goroutine.
		discordfake.Inject(t, e.client, gateway.EventTypeInteractionCreate, discordfake.SlashCommand(in, "personality", group("voice-sample",
			sub("upload", str("personality", "lilith"), discordfake.CommandOption{Name: "file", Type: discordfake.OptionAttachment, Value: att.ID}))))
	}
	e.cmds.Wait()
	var stored, refused int
	for _, in := range ins {
		a := e.collect(in)
		switch {
		case strings.Contains(a.Content, "Stored sample") && strings.Contains(a.Content, "25 of 25"):
			stored++
		case strings.Contains(a.Content, "**Lilith** already has 25 voice samples") && strings.Contains(a.Content, "Nothing was stored"):
			refused++
		default:
			t.Errorf("unexpected answer: %q", a.Content)
		}
	}
	if stored != 1 || refused != 1 {
		t.Fatalf("%d stored, %d refused; want one of each", stored, refused)
	}
	if n := len(e.sampleRows(id)); n != 25 {
		t.Fatalf("%d samples stored, want 25", n)
	}
}
