package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/tzurot-go/tzurot/host/internal/metrics"
	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// probeTimeout bounds the describe call at load: describing oneself is
// cheap, and a plugin that spins there must not hold up the start.
const probeTimeout = 10 * time.Second

// requiredExports names the export each capability needs to exist.
var requiredExports = map[string]string{
	abi.CapChat:        abi.ChatExport,
	abi.CapValidateKey: abi.ValidateKeyExport,
	abi.CapSpeak:       abi.SpeakExport,
	abi.CapVoiceClone:  abi.CloneVoiceExport,
	abi.CapTranscribe:  abi.TranscribeExport,
	abi.CapModels:      abi.ModelsExport,
	abi.CapEmbed:       abi.EmbedExport,
	abi.CapTool:        abi.InvokeExport,
	abi.CapImage:       abi.GenerateImageExport,
}

// optionalCapabilities may be requested without being granted: the plugin
// loads and simply does not get them (calls are denied as for any
// capability not granted). llm.models only reads a provider's model list
// and is never paid, and the provider plugins began to request it after
// deployments had written their plugins.toml: refusing the plugin would
// turn a new nicety into a chat outage on upgrade. llm.embed came the same
// way (memory search works without it, on full text).
var optionalCapabilities = map[string]bool{abi.CapModels: true, abi.CapEmbed: true}

// ungrantedOptional lists the optional capabilities d requests that pc
// does not grant, for a log line at load.
func ungrantedOptional(pc PluginConfig, d abi.Description) []string {
	var out []string
	for _, c := range d.Capabilities {
		if optionalCapabilities[c] && !slices.Contains(pc.Capabilities, c) {
			out = append(out, c)
		}
	}
	return out
}

var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// loader compiles and checks plugin entries, possibly several at once.
// files caches .wasm contents (and their SHA-256) by path within one load,
// so entries sharing a file read and hash it once; compiled caches the
// module of each file and memory limit, so they compile it once.
type loader struct {
	cache wazero.CompilationCache
	keys  KeySource
	log   *slog.Logger
	// metrics is handed to each loaded plugin (nil: none).
	metrics *metrics.Metrics
	// descs keeps describe results between starts (nil: none, every entry
	// is compiled and described at load).
	descs *describeCache
	// compiling counts compiles still running, for Host.Close; onCompile,
	// when set, is told of each compile started (tests).
	compiling *sync.WaitGroup
	onCompile func(path string)

	mu       sync.Mutex
	files    map[string]*wasmFile
	compiled map[compileKey]*sharedCompiled
	// sameCode serialises compiles of the same bytes; the Host's, so a
	// reload's compiles wait for the last set's too.
	sameCode *codeLocks
}

// codeLocks serialises the compiles of one module's bytes (by SHA-256)
// under different paths or limits. The runtimes share the compilation
// cache's engine, which hands concurrent compiles of the same bytes the
// same compiled module and then sets its function listeners without a
// lock (a data race in wazero v1.12.0's wazevo engine, CompileModule).
// The second compile finds the code compiled; different modules still
// compile in parallel.
type codeLocks struct {
	mu    sync.Mutex
	bySum map[string]*sync.Mutex
}

func (c *codeLocks) of(sum string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bySum == nil {
		c.bySum = make(map[string]*sync.Mutex)
	}
	l := c.bySum[sum]
	if l == nil {
		l = &sync.Mutex{}
		c.bySum[sum] = l
	}
	return l
}

func newLoader(cache wazero.CompilationCache, keys KeySource, log *slog.Logger) *loader {
	return &loader{cache: cache, keys: keys, log: log, compiling: &sync.WaitGroup{},
		files: make(map[string]*wasmFile), compiled: make(map[compileKey]*sharedCompiled), sameCode: &codeLocks{}}
}

// wasmFile is a plugin file's bytes and their SHA-256 (hex).
type wasmFile struct {
	data []byte
	sum  string
}

// compileKey is what a compiled module depends on besides the host
// functions (the same for every entry): the file and the memory limit
// (wazero sets it per runtime). Config and call timeout are set per
// instance (pool.newInstance).
type compileKey struct {
	path      string
	memoryMiB int
}

// sharedCompiled is a module used by one or more entries, compiled on
// first need: at load when the entry must be described, else by the first
// call or Host.WarmUp, whichever comes first. The last entry to close
// closes it. An entry refused after compiling (its describe did not pass)
// closes its use at once, so a module may close while the load goes on:
// the next entry of the same file then makes another (closed).
type sharedCompiled struct {
	start func()          // compiles; run once, by the first get
	wg    *sync.WaitGroup // counts running compiles (Host.Close waits)

	done     chan struct{} // closed when the compile has finished
	compiled *extism.CompiledPlugin
	err      error // why it did not compile; set before done is closed

	mu      sync.Mutex
	users   int
	closed  bool
	started bool
}

