package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// personalityImage is /personality image: the owner sets the personality's
// image plugin, model, size, style, parameters (checked against the
// plugin's image_schema before anything is saved) and switches images on or
// off. Options not given keep their stored value; with none, it shows the
// current setup.
func (c *Commands) personalityImage(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	d := e.SlashCommandInteractionData()
	cfg, exists, err := c.store.ImageConfig(ctx, p.ID)
	if err != nil {
		return err
	}
	if !exists {
		cfg.Enabled = true
	}
	changed := false
	if v, ok := d.OptString("plugin"); ok {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, clearWord) {
			v = ""
		}
		cfg.Plugin, changed = v, true
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"model", &cfg.Model}, {"size", &cfg.Size}, {"style", &cfg.Style}} {
		if v, ok := d.OptString(f.name); ok {
			v = strings.TrimSpace(v)
			if strings.EqualFold(v, clearWord) {
				v = ""
			}
			*f.dst, changed = v, true
		}
	}
	if v, ok := d.OptString("parameters"); ok {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, clearWord) || v == "" {
			v = "{}"
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v), &obj); err != nil || obj == nil {
			return sayf("`parameters` must be a JSON object, e.g. `{\"quality\": \"high\"}`. Nothing was changed.")
		}
		cfg.Parameters, changed = json.RawMessage(v), true
	}
	if v, ok := d.OptBool("enabled"); ok {
		cfg.Enabled, changed = v, true
	}
	if !changed {
		if !exists {
			return sayf("**%s** has no image settings yet: it draws with the bot's default image plugin. Set them with the options of `/personality image`.", p.Name)
		}
		return r.Send(describeImageConfig(p.Name, cfg))
	}
	if err := store.CheckImageConfig(cfg); err != nil {
		return sayf("That was refused: %s. Nothing was changed.", strings.TrimPrefix(err.Error(), store.ErrImageConfig.Error()+": "))
	}
	// The plugin must be loaded now, so its image_schema can check the
	// parameters before they are saved (and again before each image).
	if c.images.Host == nil {
		return sayf("Images are not set up on this bot. Nothing was changed.")
	}
	st, err := c.imagePlugin(cfg.Plugin)
	if err != nil {
		return err
	}
	if err := c.images.Host.ValidateImageSettings(st.Name, cfg.Parameters); err != nil {
		var se *plugin.ImageSettingsError
		if errors.As(err, &se) {
			return sayf("`%s` refused these parameters: %s. Nothing was changed.", st.Name, truncate(strings.Join(se.Problems, "; "), 1500))
		}
		return err
	}
	if err := c.store.SetImageConfig(ctx, p.ID, cfg); err != nil {
		return storeWords(err)
	}
	return r.Send("Saved. " + describeImageConfig(p.Name, cfg))
}

func describeImageConfig(name string, cfg store.ImageConfig) string {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return "`" + v + "`"
	}
	params := string(cfg.Parameters)
	if params == "" {
		params = "{}"
	}
	state := "on"
	if !cfg.Enabled {
		state = "off"
	}
	return fmt.Sprintf("**%s** images: %s\n- plugin: %s\n- model: %s\n- size: %s\n- style: %s\n- parameters: `%s`",
		name, state, or(cfg.Plugin, "the bot's default"), or(cfg.Model, "the plugin's default"),
		or(cfg.Size, "the plugin's default"), or(cfg.Style, "none"), truncate(params, 1200))
}

// offeredTools lists the tools this deployment offers, as personality_tools
// names them: the built-in generate_image when an image plugin is loaded
// and images are on, then every tool of every loaded plugin granted "tool"
// in plugins.toml (the deployment's switch), as "<entry>/<tool>".
func (c *Commands) offeredTools() []toolChoice {
	var out []toolChoice
	if c.images.Host != nil && !c.images.Disabled {
		for _, st := range c.loadedPlugins() {
			if grants(st, abi.CapImage) {
				out = append(out, toolChoice{name: store.BuiltinImageTool, desc: "draw an image with the personality's image settings"})
				break
			}
		}
	}
	for _, st := range c.loadedPlugins() {
		if !grants(st, abi.CapTool) {
			continue
		}
		for _, t := range st.Description.Tools {
			out = append(out, toolChoice{name: st.Name + "/" + t.Name, desc: t.Description})
		}
	}
	return out
}

