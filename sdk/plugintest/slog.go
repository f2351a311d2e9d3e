package plugintest

import (
	"log/slog"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func slogLevel(level string) slog.Level {
	switch level {
	case abi.LogDebug:
		return slog.LevelDebug
	case abi.LogWarn:
		return slog.LevelWarn
	case abi.LogError:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
