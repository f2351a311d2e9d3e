package chat_test

// End-to-end voice: the real elevenlabs and openai-speech plugins in the
// real plugin host, fake ElevenLabs and OpenAI audio APIs on 127.0.0.1, the
// fake Discord, real PostgreSQL.

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/audio/audiotest"
	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/shapes"
	"github.com/tzurot-go/tzurot/host/internal/shapes/shapestest"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/plugins/elevenlabs/elevenfake"
)

const openAIKey = "sk-openai-user-0123456789abcdefghij"

// fakeWhisper is OpenAI's /v1/audio/transcriptions on loopback: the key as
// a Bearer token, a multipart form with the file, model and
// response_format, a verbose_json answer ({"task", "language", "duration",
// "text"}) or OpenAI's error body. The transcript is set per test.
type fakeWhisper struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	text    string
	fail    int // answer HTTP fail with an error body instead, when set
	uploads []whisperUpload
}

type whisperUpload struct {
	Fields   map[string]string
	FileName string
	File     []byte
}

func newFakeWhisper(t testing.TB) *fakeWhisper {
	f := &fakeWhisper{t: t, text: "What is the weather like on the moon?"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWhisper) hostPort() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeWhisper) received() []whisperUpload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]whisperUpload(nil), f.uploads...)
}