type toolChoice struct{ name, desc string }

// personalityTools is /personality tools: list what the deployment offers
// and what the personality may call, or (owner) enable or disable one.
func (c *Commands) personalityTools(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	d := e.SlashCommandInteractionData()
	offered := c.offeredTools()
	tool := strings.TrimSpace(d.String("tool"))
	action := d.String("action")
	if tool != "" || action != "" {
		if tool == "" || action == "" {
			return sayf("Name a `tool` and an `action` (enable or disable), or neither to list them. Nothing was changed.")
		}
		switch action {
		case "enable":
			if !slices.ContainsFunc(offered, func(t toolChoice) bool { return t.name == tool }) {
				return sayf("This bot does not offer a tool `%s`. Run `/personality tools` without options to see the ones it offers. Nothing was changed.", truncate(tool, 105))
			}
			if _, err := c.store.GrantTool(ctx, p.ID, tool); err != nil {
				if errors.Is(err, store.ErrToolName) {
					return sayf("%s. Nothing was changed.", err.Error())
				}
				return storeWords(err)
			}
		case "disable":
			// A tool the deployment no longer offers can still be disabled.
			if _, err := c.store.RevokeTool(ctx, p.ID, tool); err != nil {
				return storeWords(err)
			}
		default:
			return sayf("The action is enable or disable. Nothing was changed.")
		}
	}
	granted, err := c.store.PersonalityTools(ctx, p.ID)
	if err != nil {
		return err
	}
	var b strings.Builder
	if tool != "" {
		fmt.Fprintf(&b, "`%s` is now %sd for **%s**.\n", tool, action, p.Name)
	}
	fmt.Fprintf(&b, "Tools **%s** may use:", p.Name)
	if len(granted) == 0 {
		b.WriteString(" none.")
	}
	b.WriteString("\n")
	for _, g := range granted {
		note := ""
		if !slices.ContainsFunc(offered, func(t toolChoice) bool { return t.name == g }) {
			note = " (not offered by this bot right now, so unused)"
		}
		fmt.Fprintf(&b, "- `%s`%s\n", g, note)
	}
	b.WriteString("Offered by this bot:")
	if len(offered) == 0 {
		b.WriteString(" none.")
	}
	for _, t := range offered {
		fmt.Fprintf(&b, "\n- `%s`: %s", t.name, truncate(t.desc, 120))
	}
	return r.Send(b.String())
}

// autocompleteImageOptions serves /personality image and tools: the
// personality, image plugins and tools.
func (c *Commands) autocompleteImageOptions(e *handler.AutocompleteEvent) error {
	focused := e.Data.Focused()
	typed := strings.ToLower(strings.TrimSpace(e.Data.String(focused.Name)))
	switch focused.Name {
	case "plugin":
		var names []string
		for _, st := range c.loadedPlugins() {
			if grants(st, abi.CapImage) && strings.Contains(st.Name, typed) {
				names = append(names, st.Name)
			}
		}
		return e.AutocompleteResult(choices(names, names))
	case "tool":
		var names []string
		for _, t := range c.offeredTools() {
			if strings.Contains(strings.ToLower(t.name), typed) {
				names = append(names, t.name)
			}
		}
		return e.AutocompleteResult(choices(names, names))
	}
	return c.autocompletePersonality(e)
}

