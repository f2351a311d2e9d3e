package plugintest

import (
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// WantError is the typed error a test expects from a call: what the host
// (and so a user) would see of it.
type WantError struct {
	Code       string // one of abi.Err…
	Retryable  bool
	HTTPStatus int    // 0: not checked
	Message    string // a part the message must contain; "": not checked
}

// CheckError fails the test unless e is the error want describes.
func CheckError(tb testing.TB, e *abi.Error, want WantError) {
	tb.Helper()
	if e == nil {
		tb.Fatalf("got no error, want %+v", want)
		return
	}
	if e.Code != want.Code || e.Retryable != want.Retryable ||
		(want.HTTPStatus != 0 && e.HTTPStatus != want.HTTPStatus) || !strings.Contains(e.Message, want.Message) {
		tb.Fatalf("got %+v, want code %s retryable %v status %d message containing %q",
			e, want.Code, want.Retryable, want.HTTPStatus, want.Message)
	}
}
