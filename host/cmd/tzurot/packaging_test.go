package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, USER, ...
	args string
	line int
}

// parseDockerfile reads instructions: comments and blank lines dropped,
// lines ending in a backslash joined to the next (Docker's own rules for
// the subset this project's Dockerfile uses).
func parseDockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " "), start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continued line (line %d)", start)
	}
	return out
}

// lintDockerfile returns what is wrong with a Dockerfile, given the
// Makefile and .dockerignore beside it.
func lintDockerfile(t *testing.T, text, mk, ignore []byte) []string {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	ins := parseDockerfile(t, string(text))
	known := map[string]bool{"FROM": true, "RUN": true, "COPY": true, "WORKDIR": true, "USER": true, "ENV": true, "EXPOSE": true,
		"VOLUME": true, "HEALTHCHECK": true, "ENTRYPOINT": true, "CMD": true, "ARG": true, "LABEL": true}
	var stages []string
	stageOf := make([]int, len(ins))
	for i, in := range ins {
		if !known[in.cmd] {
			bad("line %d: unknown instruction %s", in.line, in.cmd)
		}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			if len(f) != 3 || !strings.EqualFold(f[1], "AS") {
				bad("line %d: FROM %s: every stage is named (FROM image AS name)", in.line, in.args)
			}
			if strings.HasSuffix(f[0], ":latest") || !strings.Contains(f[0], ":") {
				bad("line %d: base image %s has no pinned tag", in.line, f[0])
			}
			stages = append(stages, f[len(f)-1])
		}
		stageOf[i] = len(stages) - 1
	}
	if len(stages) < 2 {
		bad("%d stage(s): want a build stage and a run stage", len(stages))
		return problems
	}
	last := len(stages) - 1
	var user, entry string
	makeRun := regexp.MustCompile(`^make ([a-z]+)( [A-Z_]+=\S+)*$`)
	mounts := regexp.MustCompile(`--mount=\S+ `)
	var targets []string
	for i, in := range ins {
		switch {
		case in.cmd == "USER" && stageOf[i] == last:
			user = in.args
		case in.cmd == "ENTRYPOINT" && stageOf[i] == last:
			entry = in.args
		case in.cmd == "RUN" && stageOf[i] == 0:
			// A build step is `go mod download` or a make target, after any
			// BuildKit cache mounts.
			step := mounts.ReplaceAllString(in.args, "")
			if step == "go mod download" {
				continue
			}
			m := makeRun.FindStringSubmatch(step)
			if m == nil {
				bad("line %d: build step %q is not a make target", in.line, step)
				continue
			}
			targets = append(targets, m[1])
			if !strings.Contains(in.args, "type=cache,target=/root/.cache/go-build") {
				bad("line %d: the make step keeps no Go build cache", in.line)
			}
		case in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=") && stageOf[i] == last:
			if !strings.HasPrefix(in.args, "--from="+stages[0]+" ") {
				bad("line %d: the run stage copies from %q, not the build stage", in.line, in.args)
			}
		}
	}
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		bad("the run stage's USER is %q; it must be a non-root user", user)
	}
	if !strings.Contains(entry, "tzurot") {
		bad("ENTRYPOINT %q does not run tzurot", entry)
	}
	if len(targets) == 0 {
		bad("the build stage runs no make target")
	}
	for _, tg := range targets {
		if !regexp.MustCompile(`(?m)^` + tg + `:`).Match(mk) {
			bad("the Dockerfile runs `make %s`, which the Makefile does not have", tg)
		}
	}
	if !regexp.MustCompile(`(?m)^dist: build plugins$`).Match(mk) {
		bad("make dist does not build the host and the plugins")
	}
	for _, want := range []string{".env", ".git", "**/*.wasm"} {
		if !bytes.Contains(ignore, []byte(want+"\n")) {
			bad(".dockerignore does not leave out %s", want)
		}
	}
	return problems
}

func readRoot(t *testing.T, rel ...string) []byte {
	t.Helper()
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(append([]string{root}, rel...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The Dockerfile cannot be built here (no base images without the
// internet), so it is linted: multi-stage with pinned, named stages, the
// final stage runs as a non-root user, its build steps are the make
// targets a checkout uses (with a Go build cache mount), and secrets and
// outputs stay out of the build context. The lint itself is shown to
// catch each of those on altered copies.
func TestDockerfileLint(t *testing.T) {
	docker, mk, ignore := readRoot(t, "Dockerfile"), readRoot(t, "Makefile"), readRoot(t, ".dockerignore")
	if p := lintDockerfile(t, docker, mk, ignore); len(p) > 0 {
		t.Fatalf("Dockerfile problems:\n%s", strings.Join(p, "\n"))
	}
	for _, c := range []struct {
		name, from, to, want string
	}{
		{"root user", "USER tzurot:tzurot", "USER root", "must be a non-root user"},
		{"no user", "USER tzurot:tzurot\n", "", "must be a non-root user"},
		{"hand-made build", "make dist DIST=/out", "go build -o /out/tzurot ./host/cmd/tzurot", "is not a make target"},
		{"unknown target", "make dist DIST=/out", "make release DIST=/out", "which the Makefile does not have"},
		{"single stage", "FROM debian:bookworm-slim AS run", "", "want a build stage and a run stage"},
		{"unpinned", "debian:bookworm-slim", "debian:latest", "no pinned tag"},
	} {
		altered := bytes.Replace(docker, []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(altered, docker) {
			t.Fatalf("%s: %q is not in the Dockerfile", c.name, c.from)
		}
		p := strings.Join(lintDockerfile(t, altered, mk, ignore), "\n")
		if !strings.Contains(p, c.want) {
			t.Errorf("%s: lint says %q, want %q", c.name, p, c.want)
		}
	}
}

// The systemd unit runs serve as its own user with the usual hardening.
func TestSystemdUnitHardening(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "packaging", "systemd", "tzurot.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=tzurot", "ExecStart=/opt/tzurot/bin/tzurot serve", "ExecReload=/bin/kill -HUP $MAINPID",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "StateDirectory=tzurot"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("tzurot.service lacks %q", strings.TrimSpace(want))
		}
	}
}

// tzurot ready reports the running serve's /readyz, and fails when it is
// not ready or not there.
func TestReadyProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var readyNow atomic.Bool
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !readyNow.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: starting\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	env := dataTestEnv(map[string]string{"TZUROT_METRICS_ADDR": ":" + port})
	var out bytes.Buffer
	if err := ready(context.Background(), env, &out); err == nil || !strings.Contains(out.String(), "starting") {
		t.Fatalf("not ready: %v %q", err, out.String())
	}
	readyNow.Store(true)
	out.Reset()
	if err := ready(context.Background(), env, &out); err != nil || out.String() != "ready\n" {
		t.Fatalf("ready: %v %q", err, out.String())
	}
	srv.Close()
	if err := ready(context.Background(), env, &out); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("serve gone: %v", err)
	}
	if err := ready(context.Background(), dataTestEnv(nil), &out); err == nil || !strings.Contains(err.Error(), "TZUROT_METRICS_ADDR is not set") {
		t.Fatalf("no address: %v", err)
	}
}
