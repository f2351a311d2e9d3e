package discord

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/disgoorg/disgo/discord"
)

// DefaultUploadLimit is Discord's upload limit for a server without boosts: 10 MiB of files
// per message. Interactions carry the real figure (attachment_size_limit).
const DefaultUploadLimit = 10 << 20

// maxFilesPerMessage is Discord's limit on attachments per message.
const maxFilesPerMessage = 10

// File is a file to attach to a message (a generated image, say).
type File struct {
	// Name is the file name Discord shows, e.g. "image-1.png".
	Name string
	Data []byte
}

// rewindReader is a file body the sender can read again: a retried post must send the whole file
// again, and disgo reads a discord.File's Reader once per request.
type rewindReader struct{ *bytes.Reader }

// rewindFiles resets every file of msg before a (re)send.
func rewindFiles(files []*discord.File) {
	for _, f := range files {
		if r, ok := f.Reader.(rewindReader); ok {
			_, _ = r.Seek(0, io.SeekStart)
		}
	}
}

// FitFiles splits files into those that fit in one message under limit bytes (in order, at
// most 10) and notices for the rest, one line each, in words for the channel ("image-2.png
// (12.3 MiB) is over this server's 10 MiB upload limit, so it is not attached."). limit <= 0
// means DefaultUploadLimit.
func FitFiles(files []File, limit int64) (fit []File, notices []string) {
	if limit <= 0 {
		limit = DefaultUploadLimit
	}
	var total int64
	for _, f := range files {
		size := int64(len(f.Data))
		switch {
		case size > limit:
			notices = append(notices, fmt.Sprintf("%s (%s) is over this server's %s upload limit, so it is not attached.", f.Name, mib(size), mib(limit)))
		case total+size > limit || len(fit) == maxFilesPerMessage:
			notices = append(notices, fmt.Sprintf("%s (%s) did not fit in one message (%s upload limit), so it is not attached.", f.Name, mib(size), mib(limit)))
		default:
			total += size
			fit = append(fit, f)
		}
	}
	return fit, notices
}

func mib(n int64) string {
	s := fmt.Sprintf("%.1f", float64(n)/(1<<20))
	return strings.TrimSuffix(s, ".0") + " MiB"
}

// SendFilesAsPersonality is SendAsPersonality with files: text is split as usual and the files
// go on the last part (after the words they belong to). Files that do not fit under limit (see
// FitFiles; limit <= 0 means DefaultUploadLimit) are left off and a notice line saying so is
// added to the text, so the reader learns why an image is missing. text may be empty when there
// are files. Mentions follow SendAsPersonality: users only, never @everyone or roles. A failed
// post is retried with the whole file again.
func (s *Sender) SendFilesAsPersonality(ctx context.Context, channelID, threadParentID, name, avatarURL, text string, files []File, limit int64) ([]string, error) {
	fit, notices := FitFiles(files, limit)
	if len(notices) > 0 {
		text = strings.TrimSpace(text + "\n" + strings.Join(notices, "\n"))
	}
	attach := make([]*discord.File, 0, len(fit))
	for _, f := range fit {
		attach = append(attach, &discord.File{Name: f.Name, Reader: rewindReader{bytes.NewReader(f.Data)}})
	}
	return s.sendAsPersonality(ctx, channelID, threadParentID, name, avatarURL, text, attach)
}