func openAIError(w http.ResponseWriter, status int, msg, typ string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

func (f *fakeWhisper) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+openAIKey {
		openAIError(w, http.StatusUnauthorized, "Incorrect API key provided.", "invalid_request_error")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/transcriptions" {
		openAIError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error")
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		openAIError(w, http.StatusBadRequest, "Invalid Content-Type header, expected multipart/form-data.", "invalid_request_error")
		return
	}
	up := whisperUpload{Fields: map[string]string{}}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			openAIError(w, http.StatusBadRequest, "Could not parse multipart form", "invalid_request_error")
			return
		}
		b, _ := io.ReadAll(p)
		if p.FormName() == "file" {
			up.FileName, up.File = p.FileName(), b
		} else {
			up.Fields[p.FormName()] = string(b)
		}
	}
	f.mu.Lock()
	f.uploads = append(f.uploads, up)
	text, fail := f.text, f.fail
	f.mu.Unlock()
	switch {
	case up.File == nil || up.Fields["model"] == "":
		openAIError(w, http.StatusBadRequest, "you must provide a file and a model", "invalid_request_error")
		return
	case fail != 0:
		openAIError(w, fail, "The server had an error while processing your request.", "server_error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"task": "transcribe", "language": "english", "duration": 2.0, "text": text})
}

const voicePluginsTOML = `
[plugins.openrouter]
path = "{openai}"
key_slot = "openrouter"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["{provider}"]
allow_private = true
[plugins.openrouter.limits]
call_timeout = "20s"
http_timeout = "5s"
pool_size = 8
[plugins.openrouter.config]
base_url = "http://{provider}/v1"
default_model = "test-model"
flavor = "openai"

[plugins.elevenlabs]
path = "{elevenlabs}"
key_slot = "elevenlabs"
capabilities = ["voice.speak", "voice.clone", "llm.validate_key"]
allowed_hosts = ["{eleven}"]
allow_private = true
auth_headers = ["xi-api-key"]
[plugins.elevenlabs.limits]
call_timeout = "20s"
http_timeout = "10s"
pool_size = 4
[plugins.elevenlabs.config]
base_url = "http://{eleven}"
default_model = "eleven_flash_v2_5"
output_format = "mp3_44100_128"
default_voice = "pNInz6obpgDQGcFmaJgB"

[plugins.openai-speech]
path = "{speech}"
key_slot = "openai"
capabilities = ["voice.speak", "voice.transcribe", "llm.validate_key"]
allowed_hosts = ["{whisper}"]
allow_private = true
[plugins.openai-speech.limits]
call_timeout = "20s"
http_timeout = "10s"
[plugins.openai-speech.config]
base_url = "http://{whisper}"
default_model = "gpt-4o-mini-tts"
default_voice = "alloy"
default_transcription_model = "whisper-1"
auth = "bearer" # a loopback server takes no key unless told
`

type voiceHarness struct {
	*harness
	eleven  *elevenfake.API
	whisper *fakeWhisper
}

func newVoiceHarness(t *testing.T, o harnessOptions) *voiceHarness {
	t.Helper()
	eleven := elevenfake.New(t)
	esrv := httptest.NewServer(eleven)
	t.Cleanup(esrv.Close)
	whisper := newFakeWhisper(t)
	o.pluginsTOML = strings.NewReplacer("{eleven}", strings.TrimPrefix(esrv.URL, "http://"), "{whisper}", whisper.hostPort()).Replace(voicePluginsTOML)
	return &voiceHarness{harness: newHarness(t, o), eleven: eleven, whisper: whisper}
}

// speaker creates a personality with a voice config (ElevenLabs by
// default) and returns its id.
type speakerSpec struct {
	slug      string
	voiceOn   bool // the personality's default
	voice     store.VoiceConfig
	frequency float64
}

func (h *voiceHarness) speaker(s speakerSpec) int64 {
	h.t.Helper()
	name := strings.ToUpper(s.slug[:1]) + s.slug[1:]
	id, err := h.store.CreatePersonality(h.ctx, store.NewPersonality{Slug: s.slug, Name: name, AvatarURL: "https://cdn.example.com/" + s.slug + ".png",
		CharacterInfo: name + " likes tea.", VoiceEnabled: s.voiceOn})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.SetLLMConfig(h.ctx, id, 0, store.LLMConfig{Provider: "openrouter", Model: modelName}); err != nil {
		h.t.Fatal(err)
	}
	v := s.voice
	if v.Provider == "" {
		v = store.VoiceConfig{Provider: "elevenlabs", VoiceID: elevenfake.VoiceRachel, Model: "eleven_multilingual_v2",
			Stability: 0.35, Similarity: 0.8, Style: 0.2, SpeakerBoost: true}
	}
	v.Frequency = s.frequency
	if err := h.store.SetVoiceConfig(h.ctx, id, v); err != nil {
		h.t.Fatal(err)
	}
	if err := h.pipeline.RefreshMentions(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *voiceHarness) setVoiceKeys() {
	h.t.Helper()
	h.setKey(userID)
	if err := h.store.SetAPIKey(h.ctx, userID, "elevenlabs", elevenfake.KeyGood); err != nil {
		h.t.Fatal(err)
	}
}

func (h *voiceHarness) setOverride(on bool) {
	h.t.Helper()
	u, err := h.store.UserByDiscordID(h.ctx, userID)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.SetVoicePreference(h.ctx, u.ID, &on); err != nil {
		h.t.Fatal(err)
	}
}

// voiceRows returns the usage rows of kind voice.
func (h *voiceHarness) voiceRows() []struct {
	RequestID, Provider string
	Characters, AudioMS int
	Delivery            string
} {
	h.t.Helper()
	rows, err := h.store.Pool().Query(h.ctx, `SELECT request_id, provider, characters, audio_ms, delivery FROM usage_logs WHERE kind = 'voice' ORDER BY id`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []struct {
		RequestID, Provider string
		Characters, AudioMS int
		Delivery            string
	}
	for rows.Next() {
		var r struct {
			RequestID, Provider string
			Characters, AudioMS int
			Delivery            string
		}
		if err := rows.Scan(&r.RequestID, &r.Provider, &r.Characters, &r.AudioMS, &r.Delivery); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// longAnswer makes the fake model answer with text of several parts.
func (h *voiceHarness) longAnswer() string {
	text := strings.Repeat("The moon is quiet tonight, and the tea is warm. ", 45) // ~2,150 characters: two parts, one speech
	h.provider.then(func(w http.ResponseWriter, _ *http.Request) { answer(w, text, "") })
	return strings.TrimSpace(text)
}

func TestSpokenReplyCarriesTheAudioOnTheLastPart(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.setVoiceKeys()
	h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1})
	text := h.longAnswer()
	id := h.send(discordfake.MessageSpec{Content: "@luna tell me about the moon"})

	posted := h.posted()
	if len(posted) < 2 {
		t.Fatalf("%d messages posted, want a reply in several parts", len(posted))
	}
	for i, m := range posted[:len(posted)-1] {
		if len(m.Attachments) != 0 {
			t.Errorf("part %d carries %d attachments; only the last part may", i+1, len(m.Attachments))
		}
	}
	last := posted[len(posted)-1]
	if len(last.Attachments) != 1 {
		t.Fatalf("the last part has %d attachments, want the spoken reply", len(last.Attachments))
	}
	a := last.Attachments[0]
	if a.ContentType != "audio/mpeg" || !strings.HasSuffix(a.Filename, ".mp3") {
		t.Errorf("attachment %s (%s), want an MP3", a.Filename, a.ContentType)
	}
	if !bytes.Equal(last.Files[0].Data, elevenfake.MP3(text)) {
		t.Error("the attached audio is not what ElevenLabs spoke for the reply's text")
	}
	if strings.Contains(last.Content, "voice could not") {
		t.Errorf("a notice was posted with working audio: %q", last.Content)
	}

	// Every field of the voice config was sent.
	req := h.eleven.LastRequest()
	if !strings.HasSuffix(req.Path, "/"+elevenfake.VoiceRachel) || req.Header.Get("xi-api-key") != elevenfake.KeyGood {
		t.Errorf("speech request %s with key %q", req.Path, req.Header.Get("xi-api-key"))
	}
	if req.Body["model_id"] != "eleven_multilingual_v2" || req.Body["text"] != text {
		t.Errorf("model %v, text of %d characters", req.Body["model_id"], len(req.Body["text"].(string)))
	}
	vs, _ := req.Body["voice_settings"].(map[string]any)
	for k, want := range map[string]any{"stability": 0.35, "similarity_boost": 0.8, "style": 0.2, "use_speaker_boost": true} {
		if vs[k] != want {
			t.Errorf("voice_settings.%s = %v, want %v", k, vs[k], want)
		}
	}

	rows := h.voiceRows()
	if len(rows) != 1 || rows[0].RequestID != id+"-1-voice" && !strings.HasSuffix(rows[0].RequestID, "-voice") {
		t.Fatalf("voice usage rows %+v, want one for the speech", rows)
	}
	if rows[0].Characters != len([]rune(text)) || rows[0].Provider != "elevenlabs" || rows[0].Delivery != store.DeliveryPosted {
		t.Errorf("voice usage %+v, want %d characters from elevenlabs, posted", rows[0], len([]rune(text)))
	}
}

func TestSpeechFailureStillDeliversTheTextWithANotice(t *testing.T) {
	for _, c := range []struct{ voice, why string }{
		{elevenfake.VoiceBroken, "the voice service failed"},
		{elevenfake.VoiceRateLimit, "busy"},
		{elevenfake.VoiceHTML, ""},   // 200 with a web page: not audio
		{elevenfake.VoiceCutOff, ""}, // the body breaks off half way
	} {
		t.Run(c.voice, func(t *testing.T) {
			h := newVoiceHarness(t, harnessOptions{})
			h.setVoiceKeys()
			h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1,
				voice: store.VoiceConfig{Provider: "elevenlabs", VoiceID: c.voice, Model: "eleven_flash_v2_5", Stability: 0.5, Similarity: 0.75, SpeakerBoost: true}})
			h.send(discordfake.MessageSpec{Content: "@luna hello"})
			posted := h.posted()
			if len(posted) != 1 {
				t.Fatalf("%d messages posted, want the reply", len(posted))
			}
			m := posted[0]
			if !strings.HasPrefix(m.Content, "echo: ") || len(m.Attachments) != 0 {
				t.Errorf("reply %q with %d attachments, want the text without audio", m.Content, len(m.Attachments))
			}
			if !strings.Contains(m.Content, "\n(The voice could not be made this time: ") || !strings.Contains(m.Content, c.why) {
				t.Errorf("reply %q lacks the voice notice (%q)", m.Content, c.why)
			}
			if strings.Contains(m.Content, "internal_error") || strings.Contains(m.Content, "subscription") {
				t.Errorf("the provider's own message reached the channel: %q", m.Content)
			}
		})
	}
}

func TestSpokenReplyOverTheUploadLimitBecomesANotice(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.fake.SetUploadLimit(1000) // the fake MP3 is ~26 KB
	h.setVoiceKeys()
	h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1})
	h.send(discordfake.MessageSpec{Content: "@luna hello"})
	posted := h.posted()
	if len(posted) != 1 || len(posted[0].Attachments) != 0 || !strings.Contains(posted[0].Content, "too large to upload") ||
		!strings.HasPrefix(posted[0].Content, "echo: ") {
		t.Fatalf("posted %+v, want the text with the too-large notice", posted)
	}
	if rows := h.voiceRows(); len(rows) != 1 || rows[0].Delivery != store.DeliveryNone {
		t.Errorf("voice usage %+v: the speech was paid for but never reached Discord", rows)
	}
}

