// Package plugin runs tzurot plugins: sandboxed WebAssembly modules (Extism
// on wazero) that provide every outside capability (language models,
// voices, images). It reads plugins.toml, compiles and checks each plugin
// against its grant, keeps a bounded pool of instances per plugin, offers
// the tzurot:host/v1 host functions (keys, HTTP under an allow-list, usage,
// logs, streaming, bulk bytes) and reloads the whole set atomically.
//
// Who a call is for travels in its context (see Call and WithCall); the
// package holds no per-user state.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"

	"github.com/tzurot-go/tzurot/host/internal/metrics"
	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/abijson"
)

// Options configure a Host.
type Options struct {
	// Config is the parsed plugins.toml (see LoadConfig). Required.
	Config *Config
	// Keys serves users' API keys; nil means no plugin ever gets a key.
	Keys KeySource
	// Logger receives the host's and the plugins' log lines; nil discards.
	Logger *slog.Logger
	// MaxSpeechBytes caps the audio a speak call may return; 0 means
	// DefaultMaxSpeechBytes.
	MaxSpeechBytes int64
	// MaxImageBytes caps each image an image plugin generates or a tool
	// attaches; 0 means DefaultMaxImageBytes.
	MaxImageBytes int64
	// Metrics counts calls, traps, timeouts and pool waits per plugin; nil
	// counts nothing.
	Metrics *metrics.Metrics

	// onCompile, when set, is told of every module compile (tests).
	onCompile func(path string)
}

// Host owns the loaded plugins. It is safe for concurrent use.
type Host struct {
	log       *slog.Logger
	keys      KeySource
	cache     wazero.CompilationCache
	sameCode  codeLocks // for every loader on cache (see codeLocks)
	maxSpeech int64
	maxImage  int64
	metrics   *metrics.Metrics
	// descs keeps describe results in cache_dir (nil without one).
	descs     *describeCache
	onCompile func(path string)
	// compiling counts module compiles still running: Close waits for
	// them before it closes the compilation cache.
	compiling sync.WaitGroup

	reloadMu sync.Mutex // one load at a time
	current  atomic.Pointer[pluginSet]
	retiring sync.WaitGroup

	// stopped ends every running call when Close gives up waiting; each
	// call's context is cancelled with errHostClosed.
	stopped context.Context
	stop    context.CancelFunc
}

// errHostClosed is why calls still running when Close's grace ran out
// were stopped.
var errHostClosed = errors.New("the plugin host is shutting down")

// State of a plugin entry.
const (
	StateLoaded   = "loaded"
	StateRefused  = "refused"
	StateDisabled = "disabled"
)

// PluginStatus describes one plugins.toml entry as the host sees it now.
type PluginStatus struct {
	Name  string
	State string // StateLoaded, StateRefused or StateDisabled
	// Reason says why a plugin was refused, in words for a self-hoster.
	Reason       string
	Path         string
	SHA256       string // of the file actually loaded
	KeySlot      string
	Capabilities []string // granted in plugins.toml
	AllowedHosts []string
	AllowPrivate bool
	Limits       Limits
	// DefaultModel is the entry's default_model config value ("" when
	// unset): the model autocomplete offers when no list is at hand.
	DefaultModel string
	// Description is what the plugin said about itself (loaded plugins only).
	Description *abi.Description
	// Rules are its parameters_schema and constraints_schema, compiled
	// (nil when it declares neither): Rules.Check(model, params).
	Rules  *paramschema.Rules
	Calls  uint64 // since this set was loaded
	Errors uint64
}

// pluginSet is one generation of plugins. Calls enter and leave it; after a
// reload it is retired and closed when its last call leaves.
type pluginSet struct {
	plugins map[string]*loaded
	status  []PluginStatus

	mu       sync.Mutex
	inflight int
	retired  bool
	drained  chan struct{}
	closed   atomic.Bool
}

func (s *pluginSet) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired {
		return false
	}
	s.inflight++
	return true
}

func (s *pluginSet) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.retired && s.inflight == 0 {
		close(s.drained)
	}
}

