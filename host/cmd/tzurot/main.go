// Command tzurot is the tzurot-go host: one binary that serves the Discord
// bot, runs migrations and imports, manages keys and inspects plugins.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand. args excludes the subcommand's own name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// errUsage marks an error caused by how the command was called; main prints
// usage after it.
var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run the Discord bot", runServe},
		"migrate": {"apply (or roll back) database migrations", runMigrate},
		"keys":    {"manage the BYOK vault (rotate)", runKeys},
		"plugins": {"list, check and call plugins", runPlugins},
		"import":  {"import personalities (shapes, v2)", runImport},
		"bench":   {"drive messages through the full pipeline and measure", runBench},
		"init":    {"write a .env with a fresh master key and placeholders (never overwrites)", runInit},
		"ready":   {"ask the running serve's /readyz (a container health check)", runReady},
		"version": {"print the version, commit and plugin ABI version", runVersion},
		"doctor":  {"check the setup: settings, database, plugins, Discord, DNS", runDoctor},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(cmds)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "tzurot: unknown command %q\n\n", args[0])
		printUsage(cmds)
		return 2
	}
	if err := cmd.run(ctx, args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "tzurot %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func printUsage(cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: tzurot <command> [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, cmds[n].summary)
	}
}
