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
