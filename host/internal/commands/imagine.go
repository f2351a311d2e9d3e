package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/handler"
	"github.com/disgoorg/disgo/rest"

	hostdiscord "github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// EnvImagePlugin names the deployment's default image plugin: the
// plugins.toml entry /imagine uses without a personality, and for
// personalities whose image config names none. Unset, the one loaded plugin
// granted image.generate is the default (none when there are several).
const EnvImagePlugin = "TZUROT_IMAGE_PLUGIN"

// ImageHost is the plugin host's image side; *plugin.Host implements it.
type ImageHost interface {
	// GenerateImage asks an image.generate plugin for images; every image
	// is checked by its magic bytes and size, settings by the plugin's
	// image_schema.
	GenerateImage(ctx context.Context, entry string, req abi.ImageRequest) (plugin.ImageResult, []abi.Usage, error)
	// ValidateImageSettings checks settings against the plugin's
	// image_schema, naming each wrong field.
	ValidateImageSettings(entry string, settings json.RawMessage) error
}

// ImagePoster posts images as a personality; *discord.Sender implements it.
type ImagePoster interface {
	SendFilesAsPersonality(ctx context.Context, channelID, threadParentID, name, avatarURL, text string, files []message.File, limit int64) ([]string, error)
}

// ImageDeps are what /imagine, /personality image and /personality tools
// need (Deps.Images). With Host nil, /imagine and /personality image explain
// that images are not set up.
type ImageDeps struct {
	Host ImageHost
	// Poster posts an image as the personality through the channel's
	// webhook; nil posts it as the interaction's follow-up instead.
	Poster ImagePoster
	// DefaultPlugin is EnvImagePlugin.
	DefaultPlugin string
	// CallContext, when set, prepares the context of a plugin call made for
	// a user (the app passes chat's fallback-key policy here, so /imagine
	// follows the same BYOK rules as chat). Without it only the user's own
	// key is used.
	CallContext func(ctx context.Context, discordUserID, guildID string) context.Context
	// Disabled switches /imagine off for the deployment (TZUROT_IMAGES=off).
	Disabled bool
}

// EnvImages set to "off" switches /imagine and the generate_image tool off
// for the whole deployment.
const EnvImages = "TZUROT_IMAGES"

// ImageDepsFromEnv reads TZUROT_IMAGE_PLUGIN and TZUROT_IMAGES.
func ImageDepsFromEnv(getenv func(string) string) (ImageDeps, error) {
	d := ImageDeps{DefaultPlugin: strings.TrimSpace(getenv(EnvImagePlugin))}
	if d.DefaultPlugin != "" && !entryRE.MatchString(d.DefaultPlugin) {
		return ImageDeps{}, fmt.Errorf("%s: %q is not a plugins.toml entry name", EnvImagePlugin, d.DefaultPlugin)
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvImages))); v {
	case "", "on", "true", "1":
	case "off", "false", "0":
		d.Disabled = true
	default:
		return ImageDeps{}, fmt.Errorf("%s: %q is neither on nor off", EnvImages, v)
	}
	return d, nil
}

