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
