package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v4"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Retry bounds. A Retry-After longer than maxRetryAfter is cut to it: a
// provider must not park a user's reply for minutes.
const (
	defaultRetryBase = 500 * time.Millisecond
	maxRetryInterval = 10 * time.Second
	maxRetryAfter    = 30 * time.Second
	maxRedirects     = 5
	maxStreamsOpen   = 4
)

// httpPolicy is one plugin entry's outbound HTTP: its own client, its
// allow-list and its limits. It is immutable after creation and shared by
// every call of that plugin.
type httpPolicy struct {
	plugin       string
	allowed      map[string]bool // "host:port"
	allowPrivate bool
	timeout      time.Duration
	attempts     int
	maxBody      int64
	retryBase    time.Duration
	authHeaders  []string // canonical names the key may go into
	maxRequests  int      // per call
	client       *http.Client
	transport    *http.Transport
}

// deniedError is a request the policy refused; it becomes abi.ErrDenied.
type deniedError struct{ reason string }

func (e *deniedError) Error() string { return e.reason }

func newHTTPPolicy(cfg PluginConfig) *httpPolicy {
	p := &httpPolicy{
		plugin:       cfg.Name,
		allowed:      make(map[string]bool, len(cfg.AllowedHosts)),
		allowPrivate: cfg.AllowPrivate,
		timeout:      cfg.Limits.HTTPTimeout,
		attempts:     cfg.Limits.HTTPAttempts,
		maxBody:      cfg.Limits.MaxResponseBytes,
		retryBase:    defaultRetryBase,
		authHeaders:  cfg.AuthHeaders,
		maxRequests:  cfg.Limits.MaxRequests,
	}
	for _, h := range cfg.AllowedHosts {
		p.allowed[h] = true
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: p.dialControl}
	p.transport = &http.Transport{
		// Never an environment proxy: the allow-list is about where bytes go.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   cfg.Limits.PoolSize * 2,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	p.client = &http.Client{Transport: p.transport, CheckRedirect: p.checkRedirect}
	return p
}

func (p *httpPolicy) close() { p.transport.CloseIdleConnections() }

// checkURL applies the allow-list: https (http only with allow_private),
// no credentials in the URL, host AND port granted.
func (p *httpPolicy) checkURL(u *url.URL) error {
	switch u.Scheme {
	case "https":
	case "http":
		if !p.allowPrivate {
			return &deniedError{fmt.Sprintf("plain http to %s is not allowed; use https (only plugins with allow_private may use http)", u.Host)}
		}
	default:
		return &deniedError{fmt.Sprintf("URL scheme %q is not allowed", u.Scheme)}
	}
	if u.User != nil {
		return &deniedError{"credentials in the URL are not allowed"}
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	hp := net.JoinHostPort(host, port)
	if !p.allowed[hp] {
		return &deniedError{fmt.Sprintf("%s is not in allowed_hosts of plugin %s", hp, p.plugin)}
	}
	return nil
}

func (p *httpPolicy) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return &deniedError{fmt.Sprintf("more than %d redirects", maxRedirects)}
	}
	if err := p.checkURL(req.URL); err != nil {
		return &deniedError{"redirect refused: " + err.Error()}
	}
	return nil
}

// dialControl runs after DNS resolution and before connect(): the address
// is the IP actually dialled, so DNS tricks cannot reach a private network.
func (p *httpPolicy) dialControl(_, address string, _ syscall.RawConn) error {
	if p.allowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &deniedError{"bad address " + address}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &deniedError{"bad address " + address}
	}
	if why := addressRefusal(ip); why != "" {
		return &deniedError{fmt.Sprintf("address %s is private, loopback, link-local or otherwise special-purpose (%s); plugin %s has no allow_private", ip, why, p.plugin)}
	}
	return nil
}

// attemptTimer cancels an attempt after the per-request timeout and
// remembers that it did, so the error says "timeout", not "cancelled".
type attemptTimer struct {
	cancel context.CancelFunc
	t      *time.Timer
	d      time.Duration
	fired  atomic.Bool
}

func newAttemptTimer(parent context.Context, d time.Duration) (context.Context, *attemptTimer) {
	ctx, cancel := context.WithCancel(parent)
	at := &attemptTimer{cancel: cancel, d: d}
	at.t = time.AfterFunc(d, func() { at.fired.Store(true); cancel() })
	return ctx, at
}

func (at *attemptTimer) reset() { at.t.Reset(at.d) }
func (at *attemptTimer) stop()  { at.t.Stop(); at.cancel() }

