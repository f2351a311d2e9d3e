// Command echo is the host's test plugin: well-behaved exports (describe,
// chat, validate_key, echo, http, stream, bulk) and hostile ones (spin, oom,
// panic, readfile, env, flood, big_output, other slots' keys). It talks to
// the host through raw tzurot:host/v1 imports on purpose: the host must not
// depend on the SDK package to be tested. It uses only the SDK's small
// packages: abi (the wire types), abijson (their fast JSON codec) and
// kernel (fast copies in and out of Extism kernel memory).
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/extism/go-pdk"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/abijson"
	"github.com/tzurot-go/tzurot/sdk/kernel"
)

//go:wasmimport tzurot:host/v1 api_key
func hostAPIKey(slot uint64) uint64

//go:wasmimport tzurot:host/v1 http_request
func hostHTTPRequest(req uint64) uint64

//go:wasmimport tzurot:host/v1 http_stream_open
func hostStreamOpen(req uint64) uint64

//go:wasmimport tzurot:host/v1 http_stream_next
func hostStreamNext(handle uint64) uint64

//go:wasmimport tzurot:host/v1 http_stream_close
func hostStreamClose(handle uint64)

//go:wasmimport tzurot:host/v1 record_usage
func hostRecordUsage(usage uint64) int32

//go:wasmimport tzurot:host/v1 log
func hostLog(entry uint64)

//go:wasmimport tzurot:host/v1 emit
func hostEmit(chunk uint64)

//go:wasmimport tzurot:host/v1 blob_len
func hostBlobLen(handle int64) int64

//go:wasmimport tzurot:host/v1 blob_read
func hostBlobRead(handle int64, offset int64, dst unsafe.Pointer, n uint32) int64

//go:wasmimport tzurot:host/v1 blob_create
func hostBlobCreate(src unsafe.Pointer, n uint32) int64

func main() {}

// call passes s to a host function and reads its answer.
func call(fn func(uint64) uint64, s string) []byte {
	mem := pdk.AllocateString(s)
	defer mem.Free()
	off := fn(mem.Offset())
	if off == 0 {
		return nil
	}
	res := pdk.FindMemory(off)
	return res.ReadBytes()
}

func fail(code, msg string) int32 {
	b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	pdk.SetErrorString(string(b))
	return 1
}

func apiKey(slot string) (string, bool) {
	b := call(hostAPIKey, slot)
	if b == nil {
		return "", false
	}
	return string(b), true
}

func logLine(level, msg string) {
	b, _ := json.Marshal(map[string]any{"level": level, "message": msg, "attrs": map[string]string{"from": "echo"}})
	mem := pdk.AllocateBytes(b)
	hostLog(mem.Offset())
	mem.Free()
}

//go:wasmexport tzurot_abi_v1
func marker() int32 { return 0 }

//go:wasmexport describe
func describe() int32 {
	caps := []string{"llm.chat", "llm.validate_key"}
	if v, ok := pdk.GetConfig("describe_caps"); ok {
		caps = strings.Split(v, ",")
	}
	needsKey := true
	if v, ok := pdk.GetConfig("needs_key"); ok {
		needsKey = v == "true"
	}
	schema := `{"type":"object","properties":{"temperature":{"type":"number","maximum":2}}}`
	if _, ok := pdk.GetConfig("bad_schema"); ok {
		schema = `{"type":"object","properties":{"temperature":{"type":12}}}`
	}
	b, _ := json.Marshal(map[string]any{
		"abi": 1, "name": "echo", "version": "1.0.0", "summary": "test plugin",
		"capabilities": caps, "needs_key": needsKey, "needs_network": true,
		"parameters_schema": json.RawMessage(schema),
	})
	pdk.Output(b)
	return 0
}

// usageInResponse reads config usage_in_response once per instance, as the
// SDK's sdk.Config does: config is fixed for an instance's life, and each
// read is several kernel calls.
var usageInResponse = sync.OnceValue(func() bool {
	_, ok := pdk.GetConfig("usage_in_response")
	return ok
})