// retire stops new calls from entering and reports when the last one left.
func (s *pluginSet) retire() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = true
	if s.inflight == 0 {
		close(s.drained)
	}
	return s.drained
}

func (s *pluginSet) close() {
	for _, l := range s.plugins {
		l.close()
	}
	s.closed.Store(true)
}

// pluginsOpen reports whether the set's compiled plugins are still open.
func (s *pluginSet) pluginsOpen() bool { return !s.closed.Load() }

// NewHost checks every enabled plugin in opts.Config. A plugin that fails
// its checks is refused (see Status) without stopping the others. With a
// cache_dir, a plugin file described before under the same configuration
// is checked from the cached description and compiled only when first
// needed (a call, or WarmUp); any other is compiled and described now.
func NewHost(ctx context.Context, opts Options) (*Host, error) {
	if opts.Config == nil {
		return nil, errors.New("plugin host: no plugin config")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Host{log: log, keys: opts.Keys, maxSpeech: opts.MaxSpeechBytes, metrics: opts.Metrics, onCompile: opts.onCompile}
	if h.maxSpeech <= 0 {
		h.maxSpeech = DefaultMaxSpeechBytes
	}
	h.maxImage = opts.MaxImageBytes
	if h.maxImage <= 0 {
		h.maxImage = DefaultMaxImageBytes
	}
	h.stopped, h.stop = context.WithCancel(context.Background())
	if dir := opts.Config.Runtime.CacheDir; dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("plugin host: cache_dir: %w", err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("plugin host: cache_dir: %w", err)
		}
		h.cache = cache
		h.descs = newDescribeCache(dir, log)
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	set := h.load(ctx, opts.Config)
	h.current.Store(set)
	return h, nil
}

// load builds a new set. Refused entries are recorded, not fatal.
// Compiling is CPU-bound, so entries load in parallel, one per core. Of
// entries sharing a file, the first loads alone so the file compiles once
// (wazero would otherwise compile the same module twice at once); the rest
// then load in parallel from the compilation cache.
func (h *Host) load(ctx context.Context, cfg *Config) *pluginSet {
	ld := newLoader(h.cache, h.keys, h.log)
	ld.metrics, ld.descs, ld.compiling, ld.onCompile = h.metrics, h.descs, &h.compiling, h.onCompile
	ld.sameCode = &h.sameCode
	names := cfg.Names()
	status := make([]PluginStatus, len(names))
	plugins := make([]*loaded, len(names))
	byFile := make(map[string][]int)
	var files []string
	for i, name := range names {
		pc := cfg.Plugins[name]
		status[i] = PluginStatus{
			Name: name, Path: pc.Path, KeySlot: pc.KeySlot, Capabilities: pc.Capabilities,
			AllowedHosts: pc.AllowedHosts, AllowPrivate: pc.AllowPrivate, Limits: pc.Limits,
			DefaultModel: pc.Config["default_model"],
		}
		if !pc.Enabled {
			status[i].State = StateDisabled
			continue
		}
		if _, seen := byFile[pc.Path]; !seen {
			files = append(files, pc.Path)
		}
		byFile[pc.Path] = append(byFile[pc.Path], i)
	}
	loadOne := func(i int) {
		name := names[i]
		l, err := ld.load(ctx, cfg.Plugins[name])
		if err != nil {
			var r *refusal
			status[i].State, status[i].Reason = StateRefused, err.Error()
			if errors.As(err, &r) {
				status[i].Reason = r.reason
			}
			h.log.WarnContext(ctx, "plugin refused", "plugin", name, "reason", status[i].Reason)
			return
		}
		desc := l.desc
		status[i].State, status[i].SHA256, status[i].Description = StateLoaded, l.sha256, &desc
		status[i].Rules = l.rules
		plugins[i] = l
		h.log.InfoContext(ctx, "plugin loaded", "plugin", name, "version", desc.Version, "capabilities", desc.Capabilities)
	}
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	limited := func(i int) {
		sem <- struct{}{}
		defer func() { <-sem }()
		loadOne(i)
	}
	for _, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries := byFile[f]
			limited(entries[0])
			for _, i := range entries[1:] {
				wg.Add(1) // before this goroutine's Done, so Wait still waits
				go func() {
					defer wg.Done()
					limited(i)
				}()
			}
		}()
	}
	wg.Wait()

	set := &pluginSet{plugins: make(map[string]*loaded), status: status, drained: make(chan struct{})}
	for i, l := range plugins {
		if l != nil {
			set.plugins[names[i]] = l
		}
	}
	return set
}

