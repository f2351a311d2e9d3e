package commands_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/disgoorg/disgo/gateway"

	"github.com/tzurot-go/tzurot/host/internal/commands"
	hostdiscord "github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// imagesWasm is plugins/images, built once for the tests that need it.
var (
	imagesOnce sync.Once
	imagesWasm string
	imagesErr  error
)

func buildImagesPlugin(t *testing.T) string {
	t.Helper()
	imagesOnce.Do(func() {
		root, err := plugintest.ModuleRoot()
		if err != nil {
			imagesErr = err
			return
		}
		dir := filepath.Join(os.TempDir(), "tzurot-commands-test-images")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			imagesErr = err
			return
		}
		imagesWasm = filepath.Join(dir, "images.wasm")
		imagesErr = plugintest.BuildTo(filepath.Join(root, "plugins", "images"), imagesWasm)
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return imagesWasm
}

const imageKey = "sk-img-0123456789abcdefghij"

// fakeImagesAPI is OpenAI's POST /v1/images/generations as the real API
// answers it: Bearer auth, a JSON body with model, prompt, n, size,
// moderation; the images base64 in data[].b64_json; errors as
// {"error":{message,type,code}}. Prompts steer it: "junk" answers an HTML
// page's bytes as the image, "huge" a PNG of about 300 KB.
type fakeImagesAPI struct {
	srv *httptest.Server
	mu  sync.Mutex
	// last is the last request body.
	last map[string]any
	png  []byte
	big  []byte
}

func noisyPNG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(2463534242)
	for y := range h {
		for x := range w {
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			img.Set(x, y, color.RGBA{uint8(seed), uint8(seed >> 8), uint8(seed >> 16), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func newFakeImagesAPI(t *testing.T) *fakeImagesAPI {
	f := &fakeImagesAPI{png: noisyPNG(t, 64, 48), big: noisyPNG(t, 320, 240)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, msg, code string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": code}})
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v1/images/generations" {
			fail(http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "")
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+imageKey {
			fail(http.StatusUnauthorized, "Incorrect API key provided.", "invalid_api_key")
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(http.StatusBadRequest, "We could not parse the JSON body of your request.", "")
			return
		}
		f.mu.Lock()
		f.last = body
		f.mu.Unlock()
		img := f.png
		prompt := fmt.Sprint(body["prompt"])
		switch {
		case strings.Contains(prompt, "junk"):
			img = []byte("<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>")
		case strings.Contains(prompt, "huge"):
			img = f.big
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"created": 1733100000,
			"data":  []any{map[string]any{"b64_json": base64.StdEncoding.EncodeToString(img)}},
			"usage": map[string]any{"input_tokens": 12, "output_tokens": 4160, "total_tokens": 4172}})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeImagesAPI) lastBody() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// lazyPoster lets the commands be built before the fake Discord the
// sender posts to exists.
type lazyPoster struct{ s *hostdiscord.Sender }

func (p *lazyPoster) SendFilesAsPersonality(ctx context.Context, channelID, threadParentID, name, avatarURL, text string, files []message.File, limit int64) ([]string, error) {
	return p.s.SendFilesAsPersonality(ctx, channelID, threadParentID, name, avatarURL, text, files, limit)
}

// imageEnv is a test world with the real plugins/images loaded as the
// entry "pics" (OpenAI images API mode) against a fake images API, and
// /imagine posting through the real Discord sender into the fake Discord.
type imageEnv struct {
	*env
	api *fakeImagesAPI
}

func newImageEnv(t *testing.T) *imageEnv {
	wasm := buildImagesPlugin(t)
	api := newFakeImagesAPI(t)
	poster := &lazyPoster{}
	e := newEnv(t, func(d *commands.Deps) {
		d.Images = commands.ImageDeps{Host: d.Plugins.(*plugin.Host), Poster: poster}
	})
	e.editPlugins(fmt.Sprintf(`
[plugins.pics]
path = %q
key_slot = "openai"
capabilities = ["image.generate", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
[plugins.pics.limits]
http_attempts = 1
[plugins.pics.config]
api = "images"
base_url = %q
auth = "bearer"
default_model = "gpt-image-1"
`, wasm, strings.TrimPrefix(api.srv.URL, "http://"), api.srv.URL))
	cfg, err := e.pluginConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.plugins.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, st := range e.plugins.Status() {
		if st.Name == "pics" && st.State != plugin.StateLoaded {
			t.Fatalf("images plugin not loaded: %s", st.Reason)
		}
	}
	b, err := hostdiscord.New(e.discord.Token, hostdiscord.HandlerFunc(func(context.Context, message.Message) {}),
		hostdiscord.WithRESTURL(e.discord.RESTURL()), hostdiscord.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	poster.s = b.NewSender(hostdiscord.NewMemoryWebhookStore())
	return &imageEnv{env: e, api: api}
}

// imagine runs /imagine in channel ch (nsfw as the channel's flag).
func (e *imageEnv) imagine(u discordfake.User, ch discordfake.Channel, limit int, opts ...discordfake.CommandOption) (answer, discordfake.InteractionSpec) {
	e.t.Helper()
	in := e.spec(u)
	in.ChannelID, in.NSFW, in.AttachmentSizeLimit = ch.ID, ch.NSFW, limit
	discordfake.Inject(e.t, e.client, gateway.EventTypeInteractionCreate, discordfake.SlashCommand(in, "imagine", opts...))
	e.cmds.Wait()
	a := answer{}
	for _, r := range e.discord.InteractionResponses() {
		if r.Token == in.Token {
			a.Type, a.Ephemeral = r.Type, r.Flags&64 != 0
		}
	}
	if m, ok := e.discord.Original(in.Token); ok {
		a.Content = m.Content
	}
	return a, in
}

// painter makes a public personality with an image config using "pics".
func (e *imageEnv) painter(owner discordfake.User, params string) string {
	e.t.Helper()
	a := e.slash(owner, "personality", sub("create", str("slug", "painter"), str("name", "Painter"), boolean("public", true)))
	mustSay(e.t, a, "Painter")
	opts := []discordfake.CommandOption{str("personality", "painter"), str("plugin", "pics"), str("style", "watercolour")}
	if params != "" {
		opts = append(opts, str("parameters", params))
	}
	a = e.slash(owner, "personality", sub("image", opts...))
	mustSay(e.t, a, "Saved", "pics")
	return "painter"
}

func (e *imageEnv) giveKey(u discordfake.User) {
	e.t.Helper()
	if err := e.store.SetAPIKey(context.Background(), u.ID, "openai", imageKey); err != nil {
		e.t.Fatal(err)
	}
}

func TestImaginePostsTheImageAsThePersonality(t *testing.T) {
	e := newImageEnv(t)
	owner, u := e.user(), e.user()
	e.painter(owner, `{"quality": "high"}`)
	e.giveKey(u)
	ch := e.discord.AddTextChannel(e.guildID)

	a, _ := e.imagine(u, ch, 0, str("prompt", "a cat on a windowsill"), str("personality", "painter"))
	if !a.Ephemeral || !strings.Contains(a.Content, "Painter") || !strings.Contains(a.Content, "posted your image") {
		t.Fatalf("the asker was told %+v", a)
	}
	msgs := e.discord.Messages(ch.ID)
	if len(msgs) != 1 {
		t.Fatalf("want one message in the channel, got %+v", msgs)
	}
	m := msgs[0]
	if m.AuthorName != "Painter" || m.WebhookID == "" || !strings.Contains(m.Content, "a cat on a windowsill") {
		t.Fatalf("channel message %+v", m)
	}
	if len(m.Files) != 1 || m.Files[0].Name != "image-1.png" || !bytes.Equal(m.Files[0].Data, e.api.png) {
		t.Fatalf("the image was not attached byte for byte: %+v", m.Files)
	}
	if m.AllowedMentions == "" {
		t.Fatal("no allowed_mentions on the image message")
	}
	// The personality's settings reached the provider: model, style in the
	// prompt, quality from the parameters, the safe moderation level.
	body := e.api.lastBody()
	if body["model"] != "gpt-image-1" || body["quality"] != "high" || body["moderation"] != "auto" ||
		!strings.Contains(fmt.Sprint(body["prompt"]), "watercolour") {
		t.Fatalf("provider request %v", body)
	}
	// Usage is metered as kind image, and /usage shows it.
	var kind string
	var images int
	if err := e.store.Pool().QueryRow(context.Background(),
		`SELECT kind, images FROM usage_logs WHERE user_id = (SELECT id FROM users WHERE discord_id = $1)`, u.ID).Scan(&kind, &images); err != nil {
		t.Fatal(err)
	}
	if kind != "image" || images != 1 {
		t.Fatalf("usage row kind %q images %d", kind, images)
	}
	usage := e.slash(u, "usage")
	mustSay(t, usage, "(image)", "1 images")
}

func TestImagineWithoutPersonalityIsTheBotsFollowUp(t *testing.T) {
	e := newImageEnv(t)
	u := e.user()
	e.giveKey(u)
	ch := e.discord.AddTextChannel(e.guildID)
	a, in := e.imagine(u, ch, 0, str("prompt", "a lighthouse"))
	if !strings.Contains(a.Content, "Here is your image") {
		t.Fatalf("answer %+v", a)
	}
	fu := e.discord.FollowUps(in.Token)
	if len(fu) != 1 || len(fu[0].Files) != 1 || !bytes.Equal(fu[0].Files[0].Data, e.api.png) || fu[0].Flags&64 != 0 {
		t.Fatalf("follow-ups %+v: want one public message with the image", fu)
	}
}

func TestImagineNSFWOnlyInAgeRestrictedChannels(t *testing.T) {
	e := newImageEnv(t)
	u := e.user()
	e.giveKey(u)
	plain := e.discord.AddTextChannel(e.guildID)
	adult := e.discord.AddChannel(discordfake.Channel{GuildID: e.guildID, Name: "adult", Type: discordfake.ChannelGuildText, NSFW: true})

	before := e.snapshot()
	a, _ := e.imagine(u, plain, 0, str("prompt", "a figure study"), boolean("nsfw", true))
	mustSay(t, a, "age-restricted channel", "Nothing was made")
	if body := e.api.lastBody(); body != nil {
		t.Fatalf("the provider was asked anyway: %v", body)
	}
	e.unchanged(before)

	a, in := e.imagine(u, adult, 0, str("prompt", "a figure study"), boolean("nsfw", true))
	if !strings.Contains(a.Content, "Here is your image") {
		t.Fatalf("in an age-restricted channel: %+v", a)
	}
	if body := e.api.lastBody(); body["moderation"] != "low" {
		t.Fatalf("the provider was not told adult content is allowed: %v", body)
	}
	if fu := e.discord.FollowUps(in.Token); len(fu) != 1 || len(fu[0].Files) != 1 {
		t.Fatalf("follow-ups %+v", fu)
	}

	// A thread has no flag of its own: its parent decides.
	for _, c := range []struct {
		parent discordfake.Channel
		ok     bool
	}{{plain, false}, {adult, true}} {
		thread := e.discord.AddChannel(discordfake.Channel{GuildID: e.guildID, Name: "thread", Type: discordfake.ChannelPublicThread, Parent: c.parent.ID})
		in := e.spec(u)
		in.ChannelID, in.ThreadParentID = thread.ID, c.parent.ID
		discordfake.Inject(t, e.client, gateway.EventTypeInteractionCreate, discordfake.SlashCommand(in, "imagine", str("prompt", "a figure study"), boolean("nsfw", true)))
		e.cmds.Wait()
		m, _ := e.discord.Original(in.Token)
		if got := strings.Contains(m.Content, "Here is your image"); got != c.ok {
			t.Fatalf("thread of %s (nsfw %v): answer %q", c.parent.Name, c.parent.NSFW, m.Content)
		}
	}
}

func TestImagineRefusesWhatIsNotAnImage(t *testing.T) {
	e := newImageEnv(t)
	owner, u := e.user(), e.user()
	e.painter(owner, "")
	e.giveKey(u)
	ch := e.discord.AddTextChannel(e.guildID)
	a, _ := e.imagine(u, ch, 0, str("prompt", "junk please"), str("personality", "painter"))
	mustSay(t, a, "not a PNG, JPEG, GIF or WebP image")
	if msgs := e.discord.Messages(ch.ID); len(msgs) != 0 {
		t.Fatalf("something was posted: %+v", msgs)
	}
}

func TestImagineOverTheUploadLimitSaysSo(t *testing.T) {
	e := newImageEnv(t)
	owner, u := e.user(), e.user()
	e.painter(owner, "")
	e.giveKey(u)
	ch := e.discord.AddTextChannel(e.guildID)
	limit := len(e.api.big) / 2
	a, _ := e.imagine(u, ch, limit, str("prompt", "huge panorama"), str("personality", "painter"))
	if !strings.Contains(a.Content, "posted") {
		t.Fatalf("answer %+v", a)
	}
	msgs := e.discord.Messages(ch.ID)
	if len(msgs) != 1 || len(msgs[0].Files) != 0 || !strings.Contains(msgs[0].Content, "over this server's") {
		t.Fatalf("want the notice instead of the file, got %+v", msgs)
	}
}

func TestImagineWithoutAKeyTellsTheUserWhatToDo(t *testing.T) {
	e := newImageEnv(t)
	u := e.user()
	ch := e.discord.AddTextChannel(e.guildID)
	a, _ := e.imagine(u, ch, 0, str("prompt", "a boat"))
	mustSay(t, a, "no `openai` API key", "/wallet set")
	if body := e.api.lastBody(); body != nil {
		t.Fatalf("the provider was called without a key: %v", body)
	}
}

func TestPersonalityImageSettingsRefusedByTheSchemaNameTheField(t *testing.T) {
	e := newImageEnv(t)
	owner := e.user()
	e.painter(owner, "")
	before := e.snapshot()
	a := e.slash(owner, "personality", sub("image", str("personality", "painter"), str("parameters", `{"quality": "ultra"}`)))
	mustSay(t, a, "quality", "Nothing was changed")
	a = e.slash(owner, "personality", sub("image", str("personality", "painter"), str("parameters", `{"qualty": "high"}`)))
	mustSay(t, a, "qualty", "Nothing was changed")
	a = e.slash(owner, "personality", sub("image", str("personality", "painter"), str("size", "large")))
	mustSay(t, a, "WIDTHxHEIGHT", "Nothing was changed")
	e.unchanged(before)
	var params string
	if err := e.store.Pool().QueryRow(context.Background(), `SELECT parameters::text FROM image_configs`).Scan(&params); err != nil || params != "{}" {
		t.Fatalf("stored parameters %q (%v)", params, err)
	}

	// Someone else cannot change it.
	a = e.slash(e.user(), "personality", sub("image", str("personality", "painter"), str("model", "dall-e-3")))
	mustSay(t, a, "Only the owner")
}

func TestPersonalityToolsListsEnablesAndDisables(t *testing.T) {
	e := newImageEnv(t)
	owner := e.user()
	e.painter(owner, "")
	a := e.slash(owner, "personality", sub("tools", str("personality", "painter")))
	mustSay(t, a, "none", "`generate_image`")
	a = e.slash(owner, "personality", sub("tools", str("personality", "painter"), str("tool", "generate_image"), str("action", "enable")))
	mustSay(t, a, "`generate_image` is now enabled")
	tools, err := e.store.PersonalityTools(context.Background(), mustID(t, e, "painter"))
	if err != nil || len(tools) != 1 || tools[0] != "generate_image" {
		t.Fatalf("granted %v (%v)", tools, err)
	}
	a = e.slash(owner, "personality", sub("tools", str("personality", "painter"), str("tool", "weather/now"), str("action", "enable")))
	mustSay(t, a, "does not offer a tool `weather/now`", "Nothing was changed")
	a = e.slash(owner, "personality", sub("tools", str("personality", "painter"), str("tool", "generate_image"), str("action", "disable")))
	mustSay(t, a, "now disabled")
	if tools, _ := e.store.PersonalityTools(context.Background(), mustID(t, e, "painter")); len(tools) != 0 {
		t.Fatalf("still granted %v", tools)
	}
}

func mustID(t *testing.T, e *imageEnv, slug string) int64 {
	t.Helper()
	p, err := e.store.PersonalityBySlug(context.Background(), slug, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func TestImageDepsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	d, err := commands.ImageDepsFromEnv(env(map[string]string{"TZUROT_IMAGE_PLUGIN": " openai-images ", "TZUROT_IMAGES": "off"}))
	if err != nil || d.DefaultPlugin != "openai-images" || !d.Disabled {
		t.Fatalf("got %+v, %v", d, err)
	}
	if d, err := commands.ImageDepsFromEnv(env(nil)); err != nil || d.Disabled || d.DefaultPlugin != "" {
		t.Fatalf("defaults: %+v, %v", d, err)
	}
	if _, err := commands.ImageDepsFromEnv(env(map[string]string{"TZUROT_IMAGE_PLUGIN": "Open AI"})); err == nil || !strings.Contains(err.Error(), "TZUROT_IMAGE_PLUGIN") {
		t.Fatalf("bad entry name: %v", err)
	}
	if _, err := commands.ImageDepsFromEnv(env(map[string]string{"TZUROT_IMAGES": "maybe"})); err == nil || !strings.Contains(err.Error(), "TZUROT_IMAGES") {
		t.Fatalf("bad switch: %v", err)
	}
}
