package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// sseStream is an open server-sent-events response owned by one call. The
// plugin pulls one event per http_stream_next; the host closes it at the
// latest when the call ends.
type sseStream struct {
	resp     *http.Response
	timer    *attemptTimer // per-event idle timeout; cancels the request
	r        *bufio.Reader
	maxEvent int64
	done     bool
}

func newSSEStream(resp *http.Response, timer *attemptTimer, maxEvent int64) *sseStream {
	timer.t.Stop() // headers are in; from now on the timer guards each event
	return &sseStream{resp: resp, timer: timer, r: bufio.NewReaderSize(resp.Body, 32<<10), maxEvent: maxEvent}
}

func (s *sseStream) close() {
	if s.done && s.resp == nil {
		return
	}
	s.done = true
	if s.resp != nil {
		_ = s.resp.Body.Close()
		s.resp = nil
	}
	s.timer.stop()
}

var errLineTooLong = errors.New("line too long")

// readLine returns one line without its terminator (\n, \r\n).
func (s *sseStream) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		line = append(line, chunk...)
		if int64(len(line)) > s.maxEvent {
			return nil, errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return bytes.TrimRight(line, "\r\n"), nil
			}
			return nil, err
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
}

// next parses up to the next dispatched event, following the SSE rules:
// "data:" lines join with "\n", "event:" names the event, lines starting
// with ":" are comments, a blank line dispatches, an event with no data is
// not dispatched.
func (s *sseStream) next(ctx context.Context, p *httpPolicy) abi.StreamEvent {
	if s.done {
		return abi.StreamEvent{EOF: true}
	}
	s.timer.reset()
	defer s.timer.t.Stop()
	var event string
	var data strings.Builder
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF {
				s.close()
				if hasData {
					// A stream that ends without the final blank line still
					// delivers its last event.
					return abi.StreamEvent{Event: event, Data: data.String()}
				}
				return abi.StreamEvent{EOF: true}
			}
			s.close()
			if err == errLineTooLong {
				return abi.StreamEvent{Error: &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("stream event larger than the %d-byte limit", s.maxEvent)}}
			}
			return abi.StreamEvent{Error: p.classify(ctx, s.timer, err)}
		}
		if len(line) == 0 {
			if hasData {
				return abi.StreamEvent{Event: event, Data: data.String()}
			}
			event = ""
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
			if int64(data.Len()) > s.maxEvent {
				s.close()
				return abi.StreamEvent{Error: &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("stream event larger than the %d-byte limit", s.maxEvent)}}
			}
		case "event":
			event = string(value)
		}
	}
}

// openStream is the http_stream_open host function's body.
func (p *httpPolicy) openStream(ctx context.Context, st *callState, in abi.HTTPRequest) abi.StreamOpenResult {
	if len(st.streams) >= maxStreamsOpen {
		return abi.StreamOpenResult{Error: &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("at most %d streams may be open at once", maxStreamsOpen)}}
	}
	r, aerr := p.prepare(ctx, st, in)
	if aerr != nil {
		return abi.StreamOpenResult{Error: aerr}
	}
	if r.headers.Get("Accept") == "" {
		r.headers.Set("Accept", "text/event-stream")
	}
	resp, timer, aerr := p.send(ctx, r)
	if aerr != nil {
		return abi.StreamOpenResult{Error: aerr}
	}
	out := abi.StreamOpenResult{Status: resp.StatusCode, Headers: flatHeaders(resp.Header)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, aerr := p.readBody(ctx, resp, timer)
		if aerr != nil {
			out.Error = aerr
			return out
		}
		out.Body = string(body)
		return out
	}
	if st.streams == nil {
		st.streams = make(map[int64]*sseStream)
	}
	st.nextStream++
	st.streams[st.nextStream] = newSSEStream(resp, timer, p.maxBody)
	out.Handle = st.nextStream
	return out
}
