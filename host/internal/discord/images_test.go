package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

// pngBytes is a PNG signature and header followed by filler: what a user's client would show
// as an image file.
func pngBytes(n int) []byte {
	b := make([]byte, n)
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	for i := 16; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

func TestSendFilesAsPersonalityAttachesTheImage(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	img := pngBytes(4096)

	ids, err := s.SendFilesAsPersonality(context.Background(), ch.ID, "", "Painter", "", "Here is your cat.",
		[]message.File{{Name: "image-1.png", Data: img}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(ids) != 1 || len(msgs) != 1 {
		t.Fatalf("ids %v, messages %+v", ids, msgs)
	}
	m := msgs[0]
	if m.AuthorName != "Painter" || m.WebhookID == "" || m.Content != "Here is your cat." {
		t.Fatalf("message %+v", m)
	}
	if len(m.Files) != 1 || m.Files[0].Name != "image-1.png" || !bytes.Equal(m.Files[0].Data, img) {
		t.Fatalf("files %+v, want image-1.png with the image's bytes", m.Files)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "image-1.png" {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	if !strings.Contains(m.AllowedMentions, `"parse":["users"]`) {
		t.Errorf("allowed mentions %s", m.AllowedMentions)
	}
	// The body was multipart: payload_json with the message, the file as its own part.
	reqs := tb.fake.RequestsTo(discordfake.RouteExecuteWebhook)
	var payload map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].PayloadJSON, &payload); err != nil || payload["username"] != "Painter" {
		t.Fatalf("payload_json %s (%v)", reqs[len(reqs)-1].PayloadJSON, err)
	}
}

func TestSendFilesAsPersonalityImageAloneAndLongText(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	ctx := context.Background()

	if _, err := s.SendFilesAsPersonality(ctx, ch.ID, "", "Painter", "", "", []message.File{{Name: "a.png", Data: pngBytes(100)}}, 0); err != nil {
		t.Fatalf("an image without words: %v", err)
	}
	long := strings.Repeat("word ", 700) // two messages
	ids, err := s.SendFilesAsPersonality(ctx, ch.ID, "", "Painter", "", long, []message.File{{Name: "b.png", Data: pngBytes(100)}}, 0)
	if err != nil || len(ids) != 2 {
		t.Fatalf("long text: ids %v, %v", ids, err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(msgs) != 3 || len(msgs[0].Files) != 1 || len(msgs[1].Files) != 0 || len(msgs[2].Files) != 1 || msgs[2].Files[0].Name != "b.png" {
		t.Fatalf("want the image alone, then the long text with the image on its last part; got %d messages", len(msgs))
	}
}

func TestSendFilesAsPersonalityOverUploadLimitPostsANotice(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	big := pngBytes(DefaultUploadLimit + 1)
	small := pngBytes(2048)

	_, err := s.SendFilesAsPersonality(context.Background(), ch.ID, "", "Painter", "", "Two cats.",
		[]message.File{{Name: "big.png", Data: big}, {Name: "small.png", Data: small}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(msgs) != 1 || len(msgs[0].Files) != 1 || msgs[0].Files[0].Name != "small.png" {
		t.Fatalf("want only small.png attached, got %+v", msgs)
	}
	if want := "big.png (10 MiB) is over this server's 10 MiB upload limit"; !strings.Contains(msgs[0].Content, want) {
		t.Fatalf("content %q, want a notice %q", msgs[0].Content, want)
	}
	if !strings.HasPrefix(msgs[0].Content, "Two cats.") {
		t.Fatalf("content %q lost the reply's words", msgs[0].Content)
	}
}

func TestSendFilesAsPersonalityRefusedUploadStillDeliversTheText(t *testing.T) {
	// A server whose limit is lower than the one the sender was told: Discord answers 413, and
	// the words still arrive, with a notice where the image would have been.
	fake := discordfake.New(t, discordfake.WithUploadLimit(1000))
	tb := newTestBotWith(t, fake, nopHandler())
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	if _, err := s.SendFilesAsPersonality(context.Background(), ch.ID, "", "Painter", "", "x", []message.File{{Name: "a.png", Data: pngBytes(5000)}}, 0); err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(msgs) != 1 || len(msgs[0].Files) != 0 || !strings.HasPrefix(msgs[0].Content, "x") ||
		!strings.Contains(msgs[0].Content, "a.png was too large to upload here") {
		t.Fatalf("messages = %+v, want the text with a notice and no file", msgs)
	}
}

func TestSendFilesAsPersonalityRetrySendsTheWholeFileAgain(t *testing.T) {
	tb := newTestBot(t, nopHandler(), WithSendRetry(fastRetry))
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	ctx := context.Background()
	// Create the webhook first, so the failure hits the post itself.
	if _, err := s.SendAsPersonality(ctx, ch.ID, "", "Painter", "", "hello"); err != nil {
		t.Fatal(err)
	}
	tb.fake.FailNext(discordfake.RouteExecuteWebhook, 1, discordfake.Failure{Status: http.StatusBadGateway})
	img := pngBytes(3000)
	if _, err := s.SendFilesAsPersonality(ctx, ch.ID, "", "Painter", "", "again", []message.File{{Name: "a.png", Data: img}}, 0); err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(msgs) != 2 || len(msgs[1].Files) != 1 || !bytes.Equal(msgs[1].Files[0].Data, img) {
		t.Fatalf("after a 502 the retried post must carry the whole image; got %+v", msgs)
	}
}

func TestFitFilesCountsTheMessageTotal(t *testing.T) {
	files := []message.File{{Name: "a.png", Data: make([]byte, 600)}, {Name: "b.png", Data: make([]byte, 600)}, {Name: "c.png", Data: make([]byte, 300)}}
	fit, notices := FitFiles(files, 1000)
	if len(fit) != 2 || fit[0].Name != "a.png" || fit[1].Name != "c.png" {
		t.Fatalf("fit %v", fit)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "b.png") || !strings.Contains(notices[0], "did not fit in one message") {
		t.Fatalf("notices %v", notices)
	}
}
