package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// hitCounter is an httptest handler wrapper counting requests.
type hitCounter struct {
	hits atomic.Int64
	h    http.HandlerFunc
}

func (c *hitCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.hits.Add(1)
	c.h(w, r)
}

func newServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *hitCounter) {
	t.Helper()
	c := &hitCounter{h: h}
	s := httptest.NewServer(c)
	t.Cleanup(s.Close)
	return s, c
}

func hostPort(t *testing.T, s *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// netHost starts a host with one plugin "net" granted the given hosts.
func netHost(t *testing.T, allowPrivate bool, hosts []string, limits string, keys KeySource) (*Host, *logBuffer) {
	t.Helper()
	q := make([]string, len(hosts))
	for i, h := range hosts {
		q[i] = fmt.Sprintf("%q", h)
	}
	h, logs := testHost(t, fmt.Sprintf(`
[plugins.net]
path = "{echo}"
key_slot = "net"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%s]
allow_private = %v
[plugins.net.limits]
%s
`, strings.Join(q, ", "), allowPrivate, limits), keys)
	// Retries in tests wait milliseconds, not seconds.
	pluginOf(t, h, "net").http.retryBase = time.Millisecond
	return h, logs
}

func doHTTP(t *testing.T, h *Host, ctx context.Context, req abi.HTTPRequest) abi.HTTPResponse {
	t.Helper()
	in, _ := json.Marshal(req)
	out, err := h.Call(ctx, "net", "http", in)
	if err != nil {
		t.Fatalf("http export: %v", err)
	}
	var resp abi.HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("bad http_request answer %q: %v", out, err)
	}
	return resp
}

func TestHTTPAllowedHost(t *testing.T) {
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo-Method", r.Method)
		body := make([]byte, 100)
		n, _ := r.Body.Read(body)
		fmt.Fprintf(w, "got %s", body[:n])
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{Method: "POST", URL: s.URL + "/v1/x", Body: "ping"})
	if resp.Error != nil || resp.Status != 200 || resp.Body != "got ping" || resp.Headers["x-echo-method"] != "POST" {
		t.Fatalf("response = %+v", resp)
	}
}

func TestHTTPHostNotGranted(t *testing.T) {
	granted, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	other, otherHits := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	h, _ := netHost(t, true, []string{hostPort(t, granted)}, "", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: other.URL})
	if resp.Error == nil || resp.Error.Code != abi.ErrDenied || !strings.Contains(resp.Error.Message, "not in allowed_hosts") {
		t.Fatalf("ungranted host: %+v", resp)
	}
	// Same host, other port: the port is part of the grant.
	if otherHits.hits.Load() != 0 {
		t.Errorf("the ungranted server got %d requests", otherHits.hits.Load())
	}
}

func TestHTTPRedirectToUngrantedHost(t *testing.T) {
	target, targetHits := newServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secret") })
	granted, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	})
	h, _ := netHost(t, true, []string{hostPort(t, granted)}, "", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: granted.URL})
	if resp.Error == nil || resp.Error.Code != abi.ErrDenied || !strings.Contains(resp.Error.Message, "redirect refused") {
		t.Fatalf("redirect: %+v", resp)
	}
	if targetHits.hits.Load() != 0 || strings.Contains(resp.Body, "secret") {
		t.Errorf("the redirect target was reached")
	}
}

func TestHTTPLinkLocalRefusedAtDial(t *testing.T) {
	// Granted by name and port, but the address is link-local (cloud
	// metadata): refused before any packet is sent, at connect time.
	h, _ := netHost(t, false, []string{"169.254.169.254:443"}, "", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: "https://169.254.169.254/latest/meta-data/"})
	if resp.Error == nil || resp.Error.Code != abi.ErrDenied || !strings.Contains(resp.Error.Message, "169.254.169.254 is private, loopback, link-local") {
		t.Fatalf("link-local: %+v", resp)
	}
}

func TestHTTPLoopbackRefusedWithoutAllowPrivate(t *testing.T) {
	s, hits := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	port := s.Listener.Addr().(interface{ String() string }).String()
	_, p, _ := strings.Cut(port, ":")
	// "localhost" resolves to loopback; only the dial-time check sees that.
	h, _ := netHost(t, false, []string{"localhost:" + p}, "", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: "https://localhost:" + p + "/"})
	if resp.Error == nil || resp.Error.Code != abi.ErrDenied || !strings.Contains(resp.Error.Message, "loopback") {
		t.Fatalf("loopback: %+v", resp)
	}
	// Plain http needs allow_private.
	resp = doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: "http://localhost:" + p + "/"})
	if resp.Error == nil || resp.Error.Code != abi.ErrDenied || !strings.Contains(resp.Error.Message, "use https") {
		t.Fatalf("plain http: %+v", resp)
	}
	if hits.hits.Load() != 0 {
		t.Errorf("server got %d requests", hits.hits.Load())
	}
}

func TestHTTPAuthInjection(t *testing.T) {
	var gotAuth atomic.Value
	s, hits := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
	})
	keys := &MemoryKeys{}
	keys.Set("u1", "net", "sk-user1")
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1"})
	resp := doHTTP(t, h, ctx, abi.HTTPRequest{URL: s.URL, Auth: &abi.Auth{}})
	if resp.Error != nil || gotAuth.Load() != "Bearer sk-user1" {
		t.Fatalf("bearer: %+v, header %q", resp, gotAuth.Load())
	}
	// No key for this user: the request is not sent.
	before := hits.hits.Load()
	resp = doHTTP(t, h, WithCall(context.Background(), Call{UserID: "u2"}), abi.HTTPRequest{URL: s.URL, Auth: &abi.Auth{}})
	if resp.Error == nil || resp.Error.Code != abi.ErrNoKey || hits.hits.Load() != before {
		t.Fatalf("no key: %+v", resp)
	}
}

