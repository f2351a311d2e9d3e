package plugintest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// DefaultUser is the caller of every call made through a Harness that was
// not narrowed with As.
const DefaultUser = "user-1"

// Options configure the fake host. The zero value is usable: no config, no
// key, every loopback host allowed.
type Options struct {
	// Config is the plugin's plain config (plugins.toml [plugins.x.config]).
	Config map[string]string
	// Key is DefaultUser's key in the slot bound to the plugin.
	Key string
	// Keys maps further user ids to their key in the bound slot.
	Keys map[string]string
	// Slot is the slot name bound to the plugin (default "test"). api_key
	// serves a key for "" or this name and nothing for any other slot.
	Slot string
	// AllowedHosts narrows outbound HTTP to these "host:port" pairs. Empty
	// allows every loopback address. Non-loopback hosts are always refused.
	AllowedHosts []string
	// CallTimeout bounds one export call (default 30s).
	CallTimeout time.Duration
	// HTTPTimeout bounds one HTTP request, and each wait for a stream
	// event (default 20s).
	HTTPTimeout time.Duration
	// MaxResponseBytes caps a response body and one SSE event (default 8 MiB).
	MaxResponseBytes int64
	// MaxPages is the memory limit in 64 KiB pages (default 1024).
	MaxPages uint32
	// OnChunk, when set, sees every emitted chunk as it arrives (before the
	// call returns), so a test can prove that text really streams.
	OnChunk func(user, chunk string)
	// Logger, when set, also receives the plugin's log entries.
	Logger *slog.Logger
}

// Harness is one plugin under the fake host. Its methods are safe for
// concurrent use; calls run one at a time on a reused instance, like one
// slot of the real host's pool, and an instance is thrown away after any
// failure, as the real host does.
type Harness struct {
	tb       testing.TB
	opts     Options
	compiled *extism.CompiledPlugin
	net      *fakeNet
	user     string
	shared   *shared
}

// shared is the state every view (As) of one Harness shares.
type shared struct {
	callMu sync.Mutex // one call at a time on the instance
	inst   *extism.Plugin
	stderr *bytes.Buffer
	guest  *linearMemory // the instance's own memory, for blobs

	mu     sync.Mutex
	usage  []Usage
	logs   []abi.LogEntry
	chunks []string
}

// Usage is one record_usage call as the host saw it: the record plus the
// caller it was charged to.
type Usage struct {
	User string
	abi.Usage
}

// Result is everything one call produced.
type Result struct {
	// RC is the export's return code: 0 success, 1 typed error.
	RC uint32
	// Output is the raw output (JSON for every ABI export).
	Output []byte
	// Err is the typed error the plugin set, or nil.
	Err *abi.Error
	// Trap is set when the call did not finish normally (wasm trap,
	// timeout, missing export); Err is nil then.
	Trap error
	// Usage, Logs and Chunks are what this call recorded.
	Usage  []Usage
	Logs   []abi.LogEntry
	Chunks []string
	// Stderr is what the instance wrote to stderr (panics, runtime errors).
	Stderr string
	// Blobs are the call's blobs by handle (blob_create, response_blob),
	// so a test can read what a plugin handed over by handle.
	Blobs map[int64][]byte
}

// cache makes compiling the same .wasm again (a second Harness with
// another config) cheap within one test binary. A compilation cache is
// content-addressed and safe for concurrent use, so sharing it changes no
// behaviour, only speed.
var cache = sync.OnceValue(func() wazero.CompilationCache { return wazero.NewCompilationCache() })

