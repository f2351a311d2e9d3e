package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/tzurot-go/tzurot/host/internal/media"
	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Bounds on what a tool plugin declares (describe's tools) and returns
// (invoke). docs/plugin-abi.md states each.
const (
	// MaxToolsPerPlugin is how many tools one plugin may declare: every
	// granted tool goes into each chat request, and models choose worse
	// among dozens.
	MaxToolsPerPlugin = 32
	// maxToolDescriptionChars bounds a tool's description (the model reads
	// it on every request).
	maxToolDescriptionChars = 1024
	// MaxToolContentBytes is how much of a tool's content the model reads:
	// longer content is cut at a character boundary and ends with
	// toolCutMarker. 64 KiB is ~16k tokens, already a large share of most
	// context windows.
	MaxToolContentBytes = 64 << 10
	// MaxToolAttachments is how many files one tool result may attach.
	MaxToolAttachments = 4
	// DefaultMaxImageBytes caps each image (generated or attached; see
	// Options.MaxImageBytes): Discord's upload limit without server boosts.
	DefaultMaxImageBytes = 10 << 20
)

// toolCutMarker ends content cut at MaxToolContentBytes, so the model
// knows it did not see everything.
const toolCutMarker = "\n[cut: the tool returned %d bytes; the rest is not shown]"

// toolNameRE is what a tool may be called: the model sees the name, and
// every provider accepts this set (OpenAI allows a-zA-Z0-9_- up to 64).
var toolNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// toolDef is one declared tool with its compiled parameters schema.
type toolDef struct {
	tool   abi.Tool
	schema *jsonschema.Schema
}

// emptyObjectSchema stands in for a tool that declares no parameters.
var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// compileToolsAndImages checks describe's tools and image_schema and
// compiles their schemas once, at load. d.Tools is normalised in place (a
// tool without parameters gets the empty object schema), so what Tools
// lists is what the host validates against.
func (l *loaded) compileToolsAndImages(d *abi.Description) error {
	if len(bytes.TrimSpace(d.ImageSchema)) > 0 {
		s, err := paramschema.Compile(d.ImageSchema)
		if err != nil {
			return fmt.Errorf("its image_schema is not a valid JSON Schema: %v", err)
		}
		l.imageSchema = s
	}
	wantsTool := slices.Contains(d.Capabilities, abi.CapTool)
	switch {
	case len(d.Tools) > 0 && !wantsTool:
		return fmt.Errorf("it declares %d tools but does not request capability %q", len(d.Tools), abi.CapTool)
	case wantsTool && len(d.Tools) == 0:
		return fmt.Errorf("it requests capability %q but declares no tools", abi.CapTool)
	case len(d.Tools) > MaxToolsPerPlugin:
		return fmt.Errorf("it declares %d tools; at most %d are allowed", len(d.Tools), MaxToolsPerPlugin)
	}
	tools := make(map[string]*toolDef, len(d.Tools))
	for i := range d.Tools {
		t := &d.Tools[i]
		if err := checkTool(*t); err != nil {
			return err
		}
		if _, dup := tools[t.Name]; dup {
			return fmt.Errorf("it declares the tool %q twice", t.Name)
		}
		if len(bytes.TrimSpace(t.Parameters)) == 0 {
			t.Parameters = emptyObjectSchema
		}
		s, err := compileToolParameters(t.Parameters)
		if err != nil {
			return fmt.Errorf("tool %q: its parameters are not a valid JSON Schema of an object: %v", t.Name, err)
		}
		tools[t.Name] = &toolDef{tool: *t, schema: s}
	}
	l.tools = tools
	return nil
}

// checkTool checks a tool's name and description. The reason quotes
// plugin text with %q, so it is safe to print.
func checkTool(t abi.Tool) error {
	if !toolNameRE.MatchString(t.Name) {
		return fmt.Errorf("its tool name %q is not allowed: use 1 to 64 lowercase letters a-z, digits and \"_\", starting with a letter", t.Name)
	}
	if strings.TrimSpace(t.Description) == "" {
		return fmt.Errorf("tool %q has no description (the model reads it to decide when to call the tool)", t.Name)
	}
	if !utf8.ValidString(t.Description) {
		return fmt.Errorf("tool %q: its description is not valid UTF-8", t.Name)
	}
	if n := utf8.RuneCountInString(t.Description); n > maxToolDescriptionChars {
		return fmt.Errorf("tool %q: its description is %d characters long; at most %d are allowed", t.Name, n, maxToolDescriptionChars)
	}
	for _, r := range t.Description {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("tool %q: its description contains %U: printable characters only (no control characters, line breaks or invisible formatting)", t.Name, r)
		}
	}
	return nil
}

