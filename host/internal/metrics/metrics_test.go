package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tzurot-go/tzurot/host/internal/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// A nil *Metrics is a valid, silent one: code without metrics calls the
// hooks as they are.
func TestNilMetricsDoNothing(t *testing.T) {
	var m *metrics.Metrics
	m.Reply("p", "posted", time.Second, time.Millisecond)
	m.PluginCall("p", "chat", metrics.CallOK, time.Second)
	m.PoolWait("p", time.Millisecond)
	m.RateLimited("user-rpm")
	m.Usage("openrouter", "text", 1, 2, 3)
	m.DiscordREST("GET", 200, "")
	m.PluginPools(nil)
	m.DatabasePools(nil)
	if m.Registry() != nil {
		t.Fatal("a nil Metrics has a registry")
	}
	if rt := m.Transport(nil); rt != http.DefaultTransport {
		t.Fatal("a nil Metrics wraps the transport")
	}
}

// The Discord transport counts answers by method and status class, and
// 429s by their scope, without looking at the URL (webhook tokens).
func TestDiscordTransportCountsStatusAnd429(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			w.Header().Set("X-RateLimit-Scope", "global")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	m := metrics.New(prometheus.NewRegistry())
	c := &http.Client{Transport: m.Transport(nil)}
	for _, path := range []string{"/webhooks/1/secret-token", "/limited", "/missing", "/ok"} {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if _, err := c.Post("http://127.0.0.1:1/refused", "text/plain", nil); err == nil {
		t.Fatal("port 1 answered")
	}
	body := scrape(t, m)
	for _, want := range []string{
		`tzurot_discord_rest_requests_total{method="GET",status="2xx"} 2`,
		`tzurot_discord_rest_requests_total{method="GET",status="429"} 1`,
		`tzurot_discord_rest_requests_total{method="GET",status="4xx"} 1`,
		`tzurot_discord_rest_requests_total{method="POST",status="error"} 1`,
		`tzurot_discord_rest_rate_limited_total{scope="global"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "secret-token") {
		t.Error("a URL reached the metrics")
	}
}

// Replies: outcome always counted; latency and overhead only for a reply
// that was sent; usage tokens by type, zero types left out.
func TestReplyAndUsage(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	m.Reply("openrouter", "posted", 2*time.Second, 3*time.Millisecond)
	m.Reply("", "rate_limited", 0, 0)
	m.RateLimited("user-rpm")
	m.Usage("openrouter", "text", 100, 20, 0)
	body := scrape(t, m)
	for _, want := range []string{
		`tzurot_replies_total{outcome="posted"} 1`,
		`tzurot_replies_total{outcome="rate_limited"} 1`,
		`tzurot_reply_latency_seconds_sum{plugin="openrouter"} 2`,
		`tzurot_reply_host_overhead_seconds_sum{plugin="openrouter"} 0.003`,
		`tzurot_rate_limit_refusals_total{scope="user-rpm"} 1`,
		`tzurot_usage_tokens_total{kind="text",provider="openrouter",type="input"} 100`,
		`tzurot_usage_tokens_total{kind="text",provider="openrouter",type="output"} 20`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `type="reasoning"`) || strings.Contains(body, `tzurot_reply_latency_seconds_count{plugin=""}`) {
		t.Errorf("zero reasoning tokens or an unsent reply's latency recorded:\n%s", body)
	}
}

// BenchmarkReplyHooks is what metrics add to one reply: the reply, one
// plugin call, one usage row and three Discord REST answers (typing,
// webhook post, and one more).
func BenchmarkReplyHooks(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.PluginCall("openrouter", "chat", metrics.CallOK, 800*time.Millisecond)
		m.Usage("openrouter", "text", 1200, 300, 0)
		m.DiscordREST("POST", 204, "")
		m.DiscordREST("POST", 200, "")
		m.DiscordREST("GET", 200, "")
		m.Reply("openrouter", "posted", time.Second, 2*time.Millisecond)
	}
}

// BenchmarkScrape is one /metrics scrape of a registry with a few plugins'
// and outcomes' series.
func BenchmarkScrape(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	for _, p := range []string{"openai", "openrouter", "anthropic", "clock"} {
		m.PluginCall(p, "chat", metrics.CallOK, time.Second)
		m.Reply(p, "posted", time.Second, time.Millisecond)
		m.Usage(p, "text", 10, 2, 0)
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	h := m.Handler()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