// New loads the .wasm at wasmPath under a fake host configured by opts and
// closes it when the test ends.
func New(tb testing.TB, wasmPath string, opts Options) *Harness {
	tb.Helper()
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		tb.Fatalf("read plugin: %v", err)
	}
	if opts.Slot == "" {
		opts.Slot = "test"
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = 20 * time.Second
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 8 << 20
	}
	if opts.MaxPages == 0 {
		opts.MaxPages = 1024
	}
	h := &Harness{tb: tb, opts: opts, user: DefaultUser, shared: &shared{}}
	h.net = newFakeNet(opts, h.keyOf)

	sum := sha256.Sum256(wasm)
	manifest := extism.Manifest{
		Wasm:    []extism.Wasm{extism.WasmData{Data: wasm, Hash: hex.EncodeToString(sum[:])}},
		Timeout: uint64(opts.CallTimeout / time.Millisecond),
		Config:  opts.Config,
		// Extism's own HTTP stays off (no AllowedHosts); MaxVarBytes 0
		// disables the var store, as on the real host.
		Memory: &extism.ManifestMemory{MaxPages: opts.MaxPages, MaxHttpResponseBytes: -1, MaxVarBytes: 0},
	}
	rtc := wazero.NewRuntimeConfig().WithCompilationCache(cache()).WithCloseOnContextDone(true)
	ctx := context.Background()
	h.compiled, err = extism.NewCompiledPlugin(ctx, manifest,
		extism.PluginConfig{EnableWasi: true, RuntimeConfig: rtc}, h.hostFunctions())
	if err != nil {
		tb.Fatalf("load plugin %s: %v", wasmPath, err)
	}
	tb.Cleanup(func() {
		h.shared.callMu.Lock()
		defer h.shared.callMu.Unlock()
		if h.shared.inst != nil {
			_ = h.shared.inst.Close(context.Background())
		}
		_ = h.compiled.Close(context.Background())
	})
	return h
}

// As returns a view of the same plugin whose calls are made by user, so a
// test can show that each user gets only their own key.
func (h *Harness) As(user string) *Harness {
	c := *h
	c.user = user
	return &c
}

func (h *Harness) keyOf(user string) (string, bool) {
	if k, ok := h.opts.Keys[user]; ok && k != "" {
		return k, true
	}
	if user == DefaultUser && h.opts.Key != "" {
		return h.opts.Key, true
	}
	return "", false
}

// HasExport reports whether the plugin exports name (e.g. the ABI marker).
func (h *Harness) HasExport(name string) bool {
	h.tb.Helper()
	h.shared.callMu.Lock()
	defer h.shared.callMu.Unlock()
	inst, err := h.instance()
	if err != nil {
		h.tb.Fatalf("instantiate plugin: %v", err)
	}
	return inst.FunctionExists(name)
}

// instance returns the idle instance, creating one if needed. callMu held.
func (h *Harness) instance() (*extism.Plugin, error) {
	if h.shared.inst != nil {
		return h.shared.inst, nil
	}
	stderr := &bytes.Buffer{}
	inst, guest, err := newInstanceWithGuestMemory(h.compiled, extism.PluginInstanceConfig{
		// The wazero defaults are a fake clock and a fixed random source;
		// plugins must see the real ones, as on the real host.
		ModuleConfig: wazero.NewModuleConfig().
			WithSysWalltime().WithSysNanotime().WithSysNanosleep().
			WithRandSource(rand.Reader).WithStderr(stderr),
	})
	if err != nil {
		return nil, err
	}
	h.shared.inst, h.shared.stderr, h.shared.guest = inst, stderr, guest
	return inst, nil
}

// Call runs export with input and returns what happened. input may be nil,
// []byte, string (sent as is) or any value (sent as JSON). Call fails the
// test only when the fake host itself cannot run.
func (h *Harness) Call(export string, input any) Result {
	h.tb.Helper()
	return h.call(export, input, nil)
}

// CallWithBlobs is Call with blobs the caller stores before the call, as
// the host does for voice samples and voice messages: blobs[i] gets handle
// i+1, readable by the plugin and outside its blob_create budget.
func (h *Harness) CallWithBlobs(export string, input any, blobs [][]byte) Result {
	h.tb.Helper()
	return h.call(export, input, blobs)
}

