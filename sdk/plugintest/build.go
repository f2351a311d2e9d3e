package plugintest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build compiles the Go plugin package in dir (relative paths are resolved
// against the current directory) to a .wasm file in a temporary directory
// and returns its path. It uses the same command a plugin author runs:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// Go's build cache makes repeated builds cheap (well under a second).
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), filepath.Base(dir)+".wasm")
	if err := BuildTo(dir, out); err != nil {
		tb.Fatalf("build plugin %s: %v", dir, err)
	}
	return out
}

// BuildTo is Build without a testing.TB, for TestMain and benchmarks.
func BuildTo(dir, out string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", abs, err, stderr.String())
	}
	return nil
}

// BuildForMain builds the plugin in dir once for a whole test binary,
// sets *wasm to the built file, runs the tests and returns their exit
// code, removing the build afterwards. Building once, not per test, keeps
// a plugin's test run short. In TestMain:
//
//	var wasmPath string
//
//	func TestMain(m *testing.M) { os.Exit(plugintest.BuildForMain(m, ".", &wasmPath)) }
//
// A failed build is printed to stderr and gives exit code 1, with no test
// run.
func BuildForMain(m *testing.M, dir string, wasm *string) int {
	tmp, err := os.MkdirTemp("", filepath.Base(mustAbs(dir))+"-plugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	*wasm = filepath.Join(tmp, filepath.Base(mustAbs(dir))+".wasm")
	if err := BuildTo(dir, *wasm); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// mustAbs is dir made absolute, or dir itself when that fails (only
// names are taken from it).
func mustAbs(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// ModuleRoot walks up from the current directory to the directory holding
// go.mod, so tests can name plugins by their path in the repository.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the current directory")
		}
		dir = parent
	}
}
