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

const serveUsage = `usage: tzurot serve

Runs the Discord bot until SIGINT or SIGTERM; SIGHUP reloads plugins.toml.
Everything is configured through the environment: DISCORD_TOKEN,
DATABASE_URL and APP_MASTER_KEY are required; docs/pipeline.md lists every
variable and README.md "Running the bot" walks through the setup.`

// runServe implements `tzurot serve`.
func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, serveUsage) }
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
	return app.Serve(ctx, app.Options{Reload: hup})
}