func (h *Harness) call(export string, input any, seed [][]byte) Result {
	h.tb.Helper()
	var in []byte
	switch v := input.(type) {
	case nil:
	case []byte:
		in = v
	case string:
		in = []byte(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			h.tb.Fatalf("encode input for %s: %v", export, err)
		}
		in = b
	}

	h.shared.callMu.Lock()
	defer h.shared.callMu.Unlock()
	inst, err := h.instance()
	if err != nil {
		h.tb.Fatalf("instantiate plugin: %v", err)
	}
	c := &call{h: h, user: h.user, streams: map[int64]*openStream{}, blobs: map[int64][]byte{}, guest: h.shared.guest, input: in}
	for _, b := range seed {
		c.seedBlob(b)
	}
	ctx := context.WithValue(context.Background(), callKey{}, c)
	h.shared.stderr.Reset()
	// As on the host, a plugin that reads its input through the bulk path
	// only (it exports abi.BulkInputExport) finds Extism's input empty, so
	// a plugin that says so but reads it anyway fails here too.
	extismIn := in
	if inst.FunctionExists(abi.BulkInputExport) {
		extismIn = nil
	}
	rc, out, err := inst.CallWithContext(ctx, export, extismIn)
	c.closeStreams()
	if c.outputSet && err == nil {
		out = c.output
	}

	res := Result{RC: rc, Output: out, Stderr: h.shared.stderr.String()}
	c.mu.Lock()
	res.Usage, res.Logs, res.Chunks, res.Blobs = c.usage, c.logs, c.chunks, c.blobs
	c.mu.Unlock()
	if err != nil {
		if e, ok := parseError(err.Error()); ok && rc == 1 {
			res.Err = e
		} else if rc == 1 && !looksLikeTrap(err.Error()) {
			// A plain string error: the ABI reads it as code "internal".
			res.Err = &abi.Error{Code: abi.ErrInternal, Message: err.Error()}
		} else {
			res.Trap = err
		}
	} else if rc != 0 {
		res.Trap = fmt.Errorf("%s returned %d without setting an error", export, rc)
	}
	if err != nil || rc != 0 {
		// Never reuse an instance after a failure (its state is unknown).
		_ = inst.Close(context.Background())
		h.shared.inst, h.shared.guest = nil, nil
	}
	return res
}

func parseError(s string) (*abi.Error, bool) {
	var e abi.Error
	if !strings.HasPrefix(strings.TrimSpace(s), "{") || json.Unmarshal([]byte(s), &e) != nil || e.Code == "" {
		return nil, false
	}
	return &e, true
}

