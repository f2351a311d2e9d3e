//go:build wasip1

package sdk

import (
	"encoding/base64"
	"runtime"
	"unsafe"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/abijson"
	"github.com/tzurot-go/tzurot/sdk/kernel"
)

// The host functions of ABI v1. Every uint64 that is not a handle is an
// offset into Extism kernel memory; see docs/plugin-abi.md for each one.

//go:wasmimport tzurot:host/v1 api_key
func hostAPIKey(slot uint64) uint64

//go:wasmimport tzurot:host/v1 http_request
func hostHTTPRequest(req uint64) uint64

//go:wasmimport tzurot:host/v1 http_stream_open
func hostHTTPStreamOpen(req uint64) uint64

//go:wasmimport tzurot:host/v1 http_stream_next
func hostHTTPStreamNext(handle int64) uint64

//go:wasmimport tzurot:host/v1 http_stream_close
func hostHTTPStreamClose(handle int64)

//go:wasmimport tzurot:host/v1 record_usage
func hostRecordUsage(usage uint64) int32

//go:wasmimport tzurot:host/v1 log
func hostLog(entry uint64)

//go:wasmimport tzurot:host/v1 emit
func hostEmit(chunk uint64)

// Kernel blocks the SDK writes for a host function, and blocks the host
// returns, are freed only where a plugin may make unboundedly many of them
// in one call (stream events, emits, logs): every free is a call into
// Extism's kernel (a few microseconds), and Extism resets kernel memory
// before every call anyway.

// bigBlock is the size from which the SDK frees a kernel block right away.
const bigBlock = 64 << 10

// write copies b into kernel memory. An empty value is passed as offset 0,
// which the host reads as the empty string (docs/plugin-abi.md).
func write(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return kernel.Write(b)
}

// callHost sends req as JSON to a host function taking and returning a
// kernel offset (http_request, http_stream_open) and returns the answer.
func callHost(fn func(uint64) uint64, name string, req *abi.HTTPRequest) ([]byte, error) {
	bodyToBlob(req)
	in := abijson.AppendHTTPRequest(make([]byte, 0, 256+len(req.URL)+len(req.Body)+len(req.BodyBase64)), req)
	inOff := write(in)
	resOff := fn(inOff)
	res := kernel.Read(resOff)
	// Large blocks are freed at once, so a plugin making many big requests
	// in one call does not pile them up in kernel memory; for those the
	// free is cheap next to the copy.
	if len(in) >= bigBlock {
		kernel.Free(inOff)
	}
	if len(res) >= bigBlock {
		kernel.Free(resOff)
	}
	if len(res) == 0 {
		return nil, Errorf(abi.ErrInternal, "host function %s returned nothing", name)
	}
	return res, nil
}

// bodyBlobMin is the request body size from which the SDK sends a body as
// a blob (one copy) instead of inside the request's JSON, where it is
// escaped, copied into kernel memory 8 bytes per host call, and unescaped
// by the host: a 3 KiB chat request saved about 0.1 ms in a plugin.
const bodyBlobMin = 512

// bodyToBlob moves a large plain body into a blob. When the host refuses
// the blob (over the call's blob budget) the body stays inline; nothing
// has been sent yet, so nothing is lost either way.
func bodyToBlob(req *abi.HTTPRequest) {
	if req.BodyBlob != 0 || req.BodyBase64 != "" || len(req.Body) < bodyBlobMin {
		return
	}
	// blob_create only reads the bytes, so the string's memory can be
	// passed without a copy.
	h := hostBlobCreate(unsafe.Pointer(unsafe.StringData(req.Body)), uint32(len(req.Body)))
	runtime.KeepAlive(req.Body)
	if h > 0 {
		req.BodyBlob, req.Body = h, ""
	}
}

// APIKey returns the current caller's key for the slot plugins.toml binds
// to this plugin, and false when the caller has none or when plugins.toml
// does not grant the plugin raw_key (off by default). Prefer Auth
// injection on HTTP requests: then the plugin never holds the key.
func APIKey() (string, bool) {
	k := kernel.Read(hostAPIKey(0))
	if len(k) == 0 {
		return "", false
	}
	return string(k), true
}

// BearerAuth asks the host to add "Authorization: Bearer <caller's key>".
func BearerAuth() *abi.Auth { return &abi.Auth{} }

