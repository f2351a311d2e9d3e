//go:build wasip1

package sdk

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/extism/go-pdk"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/abijson"
	"github.com/tzurot-go/tzurot/sdk/kernel"
)

// abiMarker is the marker export of ABI v1. The host only checks that it is
// exported; exporting it from the SDK means every plugin built with this
// SDK says which ABI it speaks without the author writing anything.
//
//go:wasmexport tzurot_abi_v1
func abiMarker() int32 { return 0 }

// bulkInputMarker tells the host that this plugin reads its input only
// through the bulk path (sdk.Input and everything built on it use
// kernel.Input), so the host need not also copy it into Extism's kernel
// memory. A plugin built with the SDK must therefore not read Extism's
// input itself (go-pdk's pdk.Input): it is empty on hosts that honour
// this. The host never calls it.
//
//go:wasmexport tzurot_bulk_input
func bulkInputMarker() int32 { return 0 }

// Input decodes the call's JSON input into T. Empty input gives T's zero
// value, so exports without input (describe) need no special case.
//
// An abi.ChatRequest is decoded by package abijson, about 50 times faster
// in a plugin than encoding/json (docs/performance.md); other types use
// encoding/json. The result is the same either way.
func Input[T any]() (T, error) {
	var v T
	raw := kernel.Input()
	if len(bytes.TrimSpace(raw)) == 0 {
		return v, nil
	}
	var err error
	switch p := any(&v).(type) {
	case *abi.ChatRequest:
		*p, err = abijson.DecodeChatRequest(raw)
	default:
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		return v, Errorf(abi.ErrBadRequest, "the plugin could not read its input: %v", err)
	}
	return v, nil
}

// Output sets the call's output to v as JSON. An abi.ChatResponse is
// encoded by package abijson (the same bytes as encoding/json, faster).
func Output(v any) error {
	b, err := encode(v)
	if err != nil {
		return Errorf(abi.ErrInternal, "encode output: %v", err)
	}
	kernel.Output(b)
	return nil
}

// encode is json.Marshal with abijson's fast path for the ABI's outputs.
func encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case abi.ChatResponse:
		return abijson.AppendChatResponse(make([]byte, 0, chatResponseSize(&x)), &x), nil
	case *abi.ChatResponse:
		if x != nil {
			return abijson.AppendChatResponse(make([]byte, 0, chatResponseSize(x)), x), nil
		}
	}
	return json.Marshal(v)
}

// chatResponseSize guesses the encoded size of r, so the output buffer is
// allocated once (each allocation costs about a microsecond in a plugin).
func chatResponseSize(r *abi.ChatResponse) int {
	n := 192 + len(r.Content) + len(r.Reasoning) + len(r.Model) + len(r.Usage.Model)
	for _, t := range r.ToolCalls {
		n += 48 + len(t.ID) + len(t.Name) + len(t.Arguments)
	}
	return n + n/16 // room for some escapes
}

// Fail sets e as the call's error and returns 1, the return code of a
// typed error: `return sdk.Fail(sdk.Errorf(abi.ErrBadRequest, "..."))`.
func Fail(e *abi.Error) int32 {
	if e == nil {
		e = &abi.Error{Code: abi.ErrInternal, Message: "the plugin failed without saying why"}
	}
	pdk.SetErrorString(string(abijson.AppendError(nil, e)))
	return 1
}

// Handle runs fn with the decoded input and writes its result: the body of
// every export but describe. A returned error becomes the call's typed
// error (see AsError); a panic becomes an "internal" error instead of a
// trap, so the user sees a message rather than a crash.
func Handle[In, Out any](fn func(In) (Out, error)) (rc int32) {
	defer func() {
		if p := recover(); p != nil {
			rc = Fail(Errorf(abi.ErrInternal, "plugin panic: %v", p))
		}
	}()
	in, err := Input[In]()
	if err != nil {
		return Fail(AsError(err))
	}
	out, err := fn(in)
	if err != nil {
		return Fail(AsError(err))
	}
	if err := Output(out); err != nil {
		return Fail(AsError(err))
	}
	return 0
}

// Describe writes d as the output of the describe export. ABI defaults to
// abi.Version and a nil Capabilities list becomes empty.
func Describe(d abi.Description) int32 {
	if d.ABI == 0 {
		d.ABI = abi.Version
	}
	if d.Capabilities == nil {
		d.Capabilities = []string{}
	}
	if err := Output(d); err != nil {
		return Fail(AsError(err))
	}
	return 0
}

// Config returns the plain config value plugins.toml sets for key (for
// example "base_url"); false when it is absent or empty.
//
// Values are read from the host once per instance and then remembered:
// plugins.toml config is fixed for an instance's life (the host starts new
// instances when it reloads), and one read costs several host round trips,
// about 40 µs in a plugin, which a plugin reading six values on every call
// paid each time.
func Config(key string) (string, bool) {
	configMu.Lock()
	defer configMu.Unlock()
	if c, ok := configCache[key]; ok {
		return c.value, c.ok
	}
	v, ok := kernel.Config(key)
	if configCache == nil {
		configCache = make(map[string]configValue)
	}
	configCache[key] = configValue{v, ok}
	return v, ok
}

// configCache is the instance's config as read so far (see Config). It is
// package state because a plugin instance is its own process: each has its
// own copy, and a new instance starts empty.
var (
	configMu    sync.Mutex
	configCache map[string]configValue
)

type configValue struct {
	value string
	ok    bool
}

// MustConfig is Config for values the plugin cannot work without: the
// error names the key so the self-hoster knows what to add.
func MustConfig(key string) (string, error) {
	v, ok := Config(key)
	if !ok {
		return "", Errorf(abi.ErrInternal, "plugin config %q is not set in plugins.toml", key)
	}
	return v, nil
}
