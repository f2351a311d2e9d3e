package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Check is one readiness condition: Err nil means met. Err is shown in the
// /readyz answer, so it must hold no secret.
type Check struct {
	Name string
	Err  error
}

// ReadyFunc evaluates the readiness conditions at the moment of a request.
type ReadyFunc func(ctx context.Context) []Check

// Server serves /metrics, /healthz and /readyz on one address. It listens
// as soon as it is made, so a taken address fails the start at once; the
// readiness function is given later (SetReady), once there is something
// to be ready.
type Server struct {
	m     *Metrics
	ln    net.Listener
	srv   *http.Server
	ready atomic.Pointer[ReadyFunc]
	// stopping makes /readyz answer 503 while the host shuts down, so a
	// load balancer stops sending work before the listener goes away.
	stopping atomic.Bool
	done     chan struct{}
	once     sync.Once
}

// readyTimeout bounds one /readyz evaluation (a database round trip): a
// probe that hangs is worse than one that says "not ready".
const readyTimeout = 5 * time.Second

// Listen opens addr (host:port; ":9090" for every interface) and serves on
// it. An address already in use, or one that is not an address, is an
// error that says so in words.
func Listen(addr string, m *Metrics) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("cannot serve metrics on %s: the address is already in use (another tzurot, or another program, listens there); choose another port or stop that program", addr)
		}
		return nil, fmt.Errorf("cannot serve metrics on %q (want host:port, e.g. 127.0.0.1:9090): %w", addr, err)
	}
	s := &Server{m: m, ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// Addr is where the server listens (the real port when addr said :0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetReady installs the readiness conditions; until then /readyz answers
// 503 "starting".
func (s *Server) SetReady(f ReadyFunc) { s.ready.Store(&f) }

// Stopping makes /readyz answer 503 "shutting down" from now on; /metrics
// and /healthz keep answering until Close.
func (s *Server) Stopping() { s.stopping.Store(true) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	f := s.ready.Load()
	switch {
	case s.stopping.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: shutting down")
		return
	case f == nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: starting")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	checks := (*f)(ctx)
	var b strings.Builder
	ok := true
	for _, c := range checks {
		if c.Err != nil {
			ok = false
			fmt.Fprintf(&b, "%s: FAIL: %v\n", c.Name, c.Err)
			continue
		}
		fmt.Fprintf(&b, "%s: ok\n", c.Name)
	}
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "not ready\n"+b.String())
		return
	}
	fmt.Fprint(w, "ready\n"+b.String())
}

// Close stops serving, letting requests in progress finish within ctx.
// Calling it twice is harmless.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.stopping.Store(true)
		err = s.srv.Shutdown(ctx)
		if err != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
	return err
}
