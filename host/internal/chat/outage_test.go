package chat_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
)

// outage takes the harness's database away (no new connections, every
// open one terminated), as PostgreSQL being down does, and brings it back.
type outage struct {
	t     *testing.T
	mu    sync.Mutex
	admin *pgx.Conn
	db    string
	down  bool
}

func newOutage(t *testing.T, h *harness) *outage {
	t.Helper()
	admin, err := pgx.Connect(h.ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	o := &outage{t: t, admin: admin, db: h.store.Pool().Config().ConnConfig.Database}
	// Runs before the harness's cleanup (LIFO), so the pipeline can finish.
	t.Cleanup(func() {
		o.end()
		admin.Close(context.Background())
	})
	return o
}

// begin makes the database unreachable; it returns once no connection to it is left.
func (o *outage) begin() {
	o.mu.Lock()
	defer o.mu.Unlock()
	ctx := context.Background()
	if _, err := o.admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{o.db}.Sanitize()+` WITH ALLOW_CONNECTIONS false`); err != nil {
		o.t.Errorf("outage: %v", err)
		return
	}
	o.down = true
	for range 500 { // termination is asynchronous; bounded, pacing only
		var left int
		if err := o.admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1`, o.db).Scan(&left); err != nil {
			o.t.Errorf("outage: %v", err)
			return
		}
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	o.t.Error("outage: connections to the database would not go away")
}

// end lets connections in again.
func (o *outage) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		return
	}
	if _, err := o.admin.Exec(context.Background(), `ALTER DATABASE `+pgx.Identifier{o.db}.Sanitize()+` WITH ALLOW_CONNECTIONS true`); err != nil {
		o.t.Errorf("outage end: %v", err)
		return
	}
	o.down = false
}

// shortRetry gives up on the database quickly, so a test can be "down past the retry window".
var shortRetry = chat.RetryPolicy{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond, Total: 300 * time.Millisecond}

// eventually polls cond until it holds; the deadline only guards a hung test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplyPostedWhileTheDatabaseIsDownIsRecordedLater: the database goes down while the model
// writes the reply and stays down past the retry window. The reply is posted; its usage row and
// message mapping are kept in memory and written once the database is back, so the reply is
// billed and a reply to it still wakes the personality.
func TestReplyPostedWhileTheDatabaseIsDownIsRecordedLater(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *chat.Config) { c.Retry = shortRetry }})
	h.setKey(userID)
	pid := h.personality(personalitySpec{slug: "bambi"})
	o := newOutage(t, h)
	h.provider.then(func(w http.ResponseWriter, r *http.Request) {
		o.begin()
		answer(w, "said while the database was down", "")
	})
	h.send(discordfake.MessageSpec{Content: "@bambi hello"})
	posted := h.posted()
	if len(posted) != 1 || posted[0].Content != "said while the database was down" {
		t.Fatalf("posted %+v", posted)
	}
	if !strings.Contains(h.logs.String(), "kept in memory") {
		t.Fatalf("the reply's records were not spooled: %s", h.logs.String())
	}

	o.end()
	eventually(t, "the spooled usage row and message mapping are written", func() bool {
		var usage, mapped int
		err := h.store.Pool().QueryRow(h.ctx, `SELECT (SELECT count(*) FROM usage_logs), (SELECT count(*) FROM webhook_messages WHERE message_id = $1)`, posted[0].ID).Scan(&usage, &mapped)
		return err == nil && usage == 1 && mapped == 1
	})
	if got, ok, err := h.store.PersonalityForMessage(h.ctx, posted[0].ID); err != nil || !ok || got != pid {
		t.Fatalf("mapping %v %v %v", got, ok, err)
	}
	h.send(discordfake.MessageSpec{Content: "and now?", ReplyToID: posted[0].ID})
	if p := h.posted(); len(p) != 2 || p[1].AuthorName != "Bambi" || !strings.HasPrefix(p[1].Content, "echo: Alice: and now?") {
		t.Fatalf("a reply to the spooled reply did not wake the personality: %+v", p)
	}
}

// downAtKeyRead takes the database away at the moment the plugin asks for the key.
type downAtKeyRead struct {
	plugin.KeySource
	once sync.Once
	down func()
}

func (d *downAtKeyRead) APIKey(ctx context.Context, userID, slot string) (string, bool, error) {
	d.once.Do(d.down)
	return d.KeySource.APIKey(ctx, userID, slot)
}

// TestKeyStoreFailureIsTheBotsNotTheProviders: the database is down past the retry window when
// the plugin asks for the key. The provider is never called, and the user is told the bot had
// the problem, with the reference, never that the provider could not be reached.
func TestKeyStoreFailureIsTheBotsNotTheProviders(t *testing.T) {
	t.Parallel()
	var o *outage
	h := newHarness(t, harnessOptions{
		config: func(c *chat.Config) { c.Retry = shortRetry },
		keys: func(k *chat.KeySource) {
			k.Retry = shortRetry
			k.Own = &downAtKeyRead{KeySource: k.Own, down: func() { o.begin() }}
		},
	})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	o = newOutage(t, h)
	h.send(discordfake.MessageSpec{Content: "@bambi hello"})
	o.end()

	if n := h.provider.calls.Load(); n != 0 {
		t.Fatalf("the provider was called %d times", n)
	}
	posted := h.posted()
	if len(posted) != 1 || !refPattern.MatchString(posted[0].Content) {
		t.Fatalf("channel %+v", posted)
	}
	ref := refPattern.FindStringSubmatch(posted[0].Content)[1]
	dms := h.dms(userID)
	if len(dms) != 1 {
		t.Fatalf("DMs %+v", dms)
	}
	dm := dms[0].Content
	for _, want := range []string{"The bot itself had a problem", "database", "not your provider's fault", "(ref: " + ref + ")"} {
		if !strings.Contains(dm, want) {
			t.Errorf("DM %q does not say %q", dm, want)
		}
	}
	for _, wrong := range []string{"The provider said", "could not be reached or answered", "key store"} {
		if strings.Contains(dm, wrong) {
			t.Errorf("DM %q presents the bot's failure as the provider's (%q)", dm, wrong)
		}
	}
	if !strings.Contains(h.logs.String(), `"code":"database"`) {
		t.Error("the log does not classify the failure as the database's")
	}
}

// TestKeyReadOutlastsThePluginCallTimeout: the database goes away when the user's key is read and
// stays away longer than the plugin's call_timeout, but not past the retry window. The reply
// still arrives: the key is read with the pipeline's retry window, not inside the plugin's
// wall-clock budget (where the read would end with the call's deadline and the reply be lost).
func TestKeyReadOutlastsThePluginCallTimeout(t *testing.T) {
	t.Parallel()
	var o *outage
	toml := strings.Replace(defaultPluginsTOML, `call_timeout = "20s"`, `call_timeout = "1s"`, 1)
	h := newHarness(t, harnessOptions{
		pluginsTOML: toml,
		keys: func(k *chat.KeySource) {
			k.Retry = chat.RetryPolicy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Total: time.Minute}
			k.Own = &downAtKeyRead{KeySource: k.Own, down: func() {
				o.begin()
				// Down for three call timeouts; pacing only, nothing is asserted on time.
				time.AfterFunc(3*time.Second, o.end)
			}}
		},
	})
	h.setKey(userID)
	h.personality(personalitySpec{slug: "bambi"})
	o = newOutage(t, h)
	h.send(discordfake.MessageSpec{Content: "@bambi hello"})

	posted := h.posted()
	if len(posted) != 1 || posted[0].Content != "echo: Alice: hello" {
		t.Fatalf("posted %+v", posted)
	}
	if got := h.provider.received(); len(got) != 1 || got[0].Auth != "Bearer "+userKey {
		t.Fatalf("the provider did not get one request with the user's key: %d requests", len(got))
	}
	if n := h.usageRows(); n != 1 {
		t.Fatalf("%d usage rows, want 1", n)
	}
}
