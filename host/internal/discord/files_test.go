package discord

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

// mp3 is a few bytes that start like an MP3 frame; the fake does not decode audio.
var mp3 = append([]byte{0xFF, 0xFB, 0x90, 0x64}, bytes.Repeat([]byte{0x55}, 2000)...)

const tooLargeNote = "(The voice message was too large to upload here.)"

func TestAudioGoesWithTheLastPartOnly(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	text := strings.Repeat("A long sentence to split. ", 120) // over 2,000 characters
	asked := 0
	postedBeforeAsk := 0
	ids, err := s.SendAsPersonalityWith(context.Background(), ch.ID, "", "Bambi", "", text, func(context.Context) (*message.File, string) {
		asked++
		postedBeforeAsk = len(tb.fake.Messages(ch.ID))
		return &message.File{Name: "bambi.mp3", Data: mp3, TooLargeNote: tooLargeNote}, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(ids) < 2 || len(msgs) != len(ids) {
		t.Fatalf("%d ids, %d messages: want the reply in several parts", len(ids), len(msgs))
	}
	if asked != 1 || postedBeforeAsk != len(ids)-1 {
		t.Errorf("the audio was asked for %d times, after %d parts were posted: want once, after every part but the last (%d)", asked, postedBeforeAsk, len(ids)-1)
	}
	for i, m := range msgs {
		want := 0
		if i == len(msgs)-1 {
			want = 1
		}
		if len(m.Attachments) != want {
			t.Errorf("part %d has %d attachments, want %d", i+1, len(m.Attachments), want)
		}
	}
	last := msgs[len(msgs)-1]
	if a := last.Attachments[0]; a.Filename != "bambi.mp3" || a.ContentType != "audio/mpeg" || a.Size != len(mp3) {
		t.Errorf("attachment %+v, want bambi.mp3 audio/mpeg of %d bytes", a, len(mp3))
	}
	if !bytes.Equal(last.Files[0].Data, mp3) {
		t.Error("the uploaded file is not the audio")
	}
	if !strings.Contains(last.AllowedMentions, `"parse":["users"]`) {
		t.Errorf("allowed mentions %s", last.AllowedMentions)
	}
	tb.fake.AssertNoViolations(t)
}

func TestNoteGoesAfterTheLastPart(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	note := "(The voice could not be made this time: the voice service failed.)"
	if _, err := s.SendAsPersonalityWith(context.Background(), ch.ID, "", "Bambi", "", "Short reply.", func(context.Context) (*message.File, string) {
		return nil, note
	}); err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(msgs) != 1 || msgs[0].Content != "Short reply.\n"+note || len(msgs[0].Attachments) != 0 {
		t.Fatalf("messages %+v, want the text with the note on its own line", msgs)
	}
	// A last part with no room left: the note becomes a message of its own.
	full := strings.Repeat("x", 1990)
	if _, err := s.SendAsPersonalityWith(context.Background(), ch.ID, "", "Bambi", "", full, func(context.Context) (*message.File, string) {
		return nil, note
	}); err != nil {
		t.Fatal(err)
	}
	msgs = tb.fake.Messages(ch.ID)[1:]
	if len(msgs) != 2 || msgs[0].Content != full || msgs[1].Content != note {
		t.Fatalf("got %d messages, want the full part and then the note", len(msgs))
	}
	tb.fake.AssertNoViolations(t)
}

func TestAudioOverTheUploadLimitBecomesANotice(t *testing.T) {
	tb := newTestBot(t, nopHandler(), WithMaxUpload(1000))
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	if _, err := s.SendAsPersonalityWith(context.Background(), ch.ID, "", "Bambi", "", "Hello.", func(context.Context) (*message.File, string) {
		return &message.File{Name: "bambi.mp3", Data: mp3, TooLargeNote: tooLargeNote}, ""
	}); err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(msgs) != 1 || msgs[0].Content != "Hello.\n"+tooLargeNote || len(msgs[0].Attachments) != 0 {
		t.Fatalf("messages %+v, want the text and the too-large notice, no file", msgs)
	}
	for _, r := range tb.fake.RequestsTo(discordfake.RouteExecuteWebhook) {
		if len(r.Files) > 0 {
			t.Error("a file over the limit was uploaded anyway")
		}
	}
}

func TestDiscordRefusingTheFileAsTooLargeStillDeliversTheText(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	tb.fake.SetUploadLimit(1000) // the channel allows less than the bot assumed
	s := tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	ids, err := s.SendAsPersonalityWith(context.Background(), ch.ID, "", "Bambi", "", "Hello.", func(context.Context) (*message.File, string) {
		return &message.File{Name: "bambi.mp3", Data: mp3, TooLargeNote: tooLargeNote}, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(ids) != 1 || len(msgs) != 1 || msgs[0].Content != "Hello.\n"+tooLargeNote {
		t.Fatalf("ids %v messages %+v, want the text with the too-large notice", ids, msgs)
	}
	reqs := tb.fake.RequestsTo(discordfake.RouteExecuteWebhook)
	if len(reqs) != 2 || len(reqs[0].Files) != 1 || len(reqs[1].Files) != 0 {
		t.Errorf("%d execute requests; want the upload refused, then the text alone", len(reqs))
	}
}

func TestReplyWithAttachesTheFileInDMs(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	s := tb.NewSender(NewMemoryWebhookStore())
	dm := tb.fake.AddChannel(discordfake.Channel{Type: discordfake.ChannelDM, Recipient: "700000000000000009"})
	ids, err := s.ReplyWith(context.Background(), dm.ID, "", "**Bambi:** hi", func(context.Context) (*message.File, string) {
		return &message.File{Name: "bambi.mp3", Data: mp3}, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(dm.ID)
	if len(ids) != 1 || len(msgs) != 1 || len(msgs[0].Attachments) != 1 || msgs[0].Attachments[0].ContentType != "audio/mpeg" {
		t.Fatalf("messages %+v, want one reply with the mp3", msgs)
	}
	tb.fake.AssertNoViolations(t)
}

func TestVoiceMessageIsRecognised(t *testing.T) {
	got := make(chan message.Message, 1)
	tb := newTestBot(t, HandlerFunc(func(_ context.Context, m message.Message) { got <- m }))
	ch := tb.fake.AddTextChannel(guildID)
	att := tb.fake.VoiceMessage([]byte("OggS fake opus"), 3.5)
	tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID,
		Author: discordfake.User{ID: "700000000000000001", Username: "alice"}, Attachments: []discordfake.Attachment{att},
		Flags: discordfake.FlagIsVoiceMessage}))
	m := <-got
	if !m.VoiceMessage || len(m.Attachments) != 1 {
		t.Fatalf("message %+v, want a voice message with its recording", m)
	}
	a := m.Attachments[0]
	if !a.IsAudio() || a.DurationSecs != 3.5 || a.Waveform == "" || a.ContentType != "audio/ogg" {
		t.Errorf("attachment %+v, want audio/ogg with duration 3.5 s and a waveform", a)
	}
	data, ctype, err := tb.Download(context.Background(), a.URL)
	if err != nil || string(data) != "OggS fake opus" || ctype != "audio/ogg" {
		t.Errorf("download: %q %q %v", data, ctype, err)
	}
}
