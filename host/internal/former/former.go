// Package former forms new long-term memories from conversations: when a
// conversation with a personality goes quiet (Config.Idle), or every
// personalities.memory_every_n exchanges, the personality's own chat
// plugin is asked to summarise what is worth keeping as memories, each
// naming who it is about, and they are stored with who was present, the
// channel and whether it was a DM (package memory's privacy rule reads
// those).
//
// It never delays a reply: the pipeline's Exchange only appends to a
// window in memory and, when a window is due, hands it to a bounded queue
// that one worker drains; a full queue drops the window (logged) rather
// than wait. Windows live in memory only: a restart forgets the exchanges
// not yet summarised (they are still in Discord's history).
//
// Who pays (docs/pipeline.md, "Forming memories"): the summary is one chat
// call made for the user whose message closed the window (the last
// exchange of a user who has not opted out), with their own key, else the
// deployment's fallback key where the fallback policy lets them use it for
// replies, else the window is skipped. It is metered as usage rows of kind
// text for that user and the personality.
//
// Switches: personalities.memory_formation_enabled off forms nothing for
// that personality; user_preferences.memory_formation_enabled = false
// keeps that user's messages out of every summary (the model never sees
// them) and no memory is about them.
package former

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Plugins is the part of plugin.Host formation uses.
type Plugins interface {
	Chat(ctx context.Context, name string, req abi.ChatRequest) (abi.ChatResponse, []abi.Usage, error)
	Status() []plugin.PluginStatus
}

// Store is what formation reads and writes; *store.Store implements the
// first two, *memory.Store the last.
type Store interface {
	PersonalityByID(ctx context.Context, id, userID int64) (store.Personality, error)
	InsertUsage(ctx context.Context, u store.Usage) (bool, error)
}

// Memories stores formed memories; *memory.Store implements it.
type Memories interface {
	Add(ctx context.Context, m memory.NewMemory) (int64, error)
}

// Config tunes formation. Zero values take the defaults noted.
type Config struct {
	// Idle is how long a conversation must be quiet before it is
	// summarised (TZUROT_MEMORY_IDLE, default 10 minutes).
	Idle time.Duration
	// DefaultProvider and DefaultModel serve personalities without an LLM
	// config, as for replies.
	DefaultProvider, DefaultModel string
	// Fallback is the deployment's fallback-key policy (as for replies).
	Fallback chat.Fallback
	// MaxExchanges bounds one window (default 200; older exchanges of a
	// longer window are summarised first). MaxWindows bounds the open
	// conversations (default 10,000; the quietest is summarised early).
	MaxExchanges, MaxWindows int
	// Queue is how many windows may wait for the worker (default 64).
	Queue int
	// MaxTextRunes cuts each message and reply sent to the summariser
	// (default 2,000 characters).
	MaxTextRunes int
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
	// OnDone, when set, is called after each window is handled (tests).
	OnDone func(Result)
	// Stored, when set, is called after memories were stored (the
	// embedding backfill's Kick).
	Stored func()
}

