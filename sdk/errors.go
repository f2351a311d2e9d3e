package sdk

import (
	"errors"
	"fmt"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Errorf builds a typed plugin error with a formatted message. Return it from
// a Handle function (or pass it to Fail) and the host shows the user a
// message chosen by code.
func Errorf(code, format string, args ...any) *abi.Error {
	return &abi.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError turns any error into the typed error the ABI carries. An
// *abi.Error anywhere in the chain is returned as is; anything else becomes
// code "internal" with the error's text, because the plugin did not say
// what went wrong in terms the host understands.
func AsError(err error) *abi.Error {
	if err == nil {
		return nil
	}
	var e *abi.Error
	if errors.As(err, &e) && e != nil {
		if e.Code == "" {
			c := *e
			c.Code = abi.ErrInternal
			return &c
		}
		return e
	}
	return &abi.Error{Code: abi.ErrInternal, Message: err.Error()}
}
