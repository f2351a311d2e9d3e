package provider

import (
	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// KeyCheckFailed is validate_key's answer when the HTTP call that checks
// a key failed before the provider answered (err from sdk.HTTP). No key
// stays an error, which the host turns into "set a key first"; anything
// else (denied, timeout, unavailable) means the key could be neither
// accepted nor refused, so the result is abi.KeyUnreachable with the
// error's message.
func KeyCheckFailed(err error) (abi.ValidateKeyResult, error) {
	e := sdk.AsError(err)
	if e.Code == abi.ErrNoKey {
		return abi.ValidateKeyResult{}, e
	}
	return abi.ValidateKeyResult{Status: abi.KeyUnreachable, Message: e.Message}, nil
}