// Response is an HTTP response the host received for the plugin.
type Response struct {
	Status  int
	Headers map[string]string // lowercased names
	Body    []byte
	// BodyBlob is the body's blob handle when the request set
	// ResponseBlob (Body is empty then); see ReadBlob.
	BodyBlob int64
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// HTTP sends req through the host and waits for the whole response. The
// error is an *abi.Error when no response arrived (refused by the host's
// allow-list, no key for Auth, network failure, timeout); any HTTP status,
// 4xx and 5xx included, is a Response, not an error.
func HTTP(req abi.HTTPRequest) (*Response, error) {
	// The body comes back as a blob unless the caller asked for one
	// itself: one blob_read copies it, where inside the answer's JSON it
	// would be escaped (a JSON body is mostly quotes to escape), copied
	// through kernel memory 8 bytes per host call, and unescaped here. A
	// host that does not keep it (one older than response_blob) sends it
	// inline as before.
	bodyAsBlob := !req.ResponseBlob
	req.ResponseBlob = true
	raw, err := callHost(hostHTTPRequest, abi.HostHTTPRequest, &req)
	if err != nil {
		return nil, err
	}
	res, err := abijson.DecodeHTTPResponse(raw)
	if err != nil {
		return nil, Errorf(abi.ErrInternal, "decode %s result: %v", abi.HostHTTPRequest, err)
	}
	if res.Error != nil {
		return nil, AsError(res.Error)
	}
	if bodyAsBlob && res.BodyBlob != 0 {
		body, err := ReadBlob(res.BodyBlob)
		if err != nil {
			return nil, err
		}
		return &Response{Status: res.Status, Headers: res.Headers, Body: body}, nil
	}
	body := []byte(res.Body)
	if res.BodyBase64 != "" {
		b, err := base64.StdEncoding.DecodeString(res.BodyBase64)
		if err != nil {
			return nil, Errorf(abi.ErrInternal, "host sent a bad body_base64: %v", err)
		}
		body = b
	}
	return &Response{Status: res.Status, Headers: res.Headers, Body: body, BodyBlob: res.BodyBlob}, nil
}

// EventStream reads server-sent events from a streaming HTTP response:
//
//	s, err := sdk.Stream(req)
//	if err != nil { ... }           // no response at all
//	defer s.Close()
//	if !s.OK() { ... s.Body ... }   // the provider's error body
//	for s.Next() { ev := s.Event() ... }
//	if err := s.Err(); err != nil { ... }
type EventStream struct {
	Status  int
	Headers map[string]string
	// Body is the provider's whole (capped) body when Status is not 2xx.
	Body string

	handle int64
	ev     abi.StreamEvent
	err    error
	done   bool
}

// Stream opens a streaming HTTP request through the host. See EventStream.
func Stream(req abi.HTTPRequest) (*EventStream, error) {
	raw, err := callHost(hostHTTPStreamOpen, abi.HostHTTPStreamOpen, &req)
	if err != nil {
		return nil, err
	}
	res, err := abijson.DecodeStreamOpenResult(raw)
	if err != nil {
		return nil, Errorf(abi.ErrInternal, "decode %s result: %v", abi.HostHTTPStreamOpen, err)
	}
	if res.Error != nil {
		return nil, AsError(res.Error)
	}
	s := &EventStream{Status: res.Status, Headers: res.Headers, Body: res.Body, handle: res.Handle}
	if !s.OK() || s.handle == 0 {
		s.done = true
	}
	return s, nil
}

// OK reports a 2xx status (events follow).
func (s *EventStream) OK() bool { return s.Status >= 200 && s.Status < 300 }

// Next waits for the next event and reports whether there is one. It
// returns false at the end of the stream or on error (see Err).
func (s *EventStream) Next() bool {
	if s.done {
		return false
	}
	off := hostHTTPStreamNext(s.handle)
	raw := kernel.Read(off)
	kernel.Free(off)
	ev, err := abijson.DecodeStreamEvent(raw)
	if err != nil {
		s.err, s.done = Errorf(abi.ErrInternal, "decode stream event: %v", err), true
		return false
	}
	switch {
	case ev.Error != nil:
		s.err, s.done = AsError(ev.Error), true
		return false
	case ev.EOF:
		s.done = true
		return false
	}
	s.ev = ev
	return true
}

// Event is the event Next moved to.
func (s *EventStream) Event() abi.StreamEvent { return s.ev }

// Err is the error that ended the stream early, or nil.
func (s *EventStream) Err() error { return s.err }

// Close releases the stream. Safe to call more than once; the host also
// closes streams left open when the call ends.
func (s *EventStream) Close() {
	if s.handle != 0 {
		hostHTTPStreamClose(s.handle)
		s.handle = 0
	}
	s.done = true
}

// RecordUsage reports what a provider call consumed. The host stamps the
// user, provider and time itself; an error means the host rejected it.
func RecordUsage(u abi.Usage) error {
	if u.Kind == "" {
		u.Kind = abi.UsageText
	}
	if hostRecordUsage(write(abijson.AppendUsage(make([]byte, 0, 192+len(u.Model)), &u))) != 0 {
		return Errorf(abi.ErrInternal, "the host rejected the usage record")
	}
	return nil
}

// RecordSpentUsage records u like RecordUsage, for tokens already spent:
// a rejected record is logged as a warning instead of returned, so the
// reply (or the provider's error) still reaches the user. Chat handlers
// call it whether or not the reply turned out usable.
func RecordSpentUsage(u abi.Usage) {
	if err := RecordUsage(u); err != nil {
		Log(abi.LogWarn, "the host rejected a usage record", map[string]string{"error": err.Error()})
	}
}

// Log writes one entry into the host's log under this plugin's name. Level
// is one of abi.LogDebug, LogInfo, LogWarn, LogError. Never log keys.
func Log(level, msg string, attrs map[string]string) {
	off := write(abijson.AppendLogEntry(nil, &abi.LogEntry{Level: level, Message: msg, Attrs: attrs}))
	hostLog(off)
	kernel.Free(off)
}

// Emit shows partial reply text to the user while a chat call streams.
// The final ChatResponse must still carry the whole content.
func Emit(text string) {
	if text == "" {
		return
	}
	off := write([]byte(text))
	hostEmit(off)
	kernel.Free(off)
}
