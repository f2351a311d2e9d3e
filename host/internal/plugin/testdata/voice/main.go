// Command voice is the host's test plugin for the voice capabilities
// (speak, clone_voice, transcribe). What it answers is chosen by its
// input, so one host serves every case: well-behaved answers and hostile
// ones (a blob that does not exist, empty audio, an HTML page as audio,
// audio over the cap, the key in a transcript). Like echo it talks to the
// host through raw tzurot:host/v1 imports and encoding/json: the host
// must not depend on the SDK to be tested.
package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"unsafe"

	"github.com/extism/go-pdk"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

//go:wasmimport tzurot:host/v1 api_key
func hostAPIKey(slot uint64) uint64

//go:wasmimport tzurot:host/v1 http_request
func hostHTTPRequest(req uint64) uint64

//go:wasmimport tzurot:host/v1 record_usage
func hostRecordUsage(usage uint64) int32

//go:wasmimport tzurot:host/v1 blob_len
func hostBlobLen(handle int64) int64

//go:wasmimport tzurot:host/v1 blob_read
func hostBlobRead(handle int64, offset int64, dst unsafe.Pointer, n uint32) int64

//go:wasmimport tzurot:host/v1 blob_create
func hostBlobCreate(src unsafe.Pointer, n uint32) int64

func main() {}

func fail(code, msg string) int32 {
	b, _ := json.Marshal(abi.Error{Code: code, Message: msg})
	pdk.SetErrorString(string(b))
	return 1
}

func output(v any) int32 {
	b, err := json.Marshal(v)
	if err != nil {
		return fail("internal", err.Error())
	}
	pdk.Output(b)
	return 0
}

func input(v any) bool { return json.Unmarshal(pdk.Input(), v) == nil }

func callHost(fn func(uint64) uint64, v any) []byte {
	b, _ := json.Marshal(v)
	mem := pdk.AllocateBytes(b)
	defer mem.Free()
	off := fn(mem.Offset())
	if off == 0 {
		return nil
	}
	res := pdk.FindMemory(off)
	return res.ReadBytes()
}

func record(u abi.Usage) int32 {
	b, _ := json.Marshal(u)
	mem := pdk.AllocateBytes(b)
	defer mem.Free()
	return hostRecordUsage(mem.Offset())
}

// buf is reused across calls: a Go guest allocating MiBs per call runs
// out of its memory limit now and then (docs/performance.md).
var buf []byte

func newBlob(b []byte) int64 {
	if len(b) == 0 {
		b = make([]byte, 0, 1)
	}
	return hostBlobCreate(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b)))
}

// readBlob copies blob h into buf and returns it.
func readBlob(h int64) ([]byte, bool) {
	n := hostBlobLen(h)
	if n < 0 {
		return nil, false
	}
	if int64(len(buf)) < n+1 {
		buf = make([]byte, n+1)
	}
	var got int64
	for got < n {
		r := hostBlobRead(h, got, unsafe.Pointer(&buf[got]), uint32(n-got))
		if r <= 0 {
			return nil, false
		}
		got += r
	}
	return buf[:n], true
}

