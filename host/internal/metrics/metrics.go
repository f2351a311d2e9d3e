// Package metrics is the host's Prometheus instrumentation: one Registry
// per process (never the global default), and small hooks the other
// packages call. Every hook is a method on *Metrics that does nothing on a
// nil receiver, so code and tests that run without metrics pass nil and
// need nothing else.
//
// Labels carry only bounded, non-secret values: plugin entry names from
// plugins.toml, provider key slots, outcome codes, HTTP methods and status
// classes. Never a user id, channel id, URL (webhook URLs hold tokens) or
// key: docs/operations.md lists every metric.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric the host exports.
const Namespace = "tzurot"

// Plugin call results (the result label of tzurot_plugin_calls_total).
const (
	CallOK      = "ok"      // the export returned an answer
	CallError   = "error"   // the plugin reported an error itself (a provider refusal, a bad key)
	CallTrap    = "trap"    // the host stopped it: a crash, out of memory, an exit, an oversized answer
	CallTimeout = "timeout" // it did not answer within its call_timeout (or the request gave up)
)

// Metrics holds the collectors. The zero of *Metrics (nil) is a valid,
// silent instance.
type Metrics struct {
	reg *prometheus.Registry

	replies        *prometheus.CounterVec
	replyLatency   *prometheus.HistogramVec
	hostOverhead   *prometheus.HistogramVec
	pluginCalls    *prometheus.CounterVec
	pluginDuration *prometheus.HistogramVec
	poolWaits      *prometheus.CounterVec
	poolWaitTime   *prometheus.HistogramVec
	rateLimited    *prometheus.CounterVec
	usageTokens    *prometheus.CounterVec
	restCalls      *prometheus.CounterVec
	rest429        *prometheus.CounterVec
}

// latencyBuckets span a reply: a local model answers in well under a
// second, a long reasoning reply takes minutes.
var latencyBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}

