package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	extism "github.com/extism/go-sdk"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/abijson"
)

// Limits on what a plugin may push through host functions in one call.
const (
	maxUsageRows    = 64
	maxLogMessage   = 2000
	maxLogAttrName  = 200
	maxBlobsPerCall = 64
)

var (
	ptrIn  = []extism.ValueType{extism.ValueTypePTR}
	ptrOut = []extism.ValueType{extism.ValueTypePTR}
	i64    = []extism.ValueType{extism.ValueTypeI64}
	i32    = []extism.ValueType{extism.ValueTypeI32}
)

// hostFunctions builds the tzurot:host/v1 functions. They are built once
// per compiled module, which entries sharing a .wasm file (and memory
// limit) share (loader.compile), so they close over nothing: the entry and
// who the call is for come from the call's context, which every call the
// host makes carries (withState).
func hostFunctions() []extism.HostFunction {
	fns := []extism.HostFunction{
		extism.NewHostFunctionWithStack(abi.HostAPIKey, onEntry((*loaded).hostAPIKey), ptrIn, ptrOut),
		extism.NewHostFunctionWithStack(abi.HostHTTPRequest, onEntry((*loaded).hostHTTPRequest), ptrIn, ptrOut),
		extism.NewHostFunctionWithStack(abi.HostHTTPStreamOpen, onEntry((*loaded).hostStreamOpen), ptrIn, ptrOut),
		extism.NewHostFunctionWithStack(abi.HostHTTPStreamNext, onEntry((*loaded).hostStreamNext), i64, ptrOut),
		extism.NewHostFunctionWithStack(abi.HostHTTPStreamClose, onEntry((*loaded).hostStreamClose), i64, nil),
		extism.NewHostFunctionWithStack(abi.HostRecordUsage, onEntry((*loaded).hostRecordUsage), ptrIn, i32),
		extism.NewHostFunctionWithStack(abi.HostLog, onEntry((*loaded).hostLog), ptrIn, nil),
		extism.NewHostFunctionWithStack(abi.HostEmit, onEntry((*loaded).hostEmit), ptrIn, nil),
		extism.NewHostFunctionWithStack(abi.HostBlobLen, onEntry((*loaded).hostBlobLen), i64, i64),
		extism.NewHostFunctionWithStack(abi.HostBlobRead, onEntry((*loaded).hostBlobRead),
			[]extism.ValueType{extism.ValueTypeI64, extism.ValueTypeI64, extism.ValueTypeI32, extism.ValueTypeI32}, i64),
		extism.NewHostFunctionWithStack(abi.HostBlobCreate, onEntry((*loaded).hostBlobCreate),
			[]extism.ValueType{extism.ValueTypeI32, extism.ValueTypeI32}, i64),
		extism.NewHostFunctionWithStack(abi.HostOutputWrite, onEntry((*loaded).hostOutputWrite),
			[]extism.ValueType{extism.ValueTypeI32, extism.ValueTypeI32}, i32),
	}
	for i := range fns {
		fns[i].SetNamespace(abi.HostNamespace)
	}
	return fns
}

// errNoCall is what a host function called outside a call made by the host
// panics with (wazero turns it into a trap of that call).
var errNoCall = errors.New("tzurot host function called outside a host call")

// onEntry runs a host function for the plugin entry the call is for.
func onEntry(f func(*loaded, context.Context, *extism.CurrentPlugin, []uint64)) extism.HostFunctionStackCallback {
	return func(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
		st := stateFrom(ctx)
		if st == nil || st.p == nil {
			panic(errNoCall)
		}
		f(st.p, ctx, cp, stack)
	}
}

// state returns the call state, or a throwaway one when a host function is
// called outside a host-made call (it then has no user and no key).
func (l *loaded) state(ctx context.Context) *callState {
	if st := stateFrom(ctx); st != nil {
		return st
	}
	return &callState{p: l, blobs: NewBlobs()}
}

// Kernel memory from host functions: through the instance's looked-up
// kernel functions (kernel.go) when it has them, through go-sdk otherwise.

func (st *callState) kernel() *fastKernel {
	if st.inst != nil {
		return st.inst.kern
	}
	return nil
}

// readKernel copies the kernel block at off.
func (st *callState) readKernel(ctx context.Context, cp *extism.CurrentPlugin, off uint64) ([]byte, error) {
	if k := st.kernel(); k != nil {
		return k.read(ctx, off)
	}
	return cp.ReadBytes(off)
}

// kernelLength is the length of the kernel block at off.
func (st *callState) kernelLength(ctx context.Context, cp *extism.CurrentPlugin, off uint64) (uint64, error) {
	if k := st.kernel(); k != nil {
		return k.call1(ctx, k.length, off)
	}
	return cp.Length(off)
}

