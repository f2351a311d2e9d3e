package shapes

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// writeHugeChatHistory writes a chat history of n messages of about 2 KB
// each, itself streaming (the test must not hold the file in memory either).
func writeHugeChatHistory(t *testing.T, path, shapesID string, n int) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	fmt.Fprintf(w, `{"shape_id": %q, "shape_name": "Chatty", "messages": [`, shapesID)
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 38) // ~1 KB
	for i := range n {
		if i > 0 {
			w.WriteString(",\n")
		}
		fmt.Fprintf(w, `{"id": "msg-%07d", "message": "question %d: %s", "reply": "answer %d: %s", "ts": %d.5, "voice_reply_url": null, "attachment_url": null, "attachment_type": null, "regenerated_replies": [], "fallback_model_used": false}`,
			i, i, filler, i, filler, 1700000000+i)
	}
	fmt.Fprintf(w, `], "message_count": %d, "export_date": "2025-07-22T10:00:00Z"}`, n)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// heapPeak samples the live heap until stopped.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	max  uint64
}

func watchHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			h.max = max(h.max, ms.HeapAlloc)
			select {
			case <-h.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return h
}

func (h *heapPeak) Stop() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.max
}

// TestHugeChatHistoryStreamsInBoundedMemory imports a 24 MB chat history
// and checks the heap never grew by more than a quarter of that: the file is
// streamed record by record into COPY, never loaded whole.
func TestHugeChatHistoryStreamsInBoundedMemory(t *testing.T) {
	pool := pgtest.New(t)
	dir := filepath.Join(t.TempDir(), "chatty")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const id = "44444444-5555-4666-8777-888888888888"
	writeJSON(t, filepath.Join(dir, "chatty.json"), map[string]any{"id": id, "name": "Chatty", "username": "chatty"})
	const messages = 11000
	size := writeHugeChatHistory(t, filepath.Join(dir, "chatty_chat_history.json"), id, messages)
	if size < 22<<20 {
		t.Fatalf("generated only %d bytes", size)
	}

	// A low GC target keeps garbage from hiding what is live: a loaded
	// file would be live, a streamed one is garbage within one record.
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := watchHeap()
	sum, report := importShapes(t, pool, dir, Options{})
	high := peak.Stop()

	if sum.Created != 1 || sum.Records[ChatHistory].New != messages {
		t.Fatalf("import of the huge chat history:\n%s", report)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_chat_messages`); n != messages {
		t.Fatalf("%d messages stored, want %d", n, messages)
	}
	if n := queryInt(t, pool, `SELECT (custom_fields -> 'shapesChatHistory' ->> 'message_count')::int FROM personalities`); n != messages {
		t.Errorf("the header after the messages was not kept: message_count %d", n)
	}
	growth := int64(high) - int64(before.HeapAlloc)
	t.Logf("file %d MB, heap before %d MB, peak %d MB", size>>20, before.HeapAlloc>>20, high>>20)
	if growth > size/4 {
		t.Errorf("heap grew by %d MB while importing a %d MB file: it is not streaming", growth>>20, size>>20)
	}
}
