package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// runVersion implements `tzurot version`.
func runVersion(_ context.Context, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	info, _ := debug.ReadBuildInfo()
	printVersion(os.Stdout, info)
	return nil
}

// printVersion writes the module version, the commit it was built from
// (when the build recorded it: go build with VCS stamping, the default in a
// git checkout), the Go version and the plugin ABI version this host
// speaks.
func printVersion(w io.Writer, info *debug.BuildInfo) {
	version, commit, modified := "(unknown)", "(not recorded: built without VCS stamping)", ""
	goVersion := runtime.Version()
	if info != nil {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (with uncommitted changes)"
				}
			}
		}
	}
	fmt.Fprintf(w, "tzurot     %s\ncommit     %s%s\ngo         %s\nplugin ABI v%d\n", version, commit, modified, goVersion, abi.Version)
}
