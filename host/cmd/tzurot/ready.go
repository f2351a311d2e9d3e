package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/app"
)

// runReady implements `tzurot ready`: a readiness probe for images without
// curl (the Dockerfile's HEALTHCHECK). It asks the running serve's /readyz
// at TZUROT_METRICS_ADDR and exits 1 unless it answers 200.
func runReady(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: ready takes no arguments (it reads %s)", errUsage, app.EnvMetricsAddr)
	}
	return ready(ctx, os.Getenv, os.Stdout)
}

func ready(ctx context.Context, getenv func(string) string, out io.Writer) error {
	addr := strings.TrimSpace(getenv(app.EnvMetricsAddr))
	if addr == "" {
		return fmt.Errorf("%s is not set: serve has no health endpoint to ask", app.EnvMetricsAddr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q is not host:port", app.EnvMetricsAddr, addr)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1" // listening everywhere: ask over loopback
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("serve does not answer at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	fmt.Fprint(out, string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready (%s)", resp.Status)
	}
	return nil
}
