package commands_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/disgoorg/disgo/httpserver"
	"github.com/disgoorg/snowflake/v2"

	"github.com/tzurot-go/tzurot/host/internal/commands"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

func TestRegisterOverwritesAllCommandsInOneRequest(t *testing.T) {
	e := newEnv(t)
	if err := e.cmds.Register(e.client, snowflake.MustParse(e.guildID)); err != nil {
		t.Fatal(err)
	}
	if err := e.cmds.Register(e.client, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(e.discord.RequestsTo(discordfake.RouteGuildCommands)); n != 1 {
		t.Fatalf("%d guild overwrites, want 1", n)
	}
	if n := len(e.discord.RequestsTo(discordfake.RouteGlobalCommands)); n != 1 {
		t.Fatalf("%d global overwrites, want 1", n)
	}
	puts := e.discord.CommandPuts()
	var cmds []map[string]any
	if err := json.Unmarshal(puts[0], &cmds); err != nil {
		t.Fatal(err)
	}
	names := map[string]map[string]any{}
	for _, c := range cmds {
		names[c["name"].(string)] = c
		if c["type"] == float64(3) {
			// A message command (right-click a message, Apps): Discord
			// refuses a description or options on it.
			if c["description"] != "" && c["description"] != nil || c["options"] != nil {
				t.Errorf("message command %q has a description or options: %v", c["name"], c)
			}
		} else {
			checkDescribed(t, "/"+c["name"].(string), c)
		}
		if ctx, _ := c["contexts"].([]any); len(ctx) == 0 {
			t.Errorf("/%s has no contexts", c["name"])
		}
	}
	for _, want := range []string{"wallet", "timezone", "usage", "personality", "voice", "admin", "memory", "persona", "privacy"} {
		if names[want] == nil {
			t.Errorf("/%s is not registered", want)
		}
	}
	if r := names["Show reasoning"]; r == nil || r["type"] != float64(3) {
		t.Errorf(`"Show reasoning" is not registered as a message command (type 3): %v`, r)
	}
	if p := names["admin"]["default_member_permissions"]; p != "8" {
		t.Errorf("/admin default permissions = %v, want administrators only (8)", p)
	}
}

// checkDescribed walks a command's options: each has a description within
// Discord's limits, no option takes a key, and autocomplete options carry no
// fixed choices.
func checkDescribed(t *testing.T, path string, o map[string]any) {
	t.Helper()
	name, _ := o["name"].(string)
	desc, _ := o["description"].(string)
	if desc == "" || len([]rune(desc)) > 100 || len(name) > 32 {
		t.Errorf("%s: description %q (name %d chars)", path, desc, len(name))
	}
	if name == "key" || name == "api_key" {
		t.Errorf("%s: an API key must never be a slash command option", path)
	}
	if o["autocomplete"] == true && o["choices"] != nil {
		t.Errorf("%s: autocomplete with fixed choices", path)
	}
	opts, _ := o["options"].([]any)
	for _, sub := range opts {
		m := sub.(map[string]any)
		checkDescribed(t, path+"/"+m["name"].(string), m)
	}
}

func TestDefinitionsAreStable(t *testing.T) {
	a, _ := json.Marshal(commands.Definitions())
	b, _ := json.Marshal(commands.Definitions())
	if !bytes.Equal(a, b) || len(a) < 1000 {
		t.Fatal("definitions differ between calls")
	}
}

// The same commands answer Discord's HTTP interactions (no gateway): the
// first answer is the HTTP response body, later edits go over REST.
func TestHTTPInteractions(t *testing.T) {
	e := newEnv(t)
	post, srvURL := e.httpInteractions()
	u := e.user()

	// Removing a key that does not exist: an ephemeral answer in the body.
	before := e.snapshot()
	in := e.spec(u)
	status, out := post(t, discordfake.SlashCommand(in, "wallet", sub("remove", str("provider", "openai"))))
	e.cmds.Wait()
	data, _ := out["data"].(map[string]any)
	if status != http.StatusOK || out["type"] != float64(4) || data["flags"] != float64(64) ||
		!bytes.Contains([]byte(data["content"].(string)), []byte("no key stored for **openai**")) {
		t.Fatalf("HTTP answer %d %v", status, out)
	}
	e.unchanged(before)

	// The key form: a modal in the body, then the submit is deferred in the
	// body and answered by editing @original over REST.
	in = e.spec(u)
	_, out = post(t, discordfake.SlashCommand(in, "wallet", sub("set", str("provider", "openai"))))
	data, _ = out["data"].(map[string]any)
	if out["type"] != float64(9) || data["custom_id"] == nil {
		t.Fatalf("want a modal, got %v", out)
	}
	in = e.spec(u)
	_, out = post(t, discordfake.ModalSubmit(in, data["custom_id"].(string), map[string]string{"key": keyGood}))
	if out["type"] != float64(5) {
		t.Fatalf("want a deferred answer, got %v", out)
	}
	e.cmds.Wait()
	m, ok := e.discord.Original(in.Token)
	if !ok || !bytes.Contains([]byte(m.Content), []byte("Saved your **openai** key")) {
		t.Fatalf("@original = %q", m.Content)
	}
	if key, ok, _ := e.store.APIKey(context.Background(), u.ID, "openai"); !ok || key != keyGood {
		t.Fatal("the key was not stored")
	}

	// A forged request is refused before any handler runs.
	req, _ := http.NewRequest(http.MethodPost, srvURL, bytes.NewReader(discordfake.SlashCommand(e.spec(u), "wallet", sub("list"))))
	req.Header.Set("X-Signature-Timestamp", "1")
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(make([]byte, 64)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged interaction answered %d", res.StatusCode)
	}
}

// httpInteractions serves the commands as an Interactions Endpoint URL
// (HTTP-interactions mode) and returns a function that posts a signed
// interaction (reporting to the t it is given) and gives back the status
// and decoded answer, and the
// endpoint's URL.
func (e *env) httpInteractions() (post func(t testing.TB, body []byte) (int, map[string]any), url string) {
	t := e.t
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	handle := httpserver.HandleInteraction(httpserver.DefaultVerifier{}, pub,
		slog.New(slog.DiscardHandler), e.client.EventManager.HandleHTTPEvent)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var in struct{ ID, Token string }
		_ = json.Unmarshal(body, &in)
		handle(&relayWriter{ResponseWriter: w, t: t, url: e.discord.RESTURL() + "/interactions/" + in.ID + "/" + in.Token + "/callback"}, r)
	}))
	t.Cleanup(srv.Close)
	return func(t testing.TB, body []byte) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Signature-Timestamp", ts)
		req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, append([]byte(ts), body...))))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return res.StatusCode, out
	}, srv.URL
}