// acquire adds a user, or reports false when the module is already closed.
func (c *sharedCompiled) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.users++
	return true
}

func (c *sharedCompiled) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users--; c.users > 0 {
		return
	}
	c.closed = true
	if !c.started {
		return
	}
	select {
	case <-c.done:
		if c.compiled != nil {
			_ = c.compiled.Close(context.Background())
		}
	default:
		// Still compiling (nobody waits for it any more): close it when done.
		go func() {
			<-c.done
			if c.compiled != nil {
				_ = c.compiled.Close(context.Background())
			}
		}()
	}
}

// get returns the compiled module, starting its compile if nobody has,
// and waits for it as long as ctx allows. A compile is never stopped by a
// caller giving up: the next caller (or the warm-up) uses its result.
func (c *sharedCompiled) get(ctx context.Context) (*extism.CompiledPlugin, error) {
	select {
	case <-c.done:
	default:
		c.mu.Lock()
		closed, first := c.closed, !c.started
		var start func()
		if !closed && first {
			c.started, start, c.start = true, c.start, nil
			c.wg.Add(1)
		}
		c.mu.Unlock()
		if closed {
			return nil, errors.New("the plugin set was closed")
		}
		if start != nil {
			go func() {
				defer c.wg.Done()
				start()
			}()
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, &compileWaitError{ctx.Err()}
		}
	}
	return c.compiled, c.err
}

// compileError is a module that did not compile; compileWaitError is a
// caller that gave up waiting for its compile.
type compileError struct{ err error }

func (e *compileError) Error() string { return "its code does not compile: " + e.err.Error() }
func (e *compileError) Unwrap() error { return e.err }

type compileWaitError struct{ err error }

func (e *compileWaitError) Error() string {
	return "gave up waiting for the plugin to compile: " + e.err.Error()
}
func (e *compileWaitError) Unwrap() error { return e.err }

// compile returns the module for pc, to be compiled on first need (see
// sharedCompiled). Why share it: wazero decodes and validates every
// function of a module on each compile, even when the machine code comes
// from the on-disk cache, and reads and checksums the cached code; for
// plugins/openai that was most of a warm start, and it was paid once per
// entry (openai, openrouter and a local server load the same file).
func (ld *loader) compile(pc PluginConfig, data []byte, sum string) *sharedCompiled {
	key := compileKey{pc.Path, pc.Limits.MemoryMiB}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if c, ok := ld.compiled[key]; ok && c.acquire() {
		return c
	}
	same := ld.sameCode.of(sum)
	c := &sharedCompiled{done: make(chan struct{}), users: 1, wg: ld.compiling}
	manifest := extism.Manifest{
		Wasm:    []extism.Wasm{extism.WasmData{Data: data}},
		Timeout: uint64(pc.Limits.CallTimeout.Milliseconds()), // > 0, or a spinning guest is never stopped
		Config:  pc.Config,
		// Explicit values: a zero MaxHttpResponseBytes or MaxVarBytes would
		// mean "0 bytes". Extism's own HTTP stays off via an empty
		// AllowedHosts; MaxVarBytes 0 disables the var store so pooled
		// instances cannot diverge.
		Memory: &extism.ManifestMemory{MaxPages: uint32(pc.Limits.MemoryMiB) * 16, MaxHttpResponseBytes: -1, MaxVarBytes: 0},
	}
	cache, path, onCompile := ld.cache, pc.Path, ld.onCompile
	c.start = func() {
		defer close(c.done)
		if onCompile != nil {
			onCompile(path)
		}
		rtc := wazero.NewRuntimeConfig().WithCompilationCache(cache).WithCloseOnContextDone(true)
		same.Lock() // see codeLocks
		defer same.Unlock()
		// Not the caller's context: a compile is shared and outlives the
		// call that started it.
		compiled, err := extism.NewCompiledPlugin(withOutputCap(context.Background()), manifest, extism.PluginConfig{EnableWasi: true, RuntimeConfig: rtc}, hostFunctions())
		if err != nil {
			c.err = &compileError{err}
			return
		}
		c.compiled = compiled
	}
	ld.compiled[key] = c
	return c
}

// refusal is why a plugin entry was not loaded, in words for a self-hoster.
type refusal struct {
	plugin string
	reason string
}

func (r *refusal) Error() string { return "plugin " + r.plugin + " refused: " + r.reason }

