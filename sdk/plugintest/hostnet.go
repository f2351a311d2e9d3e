package plugintest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/formdata"
)

// fakeNet is the HTTP side of the fake host. It only ever talks to
// loopback addresses, whatever the plugin asks: tests must not leave the
// machine. Within loopback, an explicit allow-list (host:port) narrows it
// further, as plugins.toml does on the real host.
type fakeNet struct {
	allowed map[string]bool // empty: every loopback host:port
	maxBody int64
	timeout time.Duration
	client  *http.Client
	keyOf   func(user string) (string, bool)
}

func newFakeNet(opts Options, keyOf func(string) (string, bool)) *fakeNet {
	n := &fakeNet{
		allowed: map[string]bool{},
		maxBody: opts.MaxResponseBytes,
		timeout: opts.HTTPTimeout,
		keyOf:   keyOf,
	}
	for _, h := range opts.AllowedHosts {
		n.allowed[strings.ToLower(h)] = true
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		Proxy: nil, // never through a proxy: loopback only
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if !isLoopback(host) {
				return nil, fmt.Errorf("plugintest dials loopback only, not %s", host)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		ResponseHeaderTimeout: n.timeout,
		DisableCompression:    false,
	}
	n.client = &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return n.check(req.URL)
		},
	}
	return n
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// check applies the allow-list to a URL (also on every redirect).
func (n *fakeNet) check(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("scheme %q is not allowed", u.Scheme)}
	}
	hp := hostPort(u)
	if !isLoopback(u.Hostname()) {
		return &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("host %s is not allowed (plugintest reaches loopback only)", hp)}
	}
	if len(n.allowed) > 0 && !n.allowed[hp] {
		return &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("host %s is not in the allow-list", hp)}
	}
	return nil
}

// build turns the plugin's request into an http.Request, injecting the
// caller's key when the plugin asked for Auth.
func (n *fakeNet) build(ctx context.Context, c *call, r abi.HTTPRequest) (*http.Request, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("bad url: %v", err)}
	}
	if err := n.check(u); err != nil {
		return nil, err
	}
	var body io.Reader
	var form *formdata.Body
	switch {
	case len(r.Multipart) > 0:
		// The host's own builder: the harness is exactly as strict.
		f, aerr := formdata.Build(r.Multipart, c.blob)
		if aerr != nil {
			return nil, aerr
		}
		form, body = f, f.Reader()
	case r.BodyBlob != 0:
		b, ok := c.blob(r.BodyBlob)
		if !ok {
			return nil, &abi.Error{Code: abi.ErrBadRequest, Message: "body_blob names no blob of this call"}
		}
		body = bytes.NewReader(b)
	case r.BodyBase64 != "":
		b, err := base64.StdEncoding.DecodeString(r.BodyBase64)
		if err != nil {
			return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("bad body_base64: %v", err)}
		}
		body = strings.NewReader(string(b))
	case r.Body != "":
		body = strings.NewReader(r.Body)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), u.String(), body)
	if err != nil {
		return nil, &abi.Error{Code: abi.ErrBadRequest, Message: err.Error()}
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	if form != nil {
		req.ContentLength = form.Size
		req.Header.Set("Content-Type", form.ContentType)
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(form.Reader()), nil }
	}
	if r.Auth != nil {
		key, ok := n.keyOf(c.user)
		if !ok {
			return nil, &abi.Error{Code: abi.ErrNoKey, Message: "no API key is stored for this user"}
		}
		header := r.Auth.Header
		if header == "" {
			header = "Authorization"
		}
		value := key
		switch r.Auth.Scheme {
		case "":
			value = "Bearer " + key
		case "-":
		default:
			value = r.Auth.Scheme + " " + key
		}
		req.Header.Set(header, value)
	}
	return req, nil
}

func (n *fakeNet) timeoutFor(r abi.HTTPRequest) time.Duration {
	t := n.timeout
	if r.TimeoutMS > 0 && time.Duration(r.TimeoutMS)*time.Millisecond < t {
		t = time.Duration(r.TimeoutMS) * time.Millisecond
	}
	return t
}