func looksLikeTrap(s string) bool {
	for _, m := range []string{"wasm error", "module closed", "module is closed", "unknown function", "exit_code", "deadline exceeded"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// mustOK fails the test on a trap and decodes a successful output into out.
func (h *Harness) mustOK(export string, res Result, out any) *abi.Error {
	h.tb.Helper()
	if res.Trap != nil {
		h.tb.Fatalf("%s trapped: %v\nstderr:\n%s", export, res.Trap, res.Stderr)
	}
	if res.Err != nil {
		return res.Err
	}
	if err := json.Unmarshal(res.Output, out); err != nil {
		h.tb.Fatalf("%s output is not the expected JSON: %v\n%s", export, err, res.Output)
	}
	return nil
}

// Describe calls describe and decodes the Description.
func (h *Harness) Describe() abi.Description {
	h.tb.Helper()
	var d abi.Description
	if e := h.mustOK(abi.DescribeExport, h.Call(abi.DescribeExport, nil), &d); e != nil {
		h.tb.Fatalf("describe failed: %v", e)
	}
	return d
}

// Chat calls chat. A typed error is returned for the test to inspect;
// a trap fails the test.
func (h *Harness) Chat(req abi.ChatRequest) (abi.ChatResponse, *abi.Error) {
	h.tb.Helper()
	var out abi.ChatResponse
	e := h.mustOK(abi.ChatExport, h.Call(abi.ChatExport, req), &out)
	return out, e
}

// ValidateKey calls validate_key for the harness's user.
func (h *Harness) ValidateKey() (abi.ValidateKeyResult, *abi.Error) {
	h.tb.Helper()
	var out abi.ValidateKeyResult
	e := h.mustOK(abi.ValidateKeyExport, h.Call(abi.ValidateKeyExport, abi.ValidateKeyRequest{}), &out)
	return out, e
}

// Speak calls speak (capability voice.speak) and returns the speech read
// from the blob the response names. Like the host, it refuses (code
// internal or unavailable) a blob that does not exist, empty audio and a
// mime_type that is not audio/*; the host also checks the bytes' magic
// (MP3, WAV, Ogg, FLAC, WebM, MP4, AAC), which a test should assert too.
func (h *Harness) Speak(req abi.SpeakRequest) (abi.SpeakResponse, []byte, *abi.Error) {
	h.tb.Helper()
	var out abi.SpeakResponse
	res := h.Call(abi.SpeakExport, req)
	if e := h.mustOK(abi.SpeakExport, res, &out); e != nil {
		return out, nil, e
	}
	audio, ok := res.Blobs[out.Audio.Blob]
	switch {
	case out.Audio.Blob == 0 || !ok:
		return out, nil, &abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the voice plugin named audio blob %d, which does not exist", out.Audio.Blob)}
	case len(audio) == 0:
		return out, nil, &abi.Error{Code: abi.ErrUnavailable, Message: "the voice plugin returned empty audio"}
	case !strings.HasPrefix(strings.ToLower(out.Audio.MimeType), "audio/"):
		return out, nil, &abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the voice plugin said its audio is %q, not an audio/* MIME type", out.Audio.MimeType)}
	}
	return out, audio, nil
}

// Transcribe calls transcribe (capability voice.transcribe) with audio
// stored as a caller blob, as the host does; req.Audio.Blob is set for you
// (and mime_type defaults to audio/ogg, a Discord voice message).
func (h *Harness) Transcribe(req abi.TranscribeRequest, audio []byte) (abi.TranscribeResponse, *abi.Error) {
	h.tb.Helper()
	req.Audio.Blob = 1
	if req.Audio.MimeType == "" {
		req.Audio.MimeType = "audio/ogg"
	}
	var out abi.TranscribeResponse
	e := h.mustOK(abi.TranscribeExport, h.CallWithBlobs(abi.TranscribeExport, req, [][]byte{audio}), &out)
	return out, e
}

// CloneVoice calls clone_voice (capability voice.clone) with samples[i]
// stored as a caller blob for req.Samples[i] (whose Blob is set for you).
func (h *Harness) CloneVoice(req abi.CloneVoiceRequest, samples [][]byte) (abi.CloneVoiceResponse, *abi.Error) {
	h.tb.Helper()
	if len(samples) != len(req.Samples) {
		h.tb.Fatalf("CloneVoice: %d samples for %d sample descriptions", len(samples), len(req.Samples))
	}
	req.Samples = append([]abi.AudioRef(nil), req.Samples...)
	for i := range req.Samples {
		req.Samples[i].Blob = int64(i + 1)
	}
	var out abi.CloneVoiceResponse
	e := h.mustOK(abi.CloneVoiceExport, h.CallWithBlobs(abi.CloneVoiceExport, req, samples), &out)
	if e == nil && out.VoiceID == "" {
		e = &abi.Error{Code: abi.ErrInternal, Message: "the plugin's answer was not a voice id"}
	}
	return out, e
}

// Usage returns every usage record so far, in order.
func (h *Harness) Usage() []Usage {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return append([]Usage(nil), h.shared.usage...)
}

// Logs returns every log entry the plugin wrote so far, in order.
func (h *Harness) Logs() []abi.LogEntry {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return append([]abi.LogEntry(nil), h.shared.logs...)
}

// Chunks returns every emitted chunk so far, in order.
func (h *Harness) Chunks() []string {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return append([]string(nil), h.shared.chunks...)
}

// Reset forgets the recorded usage, logs and chunks.
func (h *Harness) Reset() {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	h.shared.usage, h.shared.logs, h.shared.chunks = nil, nil, nil
}