func TestUserVoiceOverrideBeatsThePersonalityDefault(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.setVoiceKeys()
	h.speaker(speakerSpec{slug: "quiet", voiceOn: false, frequency: 1})
	h.speaker(speakerSpec{slug: "loud", voiceOn: true, frequency: 1})

	spoken := func(slug string) bool {
		t.Helper()
		before := len(h.posted())
		h.send(discordfake.MessageSpec{Content: "@" + slug + " hi"})
		posted := h.posted()[before:]
		if len(posted) != 1 {
			t.Fatalf("%s: %d messages posted", slug, len(posted))
		}
		return len(posted[0].Attachments) == 1
	}
	if spoken("quiet") || !spoken("loud") {
		t.Fatal("without an override the personalities' defaults do not hold")
	}
	h.setOverride(true)
	if !spoken("quiet") {
		t.Error("the user turned voice on, but a personality whose default is off did not speak")
	}
	h.setOverride(false)
	if spoken("loud") {
		t.Error("the user turned voice off, but a personality whose default is on spoke")
	}
}

func TestVoiceFrequencyIsHonoured(t *testing.T) {
	const seed = 2026
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	h := newVoiceHarness(t, harnessOptions{config: func(c *chat.Config) {
		c.Rand = func() float64 { mu.Lock(); defer mu.Unlock(); return rng.Float64() }
	}})
	h.setVoiceKeys()
	h.speaker(speakerSpec{slug: "never", voiceOn: true, frequency: 0})
	h.speaker(speakerSpec{slug: "half", voiceOn: true, frequency: 0.5})

	count := func(slug string, n int) int {
		spoken := 0
		for range n {
			before := len(h.posted())
			h.send(discordfake.MessageSpec{Content: "@" + slug + " hi"})
			for _, m := range h.posted()[before:] {
				spoken += len(m.Attachments)
			}
		}
		return spoken
	}
	if n := count("never", 4); n != 0 {
		t.Errorf("frequency 0: %d of 4 replies spoke", n)
	}
	// The same seeded draws, replayed: exactly the replies whose draw is
	// under 0.5 speak (frequency 0 draws nothing).
	replay := rand.New(rand.NewPCG(seed, 1))
	want := 0
	for range 12 {
		if replay.Float64() < 0.5 {
			want++
		}
	}
	if n := count("half", 12); n != want {
		t.Errorf("frequency 0.5: %d of 12 replies spoke, the seeded draws say %d", n, want)
	}
	if want == 0 || want == 12 {
		t.Fatalf("the seed gives %d of 12: pick one that tells spoken from silent", want)
	}
}

