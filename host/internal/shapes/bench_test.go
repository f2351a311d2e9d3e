package shapes

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// BenchmarkImport imports 66 generated personalities with N memories each
// (plus their stories, training examples, personalizations and chat
// history) into an empty database, and reports the peak heap: it should
// stay flat as N grows, because record files stream into COPY.
//
//	go test -run '^$' -bench Import -benchtime 3x ./host/internal/shapes
func BenchmarkImport(b *testing.B) {
	for _, memories := range []int{100, 1000, 3000} {
		b.Run(fmt.Sprintf("66x%d", memories), func(b *testing.B) {
			g := generateBackup(b, genOptions{Personalities: 66, Memories: memories, Seed: 1})
			forget(g)
			pool := pgtest.New(b)
			ctx := context.Background()
			var peak uint64
			live := &liveHeap{}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if _, err := pool.Exec(ctx, `TRUNCATE personalities, users CASCADE`); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				h := watchHeap()
				b.StartTimer()
				sum, err := NewImporter(pool, Options{Out: io.Discard, Progress: live}).ImportShapes(ctx, g.Root)
				b.StopTimer()
				peak = max(peak, h.Stop())
				if err != nil || sum.Created != 66 || sum.Records[Memories].New == 0 {
					b.Fatalf("import: %v %+v", err, sum)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(live.max)/(1<<20), "live-heap-MB")
			b.ReportMetric(float64(dirSize(b, g.Root))/(1<<20), "backup-MB")
			b.ReportMetric(float64(66*memories*b.N)/b.Elapsed().Seconds(), "memories/s")
		})
	}
}

// liveHeap measures the heap still in use after each personality, right
// after a collection: it must not grow with the backup. (66 collections of
// a few-MB heap add well under a second's hundredth each to the timing.)
type liveHeap struct{ max uint64 }

func (l *liveHeap) Start(int) {}
func (l *liveHeap) Finish()   {}
func (l *liveHeap) Step(string) {
	// Twice: sync.Pool buffers (pgx's, encoding/json's) survive one
	// collection in the pools' victim caches.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	l.max = max(l.max, ms.HeapAlloc)
}

// BenchmarkReimportUnchanged is the second run of the same backup: every
// personality compared, nothing written.
func BenchmarkReimportUnchanged(b *testing.B) {
	g := generateBackup(b, genOptions{Personalities: 66, Memories: 1000, Seed: 1})
	forget(g)
	pool := pgtest.New(b)
	ctx := context.Background()
	if _, err := NewImporter(pool, Options{}).ImportShapes(ctx, g.Root); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		sum, err := NewImporter(pool, Options{}).ImportShapes(ctx, g.Root)
		if err != nil || sum.Unchanged != 66 {
			b.Fatalf("re-import: %v %+v", err, sum)
		}
	}
}

// forget drops the generator's in-memory copy of the records (tests use it
// to check what was stored; a benchmark measuring the heap must not count it).
func forget(g *genBackup) {
	for _, p := range g.Good {
		p.Files = nil
	}
}

func dirSize(tb testing.TB, root string) int64 {
	var n int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		n += info.Size()
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
