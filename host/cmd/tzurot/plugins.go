package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
)

const pluginsUsage = `usage:
  tzurot plugins list  [--config FILE]
      every plugin entry: loaded (with what it was granted), refused (and why) or disabled
  tzurot plugins check FILE.wasm [--cache-dir DIR]
      validate a plugin file against the plugin ABI, without a plugins.toml
  tzurot plugins call  NAME EXPORT [--input JSON | --input -] [--user ID] [--config FILE] [-v]
      run one call under the real host; the API key comes from $TZUROT_PLUGIN_KEY;
      -v also shows the plugin's info and debug log lines (warnings and errors always show)
--config defaults to $TZUROT_PLUGINS, or plugins.toml when that is not set (as for serve).`

// runPlugins dispatches the plugins subcommands.
func runPlugins(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: a plugins subcommand is needed\n%s", errUsage, pluginsUsage)
	}
	switch args[0] {
	case "list":
		return pluginsList(ctx, args[1:], os.Stdout)
	case "check":
		return pluginsCheck(ctx, args[1:], os.Stdout)
	case "call":
		return pluginsCall(ctx, args[1:], os.Stdin, os.Stdout, os.Stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(os.Stderr, pluginsUsage)
		return nil
	default:
		return fmt.Errorf("%w: unknown plugins subcommand %q\n%s", errUsage, args[0], pluginsUsage)
	}
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("plugins "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned and printed once by main
	return fs
}

// defaultPluginsFile is the plugins.toml serve would read: $TZUROT_PLUGINS,
// else plugins.toml, so the commands an author debugs with see the same
// grants as the bot.
func defaultPluginsFile() string {
	if p := strings.TrimSpace(os.Getenv(app.EnvPlugins)); p != "" {
		return p
	}
	return app.DefaultPluginsFile
}

// startHost loads plugins.toml and starts the plugin host.
func startHost(ctx context.Context, configPath string, keys plugin.KeySource, log *slog.Logger) (*plugin.Host, error) {
	cfg, err := plugin.LoadConfig(configPath)
	if err != nil {
		return nil, err
	}
	return plugin.NewHost(ctx, plugin.Options{Config: cfg, Keys: keys, Logger: log})
}

func pluginsList(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("list")
	configPath := fs.String("config", defaultPluginsFile(), "plugins.toml to read")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: list takes no arguments\n%s", errUsage, pluginsUsage)
	}
	// Refusals are printed in the table; the log only needs real errors.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	h, err := startHost(ctx, *configPath, nil, log)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPLUGIN\tKEY SLOT\tCAPABILITIES\tHOSTS")
	var refused []plugin.PluginStatus
	for _, s := range h.Status() {
		slot := s.KeySlot
		if slot == "" {
			slot = "-"
		}
		hosts := strings.Join(s.AllowedHosts, ",")
		if s.AllowPrivate {
			hosts += " (private allowed)"
		}
		what := "-"
		if s.Description != nil {
			what = s.Description.Name + " " + s.Description.Version
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.State, what, slot, strings.Join(s.Capabilities, ","), hosts)
		if s.State == plugin.StateRefused {
			refused = append(refused, s)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range refused {
		fmt.Fprintf(out, "\n%s refused: %s\n", s.Name, s.Reason)
	}
	return nil
}

func pluginsCheck(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("check")
	cacheDir := fs.String("cache-dir", "", "compilation cache directory (default: none)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: check takes one .wasm file\n%s", errUsage, pluginsUsage)
	}
	rep, err := plugin.CheckFile(ctx, pos[0], *cacheDir)
	if err != nil {
		return err
	}
	d := rep.Description
	fmt.Fprintf(out, "%s: OK, plugin ABI v%d\n", rep.Path, d.ABI)
	fmt.Fprintf(out, "  name:          %s %s\n", d.Name, d.Version)
	if d.Summary != "" {
		fmt.Fprintf(out, "  summary:       %s\n", d.Summary)
	}
	fmt.Fprintf(out, "  capabilities:  %s\n", strings.Join(d.Capabilities, ", "))
	fmt.Fprintf(out, "  needs key:     %v (grant a key_slot in plugins.toml)\n", d.NeedsKey)
	fmt.Fprintf(out, "  needs network: %v (grant allowed_hosts in plugins.toml)\n", d.NeedsNetwork)
	fmt.Fprintf(out, "  exports:       %s\n", strings.Join(rep.Exports, ", "))
	fmt.Fprintf(out, "  size:          %d bytes\n", rep.Size)
	fmt.Fprintf(out, "  sha256:        %s\n", rep.SHA256)
	if len(d.ParametersSchema) > 0 {
		var pretty bytes.Buffer
		if json.Indent(&pretty, d.ParametersSchema, "  ", "  ") == nil {
			fmt.Fprintf(out, "  parameters schema:\n  %s\n", pretty.String())
		}
	}
	if len(d.ConstraintsSchema) > 0 {
		var pretty bytes.Buffer
		if json.Indent(&pretty, d.ConstraintsSchema, "  ", "  ") == nil {
			fmt.Fprintf(out, "  constraints schema (rules that depend on the model):\n  %s\n", pretty.String())
		}
	}
	return nil
}

func pluginsCall(ctx context.Context, args []string, stdin io.Reader, out, errOut io.Writer) error {
	fs := newFlagSet("call")
	configPath := fs.String("config", defaultPluginsFile(), "plugins.toml to read")
	verbose := fs.Bool("v", false, "also show the plugin's info and debug log lines")
	input := fs.String("input", "", "JSON input for the export, or - to read it from standard input")
	user := fs.String("user", "cli", "user id the call is made for")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: call takes a plugin name and an export\n%s", errUsage, pluginsUsage)
	}
	in := []byte(*input)
	if *input == "-" {
		if in, err = io.ReadAll(stdin); err != nil {
			return fmt.Errorf("read input: %w", err)
		}
	}
	if len(in) > 0 && !json.Valid(in) {
		return fmt.Errorf("%w: --input is not valid JSON", errUsage)
	}
	keys := &plugin.MemoryKeys{Fallback: os.Getenv("TZUROT_PLUGIN_KEY")}
	if keys.Fallback == "" {
		// Not an error: keyless plugins exist. Said in case it explains a failure.
		fmt.Fprintln(errOut, "note: TZUROT_PLUGIN_KEY is not set, so the plugin gets no API key")
	}
	// The plugin's log entries and stdout go to this log (keys redacted by
	// the host); warnings always show, the rest with -v.
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	h, err := startHost(ctx, *configPath, keys, log)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())

	streamed := false
	ctx = plugin.WithCall(ctx, plugin.Call{
		UserID:    *user,
		RequestID: "cli",
		OnChunk:   func(s string) { streamed = true; fmt.Fprint(errOut, s) },
	})
	res, err := h.Invoke(ctx, pos[0], pos[1], in)
	if streamed {
		fmt.Fprintln(errOut)
	}
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, res.Output, "", "  ") == nil {
		fmt.Fprintln(out, pretty.String())
	} else {
		fmt.Fprintln(out, string(res.Output))
	}
	for _, u := range res.Usage {
		b, _ := json.Marshal(u)
		fmt.Fprintf(errOut, "usage: %s\n", b)
	}
	return nil
}
