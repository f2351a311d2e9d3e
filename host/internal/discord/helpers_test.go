package discord

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/logtest"
	"github.com/tzurot-go/tzurot/host/internal/message"

	"github.com/disgoorg/disgo/gateway"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// logBuffer collects every log line (debug included) so tests can check that no secret leaked.
type logBuffer = logtest.Buffer

// recorder is a Handler that keeps the messages it receives.
type recorder struct {
	mu   sync.Mutex
	msgs []message.Message
	got  chan message.Message
}

func newRecorder() *recorder { return &recorder{got: make(chan message.Message, 100)} }

func (r *recorder) HandleMessage(_ context.Context, m message.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.got <- m
}

// next waits for the next handled message. The deadline only guards against a hung test.
func (r *recorder) next(t *testing.T) message.Message {
	t.Helper()
	select {
	case m := <-r.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the handler")
	}
	return message.Message{}
}

type testBot struct {
	*Bot
	fake *discordfake.Server
	logs *logBuffer
}

// newTestBot builds a gateway-mode bot against a fake Discord, without opening the websocket
// (tests inject events). The bot is shut down when the test ends, and the test fails if any log
// line carries the bot token or a webhook token.
func newTestBot(t *testing.T, h Handler, opts ...Option) *testBot {
	t.Helper()
	fake := discordfake.New(t)
	return newTestBotWith(t, fake, h, opts...)
}

func newTestBotWith(t *testing.T, fake *discordfake.Server, h Handler, opts ...Option) *testBot {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	u, _ := url.Parse(fake.URL)
	all := append([]Option{
		WithRESTURL(fake.RESTURL()),
		WithCompression(CompressionNone),
		WithLogger(logger),
		WithDownloadHosts(u.Host),
	}, opts...)
	b, err := New(fake.Token, h, all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tb := &testBot{Bot: b, fake: fake, logs: logs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		tb.assertNoSecretsLogged(t)
	})
	return tb
}

func (tb *testBot) assertNoSecretsLogged(t *testing.T) {
	t.Helper()
	out := tb.logs.String()
	if strings.Contains(out, tb.fake.Token) {
		t.Errorf("the bot token appears in the logs")
	}
	for _, w := range tb.fake.AllWebhooks() {
		if strings.Contains(out, w.Token) {
			t.Errorf("webhook %s's token appears in the logs", w.ID)
		}
	}
}

func (tb *testBot) inject(t *testing.T, raw []byte) {
	t.Helper()
	discordfake.Inject(t, tb.Client(), gateway.EventTypeMessageCreate, raw)
}

// waitFor polls cond until it holds or ctx ends, and then says what it waited for. It never
// touches a testing.T, so it is the one to use on a goroutine the test started: report its error
// through a channel to the test's goroutine.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
	return nil
}

// hungTest is how long eventually waits; it only guards against a hung test.
const hungTest = 10 * time.Second

// eventually polls cond until it holds and fails t (Fatal) when it never does. Call it only on
// the goroutine running t, the test or subtest it reports to: Fatal on any other goroutine ends
// just that goroutine, so the test runs on without what it waited for (or hangs), and the failure
// is reported out of place. Elsewhere use waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hungTest)
	defer cancel()
	if err := waitFor(ctx, what, cond); err != nil {
		t.Fatal(err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