// Reload compiles and checks newCfg, then swaps it in atomically. Calls in
// flight finish on the old plugins, which are closed after the last one.
// If any enabled plugin of newCfg is refused, nothing changes and the error
// says why.
func (h *Host) Reload(ctx context.Context, newCfg *Config) error {
	if newCfg == nil {
		return errors.New("plugin reload: no plugin config")
	}
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	old := h.current.Load()
	if old == nil {
		return errors.New("plugin reload: host is closed")
	}
	set := h.load(ctx, newCfg)
	// A reload is all or nothing, so every plugin is compiled and started
	// before it is swapped in, even one whose description was cached.
	_ = h.warmSet(ctx, set)
	var refused []string
	for _, st := range set.statusNow() {
		if st.State == StateRefused {
			refused = append(refused, st.Name+": "+st.Reason)
		}
	}
	if len(refused) > 0 {
		set.retire()
		set.close()
		return fmt.Errorf("plugin reload refused, the running plugins stay: %s", strings.Join(refused, "; "))
	}
	h.current.Store(set)
	h.retireSet(old)
	h.log.InfoContext(ctx, "plugins reloaded", "loaded", len(set.plugins))
	return nil
}

func (h *Host) retireSet(s *pluginSet) {
	drained := s.retire()
	h.retiring.Add(1)
	go func() {
		defer h.retiring.Done()
		<-drained
		s.close()
	}()
}

// Close stops new calls, waits (up to ctx) for running ones and frees every
// compiled plugin. When ctx ends first, the calls still running are
// stopped (a sleeping or spinning plugin included; each such call returns
// an unavailable error) and Close returns at once: a plugin never holds
// shutdown past its grace period.
func (h *Host) Close(ctx context.Context) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if old := h.current.Swap(nil); old != nil {
		h.retireSet(old)
	}
	done := make(chan struct{})
	go func() { h.retiring.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		h.stop()
		return fmt.Errorf("plugin host close: calls still running at the deadline were stopped: %w", ctx.Err())
	}
	h.stop()
	// Compiles started by calls that gave up may still be running.
	h.compiling.Wait()
	return h.cache.Close(context.Background())
}

// WarmUp compiles every loaded plugin of the running set that is not
// compiled yet and starts one instance of each, running describe again:
// the pools are warm for the first calls, and a plugin loaded from the
// describe cache is checked for real. A plugin that fails (its code does
// not compile, its start function or describe fails, or its description no
// longer passes its grant) is taken out of service: Status lists it as
// refused with the reason, calls to it are refused, and the error says so.
// Plugins warm one after the other, leaving the other cores to the calls;
// a call does not wait for WarmUp, only for its own plugin's compile.
func (h *Host) WarmUp(ctx context.Context) error {
	s := h.current.Load()
	if s == nil || !s.enter() {
		return nil
	}
	defer s.leave()
	return h.warmSet(ctx, s)
}

