package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/gateway"
	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

type signer struct {
	priv ed25519.PrivateKey
	// fake, when set, is handed every answer the bot gives over HTTP: Discord receives it like a
	// REST callback, so the fake checks it like one (allowed_mentions included).
	fake *discordfake.Server
}

// post sends body signed at ts to url and returns the status and response body.
func (s signer) post(t *testing.T, url string, body []byte, ts time.Time, mutate ...func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Timestamp", stamp)
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(s.priv, append([]byte(stamp), body...))))
	for _, m := range mutate {
		m(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var kind struct{ Type int }
	if s.fake != nil && resp.StatusCode == http.StatusOK && json.Unmarshal(body, &kind) == nil && kind.Type != 1 {
		if err := s.fake.AnsweredOverHTTP(body, out); err != nil {
			t.Error(err)
		}
	}
	return resp.StatusCode, string(out)
}

func commandMux() *handler.Mux {
	mux := handler.New()
	mux.Command("/ping", func(e *handler.CommandEvent) error {
		return e.CreateMessage(discord.NewMessageCreate().WithContent("pong").WithEphemeral(true))
	})
	mux.Command("/slow", func(e *handler.CommandEvent) error {
		if err := e.DeferCreateMessage(true); err != nil {
			return err
		}
		if _, err := e.UpdateInteractionResponse(discord.NewMessageUpdate().WithContent("here is the answer")); err != nil {
			return err
		}
		_, err := e.CreateFollowupMessage(discord.NewMessageCreate().WithContent("done thinking"))
		return err
	})
	return mux
}

func newInteractionsBot(t *testing.T) (*testBot, signer, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tb := newTestBot(t, nopHandler(), WithoutGateway(), WithHTTPInteractions(hex.EncodeToString(pub)),
		WithInteractionListener(commandMux()))
	srv := httptest.NewServer(tb.InteractionsHandler())
	t.Cleanup(srv.Close)
	return tb, signer{priv: priv, fake: tb.fake}, srv.URL
}

func pingBody(id string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"application_id":%q,"type":1,"token":"tok-%s","version":1}`, id, discordfake.DefaultAppID, id))
}

func TestHTTPInteractionsWithoutGateway(t *testing.T) {
	tb, sign, url := newInteractionsBot(t)
	if n := len(tb.fake.RequestsTo(discordfake.RouteGateway)); n != 0 {
		t.Errorf("HTTP-only bot asked for the gateway %d times", n)
	}
	if err := tb.Open(context.Background()); err == nil {
		t.Error("Open succeeded on a bot without a gateway")
	}

	status, body := sign.post(t, url, pingBody("700000000000000001"), time.Now())
	if status != http.StatusOK || !strings.Contains(body, `"type":1`) {
		t.Fatalf("PING: %d %s", status, body)
	}

	slash := discordfake.SlashCommand(discordfake.InteractionSpec{ID: "700000000000000002", Token: "tok-ping",
		GuildID: guildID, ChannelID: "800000000000000001", User: alice}, "ping")
	status, body = sign.post(t, url, slash, time.Now())
	var resp struct {
		Type int `json:"type"`
		Data struct {
			Content string `json:"content"`
			Flags   int    `json:"flags"`
		} `json:"data"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &resp) != nil {
		t.Fatalf("slash: %d %s", status, body)
	}
	if resp.Type != 4 || resp.Data.Content != "pong" || resp.Data.Flags&64 == 0 {
		t.Fatalf("slash reply %+v, want an ephemeral pong in the HTTP response", resp)
	}
	if n := len(tb.fake.RequestsTo(discordfake.RouteInteractionCallback)); n != 0 {
		t.Errorf("%d REST callbacks: in HTTP mode the reply is the response body", n)
	}
}

func TestHTTPInteractionsDeferThenFollowUp(t *testing.T) {
	tb, sign, url := newInteractionsBot(t)
	slash := discordfake.SlashCommand(discordfake.InteractionSpec{ID: "700000000000000003", Token: "tok-slow",
		GuildID: guildID, ChannelID: "800000000000000001", User: alice}, "slow")
	status, body := sign.post(t, url, slash, time.Now())
	if status != http.StatusOK || !strings.Contains(body, `"type":5`) {
		t.Fatalf("deferred reply: %d %s", status, body)
	}
	eventually(t, "the follow-up", func() bool { return len(tb.fake.FollowUps("tok-slow")) == 1 })
	if got := tb.fake.FollowUps("tok-slow")[0].Content; got != "done thinking" {
		t.Fatalf("follow-up %q", got)
	}
	if orig, ok := tb.fake.Original("tok-slow"); !ok || orig.Content != "here is the answer" {
		t.Fatalf("@original %+v %v, want the edited answer", orig, ok)
	}
	tb.fake.AssertNoViolations(t) // follow-ups carry no bot token
}

