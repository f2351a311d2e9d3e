package discordfake_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/gateway"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// call sends a raw request to the fake and decodes a JSON answer into out (if non-nil).
func call(t *testing.T, method, url, auth string, body []byte, contentType string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, data)
		}
	}
	return resp
}

type apiError struct {
	Message string `json:"message"`
	Code    int    `json:"code"`
}

func TestBotRoutesNeedTheToken(t *testing.T) {
	f := discordfake.New(t, discordfake.WithoutMentionCheck()) // raw bodies about other rules
	ch := f.AddTextChannel("1")
	body := []byte(`{"content":"hi"}`)
	var e apiError
	if r := call(t, "POST", f.RESTURL()+"/channels/"+ch.ID+"/messages", "", body, "", &e); r.StatusCode != 401 {
		t.Fatalf("no token: %d", r.StatusCode)
	}
	if r := call(t, "POST", f.RESTURL()+"/channels/"+ch.ID+"/messages", "Bot wrong", body, "", nil); r.StatusCode != 401 {
		t.Fatalf("wrong token: %d", r.StatusCode)
	}
	r := call(t, "POST", f.RESTURL()+"/channels/"+ch.ID+"/messages", "Bot "+f.Token, body, "", nil)
	if r.StatusCode != 200 {
		t.Fatalf("right token: %d", r.StatusCode)
	}
	for _, h := range []string{"X-RateLimit-Bucket", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset-After"} {
		if r.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if msgs := f.Messages(ch.ID); len(msgs) != 1 || msgs[0].Content != "hi" {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestProductRules(t *testing.T) {
	f := discordfake.New(t, discordfake.WithoutMentionCheck()) // raw bodies about other rules
	ch := f.AddTextChannel("1")
	thread := f.AddThread(ch)
	other := f.AddTextChannel("1")
	auth := "Bot " + f.Token
	var hook struct{ ID, Token string }
	if r := call(t, "POST", f.RESTURL()+"/channels/"+ch.ID+"/webhooks", auth, []byte(`{"name":"Tzurot"}`), "", &hook); r.StatusCode != 200 {
		t.Fatalf("create webhook: %d", r.StatusCode)
	}
	exec := f.RESTURL() + "/webhooks/" + hook.ID + "/" + hook.Token + "?wait=true"

	checks := []struct {
		name   string
		method string
		url    string
		auth   string
		body   string
		status int
		code   int
	}{
		{"2001 characters", "POST", exec, "", `{"content":"` + strings.Repeat("a", 2001) + `"}`, 400, 50035},
		{"empty message", "POST", exec, "", `{"content":"  "}`, 400, 50006},
		{"username with discord", "POST", exec, "", `{"content":"x","username":"My Discord Bot"}`, 400, 50035},
		{"username with clyde", "POST", exec, "", `{"content":"x","username":"clyde"}`, 400, 50035},
		{"username of 81", "POST", exec, "", `{"content":"x","username":"` + strings.Repeat("n", 81) + `"}`, 400, 50035},
		{"thread of another channel", "POST", exec + "&thread_id=" + other.ID, "", `{"content":"x"}`, 400, 10003},
		{"webhook on a thread", "POST", f.RESTURL() + "/channels/" + thread.ID + "/webhooks", auth, `{"name":"x"}`, 400, 50024},
		{"webhook named discord", "POST", f.RESTURL() + "/channels/" + ch.ID + "/webhooks", auth, `{"name":"discord"}`, 400, 50035},
		{"unknown webhook", "POST", f.RESTURL() + "/webhooks/123/abc", "", `{"content":"x"}`, 404, 10015},
		{"wrong webhook token", "POST", f.RESTURL() + "/webhooks/" + hook.ID + "/nope", "", `{"content":"x"}`, 401, 50027},
	}
	for _, c := range checks {
		var e apiError
		r := call(t, c.method, c.url, c.auth, []byte(c.body), "", &e)
		if r.StatusCode != c.status || e.Code != c.code {
			t.Errorf("%s: %d code %d, want %d code %d", c.name, r.StatusCode, e.Code, c.status, c.code)
		}
	}
	// Every broken rule (not the unknown or wrong webhook, which are not the bot's fault) is listed.
	if v := f.Violations(); len(v) != 8 {
		t.Errorf("%d violations, want 8: %q", len(v), v)
	}

	// A bot token sent to a webhook route is flagged.
	call(t, "POST", exec, auth, []byte(`{"content":"ok"}`), "", nil)
	if v := f.Violations(); !strings.Contains(v[len(v)-1], "Authorization") {
		t.Errorf("last violation %q", v[len(v)-1])
	}
	if len(f.Messages(ch.ID)) != 1 {
		t.Error("the valid execute was not stored")
	}
}

func TestWebhookExecuteWaitThreadsAndMultipart(t *testing.T) {
	f := discordfake.New(t, discordfake.WithoutMentionCheck()) // raw bodies about other rules
	ch := f.AddTextChannel("1")
	thread := f.AddThread(ch)
	hook := f.AddWebhook(discordfake.Webhook{ChannelID: ch.ID, GuildID: "1", Name: "Tzurot", ApplicationID: f.AppID})
	base := f.RESTURL() + "/webhooks/" + hook.ID + "/" + hook.Token

	if r := call(t, "POST", base, "", []byte(`{"content":"no wait"}`), "", nil); r.StatusCode != 204 {
		t.Errorf("without wait: %d, want 204", r.StatusCode)
	}

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("payload_json", `{"content":"with a file","username":"Bambi","avatar_url":"https://x/y.png"}`)
	fw, _ := mw.CreateFormFile("files[0]", "voice.ogg")
	_, _ = fw.Write([]byte("OggS..."))
	_ = mw.Close()
	var msg struct {
		ID          string
		ChannelID   string `json:"channel_id"`
		WebhookID   string `json:"webhook_id"`
		Attachments []struct{ URL, Filename string }
	}
	r := call(t, "POST", base+"?wait=true&thread_id="+thread.ID, "", buf.Bytes(), mw.FormDataContentType(), &msg)
	if r.StatusCode != 200 || msg.ChannelID != thread.ID || msg.WebhookID != hook.ID || len(msg.Attachments) != 1 {
		t.Fatalf("execute into thread: %d %+v", r.StatusCode, msg)
	}
	stored := f.Messages(thread.ID)
	if len(stored) != 1 || stored[0].AuthorName != "Bambi" || stored[0].AvatarURL != "https://x/y.png" ||
		stored[0].ThreadID != thread.ID || len(stored[0].Files) != 1 || string(stored[0].Files[0].Data) != "OggS..." {
		t.Fatalf("stored %+v", stored)
	}
	// The uploaded file is served by the CDN.
	resp, err := http.Get(msg.Attachments[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(data) != "OggS..." {
		t.Fatalf("CDN served %q", data)
	}
	reqs := f.RequestsTo(discordfake.RouteExecuteWebhook)
	if len(reqs) != 2 || reqs[1].Files[0].Name != "voice.ogg" || !strings.Contains(string(reqs[1].PayloadJSON), "with a file") {
		t.Fatalf("recorded requests %+v", reqs)
	}
	f.AssertNoViolations(t)
}

func TestHistoryAndAccess(t *testing.T) {
	f := discordfake.New(t)
	ch := f.AddTextChannel("1")
	var ids []string
	for i := range 5 {
		f.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: "1", Author: discordfake.User{ID: "9"}, Content: strings.Repeat("m", i+1)})
	}
	for _, m := range f.Messages(ch.ID) {
		ids = append(ids, m.ID)
	}
	auth := "Bot " + f.Token
	var page []struct{ ID, Content string }
	call(t, "GET", f.RESTURL()+"/channels/"+ch.ID+"/messages?limit=2&before="+ids[4], auth, nil, "", &page)
	if len(page) != 2 || page[0].ID != ids[3] || page[1].ID != ids[2] {
		t.Fatalf("page before %s: %+v, want messages 4 and 3, newest first", ids[4], page)
	}
	var one struct{ Content string }
	if r := call(t, "GET", f.RESTURL()+"/channels/"+ch.ID+"/messages/"+ids[0], auth, nil, "", &one); r.StatusCode != 200 || one.Content != "m" {
		t.Fatalf("one message: %d %+v", r.StatusCode, one)
	}
	var e apiError
	if r := call(t, "GET", f.RESTURL()+"/channels/"+ch.ID+"/messages/42", auth, nil, "", &e); r.StatusCode != 404 || e.Code != 10008 {
		t.Fatalf("unknown message: %d %+v", r.StatusCode, e)
	}
	f.SetUnreadable(ch.ID, true)
	if r := call(t, "GET", f.RESTURL()+"/channels/"+ch.ID+"/messages/"+ids[0], auth, nil, "", &e); r.StatusCode != 403 || e.Code != 50001 || e.Message != "Missing Access" {
		t.Fatalf("unreadable: %d %+v", r.StatusCode, e)
	}
}

func TestFailNext(t *testing.T) {
	f := discordfake.New(t)
	ch := f.AddTextChannel("1")
	url := f.RESTURL() + "/channels/" + ch.ID + "/typing"
	auth := "Bot " + f.Token
	f.FailNext(discordfake.RouteTyping, 1, discordfake.Failure{Status: 429, RetryAfter: 3})
	f.FailNext(discordfake.RouteTyping, 1, discordfake.Failure{})
	f.FailNext(discordfake.RouteTyping, 1, discordfake.Failure{Status: 500})
	r := call(t, "POST", url, auth, nil, "", nil)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") != "3" || r.Header.Get("Via") == "" {
		t.Fatalf("first: %d Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := call(t, "POST", url, auth, nil, "", nil); r.StatusCode != 204 {
		t.Fatalf("second (let through): %d", r.StatusCode)
	}
	if r := call(t, "POST", url, auth, nil, "", nil); r.StatusCode != 500 {
		t.Fatalf("third: %d", r.StatusCode)
	}
	if r := call(t, "POST", url, auth, nil, "", nil); r.StatusCode != 204 {
		t.Fatalf("fourth (queue empty): %d", r.StatusCode)
	}
	if f.TypingCount(ch.ID) != 2 {
		t.Errorf("typing count %d, want 2", f.TypingCount(ch.ID))
	}
}

// TestPayloadsDecodeInDisgo checks every builder against disgo's own decoder.
func TestPayloadsDecodeInDisgo(t *testing.T) {
	in := discordfake.InteractionSpec{ID: "700000000000000001", Token: "tok", GuildID: "500000000000000001",
		ChannelID: "800000000000000001", User: discordfake.User{ID: "600000000000000001", Username: "alice"},
		Attachments: []discordfake.Attachment{{ID: "900000000000000001", Filename: "a.ogg", ContentType: "audio/ogg", Size: 3, URL: "http://x/a.ogg"}}}
	dm := in
	dm.GuildID = ""

	slash := discordfake.SlashCommand(in, "wallet", discordfake.CommandOption{Name: "set", Type: discordfake.OptionSubCommand,
		Options: []discordfake.CommandOption{{Name: "provider", Type: discordfake.OptionString, Value: "openrouter"},
			{Name: "file", Type: discordfake.OptionAttachment, Value: "900000000000000001"}}})
	ev := decode(t, gateway.EventTypeInteractionCreate, slash).(gateway.EventInteractionCreate)
	cmd, ok := ev.Interaction.(discord.ApplicationCommandInteraction)
	if !ok {
		t.Fatalf("slash decoded as %T", ev.Interaction)
	}
	data := cmd.SlashCommandInteractionData()
	if data.CommandPath() != "/wallet/set" || data.String("provider") != "openrouter" || data.Attachment("file").Filename != "a.ogg" {
		t.Errorf("slash data: path %q provider %q", data.CommandPath(), data.String("provider"))
	}

	auto := discordfake.Autocomplete(dm, "timezone", discordfake.CommandOption{Name: "zone", Type: discordfake.OptionString, Value: "euro", Focused: true})
	ev = decode(t, gateway.EventTypeInteractionCreate, auto).(gateway.EventInteractionCreate)
	ac, ok := ev.Interaction.(discord.AutocompleteInteraction)
	if !ok || ac.Data.String("zone") != "euro" || ac.GuildID() != nil {
		t.Errorf("autocomplete in DM decoded as %T", ev.Interaction)
	}

	modal := discordfake.ModalSubmit(in, "/wallet-modal", map[string]string{"key": "sk-test"})
	ev = decode(t, gateway.EventTypeInteractionCreate, modal).(gateway.EventInteractionCreate)
	ms, ok := ev.Interaction.(discord.ModalSubmitInteraction)
	if !ok || ms.Data.CustomID != "/wallet-modal" || ms.Data.Text("key") != "sk-test" {
		t.Errorf("modal decoded as %T", ev.Interaction)
	}

	msg := discordfake.MessageCreate(discordfake.MessageSpec{ID: "1", ChannelID: "2", GuildID: "3",
		Author: discordfake.User{ID: "4", Username: "alice"}, Nick: "Ally", Content: "hello", WebhookID: "",
		ReplyToID: "10", Referenced: &discordfake.MessageSpec{ID: "10", ChannelID: "2", Author: discordfake.User{ID: "5", Bot: true}, WebhookID: "77"},
		Mentions: []discordfake.User{{ID: "6", Bot: true}}})
	mc := decode(t, gateway.EventTypeMessageCreate, msg).(gateway.EventMessageCreate)
	if mc.Content != "hello" || *mc.Member.Nick != "Ally" || mc.ReferencedMessage == nil || mc.ReferencedMessage.WebhookID.String() != "77" || !mc.Mentions[0].Bot {
		t.Errorf("message decoded as %+v", mc.Message)
	}
}

func decode(t *testing.T, typ gateway.EventType, raw []byte) gateway.EventData {
	t.Helper()
	d, err := gateway.UnmarshalEventData(raw, typ)
	if err != nil {
		t.Fatalf("%s: %v\n%s", typ, err, raw)
	}
	return d
}

// TestMentionsLikeDiscord: a body without allowed_mentions pings everything its content names, as
// on Discord, and is listed as a problem; a stated object limits the pings; each kind of message
// is held to the project's limit; a self-contradicting object is refused as Discord refuses it.
func TestMentionsLikeDiscord(t *testing.T) {
	f := discordfake.New(t, discordfake.WithoutMentionCheck()) // this test checks the list itself
	ch := f.AddTextChannel("1")
	hook := f.AddWebhook(discordfake.Webhook{ChannelID: ch.ID, GuildID: "1", Name: "Tzurot", ApplicationID: f.AppID})
	exec := f.RESTURL() + "/webhooks/" + hook.ID + "/" + hook.Token + "?wait=true"
	const text = `hey @everyone, <@123> and <@!124>, ask <@&456>`

	body := func(am string) []byte {
		b := `{"content":` + strconvQuote(text)
		if am != "" {
			b += `,"allowed_mentions":` + am
		}
		return []byte(b + "}")
	}
	call(t, "POST", exec, "", body(""), "", nil)
	call(t, "POST", exec, "", body(`{"parse":["users"]}`), "", nil)
	call(t, "POST", exec, "", body(`{"parse":[],"users":["124"]}`), "", nil)
	call(t, "POST", f.RESTURL()+"/interactions/9/itok/callback", "",
		[]byte(`{"type":4,"data":{"content":"hi <@123>","flags":64,"allowed_mentions":{"parse":["users"]}}}`), "", nil)
	call(t, "POST", f.RESTURL()+"/interactions/10/itok2/callback", "",
		[]byte(`{"type":4,"data":{"content":"hi <@123>","flags":64,"allowed_mentions":{"parse":[],"roles":[],"users":[],"replied_user":false}}}`), "", nil)

	msgs := f.Messages(ch.ID)
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	if m := msgs[0]; !m.MentionEveryone || strings.Join(m.MentionUsers, ",") != "123,124" || strings.Join(m.MentionRoles, ",") != "456" {
		t.Errorf("no allowed_mentions: pinged everyone=%v users=%v roles=%v, want everything, as Discord does", m.MentionEveryone, m.MentionUsers, m.MentionRoles)
	}
	if m := msgs[1]; m.MentionEveryone || strings.Join(m.MentionUsers, ",") != "123,124" || len(m.MentionRoles) != 0 {
		t.Errorf("parse users: pinged everyone=%v users=%v roles=%v, want the two users only", m.MentionEveryone, m.MentionUsers, m.MentionRoles)
	}
	if m := msgs[2]; m.MentionEveryone || strings.Join(m.MentionUsers, ",") != "124" || len(m.MentionRoles) != 0 {
		t.Errorf("users list: pinged everyone=%v users=%v roles=%v, want user 124 only", m.MentionEveryone, m.MentionUsers, m.MentionRoles)
	}
	var got struct {
		MentionEveryone bool `json:"mention_everyone"`
		Mentions        []struct{ ID string }
	}
	call(t, "GET", f.RESTURL()+"/channels/"+ch.ID+"/messages/"+msgs[0].ID, "Bot "+f.Token, nil, "", &got)
	if !got.MentionEveryone || len(got.Mentions) != 2 {
		t.Errorf("GET message shows mention_everyone=%v mentions=%v", got.MentionEveryone, got.Mentions)
	}

	problems := f.MentionProblems()
	if len(problems) != 2 || !strings.Contains(problems[0], "webhook message) has no allowed_mentions") ||
		!strings.Contains(problems[1], "interaction response) allows users") {
		t.Errorf("problems %q, want the webhook message without allowed_mentions and the interaction response allowing users", problems)
	}
	if b := f.MessageBodies(); len(b) != 5 || b[4].Kind != discordfake.KindInteractionResponse || b[4].Allows != (discordfake.Mentions{}) {
		t.Errorf("recorded bodies %+v", b)
	}

	var e apiError
	if r := call(t, "POST", exec, "", body(`{"parse":["users"],"users":["123"]}`), "", &e); r.StatusCode != 400 || e.Code != 50035 {
		t.Errorf("parse users with a users list: %d code %d, want 400 code 50035", r.StatusCode, e.Code)
	}
	if v := f.Violations(); len(v) != 1 || !strings.Contains(v[0], "mutually exclusive") {
		t.Errorf("violations %q", v)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// recordingTB catches what New reports when the test ends.
type recordingTB struct {
	testing.TB
	errors   []string
	cleanups []func()
}

func (r *recordingTB) Helper()                   {}
func (r *recordingTB) Errorf(f string, a ...any) { r.errors = append(r.errors, fmt.Sprintf(f, a...)) }
func (r *recordingTB) Cleanup(fn func())         { r.cleanups = append(r.cleanups, fn) }

// TestNewChecksEveryMessageBody: a test that makes the bot send a message without
// allowed_mentions fails when it ends, even if it never asks the fake.
func TestNewChecksEveryMessageBody(t *testing.T) {
	rec := &recordingTB{TB: t}
	f := discordfake.New(rec)
	ch := f.AddTextChannel("1")
	call(t, "POST", f.RESTURL()+"/channels/"+ch.ID+"/messages", "Bot "+f.Token, []byte(`{"content":"hi @everyone"}`), "", nil)
	call(t, "POST", f.RESTURL()+"/channels/"+ch.ID+"/messages", "Bot "+f.Token,
		[]byte(`{"content":"hi","allowed_mentions":{"parse":["users"],"replied_user":false}}`), "", nil)
	for i := len(rec.cleanups) - 1; i >= 0; i-- {
		rec.cleanups[i]()
	}
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "channel message) has no allowed_mentions") {
		t.Fatalf("New reported %q, want one unsafe-mentions error for the first message", rec.errors)
	}
}

func TestWebhookMessageEditsLikeDiscord(t *testing.T) {
	f := discordfake.New(t)
	ch := f.AddTextChannel("1")
	thread := f.AddThread(ch)
	hook := f.AddWebhook(discordfake.Webhook{ChannelID: ch.ID, GuildID: "1", Name: "Tzurot", ApplicationID: f.AppID})
	base := f.RESTURL() + "/webhooks/" + hook.ID + "/" + hook.Token
	mentions := `"allowed_mentions":{"parse":["users"]}`
	var msg struct{ ID, Content string }
	if r := call(t, "POST", base+"?wait=true&thread_id="+thread.ID, "", []byte(`{"content":"Once",`+mentions+`}`), "", &msg); r.StatusCode != 200 {
		t.Fatalf("execute: %d", r.StatusCode)
	}
	edit := base + "/messages/" + msg.ID
	var e apiError
	// A thread message is found only with its thread_id, as on Discord.
	if r := call(t, "PATCH", edit, "", []byte(`{"content":"Once upon",`+mentions+`}`), "", &e); r.StatusCode != 404 || e.Code != 10008 {
		t.Errorf("edit without thread_id: %d %+v; want 404 Unknown Message", r.StatusCode, e)
	}
	// The token must match.
	wrong := f.RESTURL() + "/webhooks/" + hook.ID + "/not-the-token/messages/" + msg.ID + "?thread_id=" + thread.ID
	if r := call(t, "PATCH", wrong, "", []byte(`{"content":"x",`+mentions+`}`), "", &e); r.StatusCode != 401 || e.Code != 50027 {
		t.Errorf("edit with a wrong token: %d %+v", r.StatusCode, e)
	}
	if r := call(t, "PATCH", edit+"?thread_id="+thread.ID, "", []byte(`{"content":"Once upon a time",`+mentions+`}`), "", &msg); r.StatusCode != 200 || msg.Content != "Once upon a time" {
		t.Fatalf("edit: %d %+v", r.StatusCode, msg)
	}
	stored := f.Messages(thread.ID)
	if len(stored) != 1 || stored[0].Content != "Once upon a time" || stored[0].EditedAt.IsZero() {
		t.Fatalf("stored %+v", stored)
	}
	if edits := f.Edits(msg.ID); len(edits) != 1 || edits[0].Content != "Once upon a time" {
		t.Fatalf("edits %+v", edits)
	}
	// Over 2,000 characters is refused (and a rule broken).
	long, _ := json.Marshal(strings.Repeat("a", 2001))
	if r := call(t, "PATCH", edit+"?thread_id="+thread.ID, "", []byte(`{"content":`+string(long)+`,`+mentions+`}`), "", nil); r.StatusCode != 400 {
		t.Errorf("a 2,001-character edit: %d", r.StatusCode)
	}
	if v := f.Violations(); len(v) != 1 {
		t.Errorf("violations %v; want the one for the long edit", v)
	}
	// Deleting it takes it out of the channel.
	if r := call(t, "DELETE", edit+"?thread_id="+thread.ID, "", nil, "", nil); r.StatusCode != 204 || len(f.Messages(thread.ID)) != 0 {
		t.Errorf("delete: %d, %d left", r.StatusCode, len(f.Messages(thread.ID)))
	}
}

func TestWebhookRateLimitAnswers429WithHeaders(t *testing.T) {
	f := discordfake.New(t, discordfake.WithWebhookRateLimit(2, time.Minute))
	ch := f.AddTextChannel("1")
	hook := f.AddWebhook(discordfake.Webhook{ChannelID: ch.ID, GuildID: "1", Name: "Tzurot", ApplicationID: f.AppID})
	base := f.RESTURL() + "/webhooks/" + hook.ID + "/" + hook.Token + "?wait=true"
	body := []byte(`{"content":"hi","allowed_mentions":{"parse":[]}}`)
	r1 := call(t, "POST", base, "", body, "", nil)
	if r1.StatusCode != 200 || r1.Header.Get("X-RateLimit-Limit") != "2" || r1.Header.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("first: %d %v", r1.StatusCode, r1.Header)
	}
	if r := call(t, "POST", base, "", body, "", nil); r.StatusCode != 200 || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("second: %d %v", r.StatusCode, r.Header)
	}
	var e struct {
		RetryAfter float64 `json:"retry_after"`
		Global     bool
	}
	r := call(t, "POST", base, "", body, "", &e)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || r.Header.Get("X-RateLimit-Reset-After") == "" || e.RetryAfter <= 0 || e.Global {
		t.Fatalf("third: %d %v %+v; want 429 with Retry-After and the body's retry_after", r.StatusCode, r.Header, e)
	}
	if f.WebhookRateLimited() != 1 || len(f.Messages(ch.ID)) != 2 {
		t.Fatalf("refused %d, posted %d", f.WebhookRateLimited(), len(f.Messages(ch.ID)))
	}
}