func (h *Host) warmSet(ctx context.Context, s *pluginSet) error {
	names := make([]string, 0, len(s.plugins))
	for name := range s.plugins {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		if err := s.plugins[name].warmUp(ctx); err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Status lists every plugins.toml entry of the running set, sorted by name.
func (h *Host) Status() []PluginStatus {
	s := h.current.Load()
	if s == nil {
		return nil
	}
	return s.statusNow()
}

// statusNow is the set's status with what changed since it loaded: call
// counts, and entries that failed after they loaded (see loaded.fail).
func (s *pluginSet) statusNow() []PluginStatus {
	out := make([]PluginStatus, len(s.status))
	copy(out, s.status)
	for i := range out {
		if l, ok := s.plugins[out[i].Name]; ok {
			out[i].Calls, out[i].Errors = l.calls.Load(), l.errors.Load()
			if r := l.failed(); r != "" {
				out[i].State, out[i].Reason = StateRefused, r
			}
		}
	}
	return out
}

// PoolStats reports each loaded plugin's instance pool: its size, the
// instances serving a call and the warm ones waiting (for the metrics).
func (h *Host) PoolStats() []metrics.PoolStat {
	s := h.current.Load()
	if s == nil {
		return nil
	}
	out := make([]metrics.PoolStat, 0, len(s.plugins))
	for name, l := range s.plugins {
		out = append(out, metrics.PoolStat{Plugin: name, Size: l.cfg.Limits.PoolSize, InUse: l.pool.inUse(), Idle: l.pool.idleCount()})
	}
	return out
}

// Description returns what a loaded plugin said about itself.
func (h *Host) Description(name string) (abi.Description, bool) {
	s := h.current.Load()
	if s == nil {
		return abi.Description{}, false
	}
	l, ok := s.plugins[name]
	if !ok {
		return abi.Description{}, false
	}
	return l.desc, true
}

// acquire enters the current set and finds a plugin in it.
func (h *Host) acquire(name string) (*pluginSet, *loaded, error) {
	for {
		s := h.current.Load()
		if s == nil {
			return nil, nil, &abi.Error{Code: abi.ErrUnavailable, Message: "the plugin host is shut down"}
		}
		if !s.enter() {
			continue // a reload swapped sets just now; take the new one
		}
		if l, ok := s.plugins[name]; ok && l.failed() == "" {
			return s, l, nil
		}
		s.leave()
		for _, st := range s.statusNow() {
			if st.Name == name {
				msg := fmt.Sprintf("plugin %s is %s", name, st.State)
				if st.Reason != "" {
					msg += ": " + st.Reason
				}
				return nil, nil, &abi.Error{Code: abi.ErrUnavailable, Message: msg}
			}
		}
		return nil, nil, &abi.Error{Code: abi.ErrUnavailable, Message: fmt.Sprintf("no plugin named %q in plugins.toml", name)}
	}
}

// Result is the outcome of a successful plugin call.
type Result struct {
	Output []byte
	// Usage holds the rows the plugin recorded, with Provider and Plugin
	// set by the host.
	Usage []abi.Usage
	// Provider is what usage rows of this plugin carry: its key slot, or
	// its entry name when it has none.
	Provider string

	redact func(string) string // scrubs the call's keys from decoded fields
}

// Invoke calls export of plugin name with input, for the call in ctx (see
// WithCall). A plugin's own error comes back as *abi.Error (errors.As);
// traps, timeouts and running out of memory also come back as an *abi.Error
// (code internal or timeout) that wraps the cause. Invoke never retries.
func (h *Host) Invoke(ctx context.Context, name, export string, input []byte) (Result, error) {
	if export == "" || strings.HasPrefix(export, "_") {
		return Result{}, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("%q is not a plugin function", export)}
	}
	return h.invoke(ctx, name, "", export, input)
}

// invoke runs one export, first checking capability when it is not "".
func (h *Host) invoke(ctx context.Context, name, capability, export string, input []byte) (Result, error) {
	s, l, err := h.acquire(name)
	if err != nil {
		return Result{}, err
	}
	defer s.leave()
	// Close may have to stop this call (see Close).
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(h.stopped, func() { cancel(errHostClosed) })()
	if capability != "" && !l.grants(capability) {
		return Result{}, &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("plugin %s does not offer %s (or plugins.toml does not grant it)", name, capability)}
	}
	out, st, err := l.call(ctx, export, input)
	if err != nil {
		return Result{}, fmt.Errorf("plugin %s: %s: %w", name, export, err)
	}
	// Nothing a plugin returns carries a key it was served.
	return Result{Output: st.redactBytes(out), Usage: st.usage, Provider: l.provider(), redact: st.redact}, nil
}

