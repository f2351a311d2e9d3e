package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// openaiWasm is plugins/openai, built once for the test binary; every test
// lists models through the real plugin in the real host.
var openaiWasm, wasmCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "catalog-test-wasm")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := plugintest.ModuleRoot()
	if err == nil {
		openaiWasm = filepath.Join(dir, "openai.wasm")
		err = plugintest.BuildTo(filepath.Join(root, "plugins", "openai"), openaiWasm)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	wasmCache = filepath.Join(dir, "cache")
	if uc, err := os.UserCacheDir(); err == nil {
		wasmCache = filepath.Join(uc, "tzurot", "plugin-test-wasm-cache")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	keyAlice = "sk-alice-0123456789abcdefghij"
	keyBob   = "sk-bob-0123456789abcdefghijk"
)

// fakeOpenAI serves GET /v1/models as OpenAI does, a different list per
// key; down makes it answer 503, hold makes it keep requests open.
type fakeOpenAI struct {
	srv      *httptest.Server
	requests atomic.Int64
	down     atomic.Bool

	mu   sync.Mutex
	hold chan struct{} // when set, requests wait for it to close
}

func newFake(t *testing.T) *fakeOpenAI {
	f := &fakeOpenAI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		f.mu.Lock()
		hold := f.hold
		f.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if f.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"message":"The server is overloaded.","type":"server_error"}}`))
			return
		}
		var ids []string
		switch strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") {
		case keyAlice:
			ids = []string{"gpt-4o", "gpt-4o-mini"}
		case keyBob:
			ids = []string{"gpt-4o", "o3-mini"}
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}`))
			return
		}
		data := []any{}
		for _, id := range ids {
			data = append(data, map[string]any{"id": id, "object": "model", "created": 1715367049, "owned_by": "system"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOpenAI) holdRequests() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.hold = ch
	f.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			f.mu.Lock()
			f.hold = nil
			f.mu.Unlock()
			close(ch)
		})
	}
	return release
}

// clock is a test clock the catalog reads.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type world struct {
	cat   *Catalog
	fake  *fakeOpenAI
	clock *clock
}

func newWorld(t *testing.T, o Options) *world {
	t.Helper()
	t.Parallel()
	w := &world{fake: newFake(t), clock: &clock{now: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)}}
	cfg, err := plugin.ParseConfig([]byte(fmt.Sprintf(`
[runtime]
cache_dir = %q
[plugins.openai]
path = %q
key_slot = "openai"
capabilities = ["llm.chat", "llm.validate_key", "llm.models"]
allowed_hosts = [%q]
allow_private = true
[plugins.openai.limits]
http_attempts = 1
[plugins.openai.config]
base_url = "%s/v1"
flavor = "openai"
`, wasmCache, openaiWasm, strings.TrimPrefix(w.fake.srv.URL, "http://"), w.fake.srv.URL)), "")
	if err != nil {
		t.Fatal(err)
	}
	keys := &plugin.MemoryKeys{}
	keys.Set("alice", "openai", keyAlice)
	keys.Set("bob", "openai", keyBob)
	host, err := plugin.NewHost(context.Background(), plugin.Options{Config: cfg, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Close(context.Background()) })
	o.Now = w.clock.Now
	w.cat = New(host, o)
	t.Cleanup(w.cat.Close)
	return w
}

// settle waits for the fetches running in the background.
func (w *world) settle() { w.cat.wg.Wait() }

func ids(ms []abi.Model) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return strings.Join(out, ",")
}

// long is a wait no healthy fetch against loopback comes near; tests never
// pass or fail on how long anything took.
const long = time.Minute

// TestCachedForTTL: the first lookup fetches; lookups within the TTL cost
// the provider nothing; after it the stale list is served at once while
// one refresh runs.
func TestCachedForTTL(t *testing.T) {
	w := newWorld(t, Options{TTL: 10 * time.Minute})
	ctx := context.Background()
	r := w.cat.Lookup(ctx, "openai", "alice", long)
	if ids(r.Models) != "gpt-4o,gpt-4o-mini" || !r.Fresh || r.Err != nil {
		t.Fatalf("first lookup = %+v", r)
	}
	for range 5 {
		w.cat.Lookup(ctx, "openai", "alice", long)
	}
	if n := w.fake.requests.Load(); n != 1 {
		t.Fatalf("%d requests for six lookups within the TTL, want 1", n)
	}

	w.clock.advance(11 * time.Minute)
	release := w.fake.holdRequests()
	r = w.cat.Lookup(ctx, "openai", "alice", long)
	if ids(r.Models) != "gpt-4o,gpt-4o-mini" || r.Fresh || !r.Pending {
		t.Fatalf("stale lookup = %+v, want the old list at once, a refresh pending", r)
	}
	w.cat.Lookup(ctx, "openai", "alice", long) // joins the running refresh
	release()
	w.settle()
	if n := w.fake.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (one refresh)", n)
	}
	if r := w.cat.Lookup(ctx, "openai", "alice", 0); !r.Fresh || r.Pending {
		t.Fatalf("after the refresh = %+v", r)
	}
}