// mp3 returns n bytes that sniff as MP3 (an ID3 tag, then frame bytes).
func mp3(n int) []byte {
	if int(cap(buf)) < n+1 {
		buf = make([]byte, n+1)
	}
	b := buf[:n]
	copy(b, "ID3\x04\x00\x00\x00\x00\x00\x00")
	for i := 10; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

//go:wasmexport tzurot_abi_v1
func marker() int32 { return 0 }

//go:wasmexport describe
func describe() int32 {
	caps := []string{abi.CapSpeak, abi.CapVoiceClone, abi.CapTranscribe}
	if v, ok := pdk.GetConfig("caps"); ok {
		caps = strings.Split(v, ",")
	}
	schema := `{"type":"object","additionalProperties":false,"properties":{
		"stability":{"type":"number","minimum":0,"maximum":1},
		"similarity_boost":{"type":"number","minimum":0,"maximum":1},
		"style":{"type":"number","minimum":0,"maximum":1},
		"speaker_boost":{"type":"boolean"},
		"speed":{"type":"number","minimum":0.7,"maximum":1.2}}}`
	if v, ok := pdk.GetConfig("voice_schema"); ok {
		schema = v
	}
	d := abi.Description{ABI: abi.Version, Name: "voice", Version: "1.0.0", Summary: "voice test plugin",
		Capabilities: caps, NeedsKey: true, NeedsNetwork: true}
	if schema != "" {
		d.VoiceSchema = json.RawMessage(schema)
	}
	return output(d)
}

// speak answers by req.Text:
//
//	"missing"        a blob handle that does not exist
//	"empty"          a 0-byte blob
//	"html"           an HTML error page, declared audio/mpeg
//	"mime"           real MP3 bytes declared text/plain
//	"ogg-as-mpeg"    Ogg bytes declared audio/mpeg
//	"size:N"         N bytes of MP3
//	"fetch:URL"      the body of GET URL kept host-side (response_blob)
//	"record"         record_usage a row and put another in the response
//	"bad-usage"      a response usage with negative characters
//	anything else    1 KiB of MP3, usage in the response; the settings
//	                 it received come back as the usage model
//
//go:wasmexport speak
func speak() int32 {
	var req abi.SpeakRequest
	if !input(&req) {
		return fail("bad_request", "not a speak request")
	}
	resp := abi.SpeakResponse{Audio: abi.AudioRef{MimeType: "audio/mpeg", DurationMS: 1500},
		Usage: abi.Usage{Kind: abi.UsageVoice, Model: string(req.Settings), Characters: int64(len(req.Text))}}
	var audio []byte
	switch t := req.Text; {
	case t == "missing":
		resp.Audio.Blob = 4242
		return output(resp)
	case t == "empty":
		audio = nil
	case t == "html":
		audio = []byte("<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>")
	case t == "mime":
		audio, resp.Audio.MimeType = mp3(1024), "text/plain"
	case t == "ogg-as-mpeg":
		audio = []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00opus")
	case strings.HasPrefix(t, "size:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(t, "size:"))
		audio = mp3(n)
	case strings.HasPrefix(t, "fetch:"):
		var res abi.HTTPResponse
		raw := callHost(hostHTTPRequest, abi.HTTPRequest{URL: strings.TrimPrefix(t, "fetch:"), ResponseBlob: true, Auth: &abi.Auth{}})
		if json.Unmarshal(raw, &res) != nil || res.Error != nil {
			return fail("unavailable", "fetch failed: "+string(raw))
		}
		resp.Audio.Blob = res.BodyBlob
		return output(resp)
	case t == "record":
		if record(abi.Usage{Kind: abi.UsageVoice, Model: "recorded", Characters: 6}) != 0 {
			return fail("internal", "usage rejected")
		}
		audio = mp3(1024)
	case t == "bad-usage":
		resp.Usage.Characters = -5
		audio = mp3(1024)
	default:
		audio = mp3(1024)
	}
	h := newBlob(audio)
	if h < 0 {
		return fail("denied", "blob_create refused")
	}
	resp.Audio.Blob = h
	return output(resp)
}

// transcribe reads the audio blob and answers "heard N bytes of MIME";
// with req.Model "key" it puts the key it was served in the transcript
// (a hostile plugin: the host must scrub it), with "record" it records
// its usage instead of answering it.
//
//go:wasmexport transcribe
func transcribe() int32 {
	var req abi.TranscribeRequest
	if !input(&req) {
		return fail("bad_request", "not a transcribe request")
	}
	b, ok := readBlob(req.Audio.Blob)
	if !ok {
		return fail("bad_request", "no audio blob")
	}
	resp := abi.TranscribeResponse{Text: "heard " + strconv.Itoa(len(b)) + " bytes of " + req.Audio.MimeType,
		Language: "en", DurationMS: 2500, Usage: abi.Usage{AudioMS: 2500, Model: "whisper-test"}}
	switch req.Model {
	case "key":
		km := pdk.FindMemory(hostAPIKey(0))
		k := km.ReadBytes()
		resp.Text = "the key is " + string(k)
		resp.Language = string(k)
	case "record":
		if record(abi.Usage{Kind: abi.UsageVoice, AudioMS: 1234}) != 0 {
			return fail("internal", "usage rejected")
		}
	}
	return output(resp)
}

// clone_voice uploads the samples to config base_url + /v1/voices/add as a
// host-built multipart form (the samples never enter the plugin) with the
// key in xi-api-key, and answers the voice_id the server returns.
//
//go:wasmexport clone_voice
func cloneVoice() int32 {
	var req abi.CloneVoiceRequest
	if !input(&req) {
		return fail("bad_request", "not a clone request")
	}
	base, _ := pdk.GetConfig("base_url")
	parts := []abi.MultipartPart{{Name: "name", Value: req.Name}}
	for _, s := range req.Samples {
		parts = append(parts, abi.MultipartPart{Name: "files", Blob: s.Blob, Filename: s.Filename, ContentType: s.MimeType})
	}
	var res abi.HTTPResponse
	raw := callHost(hostHTTPRequest, abi.HTTPRequest{Method: "POST", URL: base + "/v1/voices/add", Multipart: parts,
		Auth: &abi.Auth{Header: "xi-api-key", Scheme: "-"}})
	if json.Unmarshal(raw, &res) != nil || res.Error != nil {
		return fail("unavailable", "upload failed: "+string(raw))
	}
	if res.Status != 200 {
		return fail("bad_request", "the provider said "+strconv.Itoa(res.Status)+": "+res.Body)
	}
	var out struct {
		VoiceID string `json:"voice_id"`
	}
	_ = json.Unmarshal([]byte(res.Body), &out)
	return output(abi.CloneVoiceResponse{VoiceID: out.VoiceID})
}
