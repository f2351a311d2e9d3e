// Package catalog caches the model lists provider plugins offer
// (capability llm.models), for /personality llm's autocomplete.
//
// Autocomplete runs on every keystroke and Discord gives it 3 seconds, so a
// lookup never waits on a provider longer than the caller says: it answers
// with what is cached (even a stale list, refreshed behind it) and starts a
// fetch when there is none. Lists are kept per plugin entry, and per user
// when the plugin needs a key (a provider may list different models for
// different keys); one fetch runs at a time per list (singleflight); a failed
// fetch is remembered for a short while so a provider that is down or a user
// without a key does not cost a request per keystroke.
//
//	cat := catalog.New(pluginHost, catalog.Options{Logger: log})
//	defer cat.Close()
//	r := cat.Lookup(ctx, "openai", discordUserID, 2*time.Second)
package catalog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Lister fetches a plugin's model list for the call in ctx; *plugin.Host
// implements it.
type Lister interface {
	Models(ctx context.Context, name string) ([]abi.Model, error)
}

// Defaults for Options.
const (
	DefaultTTL          = 10 * time.Minute
	DefaultErrorTTL     = time.Minute
	DefaultFetchTimeout = 30 * time.Second
	DefaultMaxEntries   = 256
)

// Options tune a Catalog; zero values take the defaults.
type Options struct {
	// TTL is how long a list is fresh. A stale list is still served while
	// a new one is fetched.
	TTL time.Duration
	// ErrorTTL is how long a failed fetch is remembered before the next
	// lookup may try again.
	ErrorTTL time.Duration
	// FetchTimeout bounds one fetch, which runs on its own (a lookup that
	// stops waiting does not cancel it, so the next keystroke finds it
	// done).
	FetchTimeout time.Duration
	// MaxEntries bounds the lists kept (one per plugin, or per plugin and
	// user); past it the least recently used goes. A list holds at most
	// plugin.MaxModels entries of at most 512 bytes of text each.
	MaxEntries int
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// Logger receives a line per failed fetch (debug); nil discards.
	Logger *slog.Logger
}

// Result is what a lookup knows about one list.
type Result struct {
	// Models is the newest list fetched, nil when none was.
	Models []abi.Model
	// Fresh is true when Models is younger than the TTL.
	Fresh bool
	// Err is why the last fetch failed, when it did and no list came after.
	Err error
	// Pending is true when a fetch was still running as the lookup returned.
	Pending bool
}

// Catalog caches model lists. It is safe for concurrent use.
type Catalog struct {
	lister Lister
	opts   Options
	log    *slog.Logger

	group  singleflight.Group
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	entries map[key]*entry
	closed  bool
	gen     uint64 // bumped by Forget, so no later fetch joins one from before
}

type key struct{ plugin, owner string }

// entry is one list and the state of its fetches.
type entry struct {
	models    []abi.Model
	fetched   time.Time // when models came; zero when never
	err       error     // the last fetch's failure, nil after a success
	failed    time.Time // when err came
	fetching  chan struct{}
	lastUsed  time.Time
	fetchedOK bool
}

// New returns a catalog that fetches through lister.
func New(lister Lister, o Options) *Catalog {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.ErrorTTL <= 0 {
		o.ErrorTTL = DefaultErrorTTL
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{lister: lister, opts: o, log: log.With("component", "catalog"), entries: map[key]*entry{}}
	c.base, c.cancel = context.WithCancel(context.Background())
	return c
}

// Lookup returns the list of plugin for owner (the Discord user whose key
// the list is fetched with; "" when the list does not depend on a key).
// When there is no fresh list and no recent failure it starts a fetch and
// waits for it up to wait (and ctx); it never waits longer. A stale list
// is returned at once while the fetch refreshes it.
func (c *Catalog) Lookup(ctx context.Context, pluginName, owner string, wait time.Duration) Result {
	k := key{pluginName, owner}
	now := c.opts.Now()
	c.mu.Lock()
	e := c.entries[k]
	if e == nil {
		e = &entry{}
		c.entries[k] = e
		c.evictLocked(k)
	}
	e.lastUsed = now
	fresh := e.fetchedOK && now.Sub(e.fetched) < c.opts.TTL
	recentFailure := e.err != nil && now.Sub(e.failed) < c.opts.ErrorTTL
	var done chan struct{}
	if !fresh && !recentFailure && !c.closed {
		done = c.startLocked(k, e)
	}
	r := c.resultLocked(e, now)
	c.mu.Unlock()

	if done == nil || r.Models != nil || wait <= 0 {
		return r
	}
	// Nothing to show yet: give the fetch a moment.
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resultLocked(e, c.opts.Now())
}

func (c *Catalog) resultLocked(e *entry, now time.Time) Result {
	return Result{
		Models:  e.models,
		Fresh:   e.fetchedOK && now.Sub(e.fetched) < c.opts.TTL,
		Err:     e.err,
		Pending: e.fetching != nil,
	}
}

// startLocked starts the fetch of k unless one runs, and returns a channel
// closed when the running fetch ends.
func (c *Catalog) startLocked(k key, e *entry) chan struct{} {
	if e.fetching != nil {
		return e.fetching
	}
	done := make(chan struct{})
	e.fetching = done
	flight := strconv.FormatUint(c.gen, 10) + "\x00" + k.plugin + "\x00" + k.owner
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(done)
		// singleflight as well as the fetching channel: an entry evicted and
		// re-created while its fetch runs still shares that one fetch.
		v, err, _ := c.group.Do(flight, func() (any, error) {
			ctx, cancel := context.WithTimeout(c.base, c.opts.FetchTimeout)
			defer cancel()
			return c.lister.Models(plugin.WithCall(ctx, plugin.Call{UserID: k.owner}), k.plugin)
		})
		models, _ := v.([]abi.Model)
		now := c.opts.Now()
		c.mu.Lock()
		defer c.mu.Unlock()
		e.fetching = nil
		if err != nil {
			// A stale list stays: it is still the best guess at the models.
			e.err, e.failed = err, now
			c.log.Debug("model list fetch failed", "plugin", k.plugin, "err", err)
			return
		}
		if models == nil {
			models = []abi.Model{}
		}
		e.models, e.fetched, e.fetchedOK, e.err = models, now, true, nil
	}()
	return done
}

// evictLocked drops the least recently used entries past MaxEntries,
// never keep (the one being looked up).
func (c *Catalog) evictLocked(keep key) {
	for len(c.entries) > c.opts.MaxEntries {
		var oldest key
		var at time.Time
		found := false
		for k, e := range c.entries {
			if k == keep {
				continue
			}
			if !found || e.lastUsed.Before(at) {
				oldest, at, found = k, e.lastUsed, true
			}
		}
		if !found {
			return
		}
		delete(c.entries, oldest)
	}
}

// Forget drops every list fetched with owner's key (after the user stored
// or removed a key).
func (c *Catalog) Forget(owner string) {
	c.drop(func(k key) bool { return k.owner == owner })
}

// Reset drops every list (after a plugin reload, which may point an entry
// at another server).
func (c *Catalog) Reset() { c.drop(func(key) bool { return true }) }

func (c *Catalog) drop(match func(key) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.entries {
		if match(k) {
			delete(c.entries, k)
		}
	}
}

// Close cancels running fetches and waits for them to end.
func (c *Catalog) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}