func (c *Config) defaults() {
	if c.Idle <= 0 {
		c.Idle = 10 * time.Minute
	}
	if c.MaxExchanges <= 0 {
		c.MaxExchanges = 200
	}
	if c.MaxWindows <= 0 {
		c.MaxWindows = 10000
	}
	if c.Queue <= 0 {
		c.Queue = 64
	}
	if c.MaxTextRunes <= 0 {
		c.MaxTextRunes = 2000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DefaultProvider == "" {
		c.DefaultProvider = "openrouter"
	}
}

// Result is what became of one window.
type Result struct {
	PersonalityID int64
	ChannelID     string
	// Stored are the ids of the memories stored.
	Stored []int64
	// Skipped says why nothing was asked ("" when the model was asked).
	Skipped string
	Err     error
}

type windowKey struct {
	personality int64
	channel     string
}

type window struct {
	key       windowKey
	exchanges []chat.Exchange
	last      time.Time
}

// Former collects exchanges and forms memories from them.
type Former struct {
	pool     *pgxpool.Pool
	plugins  Plugins
	store    Store
	memories Memories
	cfg      Config
	log      *slog.Logger

	mu      sync.Mutex
	windows map[windowKey]*window
	everyN  map[int64]int // personalities.memory_every_n, learned by the worker

	queue chan *window
	seq   atomic.Int64
}

// New returns a Former; Run drains its queue.
func New(pool *pgxpool.Pool, plugins Plugins, st Store, mem Memories, cfg Config, log *slog.Logger) *Former {
	cfg.defaults()
	return &Former{pool: pool, plugins: plugins, store: st, memories: mem, cfg: cfg, log: log,
		windows: map[windowKey]*window{}, everyN: map[int64]int{}, queue: make(chan *window, cfg.Queue)}
}

// defaultEveryN is personalities.memory_every_n's default, used until the
// worker has read a personality's own.
const defaultEveryN = 20

// Exchange implements chat.ExchangeSink: it appends to the conversation's
// window and queues the window when it holds memory_every_n exchanges. It
// never blocks.
func (f *Former) Exchange(e chat.Exchange) {
	k := windowKey{e.PersonalityID, e.ChannelID}
	f.mu.Lock()
	w := f.windows[k]
	if w == nil {
		if len(f.windows) >= f.cfg.MaxWindows {
			f.evictLocked()
		}
		w = &window{key: k}
		f.windows[k] = w
	}
	w.exchanges = append(w.exchanges, e)
	w.last = f.cfg.Now()
	n := f.everyN[e.PersonalityID]
	if n == 0 {
		n = defaultEveryN
	}
	var due *window
	if len(w.exchanges) >= min(n, f.cfg.MaxExchanges) {
		due = w
		delete(f.windows, k)
	}
	f.mu.Unlock()
	if due != nil {
		f.enqueue(due)
	}
}

// evictLocked queues the quietest window to make room.
func (f *Former) evictLocked() {
	var q *window
	for _, w := range f.windows {
		if q == nil || w.last.Before(q.last) {
			q = w
		}
	}
	if q != nil {
		delete(f.windows, q.key)
		go f.enqueue(q) // never under the lock, never blocking the caller
	}
}

func (f *Former) enqueue(w *window) {
	select {
	case f.queue <- w:
	default:
		f.log.Warn("memory formation is behind; a conversation was dropped without forming memories",
			slog.Int64("personality_id", w.key.personality), slog.Int("exchanges", len(w.exchanges)))
	}
}

// Tick queues every window quiet for Config.Idle. Run calls it on a timer;
// tests call it after moving the clock.
func (f *Former) Tick() {
	now := f.cfg.Now()
	var due []*window
	f.mu.Lock()
	for k, w := range f.windows {
		if now.Sub(w.last) >= f.cfg.Idle {
			due = append(due, w)
			delete(f.windows, k)
		}
	}
	f.mu.Unlock()
	for _, w := range due {
		f.enqueue(w)
	}
}

// Run drains the queue and checks for quiet conversations until ctx ends.
func (f *Former) Run(ctx context.Context) {
	tick := time.NewTicker(max(f.cfg.Idle/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f.Tick()
		case w := <-f.queue:
			f.handle(ctx, w)
		}
	}
}

// Drain handles every queued window now, on the caller's goroutine (tests
// and shutdown).
func (f *Former) Drain(ctx context.Context) {
	for {
		select {
		case w := <-f.queue:
			f.handle(ctx, w)
		default:
			return
		}
	}
}

func (f *Former) handle(ctx context.Context, w *window) {
	r := f.form(ctx, w)
	if r.Err != nil {
		f.log.WarnContext(ctx, "memory formation failed", slog.Int64("personality_id", r.PersonalityID), slog.Any("err", r.Err))
	}
	if f.cfg.OnDone != nil {
		f.cfg.OnDone(r)
	}
}

// settings are the switches formation reads for one window.
type settings struct {
	enabled bool
	everyN  int
	optOut  map[int64]bool
}

func (f *Former) settings(ctx context.Context, personality int64, users []int64) (settings, error) {
	s := settings{optOut: map[int64]bool{}}
	err := f.pool.QueryRow(ctx, `SELECT memory_formation_enabled, memory_every_n FROM personalities WHERE id = $1`, personality).Scan(&s.enabled, &s.everyN)
	if err != nil {
		return s, fmt.Errorf("read memory settings: %w", err)
	}
	rows, err := f.pool.Query(ctx, `SELECT user_id FROM user_preferences WHERE user_id = ANY($1) AND memory_formation_enabled = false`, users)
	if err != nil {
		return s, fmt.Errorf("read memory opt-outs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return s, fmt.Errorf("read memory opt-outs: %w", err)
		}
		s.optOut[id] = true
	}
	return s, rows.Err()
}

// errNoKey: neither the user nor the fallback policy has a key.
var errNoKey = errors.New("no key for the summary")

func (f *Former) form(ctx context.Context, w *window) Result {
	r := Result{PersonalityID: w.key.personality, ChannelID: w.key.channel}
	var users []int64
	for _, e := range w.exchanges {
		users = append(users, e.UserID)
	}
	set, err := f.settings(ctx, w.key.personality, users)
	if err != nil {
		r.Err = err
		return r
	}
	f.mu.Lock()
	f.everyN[w.key.personality] = set.everyN
	f.mu.Unlock()
	if !set.enabled {
		r.Skipped = "memory formation is off for this personality"
		return r
	}
	var kept []chat.Exchange
	for _, e := range w.exchanges {
		if !set.optOut[e.UserID] {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		r.Skipped = "everyone in the conversation opted out"
		return r
	}
	closer := kept[len(kept)-1]
	pers, err := f.store.PersonalityByID(ctx, w.key.personality, closer.UserID)
	if err != nil {
		r.Err = err
		return r
	}
	provider, model := pers.LLM.Provider, pers.LLM.Model
	if provider == "" {
		provider, model = f.cfg.DefaultProvider, f.cfg.DefaultModel
	}
	st, ok := chat.ChatPluginFor(f.plugins.Status(), provider)
	if !ok {
		r.Err = fmt.Errorf("no loaded plugin serves provider %q", provider)
		return r
	}
	p := buildPrompt(pers, kept, f.cfg.MaxTextRunes)
	reqID := fmt.Sprintf("memory-%d-%d-%d", w.key.personality, f.cfg.Now().UnixNano(), f.seq.Add(1))
	cctx := chat.WithFallbackPolicy(ctx, f.cfg.Fallback.Allowed(closer.DiscordUserID, closer.GuildID))
	cctx = plugin.WithCall(cctx, plugin.Call{UserID: closer.DiscordUserID, PersonalityID: strconv.FormatInt(pers.ID, 10), RequestID: reqID})
	start := time.Now()
	maxTokens := 1024
	resp, usage, err := f.plugins.Chat(cctx, st.Name, abi.ChatRequest{Model: model, Messages: p.messages, MaxTokens: &maxTokens})
	f.meter(ctx, reqID, closer.UserID, pers.ID, st, usage, time.Since(start))
	if err != nil {
		var ae *abi.Error
		if errors.As(err, &ae) && ae.Code == abi.ErrNoKey {
			r.Skipped = "no key: " + errNoKey.Error()
			return r
		}
		r.Err = fmt.Errorf("summarise: %w", err)
		return r
	}
	found, err := parseMemories(resp.Content)
	if err != nil {
		r.Err = err
		return r
	}
	present := p.present()
	isDM := closer.IsDM()
	for _, m := range found {
		about := p.resolve(m.About, set.optOut)
		if len(about) == 0 {
			continue
		}
		id, err := f.memories.Add(ctx, memory.NewMemory{
			PersonalityID: pers.ID, Content: cutRunes(m.Text, memory.MaxContentRunes), Importance: m.Importance,
			AboutUserIDs: about, PresentUserIDs: present, IsDM: isDM, ChannelID: w.key.channel, GuildID: closer.GuildID,
			FormedBy: memory.FormedBySummary, RememberedAt: f.cfg.Now(),
		})
		if err != nil {
			r.Err = fmt.Errorf("store a formed memory: %w", err)
			continue
		}
		r.Stored = append(r.Stored, id)
	}
	if len(r.Stored) > 0 && f.cfg.Stored != nil {
		f.cfg.Stored()
	}
	return r
}

// meter records the summary's usage for the user whose key paid.
func (f *Former) meter(ctx context.Context, reqID string, userID, personalityID int64, st plugin.PluginStatus, usage []abi.Usage, latency time.Duration) {
	for i, u := range usage {
		id := reqID
		if i > 0 {
			id += "#" + strconv.Itoa(i)
		}
		kind := u.Kind
		if kind == "" {
			kind = store.KindText
		}
		prov := u.Provider
		if prov == "" {
			prov = st.KeySlot
		}
		row := store.Usage{RequestID: id, UserID: userID, PersonalityID: personalityID, Provider: prov, Model: u.Model, Kind: kind,
			InputTokens: int(u.InputTokens), OutputTokens: int(u.OutputTokens), ReasoningTokens: int(u.ReasoningTokens),
			Latency: latency, Delivery: store.DeliveryNone}
		if _, err := f.store.InsertUsage(context.WithoutCancel(ctx), row); err != nil {
			f.log.WarnContext(ctx, "memory formation usage not recorded", slog.Any("err", err))
		}
	}
}