// compileToolParameters compiles a tool's parameters: a self-contained
// JSON Schema whose top level describes an object (the model's arguments
// are always a JSON object).
func compileToolParameters(raw json.RawMessage) (*jsonschema.Schema, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, errors.New("it is not a JSON object")
	}
	var typ string
	if err := json.Unmarshal(top["type"], &typ); err != nil || typ != "object" {
		return nil, errors.New(`its top level must say "type": "object"`)
	}
	return paramschema.Compile(raw)
}

// GrantedTool is one tool a loaded plugin offers: the plugins.toml entry
// that serves it and the tool as the model sees it.
type GrantedTool struct {
	Entry string
	Tool  abi.Tool
}

// Tools lists the tools of every loaded plugin granted "tool", by entry
// name, each plugin's in the order it declared them.
func (h *Host) Tools() []GrantedTool {
	s := h.current.Load()
	if s == nil {
		return nil
	}
	var out []GrantedTool
	for _, st := range s.status {
		l, ok := s.plugins[st.Name]
		if !ok || !l.grants(abi.CapTool) {
			continue
		}
		for _, t := range l.desc.Tools {
			out = append(out, GrantedTool{Entry: st.Name, Tool: t})
		}
	}
	return out
}

// toolOf finds tool name of plugin entry, entering the current set; the
// caller must leave it.
func (h *Host) toolOf(entry, name string) (*pluginSet, *toolDef, error) {
	s, l, err := h.acquire(entry)
	if err != nil {
		return nil, nil, err
	}
	if !l.grants(abi.CapTool) {
		s.leave()
		return nil, nil, &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("plugin %s does not offer %s (or plugins.toml does not grant it)", entry, abi.CapTool)}
	}
	t, ok := l.tools[name]
	if !ok {
		s.leave()
		return nil, nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("plugin %s has no tool named %q", entry, printable(name))}
	}
	return s, t, nil
}

// ToolArgumentsError is a tool call whose arguments do not match the
// tool's parameters schema. It reads as a bad_request *abi.Error too
// (errors.As); the agent loop hands its message back to the model.
type ToolArgumentsError struct {
	Entry, Tool string
	// Problems name each wrong field: "city: is required".
	Problems []string
}

func (e *ToolArgumentsError) Error() string {
	return fmt.Sprintf("tool %s of plugin %s: arguments: %s", e.Tool, e.Entry, strings.Join(e.Problems, "; "))
}

// Unwrap lets callers treat it as the bad_request it is.
func (e *ToolArgumentsError) Unwrap() error {
	return &abi.Error{Code: abi.ErrBadRequest, Message: "arguments: " + strings.Join(e.Problems, "; ")}
}

// ValidateToolArguments checks args (the JSON text a model wrote; empty
// means {}) against the parameters schema of tool name of plugin entry. A
// refusal is a *ToolArgumentsError naming each field; an unknown tool or
// a plugin not granted "tool" is an *abi.Error.
func (h *Host) ValidateToolArguments(entry, name string, args json.RawMessage) error {
	s, t, err := h.toolOf(entry, name)
	if err != nil {
		return err
	}
	defer s.leave()
	_, err = validateToolArgs(entry, t, args)
	return err
}

// validateToolArgs returns args normalised ({} for empty) or why they
// are refused.
func validateToolArgs(entry string, t *toolDef, args json.RawMessage) (json.RawMessage, error) {
	bad := func(p ...string) error { return &ToolArgumentsError{Entry: entry, Tool: t.tool.Name, Problems: p} }
	raw := bytes.TrimSpace(args)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	if raw[0] != '{' {
		return nil, bad("they must be a JSON object")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, bad("they are not valid JSON: " + err.Error())
	}
	if err := t.schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, fmt.Errorf("tool %s of plugin %s: validate arguments: %w", t.tool.Name, entry, err)
		}
		return nil, bad(argumentProblems(ve)...)
	}
	return raw, nil
}