// Call is Invoke returning only the output.
func (h *Host) Call(ctx context.Context, name, export string, input []byte) ([]byte, error) {
	r, err := h.Invoke(ctx, name, export, input)
	return r.Output, err
}

// Chat asks plugin name for a chat completion for the call in ctx. The
// usage rows are what the plugin recorded through record_usage; when it
// recorded none, the response's own Usage (if not empty) is the one row.
// Chat never retries: retries happen once, in the HTTP layer.
func (h *Host) Chat(ctx context.Context, name string, req abi.ChatRequest) (abi.ChatResponse, []abi.Usage, error) {
	// abijson: the same bytes and values as encoding/json without its
	// reflection, which was about a tenth of the host's CPU for a chat call.
	in, err := abijson.AppendChatRequest(make([]byte, 0, chatRequestSize(&req)), &req)
	if err != nil {
		return abi.ChatResponse{}, nil, fmt.Errorf("plugin %s: chat: encode request: %w", name, err)
	}
	r, err := h.invoke(ctx, name, abi.CapChat, abi.ChatExport, in)
	if err != nil {
		return abi.ChatResponse{}, nil, err
	}
	resp, err := abijson.DecodeChatResponse(r.Output)
	if err != nil {
		return abi.ChatResponse{}, nil, fmt.Errorf("plugin %s: chat: %w", name,
			&callError{&abi.Error{Code: abi.ErrInternal, Message: "the plugin's answer was not a chat response"}, err})
	}
	redactChat(&resp, r.redact)
	usage := r.Usage
	if len(usage) == 0 && resp.Usage != (abi.Usage{}) {
		u := resp.Usage
		if u.Kind == "" {
			u.Kind = abi.UsageText
		}
		// Checked exactly like a record_usage row, and refused the same way:
		// the reply stands, the row is not recorded.
		if err := checkUsage(u); err != nil {
			h.log.WarnContext(ctx, "plugin usage in chat response rejected", "plugin", name, "reason", err)
			resp.Usage = abi.Usage{}
		} else {
			u.Provider, u.Plugin = r.Provider, name
			usage = []abi.Usage{u}
		}
	}
	// Whose usage it is was decided host-side.
	resp.Usage.Provider, resp.Usage.Plugin = r.Provider, name
	return resp, usage, nil
}

// chatRequestSize guesses the encoded size of req, so its buffer is
// allocated once.
func chatRequestSize(req *abi.ChatRequest) int {
	n := 128 + len(req.Model) + len(req.AdvancedParameters)
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 48 + len(m.Role) + len(m.Content) + len(m.Name) + len(m.ToolCallID)
	}
	return n + n/16 // room for some escapes
}

// ValidateKey asks plugin name whether candidateKey works. The key is served
// to the plugin in place of the caller's stored key, for this call only.
func (h *Host) ValidateKey(ctx context.Context, name, candidateKey string) (abi.ValidateKeyResult, error) {
	if candidateKey == "" {
		return abi.ValidateKeyResult{}, &abi.Error{Code: abi.ErrBadRequest, Message: "the key is empty"}
	}
	c, _ := CallFrom(ctx)
	c.CandidateKey = candidateKey
	c.OnChunk = nil
	in, _ := json.Marshal(abi.ValidateKeyRequest{})
	r, err := h.invoke(WithCall(ctx, c), name, abi.CapValidateKey, abi.ValidateKeyExport, in)
	if err != nil {
		return abi.ValidateKeyResult{}, err
	}
	var res abi.ValidateKeyResult
	err = json.Unmarshal(r.Output, &res)
	res.Status, res.Message = r.redact(res.Status), r.redact(res.Message)
	if err != nil || res.Status == "" {
		if err == nil {
			err = errors.New("no status")
		}
		return abi.ValidateKeyResult{}, fmt.Errorf("plugin %s: validate_key: %w", name,
			&callError{&abi.Error{Code: abi.ErrInternal, Message: "the plugin's answer was not a key check result"}, err})
	}
	return res, nil
}