func TestHTTPInteractionsRejectForgedAndReplayed(t *testing.T) {
	tb, sign, url := newInteractionsBot(t)
	now := time.Now()

	cases := []struct {
		name   string
		body   []byte
		ts     time.Time
		mutate func(*http.Request)
	}{
		{"wrong key", pingBody("700000000000000010"), now, func(r *http.Request) {
			_, other, _ := ed25519.GenerateKey(nil)
			ts := r.Header.Get("X-Signature-Timestamp")
			body := pingBody("700000000000000010")
			r.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(other, append([]byte(ts), body...))))
		}},
		{"tampered body", pingBody("700000000000000011"), now, func(r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader(pingBody("700000000000000099")))
		}},
		{"no signature", pingBody("700000000000000012"), now, func(r *http.Request) { r.Header.Del("X-Signature-Ed25519") }},
		{"six minutes old", pingBody("700000000000000013"), now.Add(-6 * time.Minute), nil},
		{"from the future", pingBody("700000000000000014"), now.Add(10 * time.Minute), nil},
	}
	for _, c := range cases {
		var mut []func(*http.Request)
		if c.mutate != nil {
			mut = append(mut, c.mutate)
		}
		if status, body := sign.post(t, url, c.body, c.ts, mut...); status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", c.name, status, body)
		}
	}

	// A valid request is answered once; the same bytes sent again are a replay.
	fresh := pingBody("700000000000000020")
	at := now.Add(-4 * time.Minute) // old but inside the window
	if status, _ := sign.post(t, url, fresh, at); status != http.StatusOK {
		t.Fatalf("valid request: %d", status)
	}
	if status, _ := sign.post(t, url, fresh, at); status != http.StatusUnauthorized {
		t.Fatalf("replayed request: %d, want 401", status)
	}
	if !strings.Contains(tb.logs.String(), "replayed request") {
		t.Error("the replay was not logged")
	}
}

func TestReplayCacheForgetsExpiredSignatures(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	e, err := newInteractionEndpoint(strings.Repeat("ab", 32), time.Minute, func() time.Time { return clock }, discardLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if !e.firstSighting(fmt.Sprint("sig", i), clock.Add(time.Minute), clock) {
			t.Fatal("fresh signature reported as seen")
		}
	}
	if e.firstSighting("sig5", clock.Add(time.Minute), clock) {
		t.Fatal("repeated signature accepted")
	}
	clock = clock.Add(2 * time.Minute)
	e.firstSighting("later", clock.Add(time.Minute), clock)
	if n := len(e.seen); n != 1 {
		t.Fatalf("%d signatures kept after they expired, want 1", n)
	}
}

func TestServeInteractionsStopsAtShutdown(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	tb := newTestBot(t, nopHandler(), WithoutGateway(), WithHTTPInteractions(hex.EncodeToString(pub)))
	if _, err := tb.ServeInteractions("127.0.0.1:0", "interactions"); err == nil || !strings.Contains(err.Error(), "must start with /") {
		t.Fatalf("relative path: %v", err)
	}
	addr, err := tb.ServeInteractions("127.0.0.1:0", "/interactions")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.ServeInteractions("127.0.0.1:0", "/interactions"); err == nil {
		t.Fatal("served the endpoint twice")
	}
	url := "http://" + addr.String() + "/interactions"
	sign := signer{priv: priv, fake: tb.fake}
	if status, _ := sign.post(t, url, pingBody("700000000000000030"), time.Now()); status != http.StatusOK {
		t.Fatalf("PING: %d", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(pingBody("700000000000000031")))
	if err == nil {
		resp.Body.Close()
		t.Fatal("the endpoint still answers after shutdown")
	}
}

// TestGatewayInteractionRepliesOverREST: in gateway mode the same command code answers through
// the interaction callback route.
func TestGatewayInteractionRepliesOverREST(t *testing.T) {
	tb := newTestBot(t, nopHandler(), WithInteractionListener(commandMux()))
	raw := discordfake.SlashCommand(discordfake.InteractionSpec{ID: "700000000000000040", Token: "tok-gw",
		GuildID: guildID, ChannelID: "800000000000000001", User: alice}, "ping")
	discordfake.Inject(t, tb.Client(), gateway.EventTypeInteractionCreate, raw)
	eventually(t, "the interaction callback", func() bool { return len(tb.fake.InteractionResponses()) == 1 })
	r := tb.fake.InteractionResponses()[0]
	if r.Type != 4 || r.Content != "pong" || r.Flags&64 == 0 || r.Token != "tok-gw" {
		t.Fatalf("callback %+v", r)
	}

	// Deferred over the gateway: type 5 through REST, then @original is edited.
	raw = discordfake.SlashCommand(discordfake.InteractionSpec{ID: "700000000000000041", Token: "tok-gw-slow",
		GuildID: guildID, ChannelID: "800000000000000001", User: alice}, "slow")
	discordfake.Inject(t, tb.Client(), gateway.EventTypeInteractionCreate, raw)
	eventually(t, "the follow-up", func() bool { return len(tb.fake.FollowUps("tok-gw-slow")) == 1 })
	if r := tb.fake.InteractionResponses()[1]; r.Type != 5 || r.Flags&64 == 0 {
		t.Errorf("deferred callback %+v, want an ephemeral type 5", r)
	}
	if orig, ok := tb.fake.Original("tok-gw-slow"); !ok || orig.Content != "here is the answer" {
		t.Errorf("@original %+v", orig)
	}
	tb.fake.AssertNoViolations(t)
}

// A key typed into a modal is in the interaction body, and disgo prints whole bodies at debug.
// The key below has no shape a pattern could recognise, so only keeping disgo's debug records out
// of the log protects it.
func TestHTTPInteractionsModalKeyNeverLogged(t *testing.T) {
	tb, sign, url := newInteractionsBot(t)
	const key = "plainprovkey7Q2x9ZrT4mW8vB3nK6yH"
	submit := discordfake.ModalSubmit(discordfake.InteractionSpec{ID: "700000000000000009", Token: "tok-modal",
		GuildID: guildID, ChannelID: "800000000000000001", User: alice}, "/wallet-modal", map[string]string{"key": key})
	status, _ := sign.post(t, url, submit, time.Now())
	if status == 0 {
		t.Fatal("no response to the modal submit")
	}
	if strings.Contains(tb.logs.String(), key) {
		t.Fatalf("the key typed into the modal appears in the log:\n%s", tb.logs.String())
	}
}
