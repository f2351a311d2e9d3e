package plugin

import (
	"errors"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// knownErrorCodes are the error codes of ABI v1 (docs/plugin-abi.md §6).
var knownErrorCodes = map[string]bool{
	abi.ErrInvalidKey: true, abi.ErrNoKey: true, abi.ErrNoCredit: true, abi.ErrRateLimited: true,
	abi.ErrUnavailable: true, abi.ErrTimeout: true, abi.ErrBadRequest: true, abi.ErrContent: true,
	abi.ErrDenied: true, abi.ErrInternal: true,
}

// knownCode returns code when the ABI defines it and internal otherwise, as
// the ABI promises: callers switch on codes (retry, tell the user to fix
// the key), and a made-up code must not reach them or a user's screen.
func knownCode(code string) string {
	if knownErrorCodes[code] {
		return code
	}
	return abi.ErrInternal
}

// onlyKnownCode rewrites the code of the *abi.Error in err, if any, with
// knownCode. The host's own errors always carry known codes, so this only
// ever changes a code a plugin made up.
func onlyKnownCode(err error) {
	var e *abi.Error
	if errors.As(err, &e) {
		e.Code = knownCode(e.Code)
	}
}