func TestNoVoiceKeyMeansTextOnly(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.setKey(userID) // a chat key, no ElevenLabs key
	h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1})
	h.send(discordfake.MessageSpec{Content: "@luna hello"})
	posted := h.posted()
	if len(posted) != 1 || len(posted[0].Attachments) != 0 || strings.Contains(posted[0].Content, "voice") {
		t.Fatalf("posted %+v, want the text alone, without audio or a notice", posted)
	}
	if n := h.eleven.Requests(); n != 0 {
		t.Errorf("ElevenLabs got %d requests without a key", n)
	}
	if len(h.dms(userID)) != 0 {
		t.Error("a missing voice key was nagged about in a DM")
	}
}

func TestVoiceMessageIsTranscribedAndAnswered(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.setKey(userID)
	if err := h.store.SetAPIKey(h.ctx, userID, "openai", openAIKey); err != nil {
		t.Fatal(err)
	}
	h.speaker(speakerSpec{slug: "luna", voice: store.VoiceConfig{Provider: "elevenlabs", Model: "eleven_flash_v2_5", Stability: 0.5,
		Similarity: 0.75, TranscriptionEnabled: true}})
	ogg := audiotest.OggOpus(2 * time.Second)
	att := h.fake.VoiceMessage(ogg, 2.0)
	h.send(discordfake.MessageSpec{Content: "@luna", Attachments: []discordfake.Attachment{att}, Flags: discordfake.FlagIsVoiceMessage})

	ups := h.whisper.received()
	if len(ups) != 1 || !bytes.Equal(ups[0].File, ogg) || ups[0].Fields["model"] != "whisper-1" {
		t.Fatalf("transcription uploads %d, want the recording once with whisper-1", len(ups))
	}
	reqs := h.provider.received()
	if len(reqs) != 1 || !strings.Contains(reqs[0].last(), "What is the weather like on the moon?") {
		t.Fatalf("the model was asked %d times; want the transcript as the user's words", len(reqs))
	}
	if strings.Contains(reqs[0].last(), "voice-message.ogg") {
		t.Error("the transcribed recording was also described to the model as an attachment")
	}
	posted := h.posted()
	if len(posted) != 1 || !strings.HasPrefix(posted[0].Content, "> 🎤 What is the weather like on the moon?\n") {
		t.Fatalf("posted %+v, want the reply to start with the quoted transcript", posted)
	}
	rows := h.voiceRows()
	if len(rows) != 1 || !strings.HasSuffix(rows[0].RequestID, "-transcribe") || rows[0].AudioMS != 2000 {
		t.Errorf("voice usage %+v, want one transcription row of 2000 ms", rows)
	}
}

