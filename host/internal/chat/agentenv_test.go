package chat

import (
	"strings"
	"testing"
	"time"
)

// TestToolsFromEnv: the deployment switch and bounds, and words a self-hoster understands for a
// bad value.
func TestToolsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ToolsFromEnv(env(nil))
	if err != nil || c.Disabled || c.MaxSteps != 0 {
		t.Fatalf("unset: %+v, %v", c, err)
	}
	c.defaults()
	if c.MaxSteps != 5 || c.MaxTime != 60*time.Second || c.MaxTokens != 60000 {
		t.Errorf("defaults = %+v", c)
	}
	c, err = ToolsFromEnv(env(map[string]string{EnvTools: "off", EnvToolSteps: "3", EnvToolTime: "20s", EnvToolTokens: "9000"}))
	if err != nil || !c.Disabled || c.MaxSteps != 3 || c.MaxTime != 20*time.Second || c.MaxTokens != 9000 {
		t.Errorf("set: %+v, %v", c, err)
	}
	for k, v := range map[string]string{EnvTools: "maybe", EnvToolSteps: "0", EnvToolTime: "5", EnvToolTokens: "ten"} {
		if _, err := ToolsFromEnv(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err = %v, want one naming the variable", k, v, err)
		}
	}
}