//go:wasmexport chat
func chat() int32 {
	// abijson and kernel, not encoding/json and go-pdk's byte copies: a Go
	// plugin pays a timeout check per loop step (docs/performance.md), and
	// this export is what the host's chat benchmarks measure.
	req, err := abijson.DecodeChatRequest(kernel.Input())
	if err != nil {
		return fail("bad_request", err.Error())
	}
	// Offset 0 asks for the bound slot's key; kernel blocks not freed are
	// released when the call ends.
	if kernel.Read(hostAPIKey(0)) == nil {
		return fail("no_key", "no key for this user")
	}
	last := ""
	if n := len(req.Messages); n > 0 {
		last = req.Messages[n-1].Content
	}
	usage := abi.Usage{Kind: abi.UsageText, Model: req.Model, InputTokens: int64(len(last)), OutputTokens: int64(len(last)),
		Provider: "claimed-by-plugin"}
	out := make([]byte, 0, 256+len(last))
	if usageInResponse() {
		// Report usage only in the response, not through record_usage.
		kernel.Output(abijson.AppendChatResponse(out, &abi.ChatResponse{Content: last, Model: req.Model, Usage: usage}))
		return 0
	}
	if hostRecordUsage(kernel.Write(abijson.AppendUsage(out, &usage))) != 0 {
		return fail("internal", "usage rejected")
	}
	if req.Stream {
		for _, w := range strings.Fields(last) {
			mem := pdk.AllocateString(w + " ")
			hostEmit(mem.Offset())
			mem.Free()
		}
	}
	kernel.Output(abijson.AppendChatResponse(out[:0], &abi.ChatResponse{Content: last, Model: req.Model, FinishReason: "stop"}))
	return 0
}

//go:wasmexport validate_key
func validateKey() int32 {
	key, ok := apiKey("")
	switch {
	case !ok:
		pdk.OutputString(`{"status":"invalid","message":"no key"}`)
	case strings.HasPrefix(key, "sk-good"):
		pdk.OutputString(`{"status":"valid"}`)
	default:
		pdk.OutputString(`{"status":"invalid","message":"the provider said no"}`)
	}
	return 0
}

// echo outputs its input, copied the way the SDK copies (package kernel:
// the host's bulk path, one host call each way).
//
//go:wasmexport echo
func echo() int32 {
	kernel.Output(kernel.Input())
	return 0
}

//go:wasmimport tzurot:host/v1 output_write
func hostOutputWrite(src unsafe.Pointer, n uint32) int32

// sizes reports the input's length as Extism's input and as the input blob.
//
//go:wasmexport sizes
func sizes() int32 {
	kernel.Output([]byte("extism=" + strconv.Itoa(len(pdk.Input())) + " bulk=" + strconv.FormatInt(hostBlobLen(0), 10)))
	return 0
}

// bulk_out_bad sets its output from an address far outside its memory,
// then reports output_write's answer through Extism's output.
//
//go:wasmexport bulk_out_bad
func bulkOutBad() int32 {
	rc := hostOutputWrite(unsafe.Add(unsafe.Pointer(nil), 0xFFFF0000), 16)
	kernel.ExtismOutput([]byte(strconv.Itoa(int(rc))))
	return 0
}

// bulk_out_big writes as many bytes of output as the input says with one
// output_write.
//
//go:wasmexport bulk_out_big
func bulkOutBig() int32 {
	n, _ := strconv.Atoi(string(kernel.Input()))
	kernel.Output(make([]byte, n))
	return 0
}

// echo_extism is echo through Extism's input and output (kernel memory, 8
// bytes per host call), the path of plugins built before the bulk one.
//
//go:wasmexport echo_extism
func echoExtism() int32 {
	kernel.ExtismOutput(kernel.ExtismInput())
	return 0
}

// fingerprint names a key without spelling it (the host scrubs keys from
// what a plugin returns): "sha256:" and the first 8 bytes of its SHA-256.
func fingerprint(k string) string {
	s := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(s[:8])
}

// whoami returns the fingerprint of the key the host serves to this call
// (own slot).
//
//go:wasmexport whoami
func whoami() int32 {
	key, ok := apiKey("")
	if !ok {
		pdk.OutputString("none")
		return 0
	}
	pdk.OutputString(fingerprint(key))
	return 0
}

// key0 asks for its own key by passing offset 0 (output: its fingerprint).
//
//go:wasmexport key0
func key0() int32 {
	off := hostAPIKey(0)
	if off == 0 {
		pdk.OutputString("none")
		return 0
	}
	mem := pdk.FindMemory(off)
	pdk.OutputString(fingerprint(string(mem.ReadBytes())))
	return 0
}

