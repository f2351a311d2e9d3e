package provider

import (
	"errors"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func TestKeyCheckFailed(t *testing.T) {
	noKey := &abi.Error{Code: abi.ErrNoKey, Message: "no key set for this plugin"}
	res, err := KeyCheckFailed(noKey)
	var e *abi.Error
	if !errors.As(err, &e) || e.Code != abi.ErrNoKey || res != (abi.ValidateKeyResult{}) {
		t.Fatalf("no key: %+v, %v; want the no_key error itself", res, err)
	}
	for _, in := range []error{
		&abi.Error{Code: abi.ErrTimeout, Retryable: true, Message: "the request timed out after 15 s"},
		&abi.Error{Code: abi.ErrDenied, Message: "host not allowed"},
		errors.New("connection refused"),
	} {
		res, err := KeyCheckFailed(in)
		if err != nil || res.Status != abi.KeyUnreachable || res.Message == "" {
			t.Errorf("%v: %+v, %v; want unreachable with the message", in, res, err)
		}
	}
}

func TestKeyCheckRefused(t *testing.T) {
	for _, c := range []struct {
		code   string
		status string
		msg    string
	}{
		{abi.ErrInvalidKey, abi.KeyInvalid, "bad key"},
		{abi.ErrNoCredit, abi.KeyNoCredit, "bad key"},
		{abi.ErrRateLimited, abi.KeyValid, "the key works (Acme is rate limiting it right now)"},
		{abi.ErrUnavailable, abi.KeyUnreachable, "bad key"},
		{abi.ErrTimeout, abi.KeyUnreachable, "bad key"},
		{abi.ErrBadRequest, abi.KeyUnreachable, "unexpected HTTP 418 from Acme: bad key"},
	} {
		got := KeyCheckRefused("Acme", 418, &abi.Error{Code: c.code, Message: "bad key"})
		if got.Status != c.status || got.Message != c.msg {
			t.Errorf("%s: got %+v, want status %s, message %q", c.code, got, c.status, c.msg)
		}
	}
}
