package plugintest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"unicode/utf8"

	extism "github.com/extism/go-sdk"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// call is the per-call state the host functions reach through ctx: who is
// calling, their open streams, and what the call recorded. Host functions
// are built once per compiled plugin, so nothing per-call may live in
// their closures.
type call struct {
	h    *Harness
	user string

	mu         sync.Mutex
	streams    map[int64]*openStream
	nextHandle int64
	usage      []Usage
	logs       []abi.LogEntry
	chunks     []string
	blobs      map[int64][]byte
	nextBlob   int64
	blobBytes  int64 // of blobs the plugin created; the caller's do not count
	guest      *linearMemory

	// input is the call's input (blob abi.InputBlob); output is what the
	// plugin set with output_write (outputSet), which replaces its Extism
	// output, as on the host.
	input     []byte
	output    []byte
	outputSet bool
}

// maxBlobs bounds the blobs one call may create, as on the real host.
const maxBlobs = 64

func (c *call) blob(h int64) ([]byte, bool) {
	if h == abi.InputBlob {
		return c.input, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blobs[h]
	return b, ok
}

// seedBlob stores a blob the caller provides before the call (samples, a
// voice message): outside the plugin's budget, as on the real host.
func (c *call) seedBlob(b []byte) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextBlob++
	c.blobs[c.nextBlob] = b
	return c.nextBlob
}

// putBlob stores b as a new blob within the call's budget.
func (c *call) putBlob(b []byte) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.blobs) >= maxBlobs || c.blobBytes+int64(len(b)) > c.h.opts.MaxResponseBytes {
		return 0, false
	}
	c.nextBlob++
	c.blobs[c.nextBlob] = b
	c.blobBytes += int64(len(b))
	return c.nextBlob, true
}

type callKey struct{}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// closeStreams closes what the plugin left open when the call ends.
func (c *call) closeStreams() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range c.streams {
		s.close()
		delete(c.streams, id)
	}
}

// maxStreams bounds the streams one call may hold open at once.
const maxStreams = 4

var (
	ptr = []extism.ValueType{extism.ValueTypePTR}
	i64 = []extism.ValueType{extism.ValueTypeI64}
	i32 = []extism.ValueType{extism.ValueTypeI32}
)

// read returns the block at off; offset 0 reads as empty.
func read(cp *extism.CurrentPlugin, off uint64) []byte {
	if off == 0 {
		return nil
	}
	b, err := cp.ReadBytes(off)
	if err != nil {
		// A bad pointer is a plugin bug the call cannot recover from.
		panic("tzurot host: bad memory offset from plugin: " + err.Error())
	}
	return b
}

func write(cp *extism.CurrentPlugin, b []byte) uint64 {
	off, err := cp.WriteBytes(b)
	if err != nil {
		panic("tzurot host: cannot write to plugin memory: " + err.Error())
	}
	return off
}

func writeJSON(cp *extism.CurrentPlugin, v any) uint64 {
	b, err := json.Marshal(v)
	if err != nil {
		panic("tzurot host: encode result: " + err.Error())
	}
	return write(cp, b)
}

func fn(name string, params, results []extism.ValueType, f func(ctx context.Context, c *call, cp *extism.CurrentPlugin, stack []uint64)) extism.HostFunction {
	hf := extism.NewHostFunctionWithStack(name, func(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
		c := callFrom(ctx)
		if c == nil {
			panic("tzurot host: host function called outside a call")
		}
		f(ctx, c, cp, stack)
	}, params, results)
	hf.SetNamespace(abi.HostNamespace)
	return hf
}

func badRequest(msg string) *abi.Error { return &abi.Error{Code: abi.ErrBadRequest, Message: msg} }