// key asks for the key of the slot named by the input (output: its
// fingerprint).
//
//go:wasmexport key
func key() int32 {
	k, ok := apiKey(pdk.InputString())
	if !ok {
		pdk.OutputString("none")
		return 0
	}
	pdk.OutputString(fingerprint(k))
	return 0
}

//go:wasmexport http
func httpExport() int32 {
	pdk.Output(call(hostHTTPRequest, pdk.InputString()))
	return 0
}

// stream opens the request given as input, emits every event's data and
// outputs {"open":..., "events":[...]}.
//
//go:wasmexport stream
func stream() int32 {
	var open struct {
		Handle uint64          `json:"handle"`
		Error  json.RawMessage `json:"error"`
	}
	raw := call(hostStreamOpen, pdk.InputString())
	_ = json.Unmarshal(raw, &open)
	var events []json.RawMessage
	if open.Handle != 0 {
		for {
			off := hostStreamNext(open.Handle)
			evMem := pdk.FindMemory(off)
			ev := evMem.ReadBytes()
			events = append(events, ev)
			var e struct {
				Data string          `json:"data"`
				EOF  bool            `json:"eof"`
				Err  json.RawMessage `json:"error"`
			}
			_ = json.Unmarshal(ev, &e)
			if e.EOF || e.Err != nil {
				break
			}
			mem := pdk.AllocateString(e.Data)
			hostEmit(mem.Offset())
			mem.Free()
		}
		hostStreamClose(open.Handle)
	}
	out, _ := json.Marshal(map[string]any{"open": json.RawMessage(raw), "events": events})
	pdk.Output(out)
	return 0
}

// stream_leak opens a stream, reads one event and returns without closing:
// the host must close it.
//
//go:wasmexport stream_leak
func streamLeak() int32 {
	raw := call(hostStreamOpen, pdk.InputString())
	var open struct {
		Handle uint64 `json:"handle"`
	}
	_ = json.Unmarshal(raw, &open)
	if open.Handle != 0 {
		hostStreamNext(open.Handle)
	}
	pdk.Output(raw)
	return 0
}

var bulkBuf []byte

// bulk_echo reads the blob named in the input into its own memory and
// writes it back as a new blob: 1 MiB in and out with two memcpys.
//
//go:wasmexport bulk_echo
func bulkEcho() int32 {
	h, err := strconv.ParseInt(pdk.InputString(), 10, 64)
	if err != nil {
		return fail("bad_request", "input must be a blob handle")
	}
	n := hostBlobLen(h)
	if n < 0 {
		return fail("bad_request", "no such blob")
	}
	// Reuse one buffer across calls: a Go guest that allocates MiBs per call
	// occasionally runs out of its memory limit (see docs/performance.md).
	if int64(len(bulkBuf)) < n+1 {
		bulkBuf = make([]byte, n+1) // +1 so &buf[0] exists for empty blobs
	}
	buf := bulkBuf
	var got int64
	for got < n {
		r := hostBlobRead(h, got, unsafe.Pointer(&buf[got]), uint32(n-got))
		if r <= 0 {
			return fail("internal", "blob_read failed")
		}
		got += r
	}
	out := hostBlobCreate(unsafe.Pointer(&buf[0]), uint32(n))
	if out < 0 {
		return fail("denied", "blob_create refused")
	}
	pdk.OutputString(strconv.FormatInt(out, 10))
	return 0
}

// bulk_bad passes a guest pointer far outside its memory.
//
//go:wasmexport bulk_bad
func bulkBad() int32 {
	r := hostBlobCreate(unsafe.Pointer(uintptr(0xFFFF0000)), 1<<20)
	pdk.OutputString(strconv.FormatInt(r, 10))
	return 0
}

// flood logs as many lines as the input says.
//
//go:wasmexport flood
func flood() int32 {
	n, _ := strconv.Atoi(pdk.InputString())
	for i := 0; i < n; i++ {
		logLine("info", "line "+strconv.Itoa(i))
	}
	return 0
}

// logkey logs, prints and returns as an error the key it was given; the
// host must redact it everywhere.
//
//go:wasmexport logkey
func logKey() int32 {
	k, _ := apiKey("")
	logLine("warn", "my key is "+k)
	os.Stderr.WriteString("stderr says " + k + "\n")
	return fail("invalid_key", "the provider rejected "+k)
}

//go:wasmexport spin
func spin() int32 {
	x := 0
	for {
		x++
	}
}

var hoard [][]byte