// imageDefinitions adds /imagine and the image and tools subcommands of
// /personality to the command list.
func imageDefinitions(defs []discord.ApplicationCommandCreate) []discord.ApplicationCommandCreate {
	personality := discord.ApplicationCommandOptionString{Name: "personality",
		Description: "The personality (slug, name or alias)", Required: true, Autocomplete: true, MaxLength: ptr(100)}
	for i, d := range defs {
		sc, ok := d.(discord.SlashCommandCreate)
		if !ok || sc.Name != "personality" {
			continue
		}
		sc.Options = append(slices.Clone(sc.Options),
			discord.ApplicationCommandOptionSubCommand{Name: "image", Description: "Its image settings: plugin, model, size, style, parameters, on/off",
				Options: []discord.ApplicationCommandOption{
					personality,
					discord.ApplicationCommandOptionString{Name: "plugin", Description: "A loaded image plugin (\"none\" for the bot's default)", Autocomplete: true, MaxLength: ptr(40)},
					discord.ApplicationCommandOptionString{Name: "model", Description: "The image model, e.g. gpt-image-1 (\"none\" for the plugin's default)", MaxLength: ptr(200)},
					discord.ApplicationCommandOptionString{Name: "size", Description: "WIDTHxHEIGHT, e.g. 1024x1024 (\"none\" for the default)", MaxLength: ptr(11)},
					discord.ApplicationCommandOptionString{Name: "style", Description: "A style hint, e.g. vivid or watercolour (\"none\" to clear)", MaxLength: ptr(100)},
					discord.ApplicationCommandOptionString{Name: "parameters", Description: `The plugin's own settings as JSON, e.g. {"quality":"high"}`, MaxLength: ptr(4000)},
					discord.ApplicationCommandOptionBool{Name: "enabled", Description: "Whether it makes images at all"},
				}},
			discord.ApplicationCommandOptionSubCommand{Name: "tools", Description: "Which tools it may use (list, enable, disable)",
				Options: []discord.ApplicationCommandOption{
					personality,
					discord.ApplicationCommandOptionString{Name: "tool", Description: "generate_image, or <plugin>/<tool>", Autocomplete: true, MaxLength: ptr(105)},
					discord.ApplicationCommandOptionString{Name: "action", Description: "Enable or disable the tool",
						Choices: []discord.ApplicationCommandOptionChoiceString{{Name: "enable", Value: "enable"}, {Name: "disable", Value: "disable"}}},
				}},
		)
		defs[i] = sc
	}
	contexts := []discord.InteractionContextType{discord.InteractionContextTypeGuild, discord.InteractionContextTypeBotDM}
	install := []discord.ApplicationIntegrationType{discord.ApplicationIntegrationTypeGuildInstall}
	return append(defs, discord.SlashCommandCreate{
		Name: "imagine", Description: "Make an image from a description, drawn by a personality or the bot",
		Contexts: contexts, IntegrationTypes: install,
		Options: []discord.ApplicationCommandOption{
			discord.ApplicationCommandOptionString{Name: "prompt", Description: "What to draw", Required: true, MaxLength: ptr(maxPromptRunes)},
			discord.ApplicationCommandOptionString{Name: "personality", Description: "Who draws it (its image settings; default: the bot)", Autocomplete: true, MaxLength: ptr(100)},
			discord.ApplicationCommandOptionString{Name: "size", Description: "WIDTHxHEIGHT, e.g. 1024x1024", MaxLength: ptr(11)},
			discord.ApplicationCommandOptionString{Name: "style", Description: "A style hint, e.g. vivid or watercolour", MaxLength: ptr(100)},
			discord.ApplicationCommandOptionBool{Name: "nsfw", Description: "Allow adult content (age-restricted channels only)"},
		},
	})
}

// imageRoutes registers /imagine (the /personality subcommands are added in
// routes' /personality block).
func (c *Commands) imageRoutes(m *handler.Mux) {
	m.Command("/imagine", c.command("imagine", c.imagine))
	m.Autocomplete("/imagine", c.autocompleteImagine)
}
