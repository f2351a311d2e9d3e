package plugintest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// sseReader splits a text/event-stream body into events the way
// docs/plugin-abi.md describes for http_stream_next: "data:" lines joined
// with "\n", the last "event:" name, comments and "id:"/"retry:" ignored,
// an event dispatched at a blank line, and an unfinished event at the end
// of the body dropped (as the SSE specification says).
type sseReader struct {
	r        *bufio.Reader
	maxEvent int
}

func newSSEReader(r io.Reader, maxEvent int) *sseReader {
	return &sseReader{r: bufio.NewReader(r), maxEvent: maxEvent}
}

// next returns the next event, or io.EOF when the body ends.
func (s *sseReader) next() (abi.StreamEvent, error) {
	var (
		ev      abi.StreamEvent
		data    strings.Builder
		hasData bool
		size    int
	)
	for {
		line, err := s.r.ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || line == "") {
			return abi.StreamEvent{}, err
		}
		size += len(line)
		if size > s.maxEvent {
			return abi.StreamEvent{}, fmt.Errorf("one server-sent event is over %d bytes", s.maxEvent)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if errors.Is(err, io.EOF) {
				return abi.StreamEvent{}, io.EOF
			}
			if hasData {
				ev.Data = data.String()
				return ev, nil
			}
			ev = abi.StreamEvent{} // an event without data is not dispatched
			continue
		}
		if errors.Is(err, io.EOF) {
			// A last line without its blank line: the event is incomplete.
			return abi.StreamEvent{}, io.EOF
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		case "event":
			ev.Event = value
		}
	}
}
