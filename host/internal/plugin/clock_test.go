package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// TestClockPluginInTheHost: the shipped clock plugin, built from
// plugins/clock and granted only "tool", is listed as a tool and answers
// time_now in the user's timezone through the real host; a bad argument
// never reaches it, an unknown timezone is an is_error result.
func TestClockPluginInTheHost(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	wasm := plugintest.Build(t, filepath.Join(root, "plugins", "clock"))
	h, _ := testHost(t, fmt.Sprintf(`
[plugins.clock]
path = %q
capabilities = ["tool"]
`, wasm), nil)
	if st := statusOf(t, h, "clock"); st.State != StateLoaded {
		t.Fatalf("clock %s: %s", st.State, st.Reason)
	}
	tools := h.Tools()
	if len(tools) != 1 || tools[0].Entry != "clock" || tools[0].Tool.Name != "time_now" {
		t.Fatalf("Tools() = %+v", tools)
	}
	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "clock-test"})
	res, usage, err := h.InvokeTool(ctx, "clock", abi.InvokeRequest{Tool: "time_now", Context: abi.ToolContext{Timezone: "Asia/Tokyo"}})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(res.Result.Content), &out); err != nil || out["timezone"] != "Asia/Tokyo" || out["utc_offset"] != "+09:00" || len(usage) != 0 {
		t.Errorf("time_now = %q, usage %+v", res.Result.Content, usage)
	}
	res, _, err = h.InvokeTool(ctx, "clock", abi.InvokeRequest{Tool: "time_now", Arguments: json.RawMessage(`{"timezone":"Atlantis/Capital"}`)})
	if err != nil || !res.Result.IsError || !strings.Contains(res.Result.Content, `unknown timezone "Atlantis/Capital"`) {
		t.Errorf("unknown timezone: %+v, %v", res.Result, err)
	}
	_, _, err = h.InvokeTool(ctx, "clock", abi.InvokeRequest{Tool: "time_now", Arguments: json.RawMessage(`{"tz":"UTC"}`)})
	wantCode(t, err, abi.ErrBadRequest, "arguments: tz: is not an argument of this tool")
}