// argumentProblems is paramschema.Problems worded for arguments: a
// missing field is named itself ("city: is required"), an unknown one is
// "not an argument of this tool".
func argumentProblems(ve *jsonschema.ValidationError) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		at := func(field string) string { return strings.Join(append(slices.Clone(e.InstanceLocation), field), ".") }
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				add(at(m) + ": is required")
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				add(at(p) + ": is not an argument of this tool")
			}
		default:
			for _, p := range paramschema.Problems(e) {
				add(p)
			}
		}
	}
	walk(ve)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	return out
}

// File is a file a tool attached or an image plugin generated: its bytes,
// their sniffed MIME type and the name and alt text to attach it with.
type File struct {
	Data        []byte
	MimeType    string
	Filename    string
	Description string
}

// ToolResult is what InvokeTool returns: the plugin's result (content
// scrubbed of keys and cut to MaxToolContentBytes, attachments checked)
// and the attached files, Files[i] being Result.Attachments[i].
type ToolResult struct {
	Result abi.InvokeResult
	Files  []File
	// ContentBytes is the length of the content the plugin returned;
	// larger than len(Result.Content) when it was cut.
	ContentBytes int
}

// InvokeTool runs tool req.Tool of plugin entry (capability tool) for the
// call in ctx. The arguments are checked against the tool's schema first
// and never reach the plugin when they do not match (a
// *ToolArgumentsError naming the field). The content is scrubbed of keys
// the plugin was served and cut to MaxToolContentBytes with a marker. Each
// attachment must name a blob of the call, be non-empty, at most the
// image cap and be an image or audio by its magic bytes (its MIME type is
// the sniffed one). Usage follows Chat's rules with kind text when the
// result names none, and is returned with an unusable-result error too.
func (h *Host) InvokeTool(ctx context.Context, entry string, req abi.InvokeRequest) (ToolResult, []abi.Usage, error) {
	s, t, err := h.toolOf(entry, req.Tool)
	if err != nil {
		return ToolResult{}, nil, err
	}
	args, err := validateToolArgs(entry, t, req.Arguments)
	s.leave()
	if err != nil {
		return ToolResult{}, nil, err
	}
	req.Arguments = args
	ctx, blobs := voiceCall(ctx)
	in, err := json.Marshal(req)
	if err != nil {
		return ToolResult{}, nil, fmt.Errorf("plugin %s: invoke: encode request: %w", entry, err)
	}
	r, err := h.invoke(ctx, entry, abi.CapTool, abi.InvokeExport, in)
	if err != nil {
		return ToolResult{}, nil, err
	}
	var res abi.InvokeResult
	if err := json.Unmarshal(r.Output, &res); err != nil {
		return ToolResult{}, nil, badAnswer(entry, abi.InvokeExport, abi.ErrInternal, "the plugin's answer was not a tool result", err)
	}
	usage := h.pluginUsage(ctx, entry, abi.InvokeExport, r, &res.Usage, abi.UsageText)
	out := ToolResult{ContentBytes: len(res.Content)}
	res.Content = cutContent(r.redact(res.Content), MaxToolContentBytes)
	if len(res.Attachments) > MaxToolAttachments {
		return ToolResult{}, usage, badAnswer(entry, abi.InvokeExport, abi.ErrInternal,
			fmt.Sprintf("the tool attached %d files; at most %d are allowed", len(res.Attachments), MaxToolAttachments), nil)
	}
	for i := range res.Attachments {
		a := &res.Attachments[i]
		a.Filename, a.Description = r.redact(a.Filename), r.redact(a.Description)
		data, err := h.checkBlob(entry, abi.InvokeExport, blobs, a.Blob, "the tool", media.Sniff, errNotFile)
		if err != nil {
			return ToolResult{}, usage, err
		}
		a.MimeType = data.mime
		a.Filename = safeFilename(a.Filename, data.mime, i+1)
		out.Files = append(out.Files, File{Data: data.bytes, MimeType: a.MimeType, Filename: a.Filename, Description: a.Description})
	}
	out.Result = res
	return out, usage, nil
}

