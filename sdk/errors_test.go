package sdk

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func TestAsError(t *testing.T) {
	typed := &abi.Error{Code: abi.ErrRateLimited, Message: "slow down", Retryable: true}
	if got := AsError(fmt.Errorf("calling provider: %w", typed)); got != typed {
		t.Fatalf("a wrapped typed error must come back as is, got %+v", got)
	}
	if got := AsError(errors.New("boom")); got.Code != abi.ErrInternal || got.Message != "boom" {
		t.Fatalf("a plain error must become internal with its text, got %+v", got)
	}
	if got := AsError(&abi.Error{Message: "no code"}); got.Code != abi.ErrInternal || got.Message != "no code" {
		t.Fatalf("a typed error without a code must become internal, got %+v", got)
	}
	if AsError(nil) != nil {
		t.Fatal("nil must stay nil")
	}
	if e := Errorf(abi.ErrBadRequest, "model %q unknown", "x"); e.Code != abi.ErrBadRequest || e.Message != `model "x" unknown` {
		t.Fatalf("Errorf = %+v", e)
	}
}