func TestVoiceMessageThatCannotBeTranscribedGetsAShortAnswer(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.setKey(userID)
	if err := h.store.SetAPIKey(h.ctx, userID, "openai", openAIKey); err != nil {
		t.Fatal(err)
	}
	h.speaker(speakerSpec{slug: "luna", voice: store.VoiceConfig{Provider: "elevenlabs", Model: "eleven_flash_v2_5", Stability: 0.5,
		Similarity: 0.75, TranscriptionEnabled: true}})

	// A file that only claims to be audio: refused before any upload.
	fakeOgg := h.fake.VoiceMessage([]byte("this is a text file"), 1)
	h.send(discordfake.MessageSpec{Content: "@luna", Attachments: []discordfake.Attachment{fakeOgg}, Flags: discordfake.FlagIsVoiceMessage})
	// The provider failing.
	h.whisper.mu.Lock()
	h.whisper.fail = http.StatusInternalServerError
	h.whisper.mu.Unlock()
	att := h.fake.VoiceMessage(audiotest.OggOpus(time.Second), 1)
	h.send(discordfake.MessageSpec{Content: "@luna", Attachments: []discordfake.Attachment{att}, Flags: discordfake.FlagIsVoiceMessage})

	posted := h.posted()
	if len(posted) != 2 {
		t.Fatalf("%d messages posted, want one short notice per voice message", len(posted))
	}
	if !strings.Contains(posted[0].Content, "could not be transcribed: the file is not usable audio") {
		t.Errorf("first notice %q", posted[0].Content)
	}
	if !strings.Contains(posted[1].Content, "could not be transcribed: the transcription service failed") {
		t.Errorf("second notice %q", posted[1].Content)
	}
	if n := len(h.provider.received()); n != 0 {
		t.Errorf("the model was asked %d times with nothing heard", n)
	}
	ups := h.whisper.received()
	if len(ups) == 0 {
		t.Error("the real recording was never sent for transcription")
	}
	for _, u := range ups {
		if string(u.File) == "this is a text file" {
			t.Error("a file that is not audio was sent to the provider; the bot must refuse it first")
		}
	}
	// Others keep being served.
	h.send(discordfake.MessageSpec{Content: "@luna still there?"})
	if p := h.posted(); len(p) != 3 || !strings.HasPrefix(p[2].Content, "echo: ") {
		t.Errorf("the next message was not answered: %+v", p)
	}
}

// anyVoice is ElevenLabs for voices the scenario fake does not know (the
// imported ones): it records the voice id and body of each speech request,
// then lets elevenfake check and answer it as the stock voice, so the
// request rules (known model, settings in range, the key header) still apply.
type anyVoice struct {
	next http.Handler

	mu    sync.Mutex
	calls []spoken
}

type spoken struct {
	VoiceID string
	Body    map[string]any
}