// TestEachKeyItsOwnList: two users with different keys see the models
// their own key lists, fetched once each.
func TestEachKeyItsOwnList(t *testing.T) {
	w := newWorld(t, Options{})
	ctx := context.Background()
	a := w.cat.Lookup(ctx, "openai", "alice", long)
	b := w.cat.Lookup(ctx, "openai", "bob", long)
	if ids(a.Models) != "gpt-4o,gpt-4o-mini" || ids(b.Models) != "gpt-4o,o3-mini" {
		t.Fatalf("alice %+v, bob %+v", a, b)
	}
	w.cat.Forget("alice")
	if r := w.cat.Lookup(ctx, "openai", "bob", 0); ids(r.Models) != "gpt-4o,o3-mini" {
		t.Errorf("forgetting alice's lists dropped bob's: %+v", r)
	}
	if n := w.fake.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestFailureIsRememberedBriefly: a provider that is down is asked once per
// ErrorTTL, not once per keystroke, and a list from before stays served.
func TestFailureIsRememberedBriefly(t *testing.T) {
	w := newWorld(t, Options{TTL: 10 * time.Minute, ErrorTTL: time.Minute})
	ctx := context.Background()
	w.fake.down.Store(true)
	r := w.cat.Lookup(ctx, "openai", "alice", long)
	if r.Models != nil || r.Err == nil || r.Pending {
		t.Fatalf("lookup with the provider down = %+v, want an error and no list", r)
	}
	for range 5 {
		w.cat.Lookup(ctx, "openai", "alice", long)
	}
	if n := w.fake.requests.Load(); n != 1 {
		t.Fatalf("%d requests while the failure is remembered, want 1", n)
	}
	w.clock.advance(2 * time.Minute)
	w.fake.down.Store(false)
	if r := w.cat.Lookup(ctx, "openai", "alice", long); ids(r.Models) != "gpt-4o,gpt-4o-mini" || r.Err != nil {
		t.Fatalf("after the error TTL = %+v", r)
	}

	// Down again when the list goes stale: the old list stays.
	w.clock.advance(11 * time.Minute)
	w.fake.down.Store(true)
	w.cat.Lookup(ctx, "openai", "alice", long)
	w.settle()
	r = w.cat.Lookup(ctx, "openai", "alice", long)
	if ids(r.Models) != "gpt-4o,gpt-4o-mini" || r.Err == nil || r.Fresh || r.Pending {
		t.Fatalf("stale list after a failed refresh = %+v", r)
	}
	if n := w.fake.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// TestLookupNeverWaitsForAHangingProvider: with the provider holding the
// request open, lookups come back (with nothing) and share the one fetch;
// when it answers, the list is there for the next keystroke.
func TestLookupNeverWaitsForAHangingProvider(t *testing.T) {
	w := newWorld(t, Options{})
	release := w.fake.holdRequests()
	defer release()
	ctx := context.Background()
	for range 3 {
		r := w.cat.Lookup(ctx, "openai", "alice", 10*time.Millisecond)
		if r.Models != nil || !r.Pending {
			t.Fatalf("lookup with the provider hanging = %+v", r)
		}
	}
	// The lookups returned while the provider still holds the one request.
	if n := w.fake.requests.Load(); n > 1 {
		t.Fatalf("%d requests, want one shared fetch", n)
	}
	release()
	w.settle()
	if r := w.cat.Lookup(ctx, "openai", "alice", 0); ids(r.Models) != "gpt-4o,gpt-4o-mini" {
		t.Fatalf("after the provider answered = %+v", r)
	}
	if n := w.fake.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestEntriesAreBounded: lists beyond MaxEntries go, least recently used
// first.
func TestEntriesAreBounded(t *testing.T) {
	w := newWorld(t, Options{MaxEntries: 2})
	ctx := context.Background()
	w.cat.Lookup(ctx, "openai", "alice", long)
	w.clock.advance(time.Second)
	w.cat.Lookup(ctx, "openai", "bob", long)
	w.clock.advance(time.Second)
	w.cat.Lookup(ctx, "openai", "carol", long) // no key: a failure, still an entry
	w.cat.mu.Lock()
	_, hasAlice := w.cat.entries[key{"openai", "alice"}]
	n := len(w.cat.entries)
	w.cat.mu.Unlock()
	if n != 2 || hasAlice {
		t.Fatalf("%d entries (alice kept: %v), want 2 without alice's", n, hasAlice)
	}
}
