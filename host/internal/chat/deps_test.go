package chat_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPipelineDoesNotNeedTheTransport keeps the pipeline free of Discord: a worker builds a reply
// from a job's message snapshot with no gateway, so neither disgo nor the Discord adapter may be
// among chat's dependencies (the adapter converts at the edge). Tests may still use them.
func TestPipelineDoesNotNeedTheTransport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var bad []string
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "disgo") || strings.Contains(dep, "host/internal/discord") {
			bad = append(bad, dep)
		}
	}
	if len(bad) > 0 {
		t.Errorf("host/internal/chat depends on the Discord transport; convert at the edge in host/internal/discord instead:\n%s", strings.Join(bad, "\n"))
	}
	if !strings.Contains(string(out), "host/internal/chat") {
		t.Errorf("go list printed no chat package, so the check above proved nothing:\n%s", out)
	}
}
