package chat_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// BenchmarkStreamedReplyFirstText measures what a user waits for: the time
// from their message reaching the bot to the first visible text of the
// reply, and to the full reply being in the channel, with streamed replies
// on ("live") and off for the personality ("whole": the provider still
// streams, the reply is posted once it is complete, as before streamed
// replies). The provider (the OpenAI-compatible fake on 127.0.0.1, real
// openai plugin, real host, real PostgreSQL, fake Discord limiting webhooks
// to 5 requests per 2 s) streams a 1,200-character answer in 40 pieces 50 ms
// apart: about 2 s of writing, a slow model. Times come from the fake
// Discord's clock on each webhook request (post or edit). Medians are
// reported; run with -benchtime=Nx (each reply takes seconds).
func BenchmarkStreamedReplyFirstText(b *testing.B) {
	text := strings.TrimSpace(strings.Repeat("A slow model writes its answer a few words at a time. ", 23)[:1200])
	for _, live := range []bool{true, false} {
		name := "live"
		if !live {
			name = "whole"
		}
		b.Run(name, func(b *testing.B) {
			h := newHarness(b, harnessOptions{
				config: func(c *chat.Config) { c.Stream = true },
				fake:   []discordfake.Option{discordfake.WithWebhookRateLimit(5, 2*time.Second)},
			})
			h.setKey(userID)
			pid := h.personality(personalitySpec{slug: "bambi"})
			if !live {
				off := store.StreamOff
				if err := h.store.UpdatePersonality(h.ctx, pid, store.PersonalityPatch{StreamReplies: &off}); err != nil {
					b.Fatal(err)
				}
			}
			var first, full []time.Duration
			requests := 0
			b.ResetTimer()
			for range b.N {
				h.provider.then(pacedStream{pieces: pieces(text, 30), pause: 50 * time.Millisecond}.handler())
				before := len(h.fake.Requests())
				start := time.Now()
				h.send(discordfake.MessageSpec{Content: "@bambi explain slowly"})
				var firstAt, lastAt time.Time
				for _, r := range h.fake.Requests()[before:] {
					if r.Route != discordfake.RouteExecuteWebhook && r.Route != discordfake.RouteEditWebhookMessage {
						continue
					}
					requests++
					if firstAt.IsZero() {
						firstAt = r.At
					}
					lastAt = r.At
				}
				if firstAt.IsZero() {
					b.Fatal("nothing was posted")
				}
				first = append(first, firstAt.Sub(start))
				full = append(full, lastAt.Sub(start))
			}
			b.StopTimer()
			if posted := h.posted(); len(posted) == 0 || posted[len(posted)-1].Content != text {
				b.Fatalf("the last reply is not the full text")
			}
			b.ReportMetric(float64(median(first).Milliseconds()), "ms-to-first-text")
			b.ReportMetric(float64(median(full).Milliseconds()), "ms-to-full-reply")
			b.ReportMetric(float64(requests)/float64(b.N), "webhook-requests/op")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