func (ld *loader) refuse(name, format string, args ...any) *refusal {
	return &refusal{plugin: name, reason: fmt.Sprintf(format, args...)}
}

func (ld *loader) readFile(path string) (*wasmFile, error) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if f, ok := ld.files[path]; ok {
		return f, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	f := &wasmFile{data: b, sum: hex.EncodeToString(sum[:])}
	ld.files[path] = f
	return f, nil
}

// load compiles one entry and checks it against its grant. On success the
// plugin is ready with one warm instance in its pool.
func (ld *loader) load(ctx context.Context, pc PluginConfig) (*loaded, error) {
	if pc.problem != nil {
		return nil, ld.refuse(pc.Name, "plugins.toml: %v", strings.ReplaceAll(pc.problem.Error(), "\n", "; "))
	}
	file, err := ld.readFile(pc.Path)
	if err != nil {
		return nil, ld.refuse(pc.Name, "cannot read %s: %v", pc.Path, errors.Unwrap(err))
	}
	data, sumHex := file.data, file.sum
	if !bytes.HasPrefix(data, wasmMagic) {
		return nil, ld.refuse(pc.Name, "%s is not a WebAssembly file", pc.Path)
	}
	if err := checkMarker(data); err != nil {
		return nil, ld.refuse(pc.Name, "%v", err)
	}
	if pc.SHA256 != "" && pc.SHA256 != sumHex {
		return nil, ld.refuse(pc.Name, "sha256 mismatch: plugins.toml expects %s but %s has %s; if you replaced the file on purpose, update sha256", pc.SHA256, pc.Path, sumHex)
	}

	l := &loaded{
		cfg:     pc,
		sha256:  sumHex,
		log:     ld.log.With("plugin", pc.Name),
		keys:    ld.keys,
		http:    newHTTPPolicy(pc),
		metrics: ld.metrics,
		warming: make(chan struct{}, 1),
	}
	ok := false
	defer func() {
		if !ok {
			l.close()
		}
	}()

	l.shared = ld.compile(pc, data, sumHex)
	l.pool = newPool(l.shared, pc)
	l.pool.waited = func(d time.Duration) { ld.metrics.PoolWait(pc.Name, d) }

	// Starting and describing share one bound: the plugin's call_timeout,
	// at most probeTimeout. Each entry has its own, so a plugin whose start
	// function never returns holds back no other plugin for longer.
	l.probeLimit = min(probeTimeout, pc.Limits.CallTimeout)
	var (
		out     []byte
		exports []string
		key     string
		cached  bool
	)
	if ld.descs != nil {
		key = ld.descs.key(pc, sumHex, l.probeLimit)
		var rec describeRecord
		if rec, cached = ld.descs.get(key, sumHex); cached {
			// What this file said under this configuration last time: no
			// compile, no instance (Host.WarmUp checks it again later).
			out, exports = rec.Output, rec.Exports
			if err := checkABIExports(exports); err != nil {
				return nil, ld.refuse(pc.Name, "%v", err)
			}
		}
	}
	if !cached {
		// Waited for whatever ctx says, as before compiles were shared: a
		// compile is not stopped midway, and a start cancelled meanwhile is
		// reported by the instance's start below, in its own words.
		if _, err := l.shared.get(context.WithoutCancel(ctx)); err != nil {
			return nil, ld.refuse(pc.Name, "%v", l.compileFailure(err))
		}
		if out, exports, err = l.probe(ctx); err != nil {
			return nil, ld.refuse(pc.Name, "%v", err)
		}
		l.probed.Store(true)
		if ld.descs != nil {
			// Cached whatever the checks below decide: they run again on
			// every load, against the plugins.toml of that day.
			ld.descs.put(key, sumHex, out, exports)
		}
	}
	l.describeOut, l.describeKey, l.descs = out, key, ld.descs
	if err := l.checkDescribed(out, exports); err != nil {
		return nil, ld.refuse(pc.Name, "%v", err)
	}
	if off := ungrantedOptional(pc, l.desc); len(off) > 0 {
		ld.log.Info("plugin offers capabilities plugins.toml does not grant; they stay off",
			"plugin", pc.Name, "capabilities", off)
	}
	ok = true
	return l, nil
}

// compileFailure words why the module could not be had for a refusal.
func (l *loaded) compileFailure(err error) error {
	var ce *compileError
	if errors.As(err, &ce) {
		err = ce.err
	}
	return fmt.Errorf("cannot compile %s: %v", l.cfg.Path, err)
}