// cutContent cuts s to at most max bytes at a character boundary, marker
// included.
func cutContent(s string, max int) string {
	if len(s) <= max {
		return s
	}
	marker := fmt.Sprintf(toolCutMarker, len(s))
	n := max - len(marker)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + marker
}

// sniffedBlob is a checked blob: its bytes and what they are.
type sniffedBlob struct {
	bytes []byte
	mime  string
}

// errNotFile is the cause when a tool attaches a file the host does not
// recognise.
var errNotFile = errors.New("the tool attached something that is not an image or audio")

// checkBlob checks a blob a plugin returned: it exists, is not empty, is
// at most the image cap and sniff recognises it (else the error is notIt,
// with the first bytes).
func (h *Host) checkBlob(entry, export string, blobs *Blobs, handle int64, who string, sniff func([]byte) (string, bool), notIt error) (sniffedBlob, error) {
	data, ok := blobs.Get(handle)
	switch {
	case handle == 0 || !ok:
		return sniffedBlob{}, badAnswer(entry, export, abi.ErrInternal, fmt.Sprintf("%s named blob %d, which does not exist", who, handle), nil)
	case len(data) == 0:
		return sniffedBlob{}, badAnswer(entry, export, abi.ErrUnavailable, who+" returned an empty file", nil)
	case int64(len(data)) > h.maxImage:
		return sniffedBlob{}, badAnswer(entry, export, abi.ErrDenied,
			fmt.Sprintf("%s returned a file of %s, over the %s limit", who, sizeWords(int64(len(data))), sizeWords(h.maxImage)), nil)
	}
	m, ok := sniff(data)
	if !ok {
		return sniffedBlob{}, badAnswer(entry, export, abi.ErrUnavailable,
			fmt.Sprintf("%s (it starts with %q)", notIt.Error(), printable(string(data[:min(len(data), 16)]))), notIt)
	}
	return sniffedBlob{bytes: data, mime: m}, nil
}

// fileExt is the extension Discord needs to show a file inline.
var fileExt = map[string]string{
	"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
	"audio/mpeg": ".mp3", "audio/wav": ".wav", "audio/ogg": ".ogg", "audio/flac": ".flac",
	"audio/webm": ".webm", "audio/x-matroska": ".mka", "audio/mp4": ".m4a", "audio/aac": ".aac",
}

// safeFilename keeps a plugin's file name to letters, digits, "-", "_"
// and "." (no path, no control characters) and gives it the extension of
// its real type; "file-N" when nothing is left.
func safeFilename(name, mime string, n int) string {
	base := strings.TrimSuffix(path.Base(strings.ReplaceAll(name, "\\", "/")), path.Ext(name))
	var b strings.Builder
	for _, r := range base {
		if b.Len() >= 64 {
			break
		}
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		fmt.Fprintf(&b, "file-%d", n)
	}
	return b.String() + fileExt[mime]
}

// pluginUsage applies Chat's usage rules to a tool or image call: the
// rows the plugin recorded win; else the response's usage (kind def when
// it says none), checked like a record_usage row, is the one row. u is
// scrubbed, emptied when refused, and stamped with whose usage it is.
func (h *Host) pluginUsage(ctx context.Context, name, export string, r Result, u *abi.Usage, def string) []abi.Usage {
	u.Kind, u.Model = r.redact(u.Kind), r.redact(u.Model)
	rows := r.Usage
	if len(rows) == 0 && *u != (abi.Usage{}) {
		if u.Kind == "" {
			u.Kind = def
		}
		if err := checkUsage(*u); err != nil {
			h.log.WarnContext(ctx, "plugin usage in "+export+" response rejected", "plugin", name, "reason", err)
			*u = abi.Usage{}
		} else {
			u.Provider, u.Plugin = r.Provider, name
			rows = []abi.Usage{*u}
		}
	}
	u.Provider, u.Plugin = r.Provider, name
	return rows
}