// relayWriter plays Discord's part in HTTP mode: the response body is
// Discord's record of the initial answer, so it is also posted to the fake
// Discord (as the callback route would carry it) before the handler goes on
// to edit @original.
type relayWriter struct {
	http.ResponseWriter
	t   testing.TB
	url string
}

func (w *relayWriter) Write(b []byte) (int, error) {
	res, err := http.Post(w.url, "application/json", bytes.NewReader(b))
	if err != nil {
		w.t.Errorf("relay the answer to the fake Discord: %v", err)
	} else {
		res.Body.Close()
	}
	return w.ResponseWriter.Write(b)
}

func TestUnknownCommandsAndStaleFormsGetAnAnswer(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	before := e.snapshot()
	mustSay(t, e.slash(u, "remind", sub("me", str("what", "tea"))), "no longer available", "Nothing was changed")
	in := e.spec(u)
	a := e.inject(in, discordfake.ModalSubmit(in, "/voice-sample/v1", map[string]string{"x": "y"}))
	mustSay(t, a, "no longer available")
	e.unchanged(before)
}

// TestAutocompleteOfAStaleCommandGetsAnEmptyList: typing in an option of a
// command the bot no longer has (or a subcommand that has no suggestions)
// gets an empty suggestion list at once, over the gateway and over HTTP;
// unanswered, HTTP mode ends in a 408 after 3 seconds.
func TestAutocompleteOfAStaleCommandGetsAnEmptyList(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	stale := []struct {
		name string
		cmd  string
		opts []discordfake.CommandOption
	}{
		{"removed command", "remind", []discordfake.CommandOption{
			sub("me", discordfake.CommandOption{Name: "what", Type: discordfake.OptionString, Value: "te", Focused: true})}},
		{"subcommand without suggestions", "wallet", []discordfake.CommandOption{
			sub("list", discordfake.CommandOption{Name: "provider", Type: discordfake.OptionString, Value: "op", Focused: true})}},
	}
	emptyList := func(t *testing.T, how string, typ any, data map[string]any) {
		t.Helper()
		choices, ok := data["choices"].([]any)
		if typ != float64(8) || !ok || len(choices) != 0 {
			t.Errorf("%s: answer type %v data %v, want an autocomplete result (8) with an empty choices list", how, typ, data)
		}
	}
	post, _ := e.httpInteractions()
	for _, tc := range stale {
		t.Run(tc.name+" over the gateway", func(t *testing.T) {
			e := e.in(t)
			in := e.spec(u)
			a := e.inject(in, discordfake.Autocomplete(in, tc.cmd, tc.opts...))
			emptyList(t, "gateway", float64(a.Type), a.Data)
		})
		t.Run(tc.name+" over HTTP", func(t *testing.T) {
			status, out := post(t, discordfake.Autocomplete(e.spec(u), tc.cmd, tc.opts...))
			data, _ := out["data"].(map[string]any)
			if status != http.StatusOK {
				t.Fatalf("status %d, want 200 with an empty list", status)
			}
			emptyList(t, "HTTP", out["type"], data)
		})
	}
}
