package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Limits on a model list a plugin returns. The list feeds autocomplete and
// sits in a cache per user, so a plugin (or the provider behind it) that
// answers with millions of entries or megabyte names must not fill memory.
const (
	// MaxModels is the most entries Models keeps; the rest are dropped.
	MaxModels = 2000
	// MaxModelIDBytes is the longest model id kept: a longer id is dropped
	// (a cut id would name another model, or none).
	MaxModelIDBytes = 256
	// MaxModelNameBytes is the longest human name kept: a longer one is cut
	// at a character boundary.
	MaxModelNameBytes = 256
)

// Models asks plugin name for the models a user may pick (capability
// llm.models), for the call in ctx: the list may depend on the caller's
// key. It is one cheap request and never billed; callers cache it (see
// package catalog). Every text field is scrubbed of the call's keys, and
// the list is cleaned: entries with an empty, too long, repeated or
// unprintable id are dropped, names are cut to MaxModelNameBytes (dropped
// when unprintable), and at most MaxModels entries are kept.
func (h *Host) Models(ctx context.Context, name string) ([]abi.Model, error) {
	c, _ := CallFrom(ctx)
	c.OnChunk = nil // a model list has nothing to show while it loads
	in, _ := json.Marshal(abi.ModelsRequest{})
	r, err := h.invoke(WithCall(ctx, c), name, abi.CapModels, abi.ModelsExport, in)
	if err != nil {
		return nil, err
	}
	var list abi.ModelList
	err = json.Unmarshal(r.Output, &list)
	if err == nil && list.Models == nil {
		err = errors.New("no models field")
	}
	if err != nil {
		return nil, fmt.Errorf("plugin %s: models: %w", name,
			&callError{&abi.Error{Code: abi.ErrInternal, Message: "the plugin's answer was not a model list"}, err})
	}
	if len(r.Usage) > 0 {
		// The ABI says listing models is never paid; a row here is a plugin
		// bug, and it is not recorded.
		h.log.WarnContext(ctx, "plugin recorded usage while listing models; ignored", "plugin", name, "rows", len(r.Usage))
	}
	return cleanModels(list.Models, r.redact), nil
}

// cleanModels applies Models' rules to a plugin's list.
func cleanModels(in []abi.Model, redact func(string) string) []abi.Model {
	out := make([]abi.Model, 0, min(len(in), MaxModels))
	seen := make(map[string]bool, min(len(in), MaxModels))
	for _, m := range in {
		if len(out) == MaxModels {
			break
		}
		id := m.ID
		// A scrubbed id names no model: an id that held a key is dropped (the
		// output was scrubbed as a whole before it was decoded, so the mark
		// is already there; redact catches what decoding revealed).
		if strings.Contains(id, redactedText) || redact != nil && redact(id) != id {
			continue
		}
		if id == "" || len(id) > MaxModelIDBytes || !printableText(id, false) || seen[id] {
			continue
		}
		name := m.Name
		if redact != nil {
			name = redact(name)
		}
		name = strings.TrimSpace(cutBytes(name, MaxModelNameBytes))
		if !printableText(name, true) {
			name = ""
		}
		seen[id] = true
		out = append(out, abi.Model{ID: id, Name: name, ContextTokens: max(m.ContextTokens, 0), Reasoning: m.Reasoning})
	}
	return out
}

// printableText reports whether s is valid UTF-8 of printable characters only;
// spaces are allowed when spaces is true (names), never in ids (a model id
// with a space is refused by /personality llm).
func printableText(s string, spaces bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == ' ' && spaces {
			continue
		}
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// cutBytes cuts s to at most n bytes without splitting a character.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
