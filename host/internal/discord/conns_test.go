package discord

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestRESTReusesItsConnections: with as many posts in flight as the bot has
// workers, the REST client keeps its connections open between calls instead
// of opening (and closing) one per call: 320 posts from 16 workers to 16
// channels open at most about one connection per worker.
func TestRESTReusesItsConnections(t *testing.T) {
	const workers, each = 16, 20
	tb := newTestBot(t, nopHandler(), WithWorkers(workers))
	s := tb.NewSender(NewMemoryWebhookStore())
	// A channel per worker: disgo queues calls to one webhook one after
	// the other (its rate-limit bucket), calls to different ones run at once.
	channels := make([]string, workers)
	for i := range channels {
		channels[i] = tb.fake.AddTextChannel(guildID).ID
		// Each channel's webhook exists before the burst.
		if _, err := s.SendAsPersonality(context.Background(), channels[i], "", "Bambi", "", "first"); err != nil {
			t.Fatal(err)
		}
	}
	before := tb.fake.Connections()
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.SendAsPersonality(context.Background(), channels[w], "", "Bambi", "", fmt.Sprintf("post %d/%d", w, i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, ch := range channels {
		if got := len(tb.fake.Messages(ch)); got != each+1 {
			t.Fatalf("%d messages posted in a channel, want %d", got, each+1)
		}
	}
	if n := tb.fake.Connections() - before; n > 2*workers {
		t.Fatalf("%d posts opened %d new connections; want at most %d (about one per worker, kept alive)", workers*each, n, 2*workers)
	} else {
		t.Logf("%d posts over %d new connections", workers*each, n)
	}
	tb.fake.AssertNoViolations(t)
}
