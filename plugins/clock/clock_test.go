package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

var wasm string

func TestMain(m *testing.M) {
	os.Exit(plugintest.BuildForMain(m, ".", &wasm))
}

func callTimeNow(t *testing.T, args string, tc abi.ToolContext) map[string]string {
	t.Helper()
	h := plugintest.New(t, wasm, plugintest.Options{})
	res, e := h.Invoke(abi.InvokeRequest{Tool: "time_now", Arguments: json.RawMessage(args), Context: tc})
	if e != nil || res.IsError {
		t.Fatalf("time_now(%s): %+v, %v", args, res, e)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(res.Content), &out); err != nil {
		t.Fatalf("content is not JSON: %q", res.Content)
	}
	return out
}

// TestDescribe: the plugin is a tool plugin offering time_now, needing no
// key and no network.
func TestDescribe(t *testing.T) {
	h := plugintest.New(t, wasm, plugintest.Options{})
	d := h.Describe()
	if d.Name != "clock" || d.NeedsKey || d.NeedsNetwork || len(d.Capabilities) != 1 || d.Capabilities[0] != abi.CapTool {
		t.Errorf("describe = %+v", d)
	}
	if len(d.Tools) != 1 || d.Tools[0].Name != "time_now" || !strings.Contains(string(d.Tools[0].Parameters), `"timezone"`) {
		t.Errorf("tools = %+v", d.Tools)
	}
}

// TestTimeNowInTheRealPlugin: the wasm plugin knows timezones (tzdata is
// compiled in): the user's timezone by default, the argument when given,
// UTC when neither; the answer is the current local time there.
func TestTimeNowInTheRealPlugin(t *testing.T) {
	before := time.Now()
	out := callTimeNow(t, `{}`, abi.ToolContext{Timezone: "Asia/Kolkata"})
	if out["timezone"] != "Asia/Kolkata" || out["source"] != "user" || out["utc_offset"] != "+05:30" || out["abbreviation"] != "IST" {
		t.Errorf("user timezone: %v", out)
	}
	local, err := time.Parse(time.RFC3339, out["local"])
	if err != nil || local.Before(before.Truncate(time.Second)) || local.After(time.Now().Add(time.Second)) {
		t.Errorf("local %q is not now (%v)", out["local"], err)
	}
	if want := local.Weekday().String(); out["weekday"] != want {
		t.Errorf("weekday %q, want %q", out["weekday"], want)
	}
	out = callTimeNow(t, `{"timezone":"America/New_York"}`, abi.ToolContext{Timezone: "Asia/Kolkata"})
	if out["timezone"] != "America/New_York" || out["source"] != "argument" || (out["utc_offset"] != "-05:00" && out["utc_offset"] != "-04:00") {
		t.Errorf("argument timezone: %v", out)
	}
	out = callTimeNow(t, ``, abi.ToolContext{})
	if out["timezone"] != "UTC" || out["source"] != "default" || out["utc_offset"] != "+00:00" {
		t.Errorf("default: %v", out)
	}
}

// TestTimeNowUnknownTimezone: a timezone that does not exist is an
// is_error result the model can read, not a failure.
func TestTimeNowUnknownTimezone(t *testing.T) {
	h := plugintest.New(t, wasm, plugintest.Options{})
	for _, tz := range []string{"Mars/Olympus_Mons", "Local", "../../etc/passwd"} {
		args, _ := json.Marshal(map[string]string{"timezone": tz})
		res, e := h.Invoke(abi.InvokeRequest{Tool: "time_now", Arguments: args})
		if e != nil || !res.IsError || !strings.Contains(res.Content, "unknown timezone") || !strings.Contains(res.Content, "Europe/Berlin") {
			t.Errorf("%s: %+v, %v", tz, res, e)
		}
	}
}

// TestTimeNowAt pins the clock: a DST switch and the weekday come out
// right (the same code the plugin runs).
func TestTimeNowAt(t *testing.T) {
	at := time.Date(2026, 7, 4, 22, 30, 0, 0, time.UTC)
	res := timeNow(timeNowArgs{Timezone: "Europe/Berlin"}, abi.ToolContext{}, at)
	var out map[string]string
	_ = json.Unmarshal([]byte(res.Content), &out)
	if out["date"] != "2026-07-05" || out["time"] != "00:30:00" || out["weekday"] != "Sunday" || out["utc_offset"] != "+02:00" || out["abbreviation"] != "CEST" {
		t.Errorf("Berlin in summer: %v", out)
	}
	res = timeNow(timeNowArgs{Timezone: "utc"}, abi.ToolContext{}, at)
	if !strings.Contains(res.Content, `"timezone":"UTC"`) {
		t.Errorf("utc: %s", res.Content)
	}
}
