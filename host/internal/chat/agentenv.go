package chat

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Environment variables of the agent loop (docs/tools.md).
const (
	EnvTools      = "TZUROT_TOOLS"
	EnvToolSteps  = "TZUROT_TOOL_STEPS"
	EnvToolTime   = "TZUROT_TOOL_TIME"
	EnvToolTokens = "TZUROT_TOOL_TOKENS"
)

// ToolsFromEnv reads the agent loop's switch and bounds. Unset values keep
// the defaults (tools on, 5 steps, 60 s, 60000 tokens).
func ToolsFromEnv(getenv func(string) string) (ToolsConfig, error) {
	var c ToolsConfig
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvTools))); v {
	case "", "on", "1", "true", "yes":
	case "off", "0", "false", "no":
		c.Disabled = true
	default:
		return c, fmt.Errorf("%s=%q must be on or off (off: no personality may call tools)", EnvTools, getenv(EnvTools))
	}
	if raw := strings.TrimSpace(getenv(EnvToolSteps)); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 50 {
			return c, fmt.Errorf("%s=%q must be a whole number from 1 to 50 (tool calls per reply)", EnvToolSteps, raw)
		}
		c.MaxSteps = n
	}
	if raw := strings.TrimSpace(getenv(EnvToolTime)); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Second {
			return c, fmt.Errorf("%s=%q must be a duration of at least 1s, for example 60s or 2m (time for tool calls per reply)", EnvToolTime, raw)
		}
		c.MaxTime = d
	}
	if raw := strings.TrimSpace(getenv(EnvToolTokens)); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 100 {
			return c, fmt.Errorf("%s=%q must be a whole number of at least 100 (tokens the tool loop may spend per reply)", EnvToolTokens, raw)
		}
		c.MaxTokens = n
	}
	return c, nil
}
