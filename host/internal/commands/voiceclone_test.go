package commands_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/audio/audiotest"
	"github.com/tzurot-go/tzurot/host/internal/commands"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/plugins/elevenlabs/elevenfake"
)

// elevenlabsFake is the fake ElevenLabs API (elevenfake) with failures it
// does not play itself for cloning: the next voices/add upload can be
// answered with a status and body of the test's choice, as ElevenLabs
// answers when it is overloaded (429 with Retry-After) or broken (500).
type elevenlabsFake struct {
	*elevenfake.API
	mu   sync.Mutex
	fail *cloneFault
	adds int // voices/add requests that reached the API (failed or not)
}

type cloneFault struct {
	status     int
	retryAfter string
	body       string
}

func (f *elevenlabsFake) failNextClone(c cloneFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = &c
}

func (f *elevenlabsFake) cloneRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.adds
}

func (f *elevenlabsFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/voices/add" {
		f.mu.Lock()
		f.adds++
		c := f.fail
		f.fail = nil
		f.mu.Unlock()
		if c != nil {
			if c.retryAfter != "" {
				w.Header().Set("Retry-After", c.retryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.status)
			_, _ = w.Write([]byte(c.body))
			return
		}
	}
	f.API.ServeHTTP(w, r)
}

// newVoiceEnv is newEnv with the real elevenlabs plugin loaded (as
// plugins.toml ships it: voice.speak, voice.clone, key in xi-api-key),
// talking to the fake ElevenLabs API on loopback.
func newVoiceEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	wasm, err := elevenlabsWasm()
	if err != nil {
		t.Fatal(err)
	}
	return newEnvPlus(t, func(e *env) string {
		e.eleven = &elevenlabsFake{API: elevenfake.New(t)}
		srv := httptest.NewServer(e.eleven)
		t.Cleanup(srv.Close)
		return fmt.Sprintf(`
[plugins.elevenlabs]
path = %q
key_slot = "elevenlabs"
capabilities = ["voice.speak", "voice.clone", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
auth_headers = ["xi-api-key"]
[plugins.elevenlabs.limits]
http_attempts = 1
[plugins.elevenlabs.config]
base_url = %q
`, wasm, strings.TrimPrefix(srv.URL, "http://"), srv.URL)
	}, opts...)
}

// voiceSnapshot is the voice configs, samples and usage rows, as JSON.
func (e *env) voiceSnapshot() string {
	e.t.Helper()
	var s *string
	err := e.store.Pool().QueryRow(context.Background(), `SELECT json_build_array(
		(SELECT json_agg(v ORDER BY personality_id) FROM voice_configs v),
		(SELECT json_agg(json_build_object('id', id, 'md5', md5(data), 'ms', duration_ms) ORDER BY id) FROM voice_samples),
		(SELECT json_agg(u ORDER BY id) FROM usage_logs u))::text`).Scan(&s)
	if err != nil || s == nil {
		e.t.Fatalf("voice snapshot: %v", err)
	}
	return *s
}

func (e *env) setKey(discordID, slot, key string) {
	e.t.Helper()
	if err := e.store.SetAPIKey(context.Background(), discordID, slot, key); err != nil {
		e.t.Fatal(err)
	}
}

func TestPersonalityVoiceCheckedByThePluginSchema(t *testing.T) {
	e := newVoiceEnv(t)
	owner := e.user()
	id := e.create(owner, "lilith", "Lilith")

	a := e.slash(owner, "personality", sub("voice", str("personality", "lilith"), str("provider", "elevenlabs"),
		number("stability", 0.4), str("settings", `{"speed": 1.1}`), boolean("enabled", true)))
	mustSay(t, a, "Updated the voice on, voice plugin, stability, plugin settings, frequency (100%: every reply; lower it with `frequency:`) of **Lilith**", `plugin settings `+"`"+`{"speed":1.1}`)
	if strings.Contains(a.Content, "not loaded") {
		t.Fatalf("the loaded plugin was reported absent: %s", a.Content)
	}
	p, _ := e.store.PersonalityByID(context.Background(), id, 0)
	if p.Voice == nil || p.Voice.Provider != "elevenlabs" || p.Voice.Stability != 0.4 || string(p.Voice.Settings) != `{"speed": 1.1}` && string(p.Voice.Settings) != `{"speed":1.1}` {
		t.Fatalf("saved %+v", p.Voice)
	}

	// The plugin's voice_schema refuses what ElevenLabs would: each field named.
	before := e.snapshot()
	a = e.slash(owner, "personality", sub("voice", str("personality", "lilith"), str("settings", `{"speed": 2, "pitch": 3}`)))
	mustSay(t, a, "The **elevenlabs** voice plugin does not accept these settings", "`speed`: must be at most 1.2", "pitch", "Nothing was changed")
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"), number("stability", 1.2))),
		"- `stability`: must be at most 1, but it is 1.2", "Nothing was changed")
	e.unchanged(before)

	// The provider autocomplete offers the voice plugins, not the chat ones.
	in := e.spec(owner)
	got := e.inject(in, discordfake.Autocomplete(in, "personality", sub("voice", str("personality", "lilith"),
		discordfake.CommandOption{Name: "provider", Type: discordfake.OptionString, Value: "", Focused: true})))
	if !strings.Contains(fmt.Sprint(got.Data), "elevenlabs") || strings.Contains(fmt.Sprint(got.Data), "openai") {
		t.Fatalf("provider suggestions: %v", got.Data)
	}
}