// netError maps a failed round trip to the typed error the plugin sees.
func netError(ctx context.Context, err error) *abi.Error {
	var ae *abi.Error
	if errors.As(err, &ae) {
		return ae
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &abi.Error{Code: abi.ErrTimeout, Message: "the request timed out", Retryable: true}
	}
	if ctx.Err() != nil {
		return &abi.Error{Code: abi.ErrTimeout, Message: "the call ended before the response", Retryable: true}
	}
	return &abi.Error{Code: abi.ErrUnavailable, Message: fmt.Sprintf("no response: %v", err), Retryable: true}
}

func headerMap(h http.Header) map[string]string {
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return m
}

// readCapped reads at most max bytes and fails beyond that.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("the response is over the %d-byte limit (max_response_bytes)", max)}
	}
	return b, nil
}

// do serves http_request.
func (n *fakeNet) do(ctx context.Context, c *call, r abi.HTTPRequest) abi.HTTPResponse {
	ctx, cancel := context.WithTimeout(ctx, n.timeoutFor(r))
	defer cancel()
	req, err := n.build(ctx, c, r)
	if err != nil {
		return abi.HTTPResponse{Error: netError(ctx, err)}
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return abi.HTTPResponse{Error: netError(ctx, err)}
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, n.maxBody)
	if err != nil {
		return abi.HTTPResponse{Error: netError(ctx, err)}
	}
	out := abi.HTTPResponse{Status: resp.StatusCode, Headers: headerMap(resp.Header)}
	switch {
	case r.ResponseBlob:
		h, ok := c.putBlob(body)
		if !ok {
			return abi.HTTPResponse{Error: &abi.Error{Code: abi.ErrDenied, Message: "the response does not fit in this call's blob budget (max_response_bytes, 64 blobs)"}}
		}
		out.BodyBlob = h
	case utf8.Valid(body):
		out.Body = string(body)
	default:
		out.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	return out
}

// openStream is an SSE response being read.
type openStream struct {
	ctx    context.Context
	resp   *http.Response
	events *sseReader
	cancel context.CancelFunc
	idle   *time.Timer // cancels the request when one wait lasts too long
	wait   time.Duration
	done   bool
}

func (s *openStream) close() {
	s.idle.Stop()
	s.cancel()
	_ = s.resp.Body.Close()
}

// open serves http_stream_open. Like the real host, the HTTP timeout
// bounds the wait for the headers and then each wait for an event (an
// idle timeout), not the stream's whole life; the call timeout bounds that.
func (n *fakeNet) open(ctx context.Context, c *call, r abi.HTTPRequest) (abi.StreamOpenResult, *openStream) {
	ctx, cancel := context.WithCancel(ctx)
	wait := n.timeoutFor(r)
	idle := time.AfterFunc(wait, cancel)
	req, err := n.build(ctx, c, r)
	if err != nil {
		idle.Stop()
		cancel()
		return abi.StreamOpenResult{Error: netError(ctx, err)}, nil
	}
	resp, err := n.client.Do(req)
	idle.Stop()
	if err != nil {
		cancel()
		return abi.StreamOpenResult{Error: netError(ctx, err)}, nil
	}
	res := abi.StreamOpenResult{Status: resp.StatusCode, Headers: headerMap(resp.Header)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel()
		defer resp.Body.Close()
		idle.Reset(wait)
		body, err := readCapped(resp.Body, n.maxBody)
		idle.Stop()
		if err != nil {
			return abi.StreamOpenResult{Error: netError(ctx, err)}, nil
		}
		res.Body = string(body)
		return res, nil
	}
	return res, &openStream{ctx: ctx, resp: resp, events: newSSEReader(resp.Body, int(n.maxBody)), cancel: cancel, idle: idle, wait: wait}
}

// next serves http_stream_next for one stream.
func (s *openStream) next() abi.StreamEvent {
	if s.done {
		return abi.StreamEvent{EOF: true}
	}
	s.idle.Reset(s.wait)
	ev, err := s.events.next()
	s.idle.Stop()
	if errors.Is(err, io.EOF) {
		s.done = true
		return abi.StreamEvent{EOF: true}
	}
	if errors.Is(err, errEventTooLarge) {
		s.done = true
		return abi.StreamEvent{Error: &abi.Error{Code: abi.ErrDenied, Message: err.Error()}}
	}
	if err != nil {
		s.done = true
		return abi.StreamEvent{Error: netError(s.ctx, err)}
	}
	return ev
}