//go:wasmexport oom
func oom() int32 {
	for {
		hoard = append(hoard, make([]byte, 1<<20))
	}
}

// hoard keeps as many more MiB as the input says and outputs how many MiB
// it holds in total.
//
//go:wasmexport hoard
func hoardMore() int32 {
	n, _ := strconv.Atoi(pdk.InputString())
	for i := 0; i < n; i++ {
		hoard = append(hoard, make([]byte, 1<<20))
	}
	pdk.OutputString(strconv.Itoa(len(hoard)))
	return 0
}

//go:wasmexport crash
func crash() int32 {
	var m map[string]int
	m["boom"] = 1 // nil map write: a Go panic
	return 0
}

//go:wasmexport readfile
func readfile() int32 {
	for _, p := range []string{"/etc/passwd", "/proc/self/environ", "."} {
		if b, err := os.ReadFile(p); err == nil {
			pdk.OutputString("read " + p + ": " + string(b))
			return 0
		}
		if entries, err := os.ReadDir(p); err == nil && len(entries) > 0 {
			pdk.OutputString("listed " + p)
			return 0
		}
	}
	pdk.OutputString("no files")
	return 0
}

//go:wasmexport env
func env() int32 {
	pdk.OutputString(strings.Join(os.Environ(), "\n") + os.Getenv("HOME") + os.Getenv("PATH"))
	return 0
}

// big_output outputs as many bytes as the input says.
//
//go:wasmexport big_output
func bigOutput() int32 {
	n, _ := strconv.Atoi(pdk.InputString())
	pdk.Output(make([]byte, n))
	return 0
}

// sandbox reports the clock and 8 random bytes, to check the host gives
// real time and real randomness.
//
//go:wasmexport sandbox
func sandbox() int32 {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out, _ := json.Marshal(map[string]any{"unix": time.Now().Unix(), "rand": hex.EncodeToString(b)})
	pdk.Output(out)
	return 0
}

// config returns the config value named by the input.
//
//go:wasmexport config
func config() int32 {
	v, _ := pdk.GetConfig(pdk.InputString())
	pdk.OutputString(v)
	return 0
}

// typed_error returns a typed error.
//
//go:wasmexport typed_error
func typedError() int32 {
	return fail("invalid_key", "the provider rejected the key")
}

// plain_error sets a non-JSON error.
//
//go:wasmexport plain_error
func plainError() int32 {
	pdk.SetErrorString("something broke")
	return 1
}

// extism_http tries Extism's own HTTP function (bypassing the host's
// policy) on the URL given as input. The host keeps it switched off.
//
//go:wasmexport extism_http
func extismHTTP() int32 {
	res := pdk.NewHTTPRequest(pdk.MethodGet, pdk.InputString()).Send()
	pdk.OutputString(strconv.Itoa(int(res.Status())) + " " + string(res.Body()))
	return 0
}

// var_set tries Extism's var store, which would let pooled instances carry
// state from one user's call to the next. The host disables it.
//
//go:wasmexport var_set
func varSet() int32 {
	pdk.SetVar("last_user", []byte(pdk.InputString()))
	pdk.Output(pdk.GetVar("last_user"))
	return 0
}

// stderr_flood prints as many short lines to stderr as the input says.
//
//go:wasmexport stderr_flood
func stderrFlood() int32 {
	n, _ := strconv.Atoi(pdk.InputString())
	for i := 0; i < n; i++ {
		os.Stderr.WriteString("x\n")
	}
	return 0
}

// models fetches config models_url with the caller's key injected and
// outputs the answer's body as its model list, unchecked: the host's tests
// serve hostile lists (keys echoed, endless, unprintable) through it.
//
//go:wasmexport models
func models() int32 {
	url, _ := pdk.GetConfig("models_url")
	req, _ := json.Marshal(abi.HTTPRequest{Method: "GET", URL: url, Auth: &abi.Auth{}})
	resp, err := abijson.DecodeHTTPResponse(call(hostHTTPRequest, string(req)))
	switch {
	case err != nil:
		return fail("internal", err.Error())
	case resp.Error != nil:
		return fail(resp.Error.Code, resp.Error.Message)
	case resp.Status == 401:
		return fail("invalid_key", "the provider refused the key")
	case resp.Status != 200:
		return fail("unavailable", "HTTP "+strconv.Itoa(resp.Status))
	}
	pdk.OutputString(resp.Body)
	return 0
}