// checkABIExports checks that a module exports what every plugin of this
// ABI must.
func checkABIExports(exports []string) error {
	if !slices.Contains(exports, abi.MarkerExport) {
		return fmt.Errorf("it does not export %s, so it was not built for tzurot plugin ABI v%d", abi.MarkerExport, abi.Version)
	}
	if !slices.Contains(exports, abi.DescribeExport) {
		return fmt.Errorf("it does not export %s", abi.DescribeExport)
	}
	return nil
}

// probe starts an instance of the compiled module, checks its exports and
// runs describe, within l.probeLimit. The instance stays in the pool,
// warm. The error is the reason for a refusal, in a self-hoster's words.
func (l *loaded) probe(ctx context.Context) (out []byte, exports []string, err error) {
	limit := l.probeLimit
	// A free slot is taken even when ctx has ended (always so at load):
	// the start below then says why in its own words.
	select {
	case l.pool.permits <- struct{}{}:
	default:
		select {
		case l.pool.permits <- struct{}{}:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("start-up was cancelled: %w", ctx.Err())
		}
	}
	inst, err := l.pool.newInstance(withStartTimeout(ctx, limit))
	if err != nil {
		<-l.pool.permits
		var se *startError
		var ce *compileError
		switch {
		case errors.As(err, &se):
			return nil, nil, se
		case errors.As(err, &ce):
			return nil, nil, l.compileFailure(ce)
		case strings.Contains(err.Error(), "over limit"):
			return nil, nil, fmt.Errorf("needs more memory at start than limits.memory_mib = %d allows (%v)", l.cfg.Limits.MemoryMiB, err)
		}
		return nil, nil, fmt.Errorf("cannot start: %v (a plugin may only import functions of %s and Extism)", err, abi.HostNamespace)
	}
	for name := range inst.plugin.Module().ExportedFunctions() {
		exports = append(exports, name)
	}
	slices.Sort(exports)
	if err := checkABIExports(exports); err != nil {
		inst.close()
		<-l.pool.permits
		return nil, nil, err
	}
	// The probe instance becomes the pool's first warm instance.
	l.pool.put(inst, true)

	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	out, _, err = l.run(pctx, abi.DescribeExport, nil)
	if err != nil {
		var se *startError
		if errors.As(err, &se) {
			if se.timedOut && ctx.Err() == nil {
				se.limit = limit // the describe deadline is the one that fired
			}
			return nil, nil, se
		}
		if errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, nil, fmt.Errorf("describe did not finish within %s", limit)
		}
		// The message is the plugin's own words: made printable, it cannot
		// put escape sequences or a forged row into plugins list.
		return nil, nil, fmt.Errorf("describe failed: %s", printable(err.Error()))
	}
	return out, exports, nil
}

// checkDescribed parses describe's output and checks it against the grant,
// then compiles the schemas it declares; on success l holds the result.
// It runs on a fresh describe and on a cached one alike.
func (l *loaded) checkDescribed(out []byte, exports []string) error {
	pc := l.cfg
	var desc abi.Description
	if err := json.Unmarshal(out, &desc); err != nil {
		return fmt.Errorf("describe did not return a description: %v", err)
	}
	if err := checkDescription(pc, desc, exports); err != nil {
		return err
	}
	if len(bytes.TrimSpace(desc.VoiceSchema)) > 0 {
		// Compiled once here; every speak call and every saved voice config
		// is checked against it (ValidateVoiceSettings).
		s, err := paramschema.Compile(desc.VoiceSchema)
		if err != nil {
			return fmt.Errorf("its voice_schema is not a valid JSON Schema: %v", err)
		}
		l.voiceSchema = s
	}
	if err := l.compileToolsAndImages(&desc); err != nil {
		return err
	}
	l.desc = desc
	// Compiled once per load, refusing a schema that is not valid JSON
	// Schema: the commands and the pipeline check every personality's
	// parameters against these.
	var err error
	if l.rules, err = paramschema.CompileRules(desc.ParametersSchema, desc.ConstraintsSchema); err != nil {
		return err
	}
	// A plugin that reads its input through the bulk path gets none in
	// Extism's kernel memory (one copy and two kernel calls fewer).
	l.bulkInput = slices.Contains(exports, abi.BulkInputExport)
	l.exports = exports
	return nil
}