func TestVoiceCloneFromStoredSamples(t *testing.T) {
	e := newVoiceEnv(t)
	owner := e.user()
	id := e.create(owner, "lilith", "Lilith")
	mp3 := audiotest.MP3(audiotest.MP3FramesFor(70*time.Second), audiotest.MP3Options{ID3: 512})
	wav := audiotest.WAV(50*time.Second, audiotest.WAVOptions{})
	mustSay(t, e.upload(owner, "lilith", "a.mp3", "audio/mpeg", mp3, 0), "Stored sample")
	mustSay(t, e.upload(owner, "lilith", "b.wav", "audio/wav", wav, 0), "Stored sample")

	// Without a key of their own nothing is sent anywhere.
	before := e.snapshot()
	mustSay(t, e.slash(owner, "personality", sub("voice-clone", str("personality", "lilith"))),
		"add your `elevenlabs` key with `/wallet set elevenlabs` first", "Nothing was changed")
	if n := e.eleven.cloneRequests(); n != 0 {
		t.Fatalf("%d clone requests without a key", n)
	}
	e.unchanged(before)

	e.setKey(owner.ID, "elevenlabs", elevenfake.KeyGood)
	a := e.slash(owner, "personality", sub("voice-clone", str("personality", "lilith")))
	if a.Type != 5 {
		t.Errorf("voice-clone answered without deferring first (type %d)", a.Type)
	}
	mustSay(t, a, "Cloned **Lilith**'s voice at `elevenlabs` from 2 samples", "voice id `clonedVoice000000001` is saved", "/personality voice enabled:True")
	up := e.eleven.LastClone()
	if len(up.Files) != 2 || !bytes.Equal(up.Files[0].Data, mp3) || up.Files[0].ContentType != "audio/mpeg" ||
		!bytes.Equal(up.Files[1].Data, wav) || up.Files[1].ContentType != "audio/wav" || up.Fields["name"][0] != "Lilith" {
		t.Fatalf("upload: %d files, fields %v", len(up.Files), up.Fields)
	}
	if up.Header.Get("xi-api-key") != elevenfake.KeyGood {
		t.Fatal("the clone did not go out with the owner's key")
	}
	p, _ := e.store.PersonalityByID(context.Background(), id, 0)
	if p.Voice == nil || p.Voice.VoiceID != "clonedVoice000000001" || p.Voice.Provider != "elevenlabs" {
		t.Fatalf("voice after clone: %+v", p.Voice)
	}
	if strings.Contains(e.logs.String(), elevenfake.KeyGood) {
		t.Fatal("the key leaked into the log")
	}

	// Someone else cannot clone it.
	stranger := e.user()
	e.setKey(stranger.ID, "elevenlabs", elevenfake.KeyGood)
	mustSay(t, e.slash(stranger, "personality", sub("voice-clone", str("personality", "lilith"))), "Only the owner of **Lilith**")
}

