package chat_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// TestDatabaseRestartDuringABurst kills every connection of the test
// database over and over while a burst of messages is answered, as a
// PostgreSQL restart or failover would: every message still gets its reply,
// and every reply exactly one usage row and one message mapping. It runs
// with the store's caches too, as serve has them: their listener loses its
// connection with every wave, and reads go to the database meanwhile.
func TestDatabaseRestartDuringABurst(t *testing.T) {
	t.Parallel()
	for _, cached := range []bool{false, true} {
		// One after the other: two bursts at once on a loaded 2-core
		// machine time out the fake provider, which is not what is tested.
		t.Run(map[bool]string{false: "plain", true: "cached"}[cached], func(t *testing.T) {
			// The provider gets 20 s (not the harness's 1 s): what is tested
			// is the database going away, and on a loaded machine under
			// -race the fake provider's own answer can take longer than 1 s.
			toml := strings.Replace(defaultPluginsTOML, `http_timeout = "1s"`, `http_timeout = "20s"`, 1)
			restartDuringABurst(t, harnessOptions{cached: cached, poolConns: 8, pluginsTOML: toml})
		})
	}
}

func restartDuringABurst(t *testing.T, o harnessOptions) {
	h := newHarness(t, o)
	h.personality(personalitySpec{slug: "bambi"})
	const burst = 40
	user := func(i int) string { return fmt.Sprintf("7000000000000001%02d", i) }
	for i := range burst {
		if err := h.store.SetAPIKey(h.ctx, user(i), "openrouter", userKey); err != nil {
			t.Fatal(err)
		}
	}
	dbName := h.store.Pool().Config().ConnConfig.Database

	admin, err := pgx.Connect(h.ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed atomic.Int64
	stop := make(chan struct{})
	var killer sync.WaitGroup
	killer.Add(1)
	go func() {
		defer killer.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int64
			var wave time.Time
			err := admin.QueryRow(h.ctx, `SELECT count(*), clock_timestamp() FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = $1 AND pid <> pg_backend_pid()) k`, dbName).Scan(&n, &wave)
			if err != nil {
				t.Errorf("terminate backends: %v", err)
				return
			}
			killed.Add(n)
			// A wave every 50 ms: each one drops every connection, as a
			// restart does; pacing only, nothing is asserted on time.
			time.Sleep(50 * time.Millisecond)
			// The next wave comes only once the database has answered a
			// statement on a connection opened since this one. On a loaded
			// machine a new connection and its first query take longer
			// than 50 ms; waves on the clock alone would then kill every
			// connection before it could answer anything, an outage that
			// lasts as long as the burst (past any retry window), not a
			// restart the pipeline must ride out.
			for !answeredSince(h.ctx, admin, dbName, wave) {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
	}()

	for i := range burst {
		h.inject(discordfake.MessageSpec{Content: fmt.Sprintf("@bambi message %d", i),
			Author: discordfake.User{ID: user(i), Username: fmt.Sprintf("u%d", i)}})
	}
	for range burst {
		select {
		case <-h.handled:
		case <-time.After(2 * time.Minute):
			t.Fatal("the burst was never fully handled")
		}
	}
	close(stop)
	killer.Wait()
	if killed.Load() == 0 {
		t.Fatal("no connection was terminated: the test proved nothing")
	}
	t.Logf("terminated %d backends during the burst", killed.Load())

	posted := h.posted()
	got := map[string]bool{}
	for _, m := range posted {
		if refPattern.MatchString(m.Content) {
			t.Errorf("a reply failed: %q", m.Content)
		}
		got[m.Content] = true
	}
	for i := range burst {
		if !got[fmt.Sprintf("echo: u%d: message %d", i, i)] {
			t.Errorf("message %d got no reply", i)
		}
	}
	if len(posted) != burst {
		t.Fatalf("%d replies for %d messages", len(posted), burst)
	}
	// Count on fresh connections: the pool's were killed.
	check := pgtest.Pool(t, h.store.Pool().Config().ConnString())
	var usage, distinct, mapped int
	if err := check.QueryRow(h.ctx, `SELECT count(*), count(DISTINCT request_id) FROM usage_logs`).Scan(&usage, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := check.QueryRow(h.ctx, `SELECT count(*) FROM webhook_messages`).Scan(&mapped); err != nil {
		t.Fatal(err)
	}
	if usage != burst || distinct != burst || mapped != burst {
		t.Fatalf("usage rows %d (%d distinct), mappings %d; want %d each", usage, distinct, mapped, burst)
	}
}

// answeredSince reports whether a connection to db opened after wave has
// finished a statement (pgx's pings and the cache listener's LISTEN do not
// count).
func answeredSince(ctx context.Context, admin *pgx.Conn, db string, wave time.Time) bool {
	var ok bool
	err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE datname = $1 AND backend_start > $2 AND state = 'idle' AND query <> '' AND query NOT LIKE '-- ping%' AND query NOT LIKE 'LISTEN %')`, db, wave).Scan(&ok)
	return err == nil && ok
}