func (a *anyVoice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/v1/text-to-speech/"
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, prefix) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		a.mu.Lock()
		a.calls = append(a.calls, spoken{VoiceID: strings.TrimPrefix(r.URL.Path, prefix), Body: m})
		a.mu.Unlock()
		r.URL.Path = prefix + elevenfake.VoiceRachel
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	a.next.ServeHTTP(w, r)
}

func (a *anyVoice) requests() []spoken {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]spoken(nil), a.calls...)
}

// TestImportedShapesPersonalitiesSpeakWithTheirVoiceSettings imports the 66
// personalities of a generated shapes.inc backup and has each answer once
// with voice on (the user's override) and every draw under the frequency:
// with the user's voice override on, each one that has an imported voice
// speaks with exactly its imported voice id, model, stability, similarity
// and style, whatever its imported frequency; the others (no voice) stay
// text only.
func TestImportedShapesPersonalitiesSpeakWithTheirVoiceSettings(t *testing.T) {
	eleven := &anyVoice{next: elevenfake.New(t)}
	esrv := httptest.NewServer(eleven)
	t.Cleanup(esrv.Close)
	whisper := newFakeWhisper(t)
	toml := strings.NewReplacer("{eleven}", strings.TrimPrefix(esrv.URL, "http://"), "{whisper}", whisper.hostPort()).Replace(voicePluginsTOML)
	h := newHarness(t, harnessOptions{pluginsTOML: toml, config: func(c *chat.Config) {
		c.Rand = func() float64 { return 0.999 } // frequency draws would say no: the user's override must win
	}})
	vh := &voiceHarness{harness: h, whisper: whisper}
	vh.setVoiceKeys()
	vh.setOverride(true) // imported personalities have voice off by default

	backup := shapestest.Generate(t, shapestest.Options{Personalities: 66, Seed: 11})
	sum, err := shapes.NewImporter(h.store.Pool(), shapes.Options{}).ImportShapes(h.ctx, backup.Root)
	if err != nil {
		t.Fatal(err)
	}
	if n := sum.Created; n != 66 {
		t.Fatalf("%d of 66 personalities imported", n)
	}
	if err := h.pipeline.RefreshMentions(h.ctx); err != nil {
		t.Fatal(err)
	}
	u, err := h.store.UserByDiscordID(h.ctx, userID)
	if err != nil {
		t.Fatal(err)
	}

	speakers := 0
	for i, p := range backup.Good {
		var id int64
		if err := h.store.Pool().QueryRow(h.ctx, `SELECT id FROM personalities WHERE shapes_id = $1`, p.Profile["id"]).Scan(&id); err != nil {
			t.Fatalf("%s: %v", p.Slug, err)
		}
		ch := h.fake.AddTextChannel(guildID)
		if err := h.store.ActivateChannel(h.ctx, ch.ID, id, u.ID); err != nil {
			t.Fatal(err)
		}
		before := len(eleven.requests())
		h.send(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Content: "say something, " + p.Slug})
		posted := h.fake.Messages(ch.ID)[1:] // after the user's message
		calls := eleven.requests()[before:]
		if len(posted) != 1 {
			t.Fatalf("%s: %d messages posted, want the reply", p.Slug, len(posted))
		}

		voiceID, hasVoice := p.Profile["voice_id"].(string)
		frequency, _ := p.Profile["voice_frequency"].(float64)
		// The override speaks every reply of a personality that has a
		// voice: a voice id, or a frequency its owner gave it. A config
		// that only transcribes is no voice.
		wantSpeech := (hasVoice && voiceID != "") || frequency > 0
		if !wantSpeech {
			if len(calls) != 0 || len(posted[0].Attachments) != 0 {
				t.Errorf("%s (#%d, voice %q, frequency %v) spoke", p.Slug, i, voiceID, frequency)
			}
			continue
		}
		speakers++
		if len(calls) != 1 || len(posted[0].Attachments) != 1 {
			t.Errorf("%s (#%d): %d speech requests, %d attachments; want it to speak once", p.Slug, i, len(calls), len(posted[0].Attachments))
			continue
		}
		c := calls[0]
		vs, _ := c.Body["voice_settings"].(map[string]any)
		if c.VoiceID != voiceID || c.Body["model_id"] != p.Profile["voice_model"] ||
			vs["stability"] != p.Profile["voice_stability"] || vs["similarity_boost"] != p.Profile["voice_similarity"] ||
			vs["style"] != p.Profile["voice_style"] {
			t.Errorf("%s spoke with voice %s model %v settings %v; imported voice %s model %v stability %v similarity %v style %v",
				p.Slug, c.VoiceID, c.Body["model_id"], vs, voiceID, p.Profile["voice_model"],
				p.Profile["voice_stability"], p.Profile["voice_similarity"], p.Profile["voice_style"])
		}
	}
	if speakers < 15 {
		t.Errorf("only %d of the 66 personalities had a voice to speak with; the backup should give about 20", speakers)
	}
	t.Logf("%d of 66 imported personalities spoke with their imported voice settings; the rest have no voice", speakers)
}

