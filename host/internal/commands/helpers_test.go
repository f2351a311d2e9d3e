package commands_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperChild is set in the copy of the test binary that
// TestHelperFailuresBelongToTheSubtest starts, to play the failing test.
const helperChild = "TZUROT_COMMANDS_HELPER_CHILD"

// TestHelperFailuresBelongToTheSubtest runs a test whose first case fails
// inside a helper (e.unchanged, which calls Fatal) in a separate process,
// and checks what go test reports: the failure belongs to that case, which
// stops there, and the next case still runs. With helpers bound to the outer
// test, the Fatal would end the subtest's goroutine on the parent's behalf:
// go test then panics ("subtest may have called FailNow on a parent test"),
// no later case runs, and the report blames the parent.
func TestHelperFailuresBelongToTheSubtest(t *testing.T) {
	if os.Getenv(helperChild) == "1" {
		e := newEnv(t)
		for _, name := range []string{"failing", "next"} {
			t.Run(name, func(t *testing.T) {
				e := e.in(t)
				if name == "failing" {
					e.unchanged("a snapshot of some other database")
				}
				t.Log("reached the end of case " + name)
			})
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFailuresBelongToTheSubtest$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), helperChild+"=1")
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if err == nil {
		t.Fatalf("the child test passed, but its first case fails on purpose:\n%s", out)
	}
	const name = "TestHelperFailuresBelongToTheSubtest"
	for _, want := range []string{
		"--- FAIL: " + name + "/failing", // the case that failed is named
		"the database changed",           // with the helper's words
		"--- PASS: " + name + "/next",    // and the test went on to the next case
		"reached the end of case next",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	for _, bad := range []string{"may have called FailNow on a parent test", "reached the end of case failing", "panic:"} {
		if strings.Contains(out, bad) {
			t.Errorf("the report contains %q", bad)
		}
	}
	// The helper's message is printed under the failing case, before the
	// next case starts.
	fail, next := strings.Index(out, "the database changed"), strings.Index(out, "=== RUN   "+name+"/next")
	if fail < 0 || next < 0 || fail > next {
		t.Errorf("the helper's failure is not reported within the failing case")
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}