var (
	entryRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,39}$`)
	sizeRE  = regexp.MustCompile(`^[0-9]{1,5}x[0-9]{1,5}$`)
)

// maxPromptRunes caps an /imagine prompt (image APIs take about 4,000).
const maxPromptRunes = 4000

// imageTarget is what an image request resolved to.
type imageTarget struct {
	entry string
	cfg   store.ImageConfig
	pers  *store.Personality
}

// imagePlugin returns the loaded plugin entry granting image.generate named
// entry ("" = the deployment's default), or a userError naming the choices.
func (c *Commands) imagePlugin(entry string) (plugin.PluginStatus, error) {
	var loaded []plugin.PluginStatus
	for _, st := range c.loadedPlugins() {
		if grants(st, abi.CapImage) {
			loaded = append(loaded, st)
		}
	}
	if entry == "" {
		entry = c.images.DefaultPlugin
	}
	if entry == "" && len(loaded) == 1 {
		return loaded[0], nil
	}
	var names []string
	for _, st := range loaded {
		if st.Name == entry {
			return st, nil
		}
		names = append(names, "`"+st.Name+"`")
	}
	switch {
	case len(loaded) == 0:
		return plugin.PluginStatus{}, sayf("No image plugin is loaded on this bot, so images cannot be made. The bot's owner can enable one in plugins.toml (docs/images.md).")
	case entry == "":
		return plugin.PluginStatus{}, sayf("This bot has several image plugins (%s) and no default; name one in the personality's image settings (`/personality image`), or ask the bot's owner to set %s.", strings.Join(names, ", "), EnvImagePlugin)
	}
	return plugin.PluginStatus{}, sayf("The image plugin `%s` is not loaded. Loaded image plugins: %s.", truncate(entry, 40), strings.Join(names, ", "))
}

// channelNSFW reports whether the interaction's channel is age-restricted.
// A thread has no flag of its own: its parent's counts, read from Discord.
// DMs are never age-restricted.
func channelNSFW(ctx context.Context, e *handler.CommandEvent) (nsfw bool, threadParent string, err error) {
	ch := e.Channel()
	if ch.MessageChannel == nil || e.GuildID() == nil {
		return false, "", nil
	}
	if th, ok := ch.MessageChannel.(discord.GuildThread); ok && th.ParentID() != nil {
		parent, err := e.Client().Rest.GetChannel(*th.ParentID(), rest.WithCtx(ctx))
		if err != nil {
			return false, "", fmt.Errorf("read the thread's parent channel: %w", err)
		}
		gc, ok := parent.(discord.GuildMessageChannel)
		return ok && gc.NSFW(), th.ParentID().String(), nil
	}
	if gc, ok := ch.MessageChannel.(discord.GuildMessageChannel); ok {
		return gc.NSFW(), "", nil
	}
	return false, "", nil
}

// imagine is /imagine prompt:[ personality:][ size:][ style:][ nsfw:].
func (c *Commands) imagine(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	if c.images.Host == nil || c.images.Disabled {
		return sayf("Images are switched off on this bot.")
	}
	d := e.SlashCommandInteractionData()
	prompt := strings.TrimSpace(d.String("prompt"))
	if prompt == "" {
		return sayf("Say what to draw in `prompt`.")
	}
	if n := len([]rune(prompt)); n > maxPromptRunes {
		return sayf("The prompt is %d characters; the limit is %d.", n, maxPromptRunes)
	}
	size := strings.TrimSpace(d.String("size"))
	if size != "" && !sizeRE.MatchString(size) {
		return sayf("Size `%s` is not WIDTHxHEIGHT (for example 1024x1024). Nothing was made.", truncate(size, 20))
	}
	style := strings.TrimSpace(d.String("style"))
	if len([]rune(style)) > 100 {
		return sayf("A style is at most 100 characters. Nothing was made.")
	}
	wantNSFW := d.Bool("nsfw")
	// Everything below may take a minute (the provider draws); the answer
	// to the user is ephemeral, the image itself goes to the channel.
	if err := r.Defer(); err != nil {
		return err
	}
	nsfwChannel, threadParent, err := channelNSFW(ctx, e)
	if err != nil {
		return err
	}
	if wantNSFW && !nsfwChannel {
		return sayf("Adult (NSFW) images can only be asked for in an age-restricted channel. Nothing was made.")
	}

	t := imageTarget{}
	if typed := strings.TrimSpace(d.String("personality")); typed != "" {
		p, err := c.findPersonality(ctx, typed)
		if err != nil {
			return err
		}
		if err := c.mayUse(ctx, e, p); err != nil {
			return err
		}
		t.pers = &p
		cfg, ok, err := c.store.ImageConfig(ctx, p.ID)
		if err != nil {
			return err
		}
		if ok && !cfg.Enabled {
			return sayf("**%s** does not make images (its owner switched them off). Nothing was made.", p.Name)
		}
		t.cfg = cfg
	}
	st, err := c.imagePlugin(t.cfg.Plugin)
	if err != nil {
		return err
	}
	t.entry = st.Name
	if size == "" {
		size = t.cfg.Size
	}
	if style == "" {
		style = t.cfg.Style
	}

	u, err := c.store.UserByDiscordID(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	requestID := "imagine-" + e.ID().String()
	callCtx := ctx
	guildID := ""
	if g := e.GuildID(); g != nil {
		guildID = g.String()
	}
	if c.images.CallContext != nil {
		callCtx = c.images.CallContext(callCtx, u.DiscordID, guildID)
	}
	call := plugin.Call{UserID: u.DiscordID, RequestID: requestID}
	if t.pers != nil {
		call.PersonalityID = strconv.FormatInt(t.pers.ID, 10)
	}
	callCtx = plugin.WithCall(callCtx, call)
	req := abi.ImageRequest{Prompt: prompt, Model: t.cfg.Model, Size: size, Style: style, Count: 1,
		Settings: t.cfg.Parameters, NSFWAllowed: wantNSFW && nsfwChannel}
	started := time.Now()
	res, usage, genErr := c.images.Host.GenerateImage(callCtx, t.entry, req)
	c.recordImageUsage(ctx, requestID, u.ID, t, usage, time.Since(started), genErr == nil)
	if genErr != nil {
		c.log.InfoContext(ctx, "imagine: no image", "request_id", requestID, "plugin", t.entry, "err", genErr)
		return imageFailure(st, genErr)
	}

	files := make([]message.File, 0, len(res.Images))
	for i, img := range res.Images {
		files = append(files, message.File{Name: fmt.Sprintf("image-%d.%s", i+1, imageExt(img.MimeType)), Data: img.Data})
	}
	limit := int64(e.AttachmentSizeLimit())
	caption := "*" + truncate(strings.ReplaceAll(prompt, "*", ""), 1500) + "*"
	if t.pers != nil && c.images.Poster != nil && guildID != "" {
		ids, err := c.images.Poster.SendFilesAsPersonality(ctx, e.Channel().ID().String(), threadParent,
			t.pers.Name, t.pers.AvatarURL, caption, files, limit)
		if err != nil {
			return fmt.Errorf("post the image as %s: %w", t.pers.Name, err)
		}
		for _, id := range ids {
			if err := c.store.RecordWebhookMessage(ctx, store.WebhookMessage{MessageID: id, PersonalityID: t.pers.ID,
				ChannelID: e.Channel().ID().String(), UserID: u.ID}); err != nil {
				c.log.WarnContext(ctx, "imagine: posted message not recorded", "err", err)
			}
		}
		return r.Send(fmt.Sprintf("**%s** posted your image in <#%s>.", t.pers.Name, e.Channel().ID()))
	}
	// No personality (or a DM, where webhooks do not exist): the image is the
	// interaction's follow-up, visible to the channel, from the bot.
	fit, notices := hostdiscord.FitFiles(files, limit)
	content := strings.TrimSpace(caption + "\n" + strings.Join(notices, "\n"))
	msg := discord.NewMessageCreate().WithContent(truncate(content, 2000)).WithAllowedMentions(noMentions())
	for _, f := range fit {
		msg = msg.AddFile(f.Name, "", bytes.NewReader(f.Data))
	}
	if _, err := e.CreateFollowupMessage(msg, rest.WithCtx(ctx)); err != nil {
		return &sendError{fmt.Errorf("post the image as a follow-up: %w", err)}
	}
	if len(fit) == 0 {
		return r.Send("The image was made but is over this server's upload limit, so it could not be attached.")
	}
	return r.Send("Here is your image.")
}

// mayUse refuses a private personality to anyone but its owner and the
// bot's owners.
func (c *Commands) mayUse(ctx context.Context, e *handler.CommandEvent, p store.Personality) error {
	discordID := e.User().ID.String()
	if p.IsPublic || c.isOwner(discordID) {
		return nil
	}
	uid, known, err := c.store.UserID(ctx, discordID)
	if err != nil {
		return err
	}
	if known && p.OwnerUserID != nil && *p.OwnerUserID == uid {
		return nil
	}
	return sayf("There is no personality called `%s`. Pick one from the list as you type.", p.Slug)
}

// recordImageUsage writes one usage row per usage the plugin reported
// (kind image), so /usage and /admin usage show images. Posted says
// whether an image came back to post.
func (c *Commands) recordImageUsage(ctx context.Context, requestID string, userID int64, t imageTarget, usage []abi.Usage, latency time.Duration, posted bool) {
	delivery := store.DeliveryPosted
	if !posted {
		delivery = store.DeliveryNone
	}
	var persID int64
	if t.pers != nil {
		persID = t.pers.ID
	}
	for i, u := range usage {
		id := requestID
		if i > 0 {
			id += "#" + strconv.Itoa(i)
		}
		kind := u.Kind
		if kind == "" {
			kind = store.KindImage
		}
		provider := u.Provider
		if provider == "" {
			provider = t.entry
		}
		_, err := c.store.InsertUsage(ctx, store.Usage{RequestID: id, UserID: userID, PersonalityID: persID,
			Provider: provider, Model: u.Model, Kind: kind, InputTokens: int(u.InputTokens), OutputTokens: int(u.OutputTokens),
			ReasoningTokens: int(u.ReasoningTokens), Characters: int(u.Characters), Images: int(u.Images),
			Latency: latency, Delivery: delivery})
		if err != nil {
			c.log.ErrorContext(ctx, "imagine: usage not recorded", "request_id", id, "err", err)
		}
	}
}

// imageFailure turns a GenerateImage error into what the user reads. The
// plugin host's messages are already scrubbed of keys and written for
// people; the code says what the user can do about it.
func imageFailure(st plugin.PluginStatus, err error) error {
	var settings *plugin.ImageSettingsError
	if errors.As(err, &settings) {
		return sayf("The image settings were refused by `%s`: %s. Ask the personality's owner to fix them with `/personality image`. Nothing was made.",
			st.Name, truncate(strings.Join(settings.Problems, "; "), 1200))
	}
	var ae *abi.Error
	if !errors.As(err, &ae) {
		return err
	}
	slot := st.KeySlot
	if slot == "" {
		slot = st.Name
	}
	msg := truncate(ae.Message, 800)
	switch ae.Code {
	case abi.ErrNoKey:
		return sayf("You have no `%s` API key, which `%s` needs to make images. Add yours with `/wallet set provider:%s`. Nothing was made.", slot, st.Name, slot)
	case abi.ErrInvalidKey:
		return sayf("Your `%s` API key was refused by the provider. Check it with `/wallet test provider:%s`. Nothing was made.", slot, slot)
	case abi.ErrNoCredit:
		return sayf("Your `%s` account has no credit left for images. Nothing was made.", slot)
	case abi.ErrRateLimited:
		return sayf("The image provider is rate limiting right now: %s. Try again in a little while.", msg)
	case abi.ErrContent:
		return sayf("The image provider refused this prompt: %s", msg)
	case abi.ErrTimeout:
		return sayf("The image took too long to make and was given up. Try again, or a smaller size.")
	case abi.ErrBadRequest:
		return sayf("The image provider refused the request: %s. Nothing was made.", msg)
	case abi.ErrDenied:
		return sayf("The bot refused this request: %s", msg)
	}
	return sayf("No image could be made: %s. Try again later.", msg)
}

// imageExt names a file after its sniffed type.
func imageExt(mime string) string {
	switch mime {
	case "image/jpeg":
		return "jpg"
	case "image/gif":
		return "gif"
	case "image/webp":
		return "webp"
	}
	return "png"
}

// autocompleteImagine offers personalities the user may talk to.
func (c *Commands) autocompleteImagine(e *handler.AutocompleteEvent) error {
	typed := strings.ToLower(strings.TrimSpace(e.Data.String(e.Data.Focused().Name)))
	uid, _, err := c.store.UserID(e.Ctx, e.User().ID.String())
	var list []store.PersonalitySummary
	if err == nil {
		list, err = c.store.ListPersonalities(e.Ctx, uid)
	}
	if err != nil {
		c.log.WarnContext(e.Ctx, "autocomplete: personalities", slog.Any("err", err))
	}
	var names, values []string
	for _, p := range list {
		if strings.Contains(strings.ToLower(p.Slug), typed) || strings.Contains(strings.ToLower(p.Name), typed) {
			names, values = append(names, p.Name+" ("+p.Slug+")"), append(values, p.Slug)
		}
	}
	return e.AutocompleteResult(choices(names, values))
}
