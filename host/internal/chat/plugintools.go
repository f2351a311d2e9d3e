package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// PluginTools is the ToolHost of a plugin host: the tools of every loaded
// plugin that plugins.toml grants "tool", run through the plugin's invoke
// export with the call's identity.
//
// It checks arguments against the tool's parameters schema itself (with
// the same JSON Schema library the host uses for advanced parameters) and
// hands back no files. When plugin.Host gains InvokeTool (the toolhost
// work: schema checks, attachments as sniffed blobs, content caps in the
// host), this adapter becomes a thin wrapper over it.
type PluginTools struct {
	Host *plugin.Host

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // by entry, sha256 and tool
}

// ToolSpecs implements ToolHost.
func (t *PluginTools) ToolSpecs() []ToolSpec {
	var out []ToolSpec
	for _, st := range t.Host.Status() {
		if st.State != plugin.StateLoaded || st.Description == nil || !slices.Contains(st.Capabilities, abi.CapTool) {
			continue
		}
		for _, tool := range st.Description.Tools {
			out = append(out, ToolSpec{Entry: st.Name, Tool: tool})
		}
	}
	return out
}

// schema returns the compiled parameters schema of tool name of entry.
func (t *PluginTools) schema(entry, name string) (*jsonschema.Schema, error) {
	for _, st := range t.Host.Status() {
		if st.Name != entry || st.State != plugin.StateLoaded || st.Description == nil || !slices.Contains(st.Capabilities, abi.CapTool) {
			continue
		}
		for _, tool := range st.Description.Tools {
			if tool.Name != name {
				continue
			}
			key := entry + "\x00" + st.SHA256 + "\x00" + name
			t.mu.Lock()
			defer t.mu.Unlock()
			if s, ok := t.schemas[key]; ok {
				return s, nil
			}
			raw := tool.Parameters
			if len(bytes.TrimSpace(raw)) == 0 {
				raw = json.RawMessage(`{"type":"object"}`)
			}
			s, err := paramschema.Compile(raw)
			if err != nil {
				return nil, &abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("tool %s of plugin %s has an unusable parameters schema", name, entry)}
			}
			if t.schemas == nil {
				t.schemas = map[string]*jsonschema.Schema{}
			}
			t.schemas[key] = s
			return s, nil
		}
	}
	return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("plugin %s offers no tool named %q", entry, printableName(name))}
}

// InvokeTool implements ToolHost.
func (t *PluginTools) InvokeTool(ctx context.Context, entry string, req abi.InvokeRequest) (ToolOutput, []abi.Usage, error) {
	s, err := t.schema(entry, req.Tool)
	if err != nil {
		return ToolOutput{}, nil, err
	}
	args, err := checkArgs(s, req.Tool, entry, req.Arguments)
	if err != nil {
		return ToolOutput{}, nil, err
	}
	req.Arguments = args
	in, err := json.Marshal(req)
	if err != nil {
		return ToolOutput{}, nil, fmt.Errorf("tool %s of plugin %s: encode request: %w", req.Tool, entry, err)
	}
	r, err := t.Host.Invoke(ctx, entry, abi.InvokeExport, in)
	if err != nil {
		return ToolOutput{}, r.Usage, err
	}
	var res abi.InvokeResult
	if err := json.Unmarshal(r.Output, &res); err != nil {
		return ToolOutput{}, r.Usage, &abi.Error{Code: abi.ErrInternal, Message: "the tool's answer was not a tool result"}
	}
	usage := r.Usage
	if len(usage) == 0 && res.Usage != (abi.Usage{}) {
		u := res.Usage
		if u.Kind == "" {
			u.Kind = abi.UsageText
		}
		u.Provider, u.Plugin = r.Provider, entry
		usage = []abi.Usage{u}
	}
	return ToolOutput{Content: res.Content, IsError: res.IsError}, usage, nil
}

// checkArgs checks a model's arguments (JSON text; empty means {}) against
// a tool's schema: a bad_request *abi.Error naming each wrong field when
// they do not match, else the arguments normalised.
func checkArgs(s *jsonschema.Schema, tool, entry string, raw json.RawMessage) (json.RawMessage, error) {
	args := bytes.TrimSpace(raw)
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	if args[0] != '{' {
		return nil, &abi.Error{Code: abi.ErrBadRequest, Message: "arguments: they must be a JSON object"}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil {
		return nil, &abi.Error{Code: abi.ErrBadRequest, Message: "arguments: they are not valid JSON"}
	}
	if err := s.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return nil, &abi.Error{Code: abi.ErrBadRequest, Message: "arguments: " + strings.Join(paramschema.Problems(ve), "; ")}
		}
		return nil, fmt.Errorf("tool %s of plugin %s: validate arguments: %w", tool, entry, err)
	}
	return args, nil
}
