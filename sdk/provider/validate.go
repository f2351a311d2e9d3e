package provider

import (
	"fmt"

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

// KeyCheckRefused is validate_key's result when the provider answered the
// key check with a status other than 2xx, from e, the plugin's own error
// for that answer (who names the provider in messages): invalid_key is an
// invalid key, no_credit a key without credit, rate_limited a working key
// (the provider accepted it), unavailable or timeout unreachable; any
// other answer means the check itself is wrong (a base_url?), not the
// key, so it is unreachable with the status named.
func KeyCheckRefused(who string, status int, e *abi.Error) abi.ValidateKeyResult {
	switch e.Code {
	case abi.ErrInvalidKey:
		return abi.ValidateKeyResult{Status: abi.KeyInvalid, Message: e.Message}
	case abi.ErrNoCredit:
		return abi.ValidateKeyResult{Status: abi.KeyNoCredit, Message: e.Message}
	case abi.ErrRateLimited:
		return abi.ValidateKeyResult{Status: abi.KeyValid, Message: "the key works (" + who + " is rate limiting it right now)"}
	case abi.ErrUnavailable, abi.ErrTimeout:
		return abi.ValidateKeyResult{Status: abi.KeyUnreachable, Message: e.Message}
	}
	return abi.ValidateKeyResult{Status: abi.KeyUnreachable, Message: fmt.Sprintf("unexpected HTTP %d from %s: %s", status, who, e.Message)}
}
