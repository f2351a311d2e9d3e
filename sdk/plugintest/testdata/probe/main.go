//go:build wasip1

// Command probe is a test plugin that drives every ABI v1 host function
// through the sdk package on request, so the fake host and the SDK can be
// tested against each other. It is not a provider.
package main

import (
	"strings"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Op is one thing to do; Result is what came of it.
type Op struct {
	Do      string            `json:"do"` // key, http, stream, usage, log, emit, fail, panic
	Request abi.HTTPRequest   `json:"request"`
	Usage   abi.Usage         `json:"usage"`
	Text    string            `json:"text"`
	Attrs   map[string]string `json:"attrs"`
	Error   *abi.Error        `json:"error"`
	// Leave a stream open (to show the host closes it).
	LeaveOpen bool `json:"leave_open"`
}

type Result struct {
	Key     string            `json:"key,omitempty"`
	HasKey  bool              `json:"has_key"`
	Status  int               `json:"status,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	Events  []abi.StreamEvent `json:"events,omitempty"`
	Config  string            `json:"config,omitempty"`
	Blob    int64             `json:"blob,omitempty"`
}

//go:wasmexport probe
func probe() int32 {
	return sdk.Handle(func(op Op) (Result, error) {
		switch op.Do {
		case "key":
			k, ok := sdk.APIKey()
			return Result{Key: k, HasKey: ok}, nil
		case "config":
			v, _ := sdk.Config(op.Text)
			return Result{Config: v}, nil
		case "http":
			r, err := sdk.HTTP(op.Request)
			if err != nil {
				return Result{}, err
			}
			return Result{Status: r.Status, Headers: r.Headers, Body: string(r.Body)}, nil
		case "stream":
			s, err := sdk.Stream(op.Request)
			if err != nil {
				return Result{}, err
			}
			if !op.LeaveOpen {
				defer s.Close()
			}
			res := Result{Status: s.Status, Body: s.Body}
			for s.Next() {
				ev := s.Event()
				res.Events = append(res.Events, ev)
				sdk.Emit(strings.ToUpper(ev.Data))
			}
			return res, s.Err()
		case "blob":
			// Send Text as a blob body, keep the response as a blob, read it back.
			h, err := sdk.NewBlob([]byte(op.Text))
			if err != nil {
				return Result{}, err
			}
			op.Request.BodyBlob, op.Request.ResponseBlob = h, true
			r, err := sdk.HTTP(op.Request)
			if err != nil {
				return Result{}, err
			}
			b, err := sdk.ReadBlob(r.BodyBlob)
			if err != nil {
				return Result{}, err
			}
			return Result{Status: r.Status, Body: string(b), Blob: r.BodyBlob}, nil
		case "usage":
			return Result{}, sdk.RecordUsage(op.Usage)
		case "spent":
			sdk.RecordSpentUsage(op.Usage)
			return Result{}, nil
		case "log":
			sdk.Log(abi.LogInfo, op.Text, op.Attrs)
			return Result{}, nil
		case "emit":
			for _, w := range strings.Fields(op.Text) {
				sdk.Emit(w)
			}
			return Result{}, nil
		case "fail":
			return Result{}, op.Error
		case "panic":
			var m map[string]int
			m["boom"]++ // a nil map write: a real bug, recovered by Handle
			return Result{}, nil
		}
		return Result{}, sdk.Errorf(abi.ErrBadRequest, "unknown op %q", op.Do)
	})
}

//go:wasmexport describe
func describe() int32 {
	return sdk.Describe(abi.Description{Name: "probe", Version: "0.0.1", Capabilities: []string{abi.CapTool, abi.CapImage}, NeedsKey: true, NeedsNetwork: true,
		Tools: sdk.ToolList(tools...)})
}

func main() {}
