package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tzurot-go/tzurot/host/internal/app"
)

const serveUsage = `usage: tzurot serve [--role all|gateway|worker]

Runs the Discord bot until SIGINT or SIGTERM; SIGHUP reloads plugins.toml.

  --role all      one process does everything (the default; no job queue)
  --role gateway  holds the Discord connection and slash commands, and queues
                  every message that needs a reply (River, on DATABASE_URL)
  --role worker   runs the queued replies (plugins) and posts them through
                  webhooks; no Discord connection of its own
Any number of gateways and workers may share one database: docs/scaling.md.
--role overrides TZUROT_ROLE.
Everything is configured through the environment: DISCORD_TOKEN,
DATABASE_URL and APP_MASTER_KEY are required; docs/pipeline.md lists every
variable and README.md "Running the bot" walks through the setup.`

// runServe implements `tzurot serve`.
func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, serveUsage) }
	role := fs.String("role", "", "all, gateway or worker (default all, or TZUROT_ROLE)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: serve takes no arguments (configure it through the environment)", errUsage)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	getenv := os.Getenv
	if *role != "" {
		if _, err := app.ParseRole(*role); err != nil {
			return fmt.Errorf("%w: --role: %v", errUsage, err)
		}
		getenv = func(k string) string {
			if k == app.EnvRole {
				return *role
			}
			return os.Getenv(k)
		}
	}
	return app.Serve(ctx, app.Options{Reload: hup, Getenv: getenv})
}