// request is a validated plugin request, ready to be sent (again).
type request struct {
	method  string
	url     *url.URL
	headers http.Header
	body    []byte
	timeout time.Duration
	retry   bool
	blob    bool
	// multipart, when set, is the body (built by the host from the
	// plugin's parts); body is then empty.
	multipart *multipartBody
}

// prepare validates a plugin's request and resolves auth injection. A
// returned *abi.Error is the answer to give the plugin.
func (p *httpPolicy) prepare(ctx context.Context, st *callState, in abi.HTTPRequest) (*request, *abi.Error) {
	// Every request a plugin makes counts, refused or not: the cap bounds
	// what one call can make the host do with the user's key.
	st.httpRequests++
	if st.httpRequests > p.maxRequests {
		return nil, &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("more than %d HTTP requests in one call (limits.max_requests_per_call of plugin %s)", p.maxRequests, p.plugin)}
	}
	method := strings.ToUpper(in.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := url.Parse(in.URL)
	if err != nil || u.Host == "" {
		return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("bad URL %q", in.URL)}
	}
	if err := p.checkURL(u); err != nil {
		return nil, &abi.Error{Code: abi.ErrDenied, Message: err.Error()}
	}
	r := &request{method: method, url: u, headers: make(http.Header), timeout: p.timeout, retry: !in.NoRetry && p.attempts > 1, blob: in.ResponseBlob}
	if in.TimeoutMS > 0 && time.Duration(in.TimeoutMS)*time.Millisecond < r.timeout {
		r.timeout = time.Duration(in.TimeoutMS) * time.Millisecond
	}
	for k, v := range in.Headers {
		r.headers.Set(k, v)
	}
	switch {
	case len(in.Multipart) > 0:
		mb, aerr := buildMultipart(st, in.Multipart)
		if aerr != nil {
			return nil, aerr
		}
		r.multipart = mb
		// The boundary is the host's: whatever Content-Type the plugin set
		// would not match the body.
		r.headers.Set("Content-Type", mb.contentType)
	case in.BodyBlob != 0:
		b, ok := st.blobs.Get(in.BodyBlob)
		if !ok {
			return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("no blob %d", in.BodyBlob)}
		}
		r.body = b
	case in.BodyBase64 != "":
		b, err := base64.StdEncoding.DecodeString(in.BodyBase64)
		if err != nil {
			return nil, &abi.Error{Code: abi.ErrBadRequest, Message: "body_base64 is not valid base64"}
		}
		r.body = b
	default:
		r.body = []byte(in.Body)
	}
	if in.Auth != nil {
		header, value, aerr := p.authTarget(in.Auth)
		if aerr != nil {
			return nil, aerr
		}
		key, ok, err := st.apiKey(ctx)
		if err != nil {
			st.p.log.ErrorContext(ctx, "key source failed", "request_id", st.call.RequestID, "err", err)
			return nil, &abi.Error{Code: abi.ErrUnavailable, Message: "the host could not read the key store"}
		}
		if !ok {
			return nil, &abi.Error{Code: abi.ErrNoKey, Message: "no API key for this provider"}
		}
		// Replaces any header of that name the plugin set itself.
		r.headers.Set(header, value(key))
	}
	return r, nil
}

var authSchemeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~+/-]{0,31}$`)

// authTarget checks where a plugin asks its key to go: only into a header
// plugins.toml names in auth_headers (default Authorization), so a key
// cannot be sent in User-Agent or Referer, which servers log and echo.
func (p *httpPolicy) authTarget(a *abi.Auth) (string, func(key string) string, *abi.Error) {
	header := "Authorization"
	if a.Header != "" {
		header = http.CanonicalHeaderKey(a.Header)
	}
	if !slices.Contains(p.authHeaders, header) {
		granted := "none"
		if len(p.authHeaders) > 0 {
			granted = strings.Join(p.authHeaders, ", ")
		}
		return "", nil, &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("the key may not go into header %q; plugins.toml auth_headers of plugin %s allows: %s", a.Header, p.plugin, granted)}
	}
	switch {
	case a.Scheme == "":
		return header, func(k string) string { return "Bearer " + k }, nil
	case a.Scheme == "-":
		return header, func(k string) string { return k }, nil
	case authSchemeRE.MatchString(a.Scheme):
		return header, func(k string) string { return a.Scheme + " " + k }, nil
	default:
		return "", nil, &abi.Error{Code: abi.ErrBadRequest, Message: "auth scheme must be a single word (e.g. Bearer, Token), \"-\" or empty"}
	}
}

func (r *request) build(ctx context.Context) (*http.Request, error) {
	var body io.Reader
	if len(r.body) > 0 {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url.String(), body)
	if err != nil {
		return nil, err
	}
	if mb := r.multipart; mb != nil {
		req.Body = io.NopCloser(mb.reader())
		req.ContentLength = mb.size
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(mb.reader()), nil }
	}
	req.Header = r.headers.Clone()
	return req, nil
}

// send performs r with retries on 429, 5xx and refused connections, with
// exponential backoff and jitter, honouring Retry-After. On success the
// response's body is still open and bound to the returned timer, which the
// caller stops when done with the body.
func (p *httpPolicy) send(ctx context.Context, r *request) (*http.Response, *attemptTimer, *abi.Error) {
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.retryBase),
		backoff.WithMaxInterval(maxRetryInterval),
		backoff.WithMaxElapsedTime(0),
	)
	for attempt := 1; ; attempt++ {
		actx, timer := newAttemptTimer(ctx, r.timeout)
		req, err := r.build(actx)
		if err != nil {
			timer.stop()
			return nil, nil, &abi.Error{Code: abi.ErrBadRequest, Message: "bad request: " + err.Error()}
		}
		resp, err := p.client.Do(req)
		last := !r.retry || attempt >= p.attempts
		if err != nil {
			timer.stop()
			aerr := p.classify(ctx, timer, err)
			if last || aerr.Code != abi.ErrUnavailable || !isDialError(err) {
				return nil, nil, aerr
			}
			if !p.wait(ctx, bo.NextBackOff()) {
				return nil, nil, aerr
			}
			continue
		}
		if last || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500) {
			return resp, timer, nil
		}
		d := bo.NextBackOff()
		if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			d = ra
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
			return resp, timer, nil // waiting would outlive the call: give the plugin this answer
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		timer.stop()
		if !p.wait(ctx, d) {
			return nil, nil, &abi.Error{Code: abi.ErrTimeout, Message: "the call ended while waiting to retry"}
		}
	}
}

func (p *httpPolicy) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d < 0 {
			d = 0
		}
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// classify turns a transport error into the plugin-facing error.
func (p *httpPolicy) classify(ctx context.Context, timer *attemptTimer, err error) *abi.Error {
	var denied *deniedError
	switch {
	case errors.As(err, &denied):
		return &abi.Error{Code: abi.ErrDenied, Message: denied.reason}
	case timer != nil && timer.fired.Load():
		return &abi.Error{Code: abi.ErrTimeout, Message: fmt.Sprintf("no answer within %s", timer.d), Retryable: true}
	case ctx.Err() != nil:
		return &abi.Error{Code: abi.ErrTimeout, Message: "the call ended before the request finished"}
	default:
		return &abi.Error{Code: abi.ErrUnavailable, Message: "request failed: " + scrubURLError(err), Retryable: true}
	}
}

// scrubURLError drops the *url.Error wrapper, whose text repeats the URL
// (plugins sometimes put keys in query strings).
func scrubURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// readBody reads at most maxBody bytes; more is an error, never a silent cut.
func (p *httpPolicy) readBody(ctx context.Context, resp *http.Response, timer *attemptTimer) ([]byte, *abi.Error) {
	defer timer.stop()
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	if err != nil {
		return nil, p.classify(ctx, timer, err)
	}
	if int64(len(body)) > p.maxBody {
		return nil, &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("response body larger than the %d-byte limit (max_response_bytes)", p.maxBody)}
	}
	return body, nil
}

func flatHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return out
}

// do is the http_request host function's body.
func (p *httpPolicy) do(ctx context.Context, st *callState, in abi.HTTPRequest) abi.HTTPResponse {
	r, aerr := p.prepare(ctx, st, in)
	if aerr != nil {
		return abi.HTTPResponse{Error: aerr}
	}
	resp, timer, aerr := p.send(ctx, r)
	if aerr != nil {
		return abi.HTTPResponse{Error: aerr}
	}
	body, aerr := p.readBody(ctx, resp, timer)
	if aerr != nil {
		return abi.HTTPResponse{Error: aerr}
	}
	out := abi.HTTPResponse{Status: resp.StatusCode, Headers: flatHeaders(resp.Header)}
	switch {
	case r.blob:
		out.BodyBlob = st.blobs.Put(body)
	case utf8.Valid(body):
		out.Body = string(body)
	default:
		out.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	return out
}
