package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// PluginTools is the ToolHost of a plugin host: the tools of every loaded
// plugin that plugins.toml grants "tool" (Host.Tools), run by
// Host.InvokeTool with the call's identity: arguments checked against the
// tool's schema (never reaching the plugin when they do not match), the
// content scrubbed of keys and capped, attachments checked by their magic
// bytes.
type PluginTools struct {
	Host *plugin.Host
}

// ToolSpecs implements ToolHost.
func (t *PluginTools) ToolSpecs() []ToolSpec {
	granted := t.Host.Tools()
	out := make([]ToolSpec, 0, len(granted))
	for _, g := range granted {
		out = append(out, ToolSpec{Entry: g.Entry, Tool: g.Tool})
	}
	return out
}

// InvokeTool implements ToolHost.
func (t *PluginTools) InvokeTool(ctx context.Context, entry string, req abi.InvokeRequest) (ToolOutput, []abi.Usage, error) {
	res, usage, err := t.Host.InvokeTool(ctx, entry, req)
	if err != nil {
		return ToolOutput{}, usage, err
	}
	out := ToolOutput{Content: res.Result.Content, IsError: res.Result.IsError}
	for _, f := range res.Files {
		out.Files = append(out.Files, ToolFile{Data: f.Data, MimeType: f.MimeType, Filename: f.Filename, Description: f.Description})
	}
	return out, usage, nil
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
