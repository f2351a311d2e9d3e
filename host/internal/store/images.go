package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/store/query"
)

// BuiltinImageTool is the host's built-in image tool: granting it lets the
// model draw with the personality's image config (see docs/images.md).
const BuiltinImageTool = "generate_image"

// ErrImageConfig and ErrToolName match the concrete errors below.
var (
	ErrImageConfig = errors.New("invalid image settings")
	ErrToolName    = errors.New("invalid tool name")
)

// ImageConfig is a personality's image setup (table image_configs). Empty
// strings mean "the default": the deployment's default image plugin, the
// plugin's default model, size and style.
type ImageConfig struct {
	// Plugin is the plugins.toml entry granting image.generate.
	Plugin string
	Model  string
	// Size is WIDTHxHEIGHT, e.g. 1024x1024.
	Size  string
	Style string
	// Parameters holds the plugin's own knobs (a JSON object; nil means
	// {}), checked against its image_schema by the caller before saving:
	// the store cannot know the schema.
	Parameters json.RawMessage
	// Enabled is false when the owner switched images off for the
	// personality (the setup is kept).
	Enabled bool
}

// The same rules as the table's CHECK constraints, checked first so the
// user reads which value is wrong.
var (
	pluginEntryRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	imageSizeRe   = regexp.MustCompile(`^[0-9]{1,5}x[0-9]{1,5}$`)
	toolNameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*/[A-Za-z0-9_-]+$`)
)

// CheckImageConfig reports the first value the table would refuse, in
// words for the user.
func CheckImageConfig(c ImageConfig) error {
	switch {
	case c.Plugin != "" && (!pluginEntryRe.MatchString(c.Plugin) || len(c.Plugin) > 40):
		return fmt.Errorf("%w: the plugin %q is not a plugins.toml entry name (lowercase letters, digits, '.', '_' or '-', at most 40)", ErrImageConfig, c.Plugin)
	case len(c.Model) > 200:
		return fmt.Errorf("%w: a model name must be at most 200 characters", ErrImageConfig)
	case c.Size != "" && !imageSizeRe.MatchString(c.Size):
		return fmt.Errorf("%w: size %q is not WIDTHxHEIGHT (for example 1024x1024)", ErrImageConfig, c.Size)
	case len(c.Style) > 100:
		return fmt.Errorf("%w: a style must be at most 100 characters", ErrImageConfig)
	}
	if len(c.Parameters) > 0 && string(c.Parameters) != "null" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(c.Parameters, &obj); err != nil || obj == nil {
			return fmt.Errorf("%w: parameters must be a JSON object, e.g. {\"quality\": \"high\"}", ErrImageConfig)
		}
	}
	return nil
}

// CheckToolName reports whether name is a tool as personality_tools stores
// it: the built-in generate_image or "<plugins.toml entry>/<tool name>".
func CheckToolName(name string) error {
	if name == BuiltinImageTool {
		return nil
	}
	if !toolNameRe.MatchString(name) || len(name) > 105 {
		return fmt.Errorf("%w: %q is neither %s nor <plugin entry>/<tool name> (for example time/now)", ErrToolName, name, BuiltinImageTool)
	}
	return nil
}

// ImageConfig returns the personality's image config; ok is false when it
// has none.
func (s *Store) ImageConfig(ctx context.Context, personalityID int64) (ImageConfig, bool, error) {
	if s.cache == nil {
		return s.loadImageConfig(ctx, personalityID)
	}
	if e, ok := s.cache.images.Get(personalityID); ok {
		return e.c, e.ok, nil
	}
	t := s.cache.images.Begin()
	c, ok, err := s.loadImageConfig(ctx, personalityID)
	if err == nil {
		s.cache.images.Put(t, personalityID, personalityID, imageEntry{c: c, ok: ok})
	}
	return c, ok, err
}

func (s *Store) loadImageConfig(ctx context.Context, personalityID int64) (ImageConfig, bool, error) {
	row, err := s.q.ImageConfig(ctx, s.pool, personalityID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ImageConfig{}, false, nil
	}
	if err != nil {
		return ImageConfig{}, false, fmt.Errorf("load image config: %w", mapError(err))
	}
	return ImageConfig{
		Plugin: row.Plugin, Model: row.Model, Size: row.Size, Style: row.Style,
		Parameters: row.Parameters, Enabled: row.Enabled,
	}, true, nil
}

// SetImageConfig creates or replaces the personality's image config.
func (s *Store) SetImageConfig(ctx context.Context, personalityID int64, c ImageConfig) error {
	if err := CheckImageConfig(c); err != nil {
		return err
	}
	params := c.Parameters
	if len(params) == 0 || string(params) == "null" {
		params = json.RawMessage(`{}`)
	}
	err := s.q.UpsertImageConfig(ctx, s.pool, query.UpsertImageConfigParams{
		PersonalityID: personalityID, Plugin: c.Plugin, Model: c.Model, Size: c.Size, Style: c.Style,
		Parameters: params, Enabled: c.Enabled,
	})
	if err != nil {
		return fmt.Errorf("set image config: %w", mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return nil
}

// DeleteImageConfig removes the personality's image config; false when it
// had none.
func (s *Store) DeleteImageConfig(ctx context.Context, personalityID int64) (bool, error) {
	n, err := s.q.DeleteImageConfig(ctx, s.pool, personalityID)
	if err != nil {
		return false, fmt.Errorf("delete image config: %w", mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return n > 0, nil
}

// PersonalityTools lists the tools granted to the personality, sorted.
func (s *Store) PersonalityTools(ctx context.Context, personalityID int64) ([]string, error) {
	if s.cache != nil {
		if tools, ok := s.cache.tools.Get(personalityID); ok {
			return slices.Clone(tools), nil
		}
	}
	var t cache.Token
	if s.cache != nil {
		t = s.cache.tools.Begin()
	}
	tools, err := s.q.PersonalityTools(ctx, s.pool, personalityID)
	if err != nil {
		return nil, fmt.Errorf("list personality tools: %w", mapError(err))
	}
	if s.cache != nil {
		s.cache.tools.Put(t, personalityID, personalityID, slices.Clone(tools))
	}
	return tools, nil
}

// GrantTool lets the personality call tool; changed is false when it
// already could.
func (s *Store) GrantTool(ctx context.Context, personalityID int64, tool string) (changed bool, err error) {
	if err := CheckToolName(tool); err != nil {
		return false, err
	}
	n, err := s.q.GrantPersonalityTool(ctx, s.pool, query.GrantPersonalityToolParams{PersonalityID: personalityID, Tool: tool})
	if err != nil {
		return false, fmt.Errorf("grant tool %s: %w", tool, mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return n > 0, nil
}

// RevokeTool takes the tool away; changed is false when it was not granted.
func (s *Store) RevokeTool(ctx context.Context, personalityID int64, tool string) (changed bool, err error) {
	n, err := s.q.RevokePersonalityTool(ctx, s.pool, query.RevokePersonalityToolParams{PersonalityID: personalityID, Tool: tool})
	if err != nil {
		return false, fmt.Errorf("revoke tool %s: %w", tool, mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return n > 0, nil
}
