package plugintest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// The benchmarks of every plugin rely on this being the pipeline's size
// and shape: a system prompt, alternating history, the user's turn last.
func TestPipelineRequest(t *testing.T) {
	for _, named := range []bool{false, true} {
		req := PipelineRequest("m", named)
		if req.Model != "m" || len(req.Messages) != 21 || req.Messages[0].Role != abi.RoleSystem {
			t.Fatalf("named=%v: request = %+v", named, req)
		}
		last := req.Messages[20]
		wantLast := abi.Message{Role: abi.RoleUser, Content: "alice: Hi there"}
		if named {
			wantLast = abi.Message{Role: abi.RoleUser, Name: "alice", Content: "Hi there"}
		}
		if !reflect.DeepEqual(last, wantLast) {
			t.Fatalf("named=%v: last message = %+v, want %+v", named, last, wantLast)
		}
		if named != (req.Messages[1].Name == "alice") || named == strings.HasPrefix(req.Messages[1].Content, "alice: ") {
			t.Fatalf("named=%v: speaker carried wrongly in %+v", named, req.Messages[1])
		}
		if req.Messages[2].Role != abi.RoleAssistant {
			t.Fatalf("history does not alternate: %+v", req.Messages[2])
		}
		if b, _ := json.Marshal(req); len(b) < 2048 || len(b) > 3072 {
			t.Fatalf("named=%v: %d bytes of JSON, want 2 to 3 KiB", named, len(b))
		}
	}
}
