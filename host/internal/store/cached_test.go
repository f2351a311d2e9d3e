package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// process is one host process as far as caching goes: its own pool (with
// its round trips counted), its own cached store and its own listener.
type process struct {
	store  *store.Store
	trips  *pgtest.RoundTrips
	listen *cache.Listener
}

func startProcess(t *testing.T, dsn string, v *vault.Vault) *process {
	t.Helper()
	pool, trips := pgtest.PoolCountingRoundTrips(t, dsn, 4)
	st := store.New(pool, v, nil)
	l := cache.NewListener(pool.Config().ConnConfig, nil, st.EnableCache(0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	if err := l.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	return &process{store: st, trips: trips, listen: l}
}

// waitUntil waits, notification by notification, until ok holds. The
// minute is only a guard against a hung test: nothing depends on how fast
// a notification comes as long as it comes.
func (p *process) waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		ch, _, _ := p.listen.Changed()
		if ok() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("never happened: %s", what)
		}
	}
}

// TestWalletRemoveReachesEveryProcess: process B serves a user's key from
// its cache (no database read), process A removes the key (/wallet
// remove), and B stops serving it as soon as the notification arrives.
func TestWalletRemoveReachesEveryProcess(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	v := vaultWith(t, randomKey(t), nil)
	a, b := startProcess(t, dsn, v), startProcess(t, dsn, v)
	const user, secret = "710000000000000001", "sk-cache-test-0123456789abcdef"
	if err := a.store.SetAPIKey(ctx, user, "openrouter", secret); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.UserByDiscordID(ctx, user); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		key, ok, err := b.store.APIKey(ctx, user, "openrouter")
		if err != nil || !ok || key != secret {
			t.Fatalf("read %d in B: ok=%v err=%v", i, ok, err)
		}
	}
	b.trips.Take()
	if _, ok, _ := b.store.APIKey(ctx, user, "openrouter"); !ok {
		t.Fatal("B lost the key")
	}
	if sent := b.trips.Take(); len(sent) != 0 {
		t.Fatalf("a cached key still cost B round trips: %q", sent)
	}

	if removed, err := a.store.RemoveAPIKey(ctx, user, "openrouter"); err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	// A dropped its own copy with the write.
	if _, ok, err := a.store.APIKey(ctx, user, "openrouter"); err != nil || ok {
		t.Fatalf("A still serves the removed key (ok=%v err=%v)", ok, err)
	}
	b.waitUntil(t, "B stops serving the removed key", func() bool {
		_, ok, err := b.store.APIKey(ctx, user, "openrouter")
		if err != nil {
			t.Fatal(err)
		}
		return !ok
	})
	// Setting it again in A reaches B too (B had cached "no key").
	if err := a.store.SetAPIKey(ctx, user, "openrouter", secret+"2"); err != nil {
		t.Fatal(err)
	}
	b.waitUntil(t, "B serves the new key", func() bool {
		key, ok, _ := b.store.APIKey(ctx, user, "openrouter")
		return ok && key == secret+"2"
	})
}