// TestVoiceMessageInADMGetsASpokenAnswer: in a DM the bot speaks for the
// personality; the transcript quote starts its own line after the
// speaker's name and the audio goes with the bot's reply.
func TestVoiceMessageInADMGetsASpokenAnswer(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.setVoiceKeys()
	if err := h.store.SetAPIKey(h.ctx, userID, "openai", openAIKey); err != nil {
		t.Fatal(err)
	}
	h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1, voice: store.VoiceConfig{Provider: "elevenlabs",
		VoiceID: elevenfake.VoiceRachel, Model: "eleven_flash_v2_5", Stability: 0.5, Similarity: 0.75, SpeakerBoost: true, TranscriptionEnabled: true}})
	dm := h.fake.AddChannel(discordfake.Channel{Type: discordfake.ChannelDM, Recipient: userID})
	att := h.fake.VoiceMessage(audiotest.OggOpus(1500*time.Millisecond), 1.5)
	h.send(discordfake.MessageSpec{ChannelID: dm.ID, Content: "@luna", Attachments: []discordfake.Attachment{att}, Flags: discordfake.FlagIsVoiceMessage})

	var replies []discordfake.Message
	for _, m := range h.fake.Messages(dm.ID) {
		if m.Bot {
			replies = append(replies, m)
		}
	}
	if len(replies) != 1 {
		t.Fatalf("%d DM replies, want 1", len(replies))
	}
	r := replies[0]
	if !strings.HasPrefix(r.Content, "**Luna:** \n> 🎤 What is the weather like on the moon?\n") {
		t.Errorf("DM reply %q, want the speaker, then the quoted transcript on its own line", r.Content)
	}
	if len(r.Attachments) != 1 || r.Attachments[0].ContentType != "audio/mpeg" {
		t.Errorf("DM reply has %d attachments, want the spoken answer", len(r.Attachments))
	}
	if req := h.eleven.LastRequest(); strings.Contains(req.Body["text"].(string), "🎤") || strings.Contains(req.Body["text"].(string), "Luna:") {
		t.Errorf("the speech read the quote or the name: %q", req.Body["text"])
	}
}

// TestFallbackVoiceKeySpeaksForAllowedUsers: without a key of their own,
// users the deployment allows get speech paid by its fallback key, exactly
// as for text.
func TestFallbackVoiceKeySpeaksForAllowedUsers(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{fallback: chat.Fallback{
		Keys: map[string]string{"elevenlabs": elevenfake.KeyGood}, Users: []string{userID}}})
	h.setKey(userID) // the chat key is the user's; the voice key is the host's
	h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1})
	h.send(discordfake.MessageSpec{Content: "@luna hello"})
	posted := h.posted()
	if len(posted) != 1 || len(posted[0].Attachments) != 1 {
		t.Fatalf("posted %+v, want a spoken reply on the fallback key", posted)
	}
	if got := h.eleven.LastRequest().Header.Get("xi-api-key"); got != elevenfake.KeyGood {
		t.Errorf("speech sent with key %q, want the fallback key", got)
	}
	// Someone else, not allowed the fallback: text only.
	h.send(discordfake.MessageSpec{Content: "@luna hello", Author: discordfake.User{ID: "700000000000000077", Username: "bob"}})
	if n := h.eleven.Requests(); n != 1 {
		t.Errorf("%d speech requests, want none for a user the fallback does not cover", n)
	}
}

