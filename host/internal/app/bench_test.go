package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// TestBenchRecordsEveryReply runs the load command's engine small: every
// message gets a reply, a usage row and a message id.
func TestBenchRecordsEveryReply(t *testing.T) {
	res, err := app.Bench(context.Background(), app.BenchOptions{
		Messages: 60, Concurrency: 8, DatabaseURL: pgtest.DSN(t), PluginWasm: openaiWasm, Users: 7, Channels: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.UsageRows != 60 || res.MappedMessages != 60 {
		t.Fatalf("%d failed, %d usage rows, %d message ids; want 0, 60, 60", res.Failed, res.UsageRows, res.MappedMessages)
	}
	if res.RepliesPerSecond <= 0 || res.EventToWebhookP99 < res.EventToWebhookP50 || res.PluginCallP50 <= 0 {
		t.Fatalf("measurements missing: %+v", res)
	}
	// One first contact per user (7 users cover the 3 channels), answered
	// and recorded too, reported apart from the measured run.
	if res.FirstContacts != 7 || res.FirstContactOverheadP50 <= 0 {
		t.Fatalf("first contacts: %d, p50 %s; want 7 measured apart", res.FirstContacts, res.FirstContactOverheadP50)
	}
}

// TestBenchAtAFixedRate: with Rate the messages are injected on a clock
// (open loop) and every one is still answered and recorded; with Cold
// there are no first contacts apart.
func TestBenchAtAFixedRate(t *testing.T) {
	res, err := app.Bench(context.Background(), app.BenchOptions{
		Messages: 40, Concurrency: 8, DatabaseURL: pgtest.DSN(t), PluginWasm: openaiWasm, Users: 5, Channels: 2,
		Rate: 400, Cold: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.UsageRows != 40 || res.MappedMessages != 40 || res.FirstContacts != 0 {
		t.Fatalf("%d failed, %d usage rows, %d message ids, %d first contacts; want 0, 40, 40, 0", res.Failed, res.UsageRows, res.MappedMessages, res.FirstContacts)
	}
	// 40 messages at 400/s cannot all be in before 97.5 ms: the clock, not
	// the replies, paced them (a count of intervals, not a timing bound on
	// the host).
	if res.Elapsed < 97*time.Millisecond {
		t.Fatalf("40 messages at 400/s took %s: the rate was not applied", res.Elapsed)
	}
}

// BenchmarkPipeline drives b.N messages through the whole pipeline (see
// app.Bench) and reports replies per second and the host overhead.
//
//	go test -run '^$' -bench Pipeline -benchtime 3000x ./host/internal/app/
func BenchmarkPipeline(b *testing.B) {
	res, err := app.Bench(context.Background(), app.BenchOptions{
		Messages: b.N, Concurrency: 64, DatabaseURL: pgtest.DSN(b), PluginWasm: openaiWasm,
	})
	if err != nil {
		b.Fatal(err)
	}
	if res.Failed != 0 {
		b.Fatalf("%d replies failed", res.Failed)
	}
	b.ReportMetric(res.RepliesPerSecond, "replies/s")
	b.ReportMetric(float64(res.OverheadP50.Microseconds())/1000, "overhead-p50-ms")
	b.ReportMetric(float64(res.OverheadP99.Microseconds())/1000, "overhead-p99-ms")
	b.ReportMetric(float64(res.EventToWebhookP50.Microseconds())/1000, "event-to-webhook-p50-ms")
	b.ReportMetric(float64(res.AllocBytesPerReply), "B/reply")
}
