package plugin

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tzurot-go/tzurot/host/internal/metrics"
)

// Every call of a plugin is counted by result (ok, the plugin's own error,
// a trap, a timeout), a call that found the only instance busy counts as a
// pool wait, and the pool gauges show the instance in use.
func TestPluginMetrics(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	cfg := parseTestConfig(t, echoEntry("counted", `[plugins.counted.limits]
pool_size = 1
call_timeout = "10s"
memory_mib = 32`))
	h, err := NewHost(context.Background(), Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	m.PluginPools(h.PoolStats)
	ctx := context.Background()

	if _, err := h.Call(ctx, "counted", "echo", []byte(`"hi"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, "counted", "typed_error", nil); err == nil {
		t.Fatal("typed_error succeeded")
	}
	if _, err := h.Call(ctx, "counted", "crash", nil); err == nil {
		t.Fatal("crash succeeded")
	}
	// spin holds the only instance until its call_timeout; an echo call
	// made meanwhile waits for it.
	spun := make(chan error, 1)
	go func() { _, err := h.Call(ctx, "counted", "spin", nil); spun <- err }()
	deadline := time.Now().Add(time.Minute)
	for inUse(h, "counted") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("spin never took the instance")
		}
		time.Sleep(5 * time.Millisecond)
	}
	body := scrape(t, m)
	if !strings.Contains(body, `tzurot_plugin_pool_in_use{plugin="counted"} 1`) || !strings.Contains(body, `tzurot_plugin_pool_size{plugin="counted"} 1`) {
		t.Errorf("pool gauges while spin runs:\n%s", grep(body, "tzurot_plugin_pool"))
	}
	if _, err := h.Call(ctx, "counted", "echo", []byte(`"after"`)); err != nil {
		t.Fatal(err)
	}
	if err := <-spun; err == nil {
		t.Fatal("spin returned")
	}

	body = scrape(t, m)
	for _, want := range []string{
		`tzurot_plugin_calls_total{export="echo",plugin="counted",result="ok"} 2`,
		`tzurot_plugin_calls_total{export="typed_error",plugin="counted",result="error"} 1`,
		`tzurot_plugin_calls_total{export="crash",plugin="counted",result="trap"} 1`,
		`tzurot_plugin_calls_total{export="spin",plugin="counted",result="timeout"} 1`,
		`tzurot_plugin_pool_waits_total{plugin="counted"} 1`,
		`tzurot_plugin_pool_wait_seconds_count{plugin="counted"} 1`,
		`tzurot_plugin_pool_in_use{plugin="counted"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(body, "tzurot_plugin"))
		}
	}
}

func inUse(h *Host, name string) int {
	for _, s := range h.PoolStats() {
		if s.Plugin == name {
			return s.InUse
		}
	}
	return -1
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func grep(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
