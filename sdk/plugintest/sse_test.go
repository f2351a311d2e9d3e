package plugintest

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func TestSSEReader(t *testing.T) {
	body := ": comment\r\n\r\n" +
		"event: ping\n\n" + // no data: not dispatched
		"data: {\"a\":1}\n\n" +
		"event: delta\r\ndata:no-space\r\ndata:  two spaces\r\nretry: 5\r\n\r\n" +
		"data: last" // no blank line at the end: still delivered
	r := newSSEReader(strings.NewReader(body), 1024)
	want := []abi.StreamEvent{{Data: `{"a":1}`}, {Event: "delta", Data: "no-space\n two spaces"}, {Data: "last"}}
	for i, w := range want {
		ev, err := r.next()
		if err != nil || ev != w {
			t.Fatalf("event %d = %+v, %v; want %+v", i, ev, err, w)
		}
	}
	if _, err := r.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %v, want EOF", err)
	}
}

func TestSSEReaderKeepsDataBeforeEOF(t *testing.T) {
	r := newSSEReader(strings.NewReader("data: a\n\ndata: b\n"), 1024)
	for _, want := range []string{"a", "b"} {
		if ev, err := r.next(); err != nil || ev.Data != want {
			t.Fatalf("got %+v %v, want data %q", ev, err, want)
		}
	}
	if _, err := r.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestSSEReaderCapsEventSize(t *testing.T) {
	r := newSSEReader(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 50)
	if _, err := r.next(); err == nil || !strings.Contains(err.Error(), "over the 50-byte limit") {
		t.Fatalf("an oversized event must fail clearly, got %v", err)
	}
}
