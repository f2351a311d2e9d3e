package discord

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"

	"github.com/tzurot-go/tzurot/host/internal/chunk"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

// DefaultMaxUpload is the largest file the bot attaches to a message: Discord's upload limit for
// a server without boosts (10 MiB since 2024). Boosted servers allow more, but the bot does not
// rely on it: a file that does not fit is replaced by a notice, never lost silently.
const DefaultMaxUpload = 10 << 20

// codeRequestEntityTooLarge is Discord's JSON error code for an upload over the channel's limit
// (sent with HTTP 413).
const codeRequestEntityTooLarge = 40005

// disgoFiles returns the files as disgo uploads them, each with a fresh reader.
func disgoFiles(files []*message.File) []*discord.File {
	out := make([]*discord.File, len(files))
	for i, f := range files {
		out[i] = discord.NewFile(f.Name, "", bytes.NewReader(f.Data))
	}
	return out
}

// totalBytes is the size of files together (for logs).
func totalBytes(files []*message.File) int {
	n := 0
	for _, f := range files {
		n += len(f.Data)
	}
	return n
}

// lastPart is what goes with the last part of a message: a resolved LastPart (one file), or
// the files of SendFilesAsPersonality.
type lastPart struct {
	files []*message.File
	note  string
}

// resolveLast asks last for the file and note and applies the upload limit.
func (s *Sender) resolveLast(ctx context.Context, last message.LastPart) *lastPart {
	f, note := last(ctx)
	t := &lastPart{note: strings.TrimSpace(note)}
	if f != nil {
		t.files = []*message.File{f}
	}
	if f != nil && (len(f.Data) == 0 || int64(len(f.Data)) > s.b.cfg.maxUpload) {
		if len(f.Data) > 0 {
			s.b.log.Info("attachment over the upload limit; posting a notice instead",
				slog.Int("bytes", len(f.Data)), slog.Int64("limit", s.b.cfg.maxUpload))
		}
		t.dropFiles()
	}
	return t
}

// dropFiles replaces the files by their too-large notes.
func (t *lastPart) dropFiles() {
	for _, f := range t.files {
		if n := strings.TrimSpace(f.TooLargeNote); n != "" && len(f.Data) > 0 {
			t.note = joinNotes(t.note, n)
		}
	}
	t.files = nil
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

// parts returns what replaces the last part's text: the text with the note on its own line, or
// the text and the note as two messages when together they exceed Discord's 2,000 characters.
func (t *lastPart) parts(text string) []string {
	if t.note == "" {
		return []string{text}
	}
	if strings.TrimSpace(text) == "" {
		return nonBlank(chunk.Split(t.note))
	}
	joined := text + "\n" + t.note
	if utf8.RuneCountInString(joined) <= chunk.DiscordLimit {
		return []string{joined}
	}
	return nonBlank(append([]string{text}, chunk.Split(t.note)...))
}

// tooLarge handles Discord refusing the file: the file is dropped and text (the part that was to
// carry it, which has no note yet: notes and files exclude each other) gets the too-large note.
func (t *lastPart) tooLarge(text string) []string {
	t.dropFiles()
	return t.parts(text)
}

// isTooLarge reports whether Discord refused a request for its size (HTTP 413, code 40005).
func isTooLarge(err error) bool {
	var re *rest.Error
	if !errors.As(err, &re) {
		return false
	}
	return int(re.Code) == codeRequestEntityTooLarge || (re.Response != nil && re.Response.StatusCode == http.StatusRequestEntityTooLarge)
}