func TestHTTPRetries(t *testing.T) {
	var n atomic.Int64
	var badBody atomic.Bool
	s, hits := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); string(b) != "x" {
			badBody.Store(true) // every attempt must carry the whole body
		}
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			fmt.Fprint(w, "finally")
		}
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "http_attempts = 3", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{Method: "POST", URL: s.URL, Body: "x"})
	if resp.Error != nil || resp.Status != 200 || resp.Body != "finally" || hits.hits.Load() != 3 || badBody.Load() {
		t.Fatalf("after retries: %+v, hits %d, body lost on a retry: %v", resp, hits.hits.Load(), badBody.Load())
	}
}

func TestHTTPRetriesAreBounded(t *testing.T) {
	s, hits := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "upstream down")
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "http_attempts = 4", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: s.URL})
	if resp.Status != 502 || resp.Body != "upstream down" || hits.hits.Load() != 4 {
		t.Fatalf("got %+v after %d hits, want the last 502 after 4", resp, hits.hits.Load())
	}
	resp = doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: s.URL, NoRetry: true})
	if resp.Status != 502 || hits.hits.Load() != 5 {
		t.Fatalf("no_retry made %d attempts", hits.hits.Load()-4)
	}
	// A 4xx is the provider's answer, never retried.
	s2, hits2 := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	h2, _ := netHost(t, true, []string{hostPort(t, s2)}, "http_attempts = 4", nil)
	resp = doHTTP(t, h2, context.Background(), abi.HTTPRequest{URL: s2.URL})
	if resp.Status != 401 || hits2.hits.Load() != 1 {
		t.Fatalf("401 retried: %d hits", hits2.hits.Load())
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"86400", maxRetryAfter, true}, // capped
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
		{"-1", 0, false},
	}
	for _, c := range cases {
		got, ok := retryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestHTTPResponseTooLarge(t *testing.T) {
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 5000)) })
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "max_response_bytes = 4096", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: s.URL})
	if resp.Error == nil || resp.Error.Code != abi.ErrDenied || !strings.Contains(resp.Error.Message, "4096-byte limit") {
		t.Fatalf("oversized body: %+v", resp.Error)
	}
}

func TestHTTPTimeout(t *testing.T) {
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "http_timeout = \"200ms\"\nhttp_attempts = 1", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: s.URL})
	if resp.Error == nil || resp.Error.Code != abi.ErrTimeout || !strings.Contains(resp.Error.Message, "200ms") {
		t.Fatalf("slow server: %+v", resp.Error)
	}
	// A plugin may shorten the timeout for one request.
	resp = doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: s.URL, TimeoutMS: 50})
	if resp.Error == nil || resp.Error.Code != abi.ErrTimeout || !strings.Contains(resp.Error.Message, "50ms") {
		t.Fatalf("timeout_ms: %+v", resp.Error)
	}
}

func TestHTTPBinaryBodyAndBlob(t *testing.T) {
	payload := []byte{0xff, 0x00, 0xfe, 'a'}
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(payload) })
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", nil)
	resp := doHTTP(t, h, context.Background(), abi.HTTPRequest{URL: s.URL})
	if resp.BodyBase64 != "/wD+YQ==" || resp.Body != "" {
		t.Fatalf("binary body: %+v", resp)
	}
	blobs := NewBlobs()
	resp = doHTTP(t, h, WithCall(context.Background(), Call{Blobs: blobs}), abi.HTTPRequest{URL: s.URL, ResponseBlob: true})
	got, ok := blobs.Get(resp.BodyBlob)
	if !ok || string(got) != string(payload) || resp.Body != "" || resp.BodyBase64 != "" {
		t.Fatalf("response blob: %+v, %q", resp, got)
	}
}

func TestHTTPRequestBodies(t *testing.T) {
	var got atomic.Value
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", nil)
	blobs := NewBlobs()
	audio := blobs.Put([]byte("RIFF\x00\x01wave"))
	ctx := WithCall(context.Background(), Call{Blobs: blobs})
	for _, c := range []struct {
		req  abi.HTTPRequest
		want string
	}{
		{abi.HTTPRequest{Method: "POST", URL: s.URL, Body: "text body"}, "text body"},
		{abi.HTTPRequest{Method: "POST", URL: s.URL, BodyBase64: "/wD+YQ=="}, "\xff\x00\xfea"},
		{abi.HTTPRequest{Method: "POST", URL: s.URL, Body: "ignored", BodyBlob: audio}, "RIFF\x00\x01wave"},
	} {
		resp := doHTTP(t, h, ctx, c.req)
		if resp.Error != nil || got.Load() != c.want {
			t.Errorf("sent %q (error %v), want %q", got.Load(), resp.Error, c.want)
		}
	}
	for _, bad := range []abi.HTTPRequest{
		{Method: "POST", URL: s.URL, BodyBase64: "not base64!"},
		{Method: "POST", URL: s.URL, BodyBlob: 12345},
		{URL: "::not a url"},
	} {
		if resp := doHTTP(t, h, ctx, bad); resp.Error == nil || resp.Error.Code != abi.ErrBadRequest {
			t.Errorf("%+v: error = %+v, want bad_request", bad, resp.Error)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
