package chat

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/store/query"
)

func voicePersonality(enabled bool, frequency float64) store.Personality {
	return store.Personality{
		Personality: query.Personality{VoiceEnabled: enabled},
		Voice:       &store.VoiceConfig{Provider: "elevenlabs", VoiceID: "voice-1", Frequency: frequency},
	}
}

func TestVoiceDecisionUserOverrideBeatsPersonalityDefault(t *testing.T) {
	yes, no := true, false
	always := func() float64 { return 0 }
	cases := []struct {
		name     string
		override *bool
		personal bool
		want     bool
	}{
		{"personality on, no override", nil, true, true},
		{"personality off, no override", nil, false, false},
		{"personality off, user turned voice on", &yes, false, true},
		{"personality on, user turned voice off", &no, true, false},
	}
	for _, c := range cases {
		got := wantsVoice(store.User{VoiceEnabled: c.override}, voicePersonality(c.personal, 1), always)
		if got != c.want {
			t.Errorf("%s: audio %v, want %v", c.name, got, c.want)
		}
	}
	if wantsVoice(store.User{VoiceEnabled: &yes}, store.Personality{}, always) {
		t.Error("a personality without a voice config spoke")
	}
	// A user who asked for voice gets it on every reply, whatever share of
	// replies the personality speaks by default.
	never := func() float64 { return 0.999 }
	if !wantsVoice(store.User{VoiceEnabled: &yes}, voicePersonality(false, 0), never) ||
		!wantsVoice(store.User{VoiceEnabled: &yes}, voicePersonality(true, 0.1), never) {
		t.Error("the user turned voice on, but a reply had no audio because of the personality's frequency")
	}
	// A config an import made only to transcribe (no voice id, frequency 0)
	// is no voice, whatever the user asks.
	transcribeOnly := voicePersonality(false, 0)
	transcribeOnly.Voice.VoiceID, transcribeOnly.Voice.TranscriptionEnabled = "", true
	if wantsVoice(store.User{VoiceEnabled: &yes}, transcribeOnly, always) {
		t.Error("a personality that only transcribes spoke")
	}
}

func TestVoiceFrequencyIsTheShareOfRepliesWithAudio(t *testing.T) {
	const replies = 10000
	for _, c := range []struct {
		frequency float64
		min, max  int
	}{
		{0, 0, 0},
		{1, replies, replies},
		{0.5, 4700, 5300},
		{0.1, 800, 1200},
	} {
		rng := rand.New(rand.NewPCG(42, 7)) // seeded: the run replays
		n := 0
		for range replies {
			if wantsVoice(store.User{}, voicePersonality(true, c.frequency), rng.Float64) {
				n++
			}
		}
		if n < c.min || n > c.max {
			t.Errorf("frequency %.1f: %d of %d replies had audio, want %d..%d", c.frequency, n, replies, c.min, c.max)
		}
	}
}

func TestVoiceSettingsCarryEveryVoiceConfigField(t *testing.T) {
	v := store.VoiceConfig{Stability: 0.3, Similarity: 0.8, Style: 0.25, SpeakerBoost: false, Settings: json.RawMessage(`{"speed":1.1,"style":0.4}`)}
	raw, err := voiceSettings(v)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"stability": 0.3, "similarity_boost": 0.8, "style": 0.4, "speaker_boost": false, "speed": 1.1}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v (settings %s)", k, got[k], w, raw)
		}
	}
	if _, err := voiceSettings(store.VoiceConfig{Settings: json.RawMessage(`[1]`)}); err == nil {
		t.Error("settings that are not an object were accepted")
	}
}

func TestSpeakableDropsMarkdownAndCutsAtASentence(t *testing.T) {
	in := "**Hello** there, _friend_.\n```go\nfmt.Println(1)\n```\n> quoted ||secret||\nEnd."
	got := speakable(in, 0)
	if strings.ContainsAny(got, "*`|>") || strings.Contains(got, "Println") || !strings.Contains(got, "Hello there") || !strings.Contains(got, "quoted secret") {
		t.Errorf("speakable = %q", got)
	}
	long := strings.Repeat("One sentence here. ", 50)
	cut := speakable(long, 100)
	if len([]rune(cut)) > 100 || !strings.HasSuffix(cut, ".") {
		t.Errorf("cut to %d runes ending %q, want at most 100 ending at a sentence", len([]rune(cut)), cut[len(cut)-5:])
	}
}

func TestTranscriptQuote(t *testing.T) {
	if got := quoteTranscript("hello\nworld"); got != "> 🎤 hello\n> world" {
		t.Errorf("quote = %q", got)
	}
	if got := quoteTranscript(strings.Repeat("a", 2000)); len([]rune(got)) > maxTranscriptQuote+10 {
		t.Errorf("a long transcript is quoted whole (%d runes)", len([]rune(got)))
	}
}
