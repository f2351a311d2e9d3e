package commands

import (
	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/omit"
)

// Periods /usage and /admin usage accept.
const (
	periodDay   = "day"
	periodWeek  = "week"
	periodMonth = "month"
)

func ptr[T any](v T) *T { return &v }

// Definitions returns every application command (the slash commands, with
// descriptions on each command and option, and the "Show reasoning" message
// command, which Discord gives no description) for one bulk overwrite. Commands work in servers and
// in a DM with the bot; /admin is hidden from everyone but server
// administrators by default, and its handlers check the bot's owner list
// themselves.
func Definitions() []discord.ApplicationCommandCreate {
	contexts := []discord.InteractionContextType{discord.InteractionContextTypeGuild, discord.InteractionContextTypeBotDM}
	install := []discord.ApplicationIntegrationType{discord.ApplicationIntegrationTypeGuildInstall}
	provider := func(desc string) discord.ApplicationCommandOptionString {
		return discord.ApplicationCommandOptionString{Name: "provider", Description: desc, Required: true,
			Autocomplete: true, MaxLength: ptr(40)}
	}
	personality := discord.ApplicationCommandOptionString{Name: "personality",
		Description: "The personality (slug, name or alias)", Required: true, Autocomplete: true, MaxLength: ptr(100)}
	period := discord.ApplicationCommandOptionString{Name: "period", Description: "How far back to count (default: week)",
		Choices: []discord.ApplicationCommandOptionChoiceString{
			{Name: "Last 24 hours", Value: periodDay}, {Name: "Last 7 days", Value: periodWeek}, {Name: "Last 30 days", Value: periodMonth},
		}}
	admin := discord.PermissionAdministrator

	return memoryDefinitions(imageDefinitions([]discord.ApplicationCommandCreate{
		discord.SlashCommandCreate{
			Name: "wallet", Description: "Your API keys for the AI providers (only you see the replies)",
			Contexts: contexts, IntegrationTypes: install,
			Options: []discord.ApplicationCommandOption{
				discord.ApplicationCommandOptionSubCommand{Name: "set", Description: "Add or replace your key for a provider (opens a private form)",
					Options: []discord.ApplicationCommandOption{provider("The provider the key is for")}},
				discord.ApplicationCommandOptionSubCommand{Name: "list", Description: "Show your keys (masked), when they were checked and last used"},
				discord.ApplicationCommandOptionSubCommand{Name: "remove", Description: "Delete your key for a provider",
					Options: []discord.ApplicationCommandOption{provider("The provider whose key to delete")}},
				discord.ApplicationCommandOptionSubCommand{Name: "test", Description: "Check that your stored key still works",
					Options: []discord.ApplicationCommandOption{provider("The provider whose key to check")}},
			},
		},
		discord.SlashCommandCreate{
			Name: "timezone", Description: "Your time zone, so personalities know your local time",
			Contexts: contexts, IntegrationTypes: install,
			Options: []discord.ApplicationCommandOption{
				discord.ApplicationCommandOptionSubCommand{Name: "set", Description: "Set your time zone",
					Options: []discord.ApplicationCommandOption{
						discord.ApplicationCommandOptionString{Name: "zone", Description: "A city or zone, e.g. Europe/London or America/New_York",
							Required: true, Autocomplete: true, MaxLength: ptr(64)},
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "get", Description: "Show your time zone and your local time now"},
			},
		},
		discord.SlashCommandCreate{
			Name: "usage", Description: "Your own token use by provider and model, with a daily chart",
			Contexts: contexts, IntegrationTypes: install,
			Options: []discord.ApplicationCommandOption{period},
		},
		discord.SlashCommandCreate{
			Name: "personality", Description: "Create and manage personalities (owners only, except create)",
			Contexts: contexts, IntegrationTypes: install,
			Options: []discord.ApplicationCommandOption{
				discord.ApplicationCommandOptionSubCommand{Name: "create", Description: "Create a personality you own",
					Options: []discord.ApplicationCommandOption{
						discord.ApplicationCommandOptionString{Name: "slug", Description: "Short unique id: lowercase letters, digits, '.', '_' or '-'", Required: true, MaxLength: ptr(100)},
						discord.ApplicationCommandOptionString{Name: "name", Description: "The name it speaks under (also how people call it: @name)", Required: true, MaxLength: ptr(100)},
						discord.ApplicationCommandOptionString{Name: "prompt", Description: "Who it is: the system prompt", MaxLength: ptr(6000)},
						discord.ApplicationCommandOptionBool{Name: "public", Description: "Whether everyone may talk to it (default: no)"},
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "edit", Description: "Change a personality's name, prompt, error message, birthday, visibility or streaming",
					Options: []discord.ApplicationCommandOption{
						personality,
						discord.ApplicationCommandOptionString{Name: "name", Description: "New name", MaxLength: ptr(100)},
						discord.ApplicationCommandOptionString{Name: "display_name", Description: "New display name (\"none\" to clear)", MaxLength: ptr(100)},
						discord.ApplicationCommandOptionString{Name: "prompt", Description: "New system prompt", MaxLength: ptr(6000)},
						discord.ApplicationCommandOptionString{Name: "error_message", Description: "What it says when a reply fails (\"none\" for the default)", MaxLength: ptr(1000)},
						discord.ApplicationCommandOptionString{Name: "birthday", Description: "MM-DD or YYYY-MM-DD (\"none\" to clear)", MaxLength: ptr(10)},
						discord.ApplicationCommandOptionBool{Name: "public", Description: "Whether everyone may talk to it"},
						discord.ApplicationCommandOptionString{Name: "stream", Description: "Show its replies while they are written (default: as the bot is set up)",
							Choices: []discord.ApplicationCommandOptionChoiceString{{Name: "on", Value: "on"}, {Name: "off", Value: "off"}, {Name: "default", Value: "default"}}},
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "avatar", Description: "Set the picture it posts with",
					Options: []discord.ApplicationCommandOption{
						personality,
						discord.ApplicationCommandOptionString{Name: "url", Description: "An https:// link to the image (\"none\" to clear)", Required: true, MaxLength: ptr(2048)},
					}},
				discord.ApplicationCommandOptionSubCommandGroup{Name: "alias", Description: "Other names people can call it by",
					Options: []discord.ApplicationCommandOptionSubCommand{
						{Name: "add", Description: "Add an alias (unique across all personalities)",
							Options: []discord.ApplicationCommandOption{personality,
								discord.ApplicationCommandOptionString{Name: "alias", Description: "The alias, without @", Required: true, MaxLength: ptr(100)}}},
						{Name: "remove", Description: "Remove an alias",
							Options: []discord.ApplicationCommandOption{personality,
								discord.ApplicationCommandOptionString{Name: "alias", Description: "The alias to remove", Required: true, MaxLength: ptr(100)}}},
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "llm", Description: "Choose its provider, model and advanced parameters",
					Options: []discord.ApplicationCommandOption{
						personality,
						discord.ApplicationCommandOptionString{Name: "provider", Description: "A loaded provider plugin", Required: true, Autocomplete: true, MaxLength: ptr(63)},
						discord.ApplicationCommandOptionString{Name: "model", Description: "The model name, e.g. gpt-4o-mini or anthropic/claude-sonnet-4", Required: true, Autocomplete: true, MaxLength: ptr(200)},
						discord.ApplicationCommandOptionString{Name: "parameters", Description: `Advanced parameters as JSON, e.g. {"temperature":0.8}`, MaxLength: ptr(4000)},
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "activate", Description: "Make it answer every message in this channel (needs Manage Channels)",
					Options: []discord.ApplicationCommandOption{personality}},
				discord.ApplicationCommandOptionSubCommand{Name: "deactivate", Description: "Stop the personality active in this channel (needs Manage Channels)"},
				discord.ApplicationCommandOptionSubCommand{Name: "voice", Description: "Show or change how it speaks (no options: show)",
					Options: []discord.ApplicationCommandOption{
						personality,
						discord.ApplicationCommandOptionBool{Name: "enabled", Description: "Whether its replies get a voice by default (users can override with /voice)"},
						discord.ApplicationCommandOptionString{Name: "provider", Description: "The voice plugin that speaks for it (default: elevenlabs)", Autocomplete: true, MaxLength: ptr(40)},
						discord.ApplicationCommandOptionString{Name: "voice_id", Description: "The provider's voice id (\"none\" for the plugin's default voice)", MaxLength: ptr(200)},
						discord.ApplicationCommandOptionString{Name: "model", Description: "The speech model, e.g. eleven_flash_v2_5", MaxLength: ptr(200)},
						discord.ApplicationCommandOptionFloat{Name: "stability", Description: "0 to 1: lower is more expressive, higher more even", MinValue: ptr(0.0), MaxValue: ptr(1.0)},
						discord.ApplicationCommandOptionFloat{Name: "similarity", Description: "0 to 1: how closely to match the original voice", MinValue: ptr(0.0), MaxValue: ptr(1.0)},
						discord.ApplicationCommandOptionFloat{Name: "style", Description: "0 to 1: style exaggeration (0 is the provider's default)", MinValue: ptr(0.0), MaxValue: ptr(1.0)},
						discord.ApplicationCommandOptionBool{Name: "speaker_boost", Description: "Boost similarity to the original speaker"},
						discord.ApplicationCommandOptionFloat{Name: "frequency", Description: "0 to 1: the share of replies that get a voice (1: every reply)", MinValue: ptr(0.0), MaxValue: ptr(1.0)},
						discord.ApplicationCommandOptionBool{Name: "transcription", Description: "Transcribe voice messages sent to it"},
						discord.ApplicationCommandOptionString{Name: "settings", Description: `The plugin's own options as JSON, e.g. {"speed":1.1} ("none" to clear)`, MaxLength: ptr(2000)},
					}},
				discord.ApplicationCommandOptionSubCommandGroup{Name: "voice-sample", Description: "Audio samples of the voice to clone (MP3 or WAV, at most 10 MB)",
					Options: []discord.ApplicationCommandOptionSubCommand{
						{Name: "upload", Description: "Add a sample: MP3 or WAV, at most 10 MB; 2-3 minutes of clear speech in all",
							Options: []discord.ApplicationCommandOption{personality,
								discord.ApplicationCommandOptionAttachment{Name: "file", Description: "The audio file (MP3 or WAV, at most 10 MB)", Required: true}}},
						{Name: "list", Description: "List its samples with their length and size",
							Options: []discord.ApplicationCommandOption{personality}},
						{Name: "remove", Description: "Delete a sample",
							Options: []discord.ApplicationCommandOption{personality,
								discord.ApplicationCommandOptionInt{Name: "sample", Description: "The sample's number (#) from the list", Required: true, MinValue: ptr(1)}}},
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "voice-clone", Description: "Build its voice from the samples (with your key) and use it",
					Options: []discord.ApplicationCommandOption{personality}},
				discord.ApplicationCommandOptionSubCommand{Name: "delete", Description: "Delete it with its aliases, settings and samples",
					Options: []discord.ApplicationCommandOption{
						personality,
						discord.ApplicationCommandOptionString{Name: "confirm", Description: "Type the personality's slug to confirm", Required: true, MaxLength: ptr(100)},
					}},
			},
		},
		discord.SlashCommandCreate{
			Name: "voice", Description: "Whether replies to you get a voice (only you see the replies)",
			Contexts: contexts, IntegrationTypes: install,
			Options: []discord.ApplicationCommandOption{
				discord.ApplicationCommandOptionSubCommand{Name: "enable", Description: "Voice replies from every personality that has a voice"},
				discord.ApplicationCommandOptionSubCommand{Name: "disable", Description: "Text-only replies, whatever the personality's default"},
				discord.ApplicationCommandOptionSubCommand{Name: "reset", Description: "Let each personality's own default decide again"},
				discord.ApplicationCommandOptionSubCommand{Name: "status", Description: "Show what applies to you and why",
					Options: []discord.ApplicationCommandOption{
						discord.ApplicationCommandOptionString{Name: "personality", Description: "A personality to check (slug, name or alias)",
							Autocomplete: true, MaxLength: ptr(100)},
					}},
			},
		},
		// A message command (right-click a reply, Apps): the reasoning behind
		// a personality's reply, shown to the user it answered only.
		discord.MessageCommandCreate{
			Name: showReasoningName, Contexts: contexts, IntegrationTypes: install,
		},
		discord.SlashCommandCreate{
			Name: "admin", Description: "Bot owner tools: global usage, plugins, rate limits",
			Contexts: contexts, IntegrationTypes: install,
			DefaultMemberPermissions: omit.New(&admin),
			Options: []discord.ApplicationCommandOption{
				discord.ApplicationCommandOptionSubCommand{Name: "usage", Description: "Everyone's usage: top users, providers and models",
					Options: []discord.ApplicationCommandOption{period}},
				discord.ApplicationCommandOptionSubCommandGroup{Name: "plugins", Description: "The loaded plugins",
					Options: []discord.ApplicationCommandOptionSubCommand{
						{Name: "list", Description: "List plugins with their grants and health"},
						{Name: "reload", Description: "Re-read plugins.toml and swap the plugins in"},
					}},
				discord.ApplicationCommandOptionSubCommandGroup{Name: "ratelimit", Description: "Rate limit settings",
					Options: []discord.ApplicationCommandOptionSubCommand{
						{Name: "show", Description: "Show the rate limits in force"},
						{Name: "set", Description: "Change rate limits (0 means no limit)",
							Options: []discord.ApplicationCommandOption{
								discord.ApplicationCommandOptionInt{Name: "user_per_minute", Description: "Replies one user may ask for per minute", MinValue: ptr(0)},
								discord.ApplicationCommandOptionInt{Name: "guild_per_minute", Description: "Replies one server may ask for per minute", MinValue: ptr(0)},
								discord.ApplicationCommandOptionInt{Name: "user_tokens_per_day", Description: "Tokens one user may use per day", MinValue: ptr(0)},
								discord.ApplicationCommandOptionInt{Name: "guild_tokens_per_day", Description: "Tokens one server may use per day", MinValue: ptr(0)},
							}},
					}},
			},
		},
	}))
}