// writeKernel returns b to the guest in kernel memory. A failed allocation
// panics, which wazero turns into a trap of this call only.
func (st *callState) writeKernel(ctx context.Context, cp *extism.CurrentPlugin, b []byte) uint64 {
	var off uint64
	var err error
	if k := st.kernel(); k != nil {
		off, err = k.write(ctx, b)
	} else {
		off, err = cp.WriteBytes(b)
	}
	if err != nil {
		panic(err)
	}
	return off
}

// writeJSON returns v to the guest in kernel memory (see writeKernel).
func (st *callState) writeJSON(ctx context.Context, cp *extism.CurrentPlugin, v any) uint64 {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return st.writeKernel(ctx, cp, b)
}

func (l *loaded) hostAPIKey(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	var slot string
	if stack[0] != 0 { // offset 0 means "my own slot", like ""
		var err error
		b, err := st.readKernel(ctx, cp, stack[0])
		if err != nil {
			stack[0] = 0
			return
		}
		slot = string(b)
	}
	stack[0] = 0
	if slot != "" && slot != l.cfg.KeySlot {
		l.log.WarnContext(ctx, "plugin asked for the key of a slot it is not bound to; refused",
			"request_id", st.call.RequestID, "asked_slot", slot, "bound_slot", l.cfg.KeySlot)
		return
	}
	if !l.cfg.RawKey {
		if !st.rawRefused {
			st.rawRefused = true
			l.log.WarnContext(ctx, "plugin asked for the raw key with api_key, which plugins.toml does not grant (raw_key); it gets none. Use header injection (auth) or grant raw_key = true",
				"request_id", st.call.RequestID)
		}
		return
	}
	key, ok, err := st.apiKey(ctx)
	if err != nil {
		l.log.ErrorContext(ctx, "key source failed", "request_id", st.call.RequestID, "err", err)
		return
	}
	if !ok {
		return
	}
	if st.inst != nil {
		// The instance now holds this user's key: it serves no one else.
		st.inst.owner = ownerOf(st.call)
	}
	stack[0] = st.writeKernel(ctx, cp, []byte(key))
}

func (l *loaded) hostHTTPRequest(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	var req abi.HTTPRequest
	b, err := st.readKernel(ctx, cp, stack[0])
	if err == nil {
		req, err = abijson.DecodeHTTPRequest(b) // as json.Unmarshal, without reflection
	}
	if err != nil {
		stack[0] = st.writeJSON(ctx, cp, abi.HTTPResponse{Error: &abi.Error{Code: abi.ErrBadRequest, Message: "http_request input is not an HTTPRequest JSON"}})
		return
	}
	resp := l.http.do(ctx, st, req)
	stack[0] = st.writeKernel(ctx, cp, abijson.AppendHTTPResponse(make([]byte, 0, 256+len(resp.Body)+len(resp.BodyBase64)), &resp))
}

func (l *loaded) hostStreamOpen(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	var req abi.HTTPRequest
	b, err := st.readKernel(ctx, cp, stack[0])
	if err == nil {
		req, err = abijson.DecodeHTTPRequest(b)
	}
	if err != nil {
		stack[0] = st.writeJSON(ctx, cp, abi.StreamOpenResult{Error: &abi.Error{Code: abi.ErrBadRequest, Message: "http_stream_open input is not an HTTPRequest JSON"}})
		return
	}
	stack[0] = st.writeJSON(ctx, cp, l.http.openStream(ctx, st, req))
}

func (l *loaded) hostStreamNext(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	s, ok := st.streams[int64(stack[0])]
	if !ok {
		stack[0] = st.writeJSON(ctx, cp, abi.StreamEvent{Error: &abi.Error{Code: abi.ErrBadRequest, Message: "no such stream handle"}})
		return
	}
	stack[0] = st.writeJSON(ctx, cp, s.next(ctx, l.http))
}

func (l *loaded) hostStreamClose(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	h := int64(stack[0])
	if s, ok := st.streams[h]; ok {
		s.close()
		delete(st.streams, h)
	}
}

func (l *loaded) hostRecordUsage(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	var u abi.Usage
	b, err := st.readKernel(ctx, cp, stack[0])
	if err == nil {
		err = json.Unmarshal(b, &u)
	}
	switch {
	case err == nil && len(st.usage) >= maxUsageRows:
		err = errTooManyUsageRows
	case err == nil:
		err = checkUsage(u) // the same check as a chat response's usage
	}
	if err != nil {
		l.log.WarnContext(ctx, "plugin usage record rejected", "request_id", st.call.RequestID, "reason", err)
		stack[0] = extism.EncodeI32(1)
		return
	}
	// The host, not the plugin, says whose usage this is.
	u.Provider, u.Plugin = l.provider(), l.cfg.Name
	u.Model = st.redact(u.Model)
	st.usage = append(st.usage, u)
	stack[0] = extism.EncodeI32(0)
}