// hostFunctions are the ABI v1 host functions with the names and wasm
// signatures of docs/plugin-abi.md.
func (h *Harness) hostFunctions() []extism.HostFunction {
	return []extism.HostFunction{
		fn(abi.HostAPIKey, ptr, ptr, func(_ context.Context, c *call, cp *extism.CurrentPlugin, stack []uint64) {
			slot := string(read(cp, stack[0]))
			key, ok := h.keyOf(c.user)
			if !ok || (slot != "" && slot != h.opts.Slot) {
				stack[0] = 0
				return
			}
			stack[0] = write(cp, []byte(key))
		}),
		fn(abi.HostHTTPRequest, ptr, ptr, func(ctx context.Context, c *call, cp *extism.CurrentPlugin, stack []uint64) {
			var req abi.HTTPRequest
			if err := json.Unmarshal(read(cp, stack[0]), &req); err != nil {
				stack[0] = writeJSON(cp, abi.HTTPResponse{Error: badRequest("http_request input is not an HTTPRequest: " + err.Error())})
				return
			}
			stack[0] = writeJSON(cp, h.net.do(ctx, c, req))
		}),
		fn(abi.HostHTTPStreamOpen, ptr, ptr, func(ctx context.Context, c *call, cp *extism.CurrentPlugin, stack []uint64) {
			var req abi.HTTPRequest
			if err := json.Unmarshal(read(cp, stack[0]), &req); err != nil {
				stack[0] = writeJSON(cp, abi.StreamOpenResult{Error: badRequest("http_stream_open input is not an HTTPRequest: " + err.Error())})
				return
			}
			c.mu.Lock()
			full := len(c.streams) >= maxStreams
			c.mu.Unlock()
			if full {
				stack[0] = writeJSON(cp, abi.StreamOpenResult{Error: &abi.Error{Code: abi.ErrDenied, Message: "too many open streams in one call"}})
				return
			}
			res, s := h.net.open(ctx, c, req)
			if s != nil {
				c.mu.Lock()
				c.nextHandle++
				res.Handle = c.nextHandle
				c.streams[res.Handle] = s
				c.mu.Unlock()
			}
			stack[0] = writeJSON(cp, res)
		}),
		fn(abi.HostHTTPStreamNext, i64, ptr, func(_ context.Context, c *call, cp *extism.CurrentPlugin, stack []uint64) {
			c.mu.Lock()
			s := c.streams[int64(stack[0])]
			c.mu.Unlock()
			if s == nil {
				stack[0] = writeJSON(cp, abi.StreamEvent{Error: &abi.Error{Code: abi.ErrBadRequest, Message: "no such stream handle (never opened, or already closed)"}})
				return
			}
			stack[0] = writeJSON(cp, s.next())
		}),
		fn(abi.HostHTTPStreamClose, i64, nil, func(_ context.Context, c *call, _ *extism.CurrentPlugin, stack []uint64) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if s := c.streams[int64(stack[0])]; s != nil {
				s.close()
				delete(c.streams, int64(stack[0]))
			}
		}),
		fn(abi.HostRecordUsage, ptr, i32, func(_ context.Context, c *call, cp *extism.CurrentPlugin, stack []uint64) {
			var u abi.Usage
			err := json.Unmarshal(read(cp, stack[0]), &u)
			if err != nil || !validUsage(u) {
				stack[0] = extism.EncodeI32(1)
				return
			}
			rec := Usage{User: c.user, Usage: u}
			c.mu.Lock()
			c.usage = append(c.usage, rec)
			c.mu.Unlock()
			h.shared.mu.Lock()
			h.shared.usage = append(h.shared.usage, rec)
			h.shared.mu.Unlock()
			stack[0] = extism.EncodeI32(0)
		}),
		fn(abi.HostLog, ptr, nil, func(ctx context.Context, c *call, cp *extism.CurrentPlugin, stack []uint64) {
			var e abi.LogEntry
			if err := json.Unmarshal(read(cp, stack[0]), &e); err != nil {
				e = abi.LogEntry{Level: abi.LogWarn, Message: "plugin sent a log entry that is not JSON"}
			}
			c.mu.Lock()
			c.logs = append(c.logs, e)
			c.mu.Unlock()
			h.shared.mu.Lock()
			h.shared.logs = append(h.shared.logs, e)
			h.shared.mu.Unlock()
			if h.opts.Logger != nil {
				args := make([]any, 0, 2*len(e.Attrs)+2)
				args = append(args, "user", c.user)
				for k, v := range e.Attrs {
					args = append(args, k, v)
				}
				h.opts.Logger.Log(ctx, slogLevel(e.Level), e.Message, args...)
			}
		}),
		fn(abi.HostBlobLen, i64, i64, func(_ context.Context, c *call, _ *extism.CurrentPlugin, stack []uint64) {
			b, ok := c.blob(int64(stack[0]))
			if !ok {
				stack[0] = extism.EncodeI64(-1)
				return
			}
			stack[0] = extism.EncodeI64(int64(len(b)))
		}),
		fn(abi.HostBlobRead, []extism.ValueType{extism.ValueTypeI64, extism.ValueTypeI64, extism.ValueTypeI32, extism.ValueTypeI32}, i64,
			func(_ context.Context, c *call, _ *extism.CurrentPlugin, stack []uint64) {
				b, ok := c.blob(int64(stack[0]))
				off := int64(stack[1])
				dst, ok2 := c.guest.span(extism.DecodeU32(stack[2]), extism.DecodeU32(stack[3]))
				switch {
				case !ok || !ok2 || off < 0:
					stack[0] = extism.EncodeI64(-1)
				case off >= int64(len(b)):
					stack[0] = 0
				default:
					stack[0] = extism.EncodeI64(int64(copy(dst, b[off:])))
				}
			}),
		fn(abi.HostBlobCreate, []extism.ValueType{extism.ValueTypeI32, extism.ValueTypeI32}, i64,
			func(_ context.Context, c *call, _ *extism.CurrentPlugin, stack []uint64) {
				src, ok := c.guest.span(extism.DecodeU32(stack[0]), extism.DecodeU32(stack[1]))
				if !ok {
					stack[0] = extism.EncodeI64(-1)
					return
				}
				h, ok := c.putBlob(append([]byte(nil), src...))
				if !ok {
					stack[0] = extism.EncodeI64(-1)
					return
				}
				stack[0] = extism.EncodeI64(h)
			}),
		fn(abi.HostOutputWrite, []extism.ValueType{extism.ValueTypeI32, extism.ValueTypeI32}, i32,
			func(_ context.Context, c *call, _ *extism.CurrentPlugin, stack []uint64) {
				n := extism.DecodeU32(stack[1])
				if int64(n) > h.opts.MaxResponseBytes {
					panic(fmt.Sprintf("tzurot host: output of %d bytes is over the %d-byte limit", n, h.opts.MaxResponseBytes))
				}
				src, ok := c.guest.span(extism.DecodeU32(stack[0]), n)
				if !ok {
					stack[0] = extism.EncodeI32(-1)
					return
				}
				c.output, c.outputSet = append([]byte(nil), src...), true
				stack[0] = extism.EncodeI32(0)
			}),
		fn(abi.HostEmit, ptr, nil, func(_ context.Context, c *call, cp *extism.CurrentPlugin, stack []uint64) {
			chunk := string(read(cp, stack[0]))
			if chunk == "" {
				return
			}
			c.mu.Lock()
			c.chunks = append(c.chunks, chunk)
			c.mu.Unlock()
			h.shared.mu.Lock()
			h.shared.chunks = append(h.shared.chunks, chunk)
			h.shared.mu.Unlock()
			if h.opts.OnChunk != nil {
				h.opts.OnChunk(c.user, chunk)
			}
		}),
	}
}

// validUsage is the host's usage check (docs/plugin-abi.md §5.3): known
// kind, every count 0..100,000,000, model at most 256 bytes of UTF-8.
func validUsage(u abi.Usage) bool {
	switch u.Kind {
	case abi.UsageText, abi.UsageVoice, abi.UsageImage:
	default:
		return false
	}
	for _, n := range []int64{u.InputTokens, u.OutputTokens, u.ReasoningTokens, u.Characters, u.Images, u.AudioMS} {
		if n < 0 || n > 100_000_000 {
			return false
		}
	}
	return len(u.Model) <= 256 && utf8.ValidString(u.Model)
}
