package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./host/internal/plugin/
//
// Results and the machine they came from are in docs/performance.md.

// reportPercentiles adds p50/p99 of per-call latencies to the benchmark.
func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

func benchChatRequest() abi.ChatRequest {
	return abi.ChatRequest{
		Model:    "bench-model",
		Messages: []abi.Message{{Role: abi.RoleUser, Content: strings.Repeat("x", 1024)}},
	}
}

// BenchmarkChatRoundTrip is one chat call: 1 KiB in and out, through the
// pool, call timeout on, one key lookup and one usage record.
func BenchmarkChatRoundTrip(b *testing.B) {
	keys := &MemoryKeys{}
	keys.Set("u1", "openai", "sk-bench")
	h, _ := testHost(b, echoEntry("openai", ""), keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "bench"})
	req := benchChatRequest()
	if _, _, err := h.Chat(ctx, "openai", req); err != nil { // warm the instance
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		resp, usage, err := h.Chat(ctx, "openai", req)
		lat = append(lat, time.Since(start))
		if err != nil || len(resp.Content) != 1024 || len(usage) != 1 {
			b.Fatalf("chat: %v, %d bytes, %d usage rows", err, len(resp.Content), len(usage))
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkEcho1KiB is the bare cost of a call through the host (pool,
// call state, call timeout) with no host functions and no JSON in the
// plugin, for comparison with the chat round trip.
func BenchmarkEcho1KiB(b *testing.B) {
	h, _ := testHost(b, echoEntry("openai", ""), nil)
	payload := bytes.Repeat([]byte("x"), 1024)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		out, err := h.Call(context.Background(), "openai", "echo", payload)
		lat = append(lat, time.Since(start))
		if err != nil || len(out) != len(payload) {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkChatParallel keeps both cores busy through one pool.
func BenchmarkChatParallel(b *testing.B) {
	for _, pool := range []int{2, 4} {
		b.Run(fmt.Sprintf("pool=%d", pool), func(b *testing.B) {
			keys := &MemoryKeys{}
			keys.Set("u1", "openai", "sk-bench")
			h, _ := testHost(b, echoEntry("openai", fmt.Sprintf("[plugins.openai.limits]\npool_size = %d", pool)), keys)
			ctx := WithCall(context.Background(), Call{UserID: "u1"})
			req := benchChatRequest()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := h.Chat(ctx, "openai", req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBoundary1MiB moves 1 MiB into the plugin and 1 MiB back out:
// through Extism's input/output, through the call's bulk input and output,
// then through the bulk blob functions.
func BenchmarkBoundary1MiB(b *testing.B) {
	h, _ := testHost(b, echoEntry("openai", "[plugins.openai.limits]\nmax_response_bytes = 4194304"), nil)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for _, c := range []struct{ name, export string }{{"extism-input-output", "echo_extism"}, {"bulk-input-output", "echo"}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(2 * len(payload)))
			for range b.N {
				out, err := h.Call(context.Background(), "openai", c.export, payload)
				if err != nil || len(out) != len(payload) {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("bulk-blob", func(b *testing.B) {
		b.SetBytes(int64(2 * len(payload)))
		for range b.N {
			blobs := NewBlobs()
			in := blobs.Put(payload)
			ctx := WithCall(context.Background(), Call{Blobs: blobs})
			out, err := h.Call(ctx, "openai", "bulk_echo", []byte(strconv.FormatInt(in, 10)))
			if err != nil {
				b.Fatal(err)
			}
			hd, _ := strconv.ParseInt(string(out), 10, 64)
			if got, _ := blobs.Get(hd); len(got) != len(payload) {
				b.Fatal("short blob")
			}
		}
	})
}

// BenchmarkWarmInstanceMemory reports the Go heap one initialised instance
// holds (its wasm memories are Go slices, so they are counted).
func BenchmarkWarmInstanceMemory(b *testing.B) {
	h, _ := testHost(b, echoEntry("openai", "[plugins.openai.limits]\npool_size = 16"), nil)
	l := pluginOf(b, h, "openai")
	const n = 16
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		insts := make([]*instance, 0, n)
		for range n {
			inst, err := newInstance(context.Background(), l.shared.compiled)
			if err != nil {
				b.Fatal(err)
			}
			ctx := withState(context.Background(), &callState{p: l, inst: inst, blobs: NewBlobs()})
			if _, _, err := inst.plugin.CallWithContext(ctx, "echo", []byte("warm")); err != nil {
				b.Fatal(err)
			}
			insts = append(insts, inst)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n/(1<<20), "heap-MiB/instance")
		for _, inst := range insts {
			inst.close()
		}
	}
}

// BenchmarkHostStart measures plugins.toml to ready (compiled, described,
// one warm instance each) with a cold and a warm on-disk compilation cache:
// the test plugin alone, plugins/openai alone, and plugins/openai serving
// three entries as in the shipped plugins.toml.
func BenchmarkHostStart(b *testing.B) {
	entry := func(name, path string) string {
		return fmt.Sprintf(`
[plugins.%s]
path = %q
key_slot = %q
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["api.example.com:443"]
`, name, path, name)
	}
	type startCase struct{ name, toml string }
	cases := []startCase{{"echo-test-plugin", entry("p", wasmPath("echo"))}}
	if root, err := plugintest.ModuleRoot(); err == nil {
		if _, err := os.Stat(filepath.Join(root, "plugins", "openai", "main.go")); err == nil {
			out := filepath.Join(wasmDir, "openai.wasm")
			if err := plugintest.BuildTo(filepath.Join(root, "plugins", "openai"), out); err != nil {
				b.Fatal(err)
			}
			cases = append(cases,
				startCase{"openai-plugin", entry("openai", out)},
				startCase{"openai-plugin-x3", entry("openai", out) + entry("openrouter", out) + entry("other", out)})
		}
	}
	for _, c := range cases {
		start := func(b *testing.B, cacheDir string) {
			cfg, err := ParseConfig([]byte(c.toml), "")
			if err != nil {
				b.Fatal(err)
			}
			cfg.Runtime.CacheDir = cacheDir
			h, err := NewHost(context.Background(), Options{Config: cfg})
			if err != nil {
				b.Fatal(err)
			}
			for _, st := range h.Status() {
				if st.State != StateLoaded {
					b.Fatalf("%s not loaded: %s", st.Name, st.Reason)
				}
			}
			b.StopTimer()
			_ = h.Close(context.Background())
			b.StartTimer()
		}
		b.Run(c.name+"/cold-cache", func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				b.StartTimer()
				start(b, dir)
			}
		})
		b.Run(c.name+"/warm-cache", func(b *testing.B) {
			dir := b.TempDir()
			start(b, dir) // fill the cache
			b.ResetTimer()
			for range b.N {
				start(b, dir)
			}
		})
	}
}

// BenchmarkSpeakBlob1MiB is a whole Host.Speak whose plugin answers 1 MiB
// of speech: request JSON in, one blob_create of 1 MiB out, the host's
// checks (blob, size, audio/* type, magic bytes) and the bytes handed to
// the caller. The audio never passes through Extism's input or output.
func BenchmarkSpeakBlob1MiB(b *testing.B) {
	h, _ := newVoiceHost(b, "", "", 4<<20, 4<<20)
	ctx := voiceCtx()
	req := abi.SpeakRequest{Text: "size:1048576", Settings: json.RawMessage(`{"stability":0.5}`)}
	if _, _, _, err := h.Speak(ctx, "voice", req); err != nil { // warm the instance
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		_, audio, _, err := h.Speak(ctx, "voice", req)
		lat = append(lat, time.Since(start))
		if err != nil || len(audio) != 1<<20 {
			b.Fatalf("speak: %d bytes, %v", len(audio), err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkTranscribeBlob1MiB is a whole Host.Transcribe of 1 MiB of
// audio: the host stores it as a caller blob, the plugin copies all of it
// into its own memory with blob_read and answers a transcript.
func BenchmarkTranscribeBlob1MiB(b *testing.B) {
	h, _ := newVoiceHost(b, "", "", 4<<20, 4<<20)
	ctx := voiceCtx()
	msg := append([]byte("OggS\x00\x02"), make([]byte, 1<<20-6)...)
	req := abi.TranscribeRequest{Audio: abi.AudioRef{MimeType: "audio/ogg"}}
	if _, _, err := h.Transcribe(ctx, "voice", req, msg); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		resp, _, err := h.Transcribe(ctx, "voice", req, msg)
		lat = append(lat, time.Since(start))
		if err != nil || resp.Text != "heard 1048576 bytes of audio/ogg" {
			b.Fatalf("transcribe: %q, %v", resp.Text, err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkInvokeTool is a whole Host.InvokeTool of a small tool: the
// arguments checked against the tool's compiled schema, request JSON in,
// the result decoded, scrubbed and cut.
func BenchmarkInvokeTool(b *testing.B) {
	h := loadedToolkit(b, toolCaps, "", 0)
	ctx := toolCtx()
	req := abi.InvokeRequest{Tool: "weather", Arguments: json.RawMessage(`{"city":"Paris","days":3}`), Context: abi.ToolContext{Timezone: "Europe/Paris"}}
	if _, _, err := h.InvokeTool(ctx, "toolkit", req); err != nil { // warm the instance
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		_, _, err := h.InvokeTool(ctx, "toolkit", req)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkGenerateImage1MiB is a whole Host.GenerateImage whose plugin
// answers one 1 MiB PNG through blob_create: settings checked against the
// image_schema, the host's checks (blob, size cap, magic bytes, PNG size
// header) and the bytes handed to the caller.
func BenchmarkGenerateImage1MiB(b *testing.B) {
	h := loadedToolkit(b, toolCaps, "", 0)
	ctx := toolCtx()
	req := abi.ImageRequest{Prompt: "size:1048576", Settings: json.RawMessage(`{"quality":"hd"}`)}
	if _, _, err := h.GenerateImage(ctx, "toolkit", req); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res, _, err := h.GenerateImage(ctx, "toolkit", req)
		lat = append(lat, time.Since(start))
		if err != nil || len(res.Images[0].Data) != 1<<20 {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkOpenAIChat is one chat call of the real plugins/openai through
// the host, as `tzurot bench` makes it: the pipeline's request (a system
// prompt and 20 messages of history, about 3 KiB), the plugin's provider
// request through http_request with the key injected, a fake provider on
// 127.0.0.1 that answers at once, the reply parsed and its usage recorded.
// It is the plugin call path of a reply without the rest of the pipeline.
func BenchmarkOpenAIChat(b *testing.B) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		b.Skip("no module root: ", err)
	}
	wasm := filepath.Join(wasmDir, "openai.wasm")
	if err := plugintest.BuildTo(filepath.Join(root, "plugins", "openai"), wasm); err != nil {
		b.Fatal(err)
	}
	const reply = "It is sunny here, thank you for asking! How is it where you are?"
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"cmpl-bench","object":"chat.completion","model":"instant","choices":[{"index":0,"message":{"role":"assistant","content":"`+reply+`"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":16,"total_tokens":136}}`)
	}))
	b.Cleanup(s.Close)
	hp := strings.TrimPrefix(s.URL, "http://")
	keys := &MemoryKeys{}
	keys.Set("u1", "bench", "sk-bench-0123456789abcdef")
	h, _ := testHost(b, fmt.Sprintf(`
[plugins.bench]
path = %q
key_slot = "bench"
capabilities = ["llm.chat", "llm.validate_key", "llm.models", "llm.embed"]
allowed_hosts = [%q]
allow_private = true
[plugins.bench.config]
base_url = "http://%s/v1"
default_model = "instant"
flavor = "openai"
`, wasm, hp, hp), keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "bench"})
	req := plugintest.PipelineRequest("instant", true)
	if _, _, err := h.Chat(ctx, "bench", req); err != nil { // warm the instance
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		resp, usage, err := h.Chat(ctx, "bench", req)
		lat = append(lat, time.Since(start))
		if err != nil || resp.Content != reply || len(usage) != 1 {
			b.Fatalf("chat: %v, %q, %d usage rows", err, resp.Content, len(usage))
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}