func TestVoiceCloneProviderFailuresSaveNothing(t *testing.T) {
	e := newVoiceEnv(t)
	owner := e.user()
	e.create(owner, "lilith", "Lilith")
	mustSay(t, e.slash(owner, "personality", sub("voice-clone", str("personality", "lilith"))), "has no voice samples yet")
	mustSay(t, e.upload(owner, "lilith", "a.mp3", "audio/mpeg", audiotest.MP3(audiotest.MP3FramesFor(20*time.Second), audiotest.MP3Options{}), 0), "Stored sample")
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"), str("voice_id", elevenfake.VoiceRachel))), "voice id")

	for _, tc := range []struct {
		name  string
		key   string
		fault *cloneFault
		want  []string
	}{
		{"401 wrong key", elevenfake.KeyBadOne, nil, []string{"`elevenlabs` refused your key", "/wallet test elevenlabs", "Nothing was saved"}},
		{"400 voice rejected", elevenfake.KeyBroke, nil, []string{"`elevenlabs` rejected the voice", "maximum amount of custom voices", "Nothing was saved"}},
		{"429 with Retry-After", elevenfake.KeyGood, &cloneFault{status: 429, retryAfter: "30",
			body: `{"detail":{"status":"too_many_concurrent_requests","message":"Too many concurrent requests for your subscription."}}`},
			[]string{"`elevenlabs` is rate limiting your account", "Wait a minute", "Nothing was saved"}},
		{"500", elevenfake.KeyGood, &cloneFault{status: 500, body: `{"detail":{"status":"internal_error","message":"Internal server error"}}`},
			[]string{"`elevenlabs` is not answering properly right now", "Nothing was saved"}},
		{"400 sample refused", elevenfake.KeyGood, &cloneFault{status: 400,
			body: `{"detail":{"status":"invalid_audio","message":"The uploaded audio could not be processed."}}`},
			[]string{"`elevenlabs` rejected the voice: ", "could not be processed", "Nothing was saved"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			e.setKey(owner.ID, "elevenlabs", tc.key)
			if tc.fault != nil {
				e.eleven.failNextClone(*tc.fault)
			}
			before := e.voiceSnapshot()
			n := e.eleven.cloneRequests()
			a := e.slash(owner, "personality", sub("voice-clone", str("personality", "lilith")))
			mustSay(t, a, tc.want...)
			if e.eleven.cloneRequests() != n+1 {
				t.Fatalf("the clone was not sent exactly once")
			}
			// The personality keeps its voice; no usage is recorded. (The
			// key's last-used time may move: the key was used.)
			if after := e.voiceSnapshot(); after != before {
				t.Fatalf("a failed clone changed the voice, samples or usage:\nbefore: %s\nafter:  %s", before, after)
			}
			if strings.Contains(a.Content, tc.key) {
				t.Fatal("the answer shows the key")
			}
		})
	}
	// The voice id set before is still there.
	p, _ := e.store.PersonalityBySlug(context.Background(), "lilith", 0)
	if p.Voice == nil || p.Voice.VoiceID != elevenfake.VoiceRachel {
		t.Fatalf("voice after failed clones: %+v", p.Voice)
	}
}

// TestVoiceStatusSaysWhoseKeyPays: with the voice plugin loaded, /voice
// status says whether the user's own key, the bot's shared key or no key
// covers the personality's voice plugin.
func TestVoiceStatusSaysWhoseKeyPays(t *testing.T) {
	var shared atomic.Value // the Discord user the shared key covers
	shared.Store("")
	e := newVoiceEnv(t, func(d *commands.Deps) {
		d.KeyFallback = func(user, guild, slot string) bool {
			return user == shared.Load().(string) && slot == "elevenlabs" && guild != ""
		}
	})
	owner, other := e.user(), e.user()
	e.create(owner, "lilith", "Lilith")
	mustSay(t, e.slash(owner, "personality", sub("voice", str("personality", "lilith"), boolean("enabled", true), number("frequency", 0.25))), "Updated")

	mustSay(t, e.slash(owner, "voice", sub("status", str("personality", "lilith"))),
		"Voice for you: **on**, its default", "Voice plugin: `elevenlabs`; you have **no `elevenlabs` key**", "/wallet set elevenlabs", "Frequency: 25% of replies")
	e.setKey(owner.ID, "elevenlabs", elevenfake.KeyGood)
	a := e.slash(owner, "voice", sub("status", str("personality", "lilith")))
	mustSay(t, a, "you have a `elevenlabs` key (`…cdef`)")
	if strings.Contains(a.Content, elevenfake.KeyGood) {
		t.Fatal("status shows the key")
	}
	shared.Store(other.ID)
	mustSay(t, e.slash(owner, "voice", sub("status", str("personality", "lilith"))), "you have a `elevenlabs` key")
	// The other user has no key, but the shared one covers them here; it is private though.
	mustSay(t, e.slash(other, "voice", sub("status", str("personality", "lilith"))), "no personality called `lilith` that you can talk to")
	mustSay(t, e.slash(owner, "personality", sub("edit", str("personality", "lilith"), boolean("public", true))), "visibility")
	mustSay(t, e.slash(other, "voice", sub("disable")), "Voice off")
	mustSay(t, e.slash(other, "voice", sub("status", str("personality", "lilith"))),
		"Voice for you: **off**, because of your override (its default is on)", "the bot's shared key covers you here")
}