// overheadBuckets span the host's own share of a reply (docs/performance.md
// measures it in milliseconds).
var overheadBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// New registers the host's collectors (and the Go runtime and process
// collectors) on reg.
func New(reg *prometheus.Registry) *Metrics {
	m := &Metrics{reg: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m.replies = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "replies_total",
		Help: "Reply attempts by outcome: posted, partial, or the failure code (rate_limited, no_key, no_plugin, a provider error code, ...)."},
		[]string{"outcome"})
	m.replyLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "reply_latency_seconds",
		Help: "Time from a message arriving to its reply being sent to Discord, per provider plugin entry.", Buckets: latencyBuckets},
		[]string{"plugin"})
	m.hostOverhead = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "reply_host_overhead_seconds",
		Help: "The host's own time per posted reply: reply latency minus the plugin call, per provider plugin entry.", Buckets: overheadBuckets},
		[]string{"plugin"})
	m.pluginCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "plugin_calls_total",
		Help: "Plugin export calls by plugin entry, export and result (ok, error, trap, timeout)."},
		[]string{"plugin", "export", "result"})
	m.pluginDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "plugin_call_duration_seconds",
		Help: "Duration of plugin export calls (waiting for an instance included), by plugin entry and export.", Buckets: latencyBuckets},
		[]string{"plugin", "export"})
	m.poolWaits = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "plugin_pool_waits_total",
		Help: "Calls that found every instance of the plugin busy and had to wait."},
		[]string{"plugin"})
	m.poolWaitTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "plugin_pool_wait_seconds",
		Help: "How long calls that had to wait for an instance waited.", Buckets: overheadBuckets},
		[]string{"plugin"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rate_limit_refusals_total",
		Help: "Messages refused by a rate limit, by the limit that refused (user-rpm, guild-rpm, user-tpd, guild-tpd)."},
		[]string{"scope"})
	m.usageTokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "usage_tokens_total",
		Help: "Tokens recorded in usage rows, by provider (key slot), usage kind (text, speech, image, ...) and token type (input, output, reasoning)."},
		[]string{"provider", "kind", "type"})
	m.restCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "discord_rest_requests_total",
		Help: "Requests to Discord's REST API by method and status class (2xx, 4xx, 429, 5xx, error)."},
		[]string{"method", "status"})
	m.rest429 = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "discord_rest_rate_limited_total",
		Help: "Discord REST answers with status 429 (rate limited), by scope (user, global, shared)."},
		[]string{"scope"})
	for _, c := range []prometheus.Collector{m.replies, m.replyLatency, m.hostOverhead, m.pluginCalls, m.pluginDuration,
		m.poolWaits, m.poolWaitTime, m.rateLimited, m.usageTokens, m.restCalls, m.rest429,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Registry is where the collectors live (nil for a nil Metrics).
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the exposition of the registry.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Reply counts one reply attempt. plugin is the provider plugin entry that
// served it ("" when none was reached); latency and overhead are observed
// only for a reply that was sent (latency > 0).
func (m *Metrics) Reply(plugin, outcome string, latency, overhead time.Duration) {
	if m == nil {
		return
	}
	m.replies.WithLabelValues(outcome).Inc()
	if latency > 0 && plugin != "" {
		m.replyLatency.WithLabelValues(plugin).Observe(latency.Seconds())
		m.hostOverhead.WithLabelValues(plugin).Observe(max(overhead, 0).Seconds())
	}
}

// PluginCall counts one export call of a plugin entry.
func (m *Metrics) PluginCall(plugin, export, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.pluginCalls.WithLabelValues(plugin, export, result).Inc()
	m.pluginDuration.WithLabelValues(plugin, export).Observe(d.Seconds())
}

// PoolWait records a call that waited d for a free instance of plugin.
func (m *Metrics) PoolWait(plugin string, d time.Duration) {
	if m == nil {
		return
	}
	m.poolWaits.WithLabelValues(plugin).Inc()
	m.poolWaitTime.WithLabelValues(plugin).Observe(d.Seconds())
}

// RateLimited counts a message refused by the limit named scope.
func (m *Metrics) RateLimited(scope string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(scope).Inc()
}

// Usage adds one usage row's tokens.
func (m *Metrics) Usage(provider, kind string, input, output, reasoning int64) {
	if m == nil {
		return
	}
	for _, t := range []struct {
		name string
		n    int64
	}{{"input", input}, {"output", output}, {"reasoning", reasoning}} {
		if t.n > 0 {
			m.usageTokens.WithLabelValues(provider, kind, t.name).Add(float64(t.n))
		}
	}
}

// DiscordREST counts one answer (or transport failure, status 0) of
// Discord's REST API. scope is the X-RateLimit-Scope header of a 429.
func (m *Metrics) DiscordREST(method string, status int, scope string) {
	if m == nil {
		return
	}
	m.restCalls.WithLabelValues(method, statusClass(status)).Inc()
	if status == http.StatusTooManyRequests {
		if scope == "" {
			scope = "user"
		}
		m.rest429.WithLabelValues(scope).Inc()
	}
}

func statusClass(status int) string {
	switch {
	case status == 0:
		return "error"
	case status == http.StatusTooManyRequests:
		return "429"
	case status >= 100 && status < 600:
		return strconv.Itoa(status/100) + "xx"
	}
	return "other"
}

// Register adds another collector (pool gauges, database pool stats).
// Errors mean a programming mistake (a duplicate), so they panic as
// MustRegister does.
func (m *Metrics) Register(c prometheus.Collector) {
	if m == nil {
		return
	}
	m.reg.MustRegister(c)
}

// Transport wraps next (nil: http.DefaultTransport) so every request it
// carries is counted as a Discord REST call, by method and status class.
// Only the method and status are read: URLs hold webhook tokens.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	return roundTripper{m: m, next: next}
}

type roundTripper struct {
	m    *Metrics
	next http.RoundTripper
}

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.m.DiscordREST(req.Method, 0, "")
		return resp, err
	}
	t.m.DiscordREST(req.Method, resp.StatusCode, resp.Header.Get("X-RateLimit-Scope"))
	return resp, nil
}
