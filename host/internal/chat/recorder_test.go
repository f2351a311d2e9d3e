package chat

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/logtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// awayWriter is a database that is away until back is called.
type awayWriter struct {
	mu      sync.Mutex
	back    bool
	written []string
}

func (w *awayWriter) RecordReplies(_ context.Context, recs []store.ReplyRecord) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.back {
		return syscall.ECONNREFUSED
	}
	for _, r := range recs {
		w.written = append(w.written, r.Usage[0].RequestID)
	}
	return nil
}

func (w *awayWriter) setBack() {
	w.mu.Lock()
	w.back = true
	w.mu.Unlock()
}

func (w *awayWriter) rows() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.written...)
}

func usageRecord(id string) store.ReplyRecord {
	return store.ReplyRecord{Usage: []store.Usage{{RequestID: id, UserID: 7, Provider: "openrouter", Model: "m", InputTokens: 25, OutputTokens: 18, ReasoningTokens: 11}}}
}

// TestSpoolIsBoundedAndLogsWhatItLoses: with the database away past the retries, records are
// kept up to the bound (the rest are logged with their numbers), written once the database is
// back; a record still spooled when shutdown gives up is logged, not silently lost.
func TestSpoolIsBoundedAndLogsWhatItLoses(t *testing.T) {
	logs := &logtest.Buffer{}
	w := &awayWriter{}
	retry := RetryPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Total: 20 * time.Millisecond}
	r := newRecorder(w, slog.New(slog.NewJSONHandler(logs, nil)), retry, 256, 2)
	for _, id := range []string{"req-1", "req-2"} {
		if err := r.Record(context.Background(), usageRecord(id)); !errors.Is(err, errSpooled) {
			t.Fatalf("%s: %v, want it spooled", id, err)
		}
	}
	if err := r.Record(context.Background(), usageRecord("req-3")); !errors.Is(err, errSpoolFull) {
		t.Fatalf("req-3: %v, want it dropped (the spool holds 2)", err)
	}
	if !strings.Contains(logs.String(), "spool is full") || !strings.Contains(logs.String(), `"request_id":"req-3","user_id":7`) {
		t.Fatalf("the record beyond the bound was not logged with its numbers:\n%s", logs.String())
	}
	w.setBack()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // guards a hang only
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.rows(); len(got) != 2 || got[0] != "req-1" || got[1] != "req-2" {
		t.Fatalf("written %v, want the two spooled records", got)
	}

	// Shutdown while the database is still away: the spooled record is logged as lost.
	logs2 := &logtest.Buffer{}
	r2 := newRecorder(&awayWriter{}, slog.New(slog.NewJSONHandler(logs2, nil)), retry, 256, 10)
	if err := r2.Record(context.Background(), usageRecord("req-9")); !errors.Is(err, errSpooled) {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := r2.Close(short); err == nil {
		t.Fatal("Close reported success with records left in memory")
	}
	if !strings.Contains(logs2.String(), "lost at shutdown") || !strings.Contains(logs2.String(), `"request_id":"req-9"`) {
		t.Fatalf("the lost record was not logged:\n%s", logs2.String())
	}
}
