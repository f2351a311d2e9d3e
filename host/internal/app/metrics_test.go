package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/app"
)

// get fetches a path of the metrics address: status and body.
func get(t *testing.T, addr net.Addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// With TZUROT_METRICS_ADDR set, a reply shows in /metrics (reply, plugin
// call, usage tokens, Discord REST calls, pools), the exposition holds no
// key, token or user id, /healthz answers and /readyz says what is not ready.
func TestMetricsAndHealthEndpoints(t *testing.T) {
	w := newWorld(t)
	w.env[app.EnvMetricsAddr] = "127.0.0.1:0"
	opts := w.options()
	opts.NoGatewayConnect = true
	a, stop := w.serve(opts)
	if a.MetricsAddr == nil {
		t.Fatal("serve did not report its metrics address")
	}

	w.inject(a, "@bambi count me")
	waitFor(t, func() bool { return len(w.replies()) == 1 && w.usageRows() == 1 })

	code, body := get(t, a.MetricsAddr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	for _, want := range []string{
		`tzurot_replies_total{outcome="posted"} 1`,
		`tzurot_reply_latency_seconds_count{plugin="openrouter"} 1`,
		`tzurot_reply_host_overhead_seconds_count{plugin="openrouter"} 1`,
		`tzurot_plugin_calls_total{export="chat",plugin="openrouter",result="ok"} 1`,
		`tzurot_usage_tokens_total{kind="text",provider="openrouter",type="input"} 10`,
		`tzurot_usage_tokens_total{kind="text",provider="openrouter",type="output"} 2`,
		`tzurot_discord_rest_requests_total{method="POST",status="2xx"}`,
		`tzurot_plugin_pool_size{plugin="openrouter"}`,
		`tzurot_plugin_pool_idle{plugin="openrouter"}`,
		`tzurot_db_pool_max_connections{pool="main"} 16`,
		`tzurot_db_pool_acquires_total{pool="ratelimit"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for name, secret := range map[string]string{"the user's key": userKey, "the user id": userID, "the bot token": w.fake.Token,
		"the master key": w.env["APP_MASTER_KEY"], "the database URL": w.dsn, "the channel id": w.channel.ID} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics shows %s", name)
		}
	}

	if code, body := get(t, a.MetricsAddr, "/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	// The gateway was never connected (the test injects events), so the
	// bot is not ready, and /readyz says why and what is fine.
	code, body = get(t, a.MetricsAddr, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz without a gateway: %d, want 503\n%s", code, body)
	}
	for _, want := range []string{"database: ok", "migrations: ok", "chat_plugin: ok", "discord: FAIL: the Discord gateway is not connected"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz lacks %q:\n%s", want, body)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	w.fake.AssertNoViolations(t)
}

// HTTP interactions only: ready once the endpoint listens, with no
// gateway at all.
func TestReadyzWithInteractionsEndpoint(t *testing.T) {
	w := newWorld(t)
	w.env[app.EnvMetricsAddr] = "127.0.0.1:0"
	w.env[app.EnvGateway] = "off"
	w.env[app.EnvInteractionsAddr] = "127.0.0.1:0"
	w.env["DISCORD_PUBLIC_KEY"] = strings.Repeat("ab", 32)
	a, stop := w.serve(w.options())
	code, body := get(t, a.MetricsAddr, "/readyz")
	if code != http.StatusOK || !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "discord: ok") {
		t.Fatalf("/readyz: %d\n%s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A metrics address already taken stops serve at once with an error that
// says so, before it touches the database or Discord.
func TestMetricsAddressInUse(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w.env[app.EnvMetricsAddr] = ln.Addr().String()
	err = app.Serve(context.Background(), w.options())
	if err == nil || !strings.Contains(err.Error(), "TZUROT_METRICS_ADDR") || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("serve with the metrics address taken: %v", err)
	}
	if n := len(w.fake.Requests()); n != 0 {
		t.Fatalf("a refused start talked to Discord (%d requests)", n)
	}
}

// A scrape while the host shuts down gets a clean answer (/readyz: 503
// "shutting down", /metrics still served); once serve has returned, the
// address refuses connections. The race detector watches the collectors
// reading pools that are closing.
func TestScrapeDuringShutdown(t *testing.T) {
	w := newWorld(t)
	w.env[app.EnvMetricsAddr] = "127.0.0.1:0"
	opts := w.options()
	opts.NoGatewayConnect = true
	a, stop := w.serve(opts)
	hold := make(chan struct{})
	w.provider.mu.Lock()
	w.provider.hold = hold
	w.provider.mu.Unlock()
	w.inject(a, "@bambi hold on")
	<-w.provider.got

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	waitFor(t, func() bool { return strings.Contains(w.logs.String(), `"msg":"shutting down"`) })
	code, body := get(t, a.MetricsAddr, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz during shutdown: %d %q", code, body)
	}
	// Scrapes keep coming while the pools and plugins close.
	scrapes := make(chan error, 1)
	go func() {
		for {
			resp, err := http.Get("http://" + a.MetricsAddr.String() + "/metrics")
			if err != nil {
				scrapes <- nil // connection refused: the server is gone
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				scrapes <- &statusError{resp.StatusCode}
				return
			}
		}
	}()
	close(hold)
	if err := <-stopped; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if err := <-scrapes; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + a.MetricsAddr.String() + "/healthz"); err == nil {
		t.Error("the metrics address still answers after serve returned")
	}
	if len(w.replies()) != 1 {
		t.Errorf("the reply in flight was not posted: %+v", w.replies())
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string {
	return "scrape during shutdown answered " + http.StatusText(e.code)
}
