package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/config"
)

const benchUsage = `usage: tzurot bench [flags]

Drives messages through the whole pipeline (a fake Discord, the real plugin
host running plugins/openai against a provider on 127.0.0.1 that answers at
once, and the real PostgreSQL) and prints replies per second, the host's
overhead per reply (p50/p99) and memory. It adds a personality and users to
the database: point it at a scratch database.

flags:`

// runBench implements `tzurot bench`.
func runBench(ctx context.Context, args []string) error {
	return bench(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, benchUsage); fs.PrintDefaults() }
	n := fs.Int("n", 10000, "messages to send (each gets one reply)")
	conc := fs.Int("concurrency", 64, "messages in flight at once")
	dsn := fs.String("database-url", "", "PostgreSQL to use (default $DATABASE_URL)")
	wasm := fs.String("plugin", "", "the openai plugin .wasm (default: build plugins/openai from source)")
	pool := fs.Int("plugin-pool", 0, "plugin instances (default 2 per CPU, at least 4)")
	users := fs.Int("users", 100, "distinct users sending")
	channels := fs.Int("channels", 20, "channels the messages are spread over")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the run to this file")
	verbose := fs.Bool("v", false, "log warnings to stderr")
	rate := fs.Float64("rate", 0, "inject this many messages per second (open loop; -concurrency still caps those in flight); 0: as fast as replies come back")
	cold := fs.Bool("cold", false, "measure each user's and channel's first message too (by default one message per user and channel runs first, unmeasured, and is reported as first contacts)")
	workers := fs.Int("workers", 0, "worker processes (serve --role worker, this binary) behind an in-process gateway; 0 runs the single-process path")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *dsn == "" {
		var err error
		if *dsn, err = config.DatabaseURL(getenv); err != nil {
			return fmt.Errorf("%w: pass -database-url or set DATABASE_URL", errUsage)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	opts := app.BenchOptions{Messages: *n, Concurrency: *conc, DatabaseURL: *dsn, PluginWasm: *wasm,
		PluginPool: *pool, Users: *users, Channels: *channels, Logger: logger, Rate: *rate, Cold: *cold}
	if *workers > 0 {
		bin, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: find this binary to start workers: %w", err)
		}
		res, err := app.BenchWorkers(ctx, opts, *workers, bin)
		if err != nil {
			return err
		}
		ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
		fmt.Fprintf(stdout, "messages            %d through 1 gateway and %d worker processes on %d CPUs\n", res.Messages, res.Workers, runtime.NumCPU())
		fmt.Fprintf(stdout, "elapsed             %s\n", res.Elapsed.Round(time.Millisecond))
		fmt.Fprintf(stdout, "replies/s           %.0f (posted, delivery record finished)\n", res.RepliesPerSecond)
		fmt.Fprintf(stdout, "queue latency       p50 %s  p99 %s  (job inserted -> the attempt that answered it starts; channel order included)\n", ms(res.QueueP50), ms(res.QueueP99))
		fmt.Fprintf(stdout, "event -> posted     p50 %s  p99 %s\n", ms(res.EventToPostP50), ms(res.EventToPostP99))
		fmt.Fprintf(stdout, "recorded            %d usage rows\n", res.UsageRows)
		if res.UsageRows != int64(res.Messages) {
			return fmt.Errorf("%d usage rows for %d messages (run with -v to see why)", res.UsageRows, res.Messages)
		}
		return nil
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		// The profile covers only the measured run, not the setup.
		opts.Progress = func(done int) {
			if done == 1 {
				_ = pprof.StartCPUProfile(f)
			}
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	res, err := app.Bench(ctx, opts)
	if err != nil {
		return err
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }
	mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	fmt.Fprintf(stdout, "messages            %d (%d failed) on %d CPUs, concurrency %d", res.Messages, res.Failed, res.CPUs, *conc)
	if *rate > 0 {
		fmt.Fprintf(stdout, ", injected at %.0f/s", *rate)
	}
	fmt.Fprintln(stdout)
	if res.FirstContacts > 0 {
		fmt.Fprintf(stdout, "first contacts      %d before the measured run (each user's and channel's first message), host overhead p50 %s  p99 %s\n",
			res.FirstContacts, ms(res.FirstContactOverheadP50), ms(res.FirstContactOverheadP99))
	}
	fmt.Fprintf(stdout, "elapsed             %s\n", res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "replies/s           %.0f (posted, usage and message ids committed)\n", res.RepliesPerSecond)
	fmt.Fprintf(stdout, "host overhead       p50 %s  p99 %s  (event -> webhook call, minus the plugin call)\n", ms(res.OverheadP50), ms(res.OverheadP99))
	fmt.Fprintf(stdout, "event -> webhook    p50 %s  p99 %s  (everything; the fake provider answers at once)\n", ms(res.EventToWebhookP50), ms(res.EventToWebhookP99))
	fmt.Fprintf(stdout, "plugin call         p50 %s  p99 %s  (wasm + host HTTP to the provider and back)\n", ms(res.PluginCallP50), ms(res.PluginCallP99))
	fmt.Fprintf(stdout, "memory              RSS %s (peak %s), heap in use %s, %d bytes allocated per reply\n",
		mib(res.RSSBytes), mib(res.PeakRSSBytes), mib(res.HeapInuseBytes), res.AllocBytesPerReply)
	fmt.Fprintf(stdout, "recorded            %d usage rows, %d message ids\n", res.UsageRows, res.MappedMessages)
	m := res.Machine
	perReply := func(d time.Duration) string { return ms(res.CPUPerReply(d)) }
	fmt.Fprintf(stdout, "machine             %d CPUs (GOMAXPROCS %d), load average %s before, %s after\n", m.CPUs, res.CPUs, m.LoadBefore, m.LoadAfter)
	fmt.Fprintf(stdout, "versions            %s, PostgreSQL %s\n", m.GoVersion, m.PostgreSQL)
	fmt.Fprintf(stdout, "CPU per reply       bench process %s (host and both fakes, %s in all)\n", perReply(m.ProcessCPU), m.ProcessCPU.Round(time.Millisecond))
	if m.DatabaseCPUMeasured {
		fmt.Fprintf(stdout, "                    database %s (%d backends of the bench database, %s in all) + %s shared background (WAL writer, checkpointer, ...)\n",
			perReply(m.DatabaseCPU), m.DatabaseBackendsMeasured, m.DatabaseCPU.Round(time.Millisecond), perReply(m.DatabaseBackgroundCPU))
		fmt.Fprintf(stdout, "                    host + database %s\n", perReply(m.ProcessCPU+m.DatabaseCPU+m.DatabaseBackgroundCPU))
	} else {
		fmt.Fprintf(stdout, "                    database: not measured (its processes' /proc is not readable from here)\n")
	}
	fmt.Fprintf(stdout, "TIME_WAIT sockets   %d before, %d after (to or from the fakes' ports)\n", m.TimeWaitBefore, m.TimeWaitAfter)
	if res.Failed > 0 || res.UsageRows != int64(res.Messages-res.Failed) {
		return fmt.Errorf("%d replies failed or were not recorded (run with -v to see why)", res.Failed)
	}
	return nil
}
