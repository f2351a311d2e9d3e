package app

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tzurot-go/tzurot/host/internal/metrics"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/schema"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Ready evaluates /readyz: the database answers, its schema is current,
// at least one chat plugin is loaded, and Discord can reach the bot (the
// gateway is connected, or the HTTP interactions endpoint is listening; a
// worker, which only posts over REST, needs neither).
// Each failure says what to look at; none holds a secret.
func (a *App) Ready(ctx context.Context) []metrics.Check {
	checks := make([]metrics.Check, 0, 4)
	dbErr := a.pool.Ping(ctx)
	if dbErr != nil {
		dbErr = errors.New("PostgreSQL does not answer (is it running? `tzurot doctor` says more)")
	}
	checks = append(checks, metrics.Check{Name: "database", Err: dbErr})

	var migErr error
	if dbErr != nil {
		migErr = errors.New("not checked: the database does not answer")
	} else if pending, err := schema.PendingDB(ctx, a.schemaDB); err != nil {
		migErr = errors.New("cannot read the schema version")
	} else if pending {
		migErr = errors.New("migrations are pending: restart tzurot serve (it migrates at start) or run `tzurot migrate up`")
	}
	checks = append(checks, metrics.Check{Name: "migrations", Err: migErr})

	var chatErr error
	if !hasChatPlugin(a.Plugins.Status()) {
		chatErr = errors.New("no plugin with llm.chat is loaded (see `tzurot plugins list` for why)")
	}
	checks = append(checks, metrics.Check{Name: "chat_plugin", Err: chatErr})

	var discordErr error
	switch {
	case a.Config.Role == RoleWorker:
		// A worker holds no Discord connection: it posts over REST.
	case a.Config.Gateway && a.Bot.GatewayReady():
	case a.InteractionsAddr != nil:
	case a.Config.Gateway:
		discordErr = errors.New("the Discord gateway is not connected")
	default:
		discordErr = fmt.Errorf("the interactions endpoint is not listening (%s)", EnvInteractionsAddr)
	}
	checks = append(checks, metrics.Check{Name: "discord", Err: discordErr})
	return checks
}

func hasChatPlugin(status []plugin.PluginStatus) bool {
	for _, s := range status {
		if s.State == plugin.StateLoaded && slices.Contains(s.Capabilities, abi.CapChat) {
			return true
		}
	}
	return false
}
