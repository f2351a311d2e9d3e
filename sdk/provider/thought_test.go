package provider

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func TestThoughtWithoutReply(t *testing.T) {
	e := ThoughtWithoutReply("Claude", true, 4096, "stop_reason", "max_tokens")
	if e.Code != abi.ErrBadRequest || e.Retryable ||
		e.Message != "Claude spent all its output tokens (4096) thinking and wrote no reply: raise max_tokens or lower the thinking level" {
		t.Fatalf("out of tokens = %+v", e)
	}
	e = ThoughtWithoutReply("Gemini", false, 10, "finishReason", "STOP")
	if e.Code != abi.ErrUnavailable || e.Message != "Gemini finished thinking but wrote no reply (finishReason STOP); try again" {
		t.Fatalf("no reply = %+v", e)
	}
}
