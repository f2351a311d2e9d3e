// Command clock is tzurot's first tool plugin: time_now tells the model
// the current local time, weekday and UTC offset in a timezone (the
// argument, else the user's timezone, else UTC). It needs no key and no
// network; the timezone database is compiled in (time/tzdata), since a
// wasm plugin has no /usr/share/zoneinfo.
package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // wasm has no system zoneinfo

	"github.com/tzurot-go/tzurot/sdk/abi"
)

const version = "1.0.0"

// timeNowParameters is the JSON Schema of time_now's arguments.
const timeNowParameters = `{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "timezone": {
      "type": "string",
      "maxLength": 64,
      "description": "IANA timezone name such as Europe/Berlin or America/New_York. Leave it out for the user's own timezone."
    }
  }
}`

// timeNowTool is the tool as the model sees it.
var timeNowTool = abi.Tool{
	Name:        "time_now",
	Description: "Get the current date, local time, weekday and UTC offset, in the user's timezone or in the IANA timezone you name.",
	Parameters:  json.RawMessage(timeNowParameters),
}

// timeNowArgs are time_now's arguments.
type timeNowArgs struct {
	Timezone string `json:"timezone"`
}

// timeNowResult is the JSON text the model reads.
type timeNowResult struct {
	Timezone  string `json:"timezone"`
	Source    string `json:"source"` // argument, user or default
	Local     string `json:"local"`  // RFC 3339 with offset
	Date      string `json:"date"`
	Time      string `json:"time"`
	Weekday   string `json:"weekday"`
	UTCOffset string `json:"utc_offset"`
	Abbrev    string `json:"abbreviation,omitempty"`
}

// timeNow answers one call at instant now. An unknown timezone is an
// is_error result, so the model can correct itself or tell the user.
func timeNow(args timeNowArgs, tc abi.ToolContext, now time.Time) abi.InvokeResult {
	name, source := strings.TrimSpace(args.Timezone), "argument"
	if name == "" {
		name, source = strings.TrimSpace(tc.Timezone), "user"
	}
	if name == "" {
		name, source = "UTC", "default"
	}
	loc, err := loadLocation(name)
	if err != nil {
		return abi.InvokeResult{IsError: true, Content: fmt.Sprintf("unknown timezone %q: use an IANA name such as Europe/Berlin, America/New_York or UTC", name)}
	}
	t := now.In(loc)
	abbrev, _ := t.Zone()
	r := timeNowResult{
		Timezone: loc.String(), Source: source, Local: t.Format(time.RFC3339),
		Date: t.Format("2006-01-02"), Time: t.Format("15:04:05"), Weekday: t.Weekday().String(),
		UTCOffset: t.Format("-07:00"),
	}
	if abbrev != "" && !strings.ContainsAny(abbrev[:1], "+-") {
		r.Abbrev = abbrev // "CET"; zones without a name say "+03"
	}
	b, _ := json.Marshal(r)
	return abi.InvokeResult{Content: string(b)}
}

// loadLocation is time.LoadLocation without its surprises: "Local" (the
// plugin's own, meaningless zone) and names that are paths are refused.
func loadLocation(name string) (*time.Location, error) {
	if name == "Local" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("unknown time zone %s", name)
	}
	if strings.EqualFold(name, "utc") {
		return time.UTC, nil
	}
	return time.LoadLocation(name)
}
