package app

// What `tzurot bench` says about the machine, so a figure measured on a
// shared machine can be judged: CPUs, load average before and after, Go
// and PostgreSQL versions, and CPU time per reply of the bench process and
// of the database server (from /proc; Linux only, blank elsewhere).

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Machine describes where a bench ran.
type Machine struct {
	CPUs                     int
	LoadBefore, LoadAfter    string // /proc/loadavg's first three fields
	GoVersion, PostgreSQL    string
	ProcessCPU               time.Duration // the bench process (host and both fakes): user + system
	DatabaseCPU              time.Duration // the bench database's server processes (backends)
	DatabaseBackgroundCPU    time.Duration // the server's shared processes (WAL writer, checkpointer, ...)
	DatabaseCPUMeasured      bool          // false when the server's /proc was not readable
	TimeWaitBefore           int           // sockets in TIME_WAIT to or from the fakes, before the run
	TimeWaitAfter            int           // and after
	DatabaseBackendsMeasured int
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// processCPU is this process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU
// times (AT_CLKTCK in the auxiliary vector; 100 on every common Linux).
var clockTicks = sync.OnceValue(func() int64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for i := 0; i+16 <= len(b); i += 16 {
			if binary.NativeEndian.Uint64(b[i:]) == 17 { // AT_CLKTCK
				if v := int64(binary.NativeEndian.Uint64(b[i+8:])); v > 0 {
					return v
				}
			}
		}
	}
	return 100
})

// pidCPU reads a process's user + system CPU time from /proc.
func pidCPU(pid int32) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// After the command: state is field 3; utime and stime are 14 and 15.
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration((ut + st) * int64(time.Second) / clockTicks()), true
}

// dbSampler follows the CPU time of the bench database's backends and of
// the server's shared background processes while the bench runs. Backends
// come and go with the pool, so their pids are listed every 200 ms: one
// present at the start counts from its CPU time then, one born during the
// run from zero (its start-up is part of the run), one that exits keeps its
// last sample.
type dbSampler struct {
	conn  *pgx.Conn
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	first map[int32]time.Duration
	last  map[int32]time.Duration
	bg    map[int32]bool
	ok    bool
}

func startDBSampler(ctx context.Context, dsn string) (*dbSampler, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &dbSampler{conn: conn, stop: make(chan struct{}), done: make(chan struct{}),
		first: map[int32]time.Duration{}, last: map[int32]time.Duration{}, bg: map[int32]bool{}}
	s.sample(ctx, true)
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample(ctx, false)
			}
		}
	}()
	return s, nil
}

func (s *dbSampler) sample(ctx context.Context, initial bool) {
	rows, err := s.conn.Query(ctx, `SELECT pid, datname IS NULL FROM pg_stat_activity
		WHERE (datname = current_database() AND pid <> pg_backend_pid())
		   OR backend_type IN ('walwriter', 'background writer', 'checkpointer', 'autovacuum launcher', 'logical replication launcher')`)
	if err != nil {
		return
	}
	type proc struct {
		pid int32
		bg  bool
	}
	var procs []proc
	for rows.Next() {
		var p proc
		if rows.Scan(&p.pid, &p.bg) == nil {
			procs = append(procs, p)
		}
	}
	rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range procs {
		cpu, ok := pidCPU(p.pid)
		if !ok {
			continue
		}
		s.ok = true
		if _, seen := s.first[p.pid]; !seen {
			if initial || p.bg {
				s.first[p.pid] = cpu
			} else {
				s.first[p.pid] = 0
			}
		}
		s.last[p.pid] = cpu
		s.bg[p.pid] = p.bg
	}
}

// finish stops sampling and returns the CPU time of the backends and of
// the background processes during the run.
func (s *dbSampler) finish(ctx context.Context) (backends, background time.Duration, n int, ok bool) {
	// The sampling goroutine owns the connection until it has stopped.
	close(s.stop)
	<-s.done
	s.sample(ctx, false)
	_ = s.conn.Close(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, last := range s.last {
		d := last - s.first[pid]
		if s.bg[pid] {
			background += d
		} else {
			backends += d
			n++
		}
	}
	return backends, background, n, s.ok
}

// timeWait counts sockets in TIME_WAIT whose local or remote port is one
// of ports (the fakes'), from /proc/net/tcp and tcp6.
func timeWait(ports ...int) int {
	want := map[string]bool{}
	for _, p := range ports {
		want[fmt.Sprintf("%04X", p)] = true
	}
	n := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "06" { // 06: TIME_WAIT
				continue
			}
			port := func(addr string) string {
				_, p, _ := strings.Cut(addr, ":")
				return p
			}
			if want[port(fields[1])] || want[port(fields[2])] {
				n++
			}
		}
		f.Close()
	}
	return n
}
