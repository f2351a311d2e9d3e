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

const serveUsage = `usage: tzurot serve [--role all|gateway|worker] [--shards 0-3 --shard-count 8]

Runs the Discord bot until SIGINT or SIGTERM; SIGHUP reloads plugins.toml.

  --role all      one process does everything (the default; no job queue)
  --role gateway  holds the Discord connection and slash commands, and queues
                  every message that needs a reply (River, on DATABASE_URL)
  --role worker   runs the queued replies (plugins) and posts them through
                  webhooks; no Discord connection of its own
  --shards 0-3 --shard-count 8
                  connect only these Discord shards (several gateways share
                  the guilds); without them one unsharded session
Any number of gateways and workers may share one database: docs/scaling.md.
The flags override TZUROT_ROLE, TZUROT_SHARDS and TZUROT_SHARD_COUNT.
Everything is configured through the environment: DISCORD_TOKEN,
DATABASE_URL and APP_MASTER_KEY are required; docs/pipeline.md lists every
variable and README.md "Running the bot" walks through the setup.`

// runServe implements `tzurot serve`.
func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, serveUsage) }
	role := fs.String("role", "", "all, gateway or worker (default all, or TZUROT_ROLE)")
	shards := fs.String("shards", "", "Discord shards this process connects, e.g. 0-3 (TZUROT_SHARDS; needs --shard-count)")
	shardCount := fs.String("shard-count", "", "total Discord shards (TZUROT_SHARD_COUNT)")
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
	if *role != "" {
		if _, err := app.ParseRole(*role); err != nil {
			return fmt.Errorf("%w: --role: %v", errUsage, err)
		}
	}
	// The flags win over the environment they stand for.
	flags := map[string]string{app.EnvRole: *role, app.EnvShards: *shards, app.EnvShardCount: *shardCount}
	getenv := func(k string) string {
		if v := flags[k]; v != "" {
			return v
		}
		return os.Getenv(k)
	}
	return app.Serve(ctx, app.Options{Reload: hup, Getenv: getenv})
}
