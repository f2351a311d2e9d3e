package provider

import (
	"fmt"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// ThoughtWithoutReply is the error for a reply in which the model thought
// but wrote nothing. who is the model as users know it ("Claude"); when
// outOfTokens (it stopped at its output limit) the personality's settings
// must change, so it is bad_request with the outputTokens spent;
// otherwise it is unavailable (a retry may answer), naming the provider's
// stop field and value (stopField "stop_reason", stop "end_turn").
func ThoughtWithoutReply(who string, outOfTokens bool, outputTokens int64, stopField, stop string) *abi.Error {
	if outOfTokens {
		return &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf(
			"%s spent all its output tokens (%d) thinking and wrote no reply: raise max_tokens or lower the thinking level", who, outputTokens)}
	}
	return &abi.Error{Code: abi.ErrUnavailable, Message: who + " finished thinking but wrote no reply (" + stopField + " " + stop + "); try again"}
}