// checkDescription compares what a plugin asks for with what it is granted.
func checkDescription(pc PluginConfig, d abi.Description, exports []string) error {
	if d.ABI > abi.Version {
		return fmt.Errorf("it was built for plugin ABI v%d; this host speaks v%d: it needs a newer tzurot host", d.ABI, abi.Version)
	}
	if d.ABI != abi.Version {
		return fmt.Errorf("it was built for plugin ABI v%d; this host speaks v%d", d.ABI, abi.Version)
	}
	if err := checkIdentity(d); err != nil {
		return err
	}
	known := abi.KnownCapabilities()
	for _, c := range d.Capabilities {
		if !slices.Contains(known, c) {
			return fmt.Errorf("it requests capability %q, which this host does not know (known: %s)", c, strings.Join(known, ", "))
		}
		if !slices.Contains(pc.Capabilities, c) {
			if optionalCapabilities[c] {
				continue // loads without it; see optionalCapabilities
			}
			return fmt.Errorf("it requests capability %q, which plugins.toml does not grant (capabilities = %q)", c, pc.Capabilities)
		}
		if exp, need := requiredExports[c]; need {
			if !slices.Contains(exports, exp) {
				return fmt.Errorf("it requests %q but does not export %s", c, exp)
			}
		}
	}
	if d.NeedsKey && pc.KeySlot == "" {
		return errors.New("it needs an API key, but plugins.toml grants it no key_slot")
	}
	if d.NeedsNetwork && len(pc.AllowedHosts) == 0 {
		return errors.New("it needs the network, but plugins.toml grants it no allowed_hosts")
	}
	return nil
}

// What a plugin may call itself. These strings reach terminals (plugins
// list, plugins check) and logs, so a control character or escape sequence
// could repaint the screen or forge a row: only the documented characters
// pass (docs/plugin-abi.md §5.2).
var (
	describeNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	describeVersionRE = regexp.MustCompile(`^[0-9A-Za-z.+_~-]{0,64}$`)
)

const maxSummaryChars = 200

// checkIdentity checks describe's name, version and summary. The reason
// quotes the offending value with %q, so it is itself safe to print.
func checkIdentity(d abi.Description) error {
	if !describeNameRE.MatchString(d.Name) {
		return fmt.Errorf("its describe name %q is not allowed: use 1 to 63 lowercase letters a-z, digits, \"-\" and \"_\", starting with a letter or digit", d.Name)
	}
	if !describeVersionRE.MatchString(d.Version) {
		return fmt.Errorf("its describe version %q is not allowed: use at most 64 letters, digits and \".+_~-\" (semver such as 1.2.0-beta.1)", d.Version)
	}
	if !utf8.ValidString(d.Summary) {
		return fmt.Errorf("its describe summary %q is not valid UTF-8", d.Summary)
	}
	if n := utf8.RuneCountInString(d.Summary); n > maxSummaryChars {
		return fmt.Errorf("its describe summary is %d characters long; at most %d are allowed", n, maxSummaryChars)
	}
	for _, r := range d.Summary {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("its describe summary %q contains %U, which is not allowed: one line of printable characters only (no control characters, escape sequences, line breaks or invisible formatting)", d.Summary, r)
		}
	}
	return nil
}

// printable escapes every character of s that is not printable (control
// characters, escape sequences, line breaks, invisible formatting) as
// \uXXXX, so plugin-supplied text is safe on a terminal.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

// CheckReport is what CheckFile found in a plugin file.
type CheckReport struct {
	Path        string
	Size        int
	SHA256      string
	Description abi.Description
	Exports     []string
}

// CheckFile validates a plugin file against the ABI without a plugins.toml:
// it is a WebAssembly module, exports the ABI marker and describe, speaks
// this ABI version, requests only known capabilities, exports what they
// need and has a valid parameters schema. The plugin is granted whatever
// it asks for, so grant checks are left to plugins.toml. cacheDir is a
// compilation cache directory to use, or "" for none.
func CheckFile(ctx context.Context, path, cacheDir string) (CheckReport, error) {
	pc := PluginConfig{
		Name:         "check",
		Enabled:      true,
		Path:         path,
		KeySlot:      "check",
		Capabilities: abi.KnownCapabilities(),
		AllowedHosts: []string{"check.invalid:443"},
		Limits:       DefaultLimits(),
		Config:       map[string]string{},
	}
	pc.Limits.PoolSize = 1
	cache := wazero.NewCompilationCache()
	if cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return CheckReport{}, fmt.Errorf("compilation cache: %w", err)
		}
		cache = c
	}
	defer cache.Close(context.Background())
	ld := newLoader(cache, nil, slog.New(slog.DiscardHandler))
	l, err := ld.load(ctx, pc)
	if err != nil {
		var r *refusal
		if errors.As(err, &r) {
			return CheckReport{}, fmt.Errorf("%s: %s", path, r.reason)
		}
		return CheckReport{}, err
	}
	defer l.close()
	file, _ := ld.readFile(path)
	return CheckReport{Path: path, Size: len(file.data), SHA256: l.sha256, Description: l.desc, Exports: l.exports}, nil
}
