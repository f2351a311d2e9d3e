package plugintest_test

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

func TestCheckError(t *testing.T) {
	got := &abi.Error{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 429, Message: "slow down (wait 7 s)"}
	want := plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 429, Message: "wait 7 s"}
	for name, c := range map[string]struct {
		e    *abi.Error
		want plugintest.WantError
		ok   bool
	}{
		"match":           {got, want, true},
		"any status":      {got, plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true}, true},
		"no error":        {nil, want, false},
		"other code":      {got, plugintest.WantError{Code: abi.ErrTimeout, Retryable: true}, false},
		"not retryable":   {got, plugintest.WantError{Code: abi.ErrRateLimited}, false},
		"other status":    {got, plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 503}, false},
		"message missing": {got, plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, Message: "quota"}, false},
	} {
		ft := &fakeTB{TB: t}
		func() {
			defer func() { _ = recover() }()
			plugintest.CheckError(ft, c.e, c.want)
		}()
		if ft.failed == c.ok {
			t.Errorf("%s: failed=%v, want ok=%v", name, ft.failed, c.ok)
		}
	}
}