func (l *loaded) hostLog(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	if st.logLines >= l.cfg.Limits.MaxLogLines {
		st.logDropped++ // reported once when the call ends
		return
	}
	st.logLines++
	var e abi.LogEntry
	b, err := st.readKernel(ctx, cp, stack[0])
	if err == nil {
		err = json.Unmarshal(b, &e)
	}
	if err != nil {
		e = abi.LogEntry{Level: abi.LogWarn, Message: "(unreadable log entry)"}
	}
	level := slog.LevelInfo
	switch e.Level {
	case abi.LogDebug:
		level = slog.LevelDebug
	case abi.LogWarn:
		level = slog.LevelWarn
	case abi.LogError:
		level = slog.LevelError
	}
	l.log.LogAttrs(ctx, level, st.logMessage(e.Message), st.logAttrs(e.Attrs)...)
}

// logMessage is a plugin's log message as the host logs it: keys scrubbed
// first, then cut (so a key across the cut cannot keep its start).
func (st *callState) logMessage(msg string) string {
	return clip(st.redact(msg), maxLogMessage)
}

// logAttrs are a plugin's log attributes as the host logs them: names and
// values scrubbed, then cut, under the group "attrs".
func (st *callState) logAttrs(in map[string]string) []slog.Attr {
	attrs := []slog.Attr{slog.String("request_id", st.call.RequestID)}
	if len(in) > 0 {
		group := make([]any, 0, 2*len(in))
		for k, v := range in {
			group = append(group, clip(st.redact(k), maxLogAttrName), clip(st.redact(v), maxLogMessage))
		}
		attrs = append(attrs, slog.Group("attrs", group...))
	}
	return attrs
}

func (l *loaded) hostEmit(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	if st.call.OnChunk == nil {
		return
	}
	// Check the size before copying anything out of kernel memory.
	n, err := st.kernelLength(ctx, cp, stack[0])
	if err != nil || n == 0 || !st.emits.admit(int64(n), l.cfg.Limits.MaxResponseBytes) {
		return
	}
	text, err := st.readKernel(ctx, cp, stack[0])
	if err != nil || len(text) == 0 {
		return
	}
	st.emit(string(text))
}

func (l *loaded) hostBlobLen(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	b, ok := st.blob(int64(stack[0]))
	if !ok {
		stack[0] = extism.EncodeI64(-1)
		return
	}
	stack[0] = extism.EncodeI64(int64(len(b)))
}

func (l *loaded) hostBlobRead(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	h, off := int64(stack[0]), int64(stack[1])
	dst, n := extism.DecodeU32(stack[2]), extism.DecodeU32(stack[3])
	b, ok := st.blob(h)
	if !ok || off < 0 || st.inst == nil {
		stack[0] = extism.EncodeI64(-1)
		return
	}
	mem, ok := st.inst.guestMem.bytes(dst, n)
	if !ok {
		stack[0] = extism.EncodeI64(-1)
		return
	}
	if off >= int64(len(b)) {
		stack[0] = 0
		return
	}
	stack[0] = extism.EncodeI64(int64(copy(mem, b[off:])))
}

func (l *loaded) hostBlobCreate(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	src, n := extism.DecodeU32(stack[0]), extism.DecodeU32(stack[1])
	if st.inst == nil || st.blobCount >= maxBlobsPerCall || st.blobBytes+int64(n) > l.cfg.Limits.MaxResponseBytes {
		stack[0] = extism.EncodeI64(-1)
		return
	}
	mem, ok := st.inst.guestMem.bytes(src, n)
	if !ok {
		stack[0] = extism.EncodeI64(-1)
		return
	}
	st.blobCount++
	st.blobBytes += int64(n)
	stack[0] = extism.EncodeI64(st.blobs.Put(append([]byte(nil), mem...)))
}

// blob returns blob h of the call; abi.InputBlob is the call's input.
func (st *callState) blob(h int64) ([]byte, bool) {
	if h == abi.InputBlob {
		return st.input, true
	}
	return st.blobs.Get(h)
}

// hostOutputWrite sets the call's output from guest memory in one copy
// (abi.HostOutputWrite). The size is checked before anything is copied,
// exactly as output_set's (outputcap.go).
func (l *loaded) hostOutputWrite(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	st := l.state(ctx)
	src, n := extism.DecodeU32(stack[0]), extism.DecodeU32(stack[1])
	if int64(n) > l.cfg.Limits.MaxResponseBytes {
		st.outputCapped = true
		panic(errOutputCapped{})
	}
	var mem []byte
	ok := false
	if st.inst != nil {
		mem, ok = st.inst.guestMem.bytes(src, n)
	}
	if !ok {
		stack[0] = extism.EncodeI32(-1)
		return
	}
	st.output = append(st.output[:0], mem...)
	st.outputSet = true
	stack[0] = extism.EncodeI32(0)
}
