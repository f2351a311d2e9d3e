package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/audio"
	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Downloader fetches an attachment from Discord's CDN, size-capped;
// (*discord.Bot).Download implements it.
type Downloader func(ctx context.Context, url string) (data []byte, contentType string, err error)

// heard is a message's transcription. It is made at most once per message,
// however many personalities answer it (the jobs of one message run one
// after another), and paid for by the first that needs it.
type heard struct {
	att  Attachment
	done bool
	// text is the transcript; reason, when text is "", says in a few words
	// why there is none (shown to the user once).
	text, reason string
	told         bool
}

// recording finds what to transcribe in msg: a voice message's recording,
// else the first audio attachment. nil when there is none.
func recording(msg Message) *heard {
	for _, a := range msg.Attachments {
		if (msg.VoiceMessage && len(msg.Attachments) == 1) || a.IsAudio() {
			return &heard{att: a}
		}
	}
	return nil
}

// listen transcribes the message's recording when the personality
// transcribes (voice_configs.transcription_enabled), and makes the
// transcript what the personality answers. It reports whether to go on: a
// voice message that could not be transcribed and has no text is answered
// with a short notice instead.
func (j *job) listen(ctx context.Context) bool {
	h := j.heard
	if h == nil || j.p.voice == nil || j.personality.Voice == nil || !j.personality.Voice.TranscriptionEnabled {
		return true
	}
	if !h.done {
		h.done = true
		h.text, h.reason = j.transcribe(ctx, h.att)
	}
	if h.text == "" {
		text := "🎤 The voice message could not be transcribed: " + h.reason + "."
		if !h.told {
			h.told = true
			if _, err := j.p.sender.Reply(ctx, j.msg.ChannelID, j.msg.ID, text); err != nil {
				j.log.Warn("cannot post the transcription notice", slog.Any("err", err))
			}
		}
		if strings.TrimSpace(j.content) == "" || j.content == mentionOnlyText {
			j.stats.Err = errors.New("voice message not transcribed: " + h.reason)
			return false
		}
		return true // answer the text that came with it
	}
	// The personality answers what was said; the recording is no longer an
	// attachment to describe.
	if c := strings.TrimSpace(j.content); c == "" || c == mentionOnlyText {
		j.content = h.text
	} else {
		j.content = c + "\n\n" + h.text
	}
	j.msg.Attachments = slices.DeleteFunc(slices.Clone(j.msg.Attachments), func(a Attachment) bool { return a.ID == h.att.ID })
	j.transcript = h.text
	// The channel history (the next replies' context) has what was said,
	// not an empty message with a file.
	seen := j.msg
	seen.Content = strings.TrimSpace(j.msg.Content + "\n[voice message] " + h.text)
	j.p.history.observe(seen)
	return true
}

// transcribe downloads, checks and transcribes the recording. It returns the
// transcript, or "" and the reason in the user's words.
func (j *job) transcribe(ctx context.Context, att Attachment) (text, reason string) {
	p := j.p
	name, slot, ok := p.transcriber()
	if !ok {
		j.log.Info("a voice message came in but no loaded plugin entry grants voice.transcribe")
		return "", "this bot has no transcription service set up"
	}
	if p.download == nil {
		return "", "this bot cannot download attachments"
	}
	var keys keyUse
	has, err := p.hasKey(ctx, &keys, j.msg.Author.ID, j.msg.GuildID, slot)
	if err != nil {
		j.log.Warn("cannot read the transcription key", slog.Any("err", err))
		return "", "the bot could not read its database, try again in a moment"
	}
	defer keys.done()
	if !has {
		return "", fmt.Sprintf("it needs your own %s key (`/wallet set %s`)", slot, slot)
	}
	data, _, err := p.download(ctx, att.URL)
	if err != nil {
		j.log.Info("cannot download the voice message", slog.Any("err", err))
		if errors.Is(err, message.ErrDownloadTooLarge) {
			return "", "the recording is too large"
		}
		return "", "the recording could not be downloaded from Discord"
	}
	info, err := audio.InspectInfo(data)
	if err != nil {
		j.log.Info("the recording is not usable audio", slog.Any("err", err))
		return "", "the file is not usable audio (" + err.Error() + ")"
	}
	ref := abi.AudioRef{MimeType: info.MIME, Filename: att.Name, DurationMS: info.Duration.Milliseconds()}
	if ref.Filename == "" {
		ref.Filename = "voice-message.ogg"
	}
	reqID := j.msg.ID + transcribeSuffix
	callCtx := plugin.WithCall(withKeyUse(ctx, &keys), plugin.Call{
		UserID: j.msg.Author.ID, PersonalityID: strconv.FormatInt(j.personality.ID, 10), RequestID: reqID,
	})
	start := time.Now()
	resp, usage, err := p.voice.Transcribe(callCtx, name, data, ref, abi.TranscribeRequest{})
	took := time.Since(start)
	if len(usage) == 0 && err == nil {
		// A plugin that reported nothing still processed the audio.
		usage = []abi.Usage{{Kind: store.KindVoice, AudioMS: ref.DurationMS}}
	}
	if len(usage) > 0 {
		rec := store.ReplyRecord{Usage: j.usageRows(reqID, usage, store.KindVoice, name, took, store.DeliveryNone)}
		if rerr := p.recorder.Record(context.WithoutCancel(ctx), rec); rerr != nil && !errors.Is(rerr, errSpooled) {
			j.log.Error("the transcription usage was not recorded", slog.Any("err", rerr))
		}
	}
	if err != nil {
		j.log.Warn("transcription failed", slog.String("plugin", name), slog.Any("err", err))
		r := speechFailure(err, ctx.Err() != nil, keys.used.Load() == keyFallback)
		return "", strings.ReplaceAll(r, "voice service", "transcription service")
	}
	text = strings.TrimSpace(resp.Text)
	if text == "" {
		return "", "no speech was heard in it"
	}
	j.log.Debug("voice message transcribed", slog.Int64("audio_ms", ref.DurationMS), slog.Int("chars", len(text)))
	return text, ""
}
