package discord

import (
	"context"
	"fmt"
	"strings"

	"github.com/tzurot-go/tzurot/host/internal/message"
)

// DefaultUploadLimit is Discord's upload limit for a server without boosts: 10 MiB of files per
// message. Interactions carry the real figure (attachment_size_limit).
const DefaultUploadLimit = DefaultMaxUpload

// maxFilesPerMessage is Discord's limit on attachments per message.
const maxFilesPerMessage = 10

// FitFiles splits files into those that fit in one message under limit bytes (in order, at
// most 10) and notices for the rest, one line each, in words for the channel ("image-2.png
// (12.3 MiB) is over this server's 10 MiB upload limit, so it is not attached."). limit <= 0
// means DefaultUploadLimit.
func FitFiles(files []message.File, limit int64) (fit []message.File, notices []string) {
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

// SendFilesAsPersonality is SendAsPersonality with files (generated images, say): text is split
// as usual and the files go on the last part, after the words they belong to. Files that do not
// fit under limit (FitFiles; limit <= 0 means DefaultUploadLimit) are left off with a notice line
// saying so, so the reader learns why an image is missing; if Discord still refuses the upload as
// too large (413, code 40005), the text goes out with a notice instead of the files. text may be
// empty when there are files. Mentions follow SendAsPersonality: users only, never @everyone or
// roles. A failed post is retried with the whole files again.
func (s *Sender) SendFilesAsPersonality(ctx context.Context, channelID, threadParentID, name, avatarURL, text string, files []message.File, limit int64) ([]string, error) {
	fit, notices := FitFiles(files, limit)
	tail := &lastPart{note: strings.Join(notices, "\n")}
	for i := range fit {
		f := fit[i]
		if f.TooLargeNote == "" {
			f.TooLargeNote = fmt.Sprintf("%s was too large to upload here, so it is not attached.", f.Name)
		}
		tail.files = append(tail.files, &f)
	}
	if strings.TrimSpace(text) == "" && len(tail.files) == 0 {
		text, tail.note = tail.note, ""
	}
	return s.sendAsPersonality(ctx, channelID, threadParentID, name, avatarURL, text,
		func(context.Context) *lastPart { return tail }, len(tail.files) > 0)
}
