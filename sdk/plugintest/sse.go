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
// an event dispatched at a blank line, and a last event whose body ends
// without the blank line still delivered (servers that forget it lose
// nothing).
var errEventTooLarge = errors.New("a server-sent event is too large")

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
		if err != nil && !errors.Is(err, io.EOF) {
			return abi.StreamEvent{}, err
		}
		size += len(line)
		if size > s.maxEvent {
			return abi.StreamEvent{}, fmt.Errorf("%w: over the %d-byte limit", errEventTooLarge, s.maxEvent)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if errors.Is(err, io.EOF) {
				return s.last(ev, &data, hasData)
			}
			if hasData {
				ev.Data = data.String()
				return ev, nil
			}
			ev = abi.StreamEvent{} // an event without data is not dispatched
			continue
		}
		if strings.HasPrefix(line, ":") {
			if errors.Is(err, io.EOF) {
				return s.last(ev, &data, hasData)
			}
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
		if errors.Is(err, io.EOF) {
			return s.last(ev, &data, hasData)
		}
	}
}

// last finishes an event cut short by the end of the body.
func (s *sseReader) last(ev abi.StreamEvent, data *strings.Builder, hasData bool) (abi.StreamEvent, error) {
	if !hasData {
		return abi.StreamEvent{}, io.EOF
	}
	ev.Data = data.String()
	return ev, nil
}