// TestSlowSpeechDoesNotHoldTheTextBeyondTheSpeechTimeout: a voice service
// that never answers costs the reply at most the speech timeout, and the
// text arrives with a notice.
func TestSlowSpeechDoesNotHoldTheTextBeyondTheSpeechTimeout(t *testing.T) {
	// The service never answers; the handler is released when the test
	// ends (the host abandons the call at the speech timeout, but the
	// request itself may linger until its http_timeout).
	release := make(chan struct{})
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	esrv := httptest.NewServer(hang)
	t.Cleanup(esrv.Close)
	t.Cleanup(func() { close(release) }) // before Close (cleanups run last first)
	whisper := newFakeWhisper(t)
	toml := strings.NewReplacer("{eleven}", strings.TrimPrefix(esrv.URL, "http://"), "{whisper}", whisper.hostPort()).Replace(voicePluginsTOML)
	h := &voiceHarness{harness: newHarness(t, harnessOptions{pluginsTOML: toml, config: func(c *chat.Config) {
		c.SpeechTimeout = time.Second
	}}), whisper: whisper}
	h.setVoiceKeys()
	h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1})
	h.send(discordfake.MessageSpec{Content: "@luna hello"})
	posted := h.posted()
	if len(posted) != 1 || !strings.HasPrefix(posted[0].Content, "echo: ") || !strings.Contains(posted[0].Content, "the voice service took too long") {
		t.Fatalf("posted %+v, want the text with the took-too-long notice", posted)
	}
}

// TestOneTranscriptionServesEveryPersonalityAnswering: a voice message that
// calls two personalities is transcribed once and both answer what was said.
func TestOneTranscriptionServesEveryPersonalityAnswering(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.setKey(userID)
	if err := h.store.SetAPIKey(h.ctx, userID, "openai", openAIKey); err != nil {
		t.Fatal(err)
	}
	listens := store.VoiceConfig{Provider: "elevenlabs", Model: "eleven_flash_v2_5", Stability: 0.5, Similarity: 0.75, TranscriptionEnabled: true}
	h.speaker(speakerSpec{slug: "luna", voice: listens})
	h.speaker(speakerSpec{slug: "sol", voice: listens})
	att := h.fake.VoiceMessage(audiotest.OggOpus(time.Second), 1)
	h.send(discordfake.MessageSpec{Content: "@luna @sol", Attachments: []discordfake.Attachment{att}, Flags: discordfake.FlagIsVoiceMessage})
	if n := len(h.whisper.received()); n != 1 {
		t.Errorf("%d transcriptions, want 1 for the message", n)
	}
	posted := h.posted()
	if len(posted) != 2 {
		t.Fatalf("%d replies, want both personalities", len(posted))
	}
	for _, m := range posted {
		if !strings.HasPrefix(m.Content, "> 🎤 What is the weather like on the moon?\n") {
			t.Errorf("%s answered %q, want the transcript quoted first", m.AuthorName, m.Content)
		}
	}
	if rows := h.voiceRows(); len(rows) != 1 {
		t.Errorf("%d voice usage rows, want one transcription", len(rows))
	}
}

// TestInvalidVoiceSettingsGiveTheTextAndANotice: settings the voice
// plugin's voice_schema refuses (a knob ElevenLabs does not have) never
// reach the provider; the text is delivered with a notice naming the field.
func TestInvalidVoiceSettingsGiveTheTextAndANotice(t *testing.T) {
	h := newVoiceHarness(t, harnessOptions{})
	h.setVoiceKeys()
	h.speaker(speakerSpec{slug: "luna", voiceOn: true, frequency: 1, voice: store.VoiceConfig{Provider: "elevenlabs",
		VoiceID: elevenfake.VoiceRachel, Model: "eleven_flash_v2_5", Stability: 0.5, Similarity: 0.75,
		Settings: json.RawMessage(`{"speed": 3}`)}})
	h.send(discordfake.MessageSpec{Content: "@luna hello"})
	posted := h.posted()
	if len(posted) != 1 || !strings.HasPrefix(posted[0].Content, "echo: ") ||
		!strings.Contains(posted[0].Content, "voice settings are not valid") || !strings.Contains(posted[0].Content, "speed") {
		t.Fatalf("posted %+v, want the text with a notice naming the setting", posted)
	}
	if n := h.eleven.Requests(); n != 0 {
		t.Errorf("%d requests reached ElevenLabs with invalid settings", n)
	}
}