// TestPersonalityEditsReachEveryProcess: an edit is seen at once by the
// process that made it and, once notified, by another; a deletion too.
func TestPersonalityEditsReachEveryProcess(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	v := vaultWith(t, randomKey(t), nil)
	a, b := startProcess(t, dsn, v), startProcess(t, dsn, v)
	id, err := a.store.CreatePersonality(ctx, store.NewPersonality{Slug: "ivy", Name: "Ivy", SystemPrompt: "first"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.store.UserByDiscordID(ctx, "710000000000000002")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*process{a, b} {
		if got, err := p.store.PersonalityByID(ctx, id, u.ID); err != nil || got.SystemPrompt != "first" {
			t.Fatalf("first read: %q %v", got.SystemPrompt, err)
		}
	}
	b.trips.Take()
	if _, err := b.store.PersonalityByID(ctx, id, u.ID); err != nil {
		t.Fatal(err)
	}
	if sent := b.trips.Take(); len(sent) != 0 {
		t.Fatalf("a cached personality still cost round trips: %q", sent)
	}

	second := "second"
	if err := a.store.UpdatePersonality(ctx, id, store.PersonalityPatch{SystemPrompt: &second}); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.store.PersonalityByID(ctx, id, u.ID); got.SystemPrompt != "second" {
		t.Fatalf("the editing process reads %q after its own edit", got.SystemPrompt)
	}
	b.waitUntil(t, "B sees the edit", func() bool {
		got, err := b.store.PersonalityByID(ctx, id, u.ID)
		return err == nil && got.SystemPrompt == "second"
	})

	// The user's own LLM override, and the voice config, are part of it.
	if err := a.store.SetLLMConfig(ctx, id, u.ID, store.LLMConfig{Provider: "anthropic", Model: "claude-x"}); err != nil {
		t.Fatal(err)
	}
	b.waitUntil(t, "B sees the user's LLM override", func() bool {
		got, _ := b.store.PersonalityByID(ctx, id, u.ID)
		return got.LLM.Model == "claude-x" && got.LLM.UserOverride
	})
	if err := a.store.SetVoiceConfig(ctx, id, store.VoiceConfig{VoiceID: "v-1", Stability: 0.1}); err != nil {
		t.Fatal(err)
	}
	b.waitUntil(t, "B sees the voice config", func() bool {
		got, _ := b.store.PersonalityByID(ctx, id, u.ID)
		return got.Voice != nil && got.Voice.VoiceID == "v-1"
	})
	if _, err := a.store.GrantTool(ctx, id, store.BuiltinImageTool); err != nil {
		t.Fatal(err)
	}
	b.waitUntil(t, "B sees the tool grant", func() bool {
		tools, _ := b.store.PersonalityTools(ctx, id)
		return len(tools) == 1
	})

	if _, err := a.store.DeletePersonality(ctx, id); err != nil {
		t.Fatal(err)
	}
	b.waitUntil(t, "B finds the personality gone", func() bool {
		_, err := b.store.PersonalityByID(ctx, id, u.ID)
		return errors.Is(err, store.ErrPersonalityAbsent)
	})
}

// TestCacheDropsEverythingWhenItsListenerReconnects: changes made while a
// process's listener is away (their notifications lost) are seen once it is
// back, and nothing is served from memory meanwhile.
func TestCacheDropsEverythingWhenItsListenerReconnects(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	v := vaultWith(t, randomKey(t), nil)
	b := startProcess(t, dsn, v)
	admin := pgtest.Pool(t, dsn)
	const user = "710000000000000003"
	if u, err := b.store.UserByDiscordID(ctx, user); err != nil || u.Timezone != "UTC" {
		t.Fatalf("%+v %v", u, err)
	}
	// Cut the listener's connection and keep it from coming back, then
	// change the user: the notification goes to nobody.
	var dbName string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	server, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(context.Background()) })
	allow := func(on bool) {
		t.Helper()
		if _, err := server.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %v`, pgx.Identifier{dbName}.Sanitize(), on)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	t.Cleanup(func() { allow(true) })
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+cache.Channel+`'`); err != nil {
		t.Fatal(err)
	}
	b.waitUntil(t, "the listener notices", func() bool {
		_, connected, _ := b.listen.Changed()
		return !connected
	})
	if _, err := admin.Exec(ctx, `UPDATE users SET timezone = 'Asia/Tokyo' WHERE discord_id = $1`, user); err != nil {
		t.Fatal(err)
	}
	// Meanwhile reads go to the database.
	if u, _ := b.store.UserByDiscordID(ctx, user); u.Timezone != "Asia/Tokyo" {
		t.Fatalf("served %q from memory while the listener was away", u.Timezone)
	}
	allow(true)
	b.waitUntil(t, "the listener is back", func() bool {
		_, connected, _ := b.listen.Changed()
		return connected
	})
	if u, _ := b.store.UserByDiscordID(ctx, user); u.Timezone != "Asia/Tokyo" {
		t.Fatalf("after reconnecting: %q", u.Timezone)
	}
}

// TestCachedKeysNeverCrossUsers: many users read their keys at once
// through one cached store (run with -race) while some replace theirs; each
// always gets their own current key, never another's nor an old one.
func TestCachedKeysNeverCrossUsers(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	v := vaultWith(t, randomKey(t), nil)
	p := startProcess(t, dsn, v)
	const users = 12
	id := func(i int) string { return fmt.Sprintf("7200000000000000%02d", i) }
	key := func(i, gen int) string { return fmt.Sprintf("sk-user%02d-gen%d-0123456789", i, gen) }
	for i := range users {
		if err := p.store.SetAPIKey(ctx, id(i), "openrouter", key(i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := key(i, 0)
			for n := range 40 {
				if i%3 == 0 && n%10 == 5 {
					// Some users change their key while others read; their
					// next read must be the new key.
					want = key(i, n)
					if err := p.store.SetAPIKey(ctx, id(i), "openrouter", want); err != nil {
						errs <- err
						return
					}
				}
				got, ok, err := p.store.APIKey(ctx, id(i), "openrouter")
				if err != nil {
					errs <- err
					return
				}
				if !ok || got != want {
					errs <- fmt.Errorf("user %d got %q (ok=%v), want %q", i, got, ok, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
