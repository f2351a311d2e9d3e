package plugin

import (
	"context"
	"sync"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Call is who a plugin call is for. The caller puts it in the context with
// WithCall; host functions read it from there, so nothing about a user is
// ever stored in a plugin or an instance.
type Call struct {
	// UserID is the Discord user id whose key and quota the call uses.
	UserID string
	// PersonalityID is the personality speaking (for logs and usage).
	PersonalityID string
	// RequestID ties the call's log lines to the reply it serves.
	RequestID string
	// OnChunk receives partial text the plugin emits while it works. It is
	// called on the calling goroutine, in order, while the plugin waits, so
	// it must return quickly (hand slow work such as Discord edits to
	// another goroutine); nil drops the chunks.
	OnChunk func(string)
	// CandidateKey, when set, is served as the key instead of asking the
	// KeySource: validate_key tests a key before it is stored.
	CandidateKey string
	// Blobs, when set, holds large byte payloads the plugin may read and
	// write by handle through the bulk host functions (blob_*). When nil the
	// host makes a fresh store for the call.
	Blobs *Blobs
}

// DeploymentCaller is the Call.UserID of calls the deployment makes for
// itself, on no user's behalf (background embedding of memories): the key
// source serves it the deployment's fallback key for the plugin's slot,
// never a user's. It is not a Discord id (those are digits), so no user
// can be mistaken for it.
const DeploymentCaller = "deployment"

type callKey struct{}

// WithCall returns a context carrying c for the plugin calls made with it.
func WithCall(ctx context.Context, c Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the Call in ctx, if any.
func CallFrom(ctx context.Context) (Call, bool) {
	c, ok := ctx.Value(callKey{}).(Call)
	return c, ok
}

// Blobs is a store of byte payloads addressed by handle, shared between a
// caller and the plugin calls it makes. The plugin copies a blob into or out
// of its own memory in one step (blob_read / blob_create) instead of going
// through Extism's 8-bytes-per-call input and output.
type Blobs struct {
	mu   sync.Mutex
	next int64
	m    map[int64][]byte
}

// NewBlobs returns an empty store.
func NewBlobs() *Blobs { return &Blobs{m: make(map[int64][]byte)} }

// Put stores data (not copied: do not change it afterwards) and returns its
// handle, always > 0.
func (b *Blobs) Put(data []byte) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	b.m[b.next] = data
	return b.next
}

// Get returns the blob with handle h.
func (b *Blobs) Get(h int64) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.m[h]
	return d, ok
}

// callState is the host's bookkeeping for one export call: what the host
// functions of that call share. Host functions run on the goroutine that
// runs the call, one at a time, so the state needs no lock; the caller reads
// it only after the call returned.
type callState struct {
	call Call
	p    *loaded
	inst *instance

	usage []abi.Usage

	streams    map[int64]*sseStream
	nextStream int64

	logLines   int
	logDropped int

	httpRequests int // http_request + http_stream_open calls so far

	// outputCapped is set when the guest tried to set an output over
	// max_response_bytes and was stopped (outputcap.go).
	outputCapped bool

	exposed    *exposure // the instance's exposure when the call ended
	rawRefused bool      // api_key was refused (warned once per call)
	emitHeld   string    // emitted text held back (see emit)

	blobs     *Blobs
	blobBytes int64
	blobCount int

	// input is the call's input, which the plugin may read as blob
	// abi.InputBlob; output is what it set with output_write (outputSet),
	// which replaces its Extism output.
	input     []byte
	output    []byte
	outputSet bool

	emits emitBudget // see emit.go

	keyLoaded bool
	key       string
	keyOK     bool
	keyErr    error
}

type stateKey struct{}

func withState(ctx context.Context, st *callState) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

func stateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	return st
}

func newCallState(ctx context.Context, p *loaded) *callState {
	c, _ := CallFrom(ctx)
	st := &callState{call: c, p: p, blobs: c.Blobs}
	if st.blobs == nil {
		st.blobs = NewBlobs()
	}
	return st
}

// apiKey returns this call's key for the plugin's own slot, asking the key
// source at most once per call.
func (st *callState) apiKey(ctx context.Context) (string, bool, error) {
	if st.keyLoaded {
		return st.key, st.keyOK, st.keyErr
	}
	st.keyLoaded = true
	switch {
	case st.call.CandidateKey != "":
		st.key, st.keyOK = st.call.CandidateKey, true
	case st.p.cfg.KeySlot == "" || st.call.UserID == "" || st.p.keys == nil:
		// No slot granted, or no user: there is no key to give.
	default:
		st.key, st.keyOK, st.keyErr = st.p.keys.APIKey(ctx, st.call.UserID, st.p.cfg.KeySlot)
	}
	if st.keyOK && st.inst != nil {
		st.inst.exposure.add(st.key) // scrubbed from this instance's later calls too
	}
	return st.key, st.keyOK, st.keyErr
}

// redact replaces the keys this call's plugin may have seen (see secrets)
// in text the plugin wrote (log lines, stderr, error messages, output): a
// plugin holding a key must not be able to print it. Short keys are left
// alone to avoid masking ordinary words.
func (st *callState) redact(s string) string {
	s = scrubString(s, st.secrets())
	if e := st.exposure(); e != nil {
		s = e.scrub(s)
	}
	return s
}

// finish closes whatever the plugin left open; the host, not the plugin,
// owns the end of a call.
func (st *callState) finish() {
	st.flushEmit()
	if st.inst != nil {
		// The instance goes back to the pool next; what it was exposed to
		// is copied for scrubbing what this call returned.
		e := st.inst.exposure.clone()
		st.exposed = &e
	}
	for h, s := range st.streams {
		s.close()
		delete(st.streams, h)
	}
}
