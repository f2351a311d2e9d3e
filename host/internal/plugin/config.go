package plugin

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Config is a parsed plugins.toml: what this deployment grants each plugin.
// Paths in it are already resolved against the directory of the file.
type Config struct {
	// Runtime holds settings shared by all plugins.
	Runtime RuntimeConfig
	// Plugins maps a plugin entry's name (the toml table name) to its grant.
	Plugins map[string]PluginConfig
	// Source is the file the config was read from ("" when parsed from bytes).
	Source string
}

// RuntimeConfig is the [runtime] table.
type RuntimeConfig struct {
	// CacheDir holds compiled plugins between runs. Empty means an in-memory
	// cache only, so every start compiles from scratch.
	CacheDir string
}

// PluginConfig is one [plugins.NAME] table: the grant for one plugin entry.
// Several entries may point at the same .wasm with different grants.
type PluginConfig struct {
	Name         string
	Enabled      bool
	Path         string // absolute, or as given when parsed without a directory
	SHA256       string // lowercase hex, or "" for no integrity check
	KeySlot      string // BYOK slot this plugin may read; "" = none
	RawKey       bool   // api_key granted: the plugin may hold the key itself
	Capabilities []string
	AllowedHosts []string // "host:port", lowercased
	AllowPrivate bool
	// AuthHeaders are the headers the host may inject the key into, in
	// canonical form (http.CanonicalHeaderKey); default Authorization.
	AuthHeaders []string
	Limits      Limits
	Config      map[string]string // passed to the plugin as Extism config

	// problem is set when the entry is well-formed TOML but makes no sense
	// (a bad host, an unknown capability). The entry is then refused at load
	// with this reason while the other plugins load.
	problem error
}

// Problem reports why this entry cannot be loaded as written, or nil.
func (p PluginConfig) Problem() error { return p.problem }

// Limits bound what one plugin entry may use.
type Limits struct {
	MemoryMiB        int           // wasm linear memory per instance
	CallTimeout      time.Duration // wall clock per call, always > 0
	PoolSize         int           // live instances, so CPU and memory
	MaxResponseBytes int64         // HTTP bodies, plugin outputs, blobs
	HTTPTimeout      time.Duration // per HTTP request (and idle gap in a stream)
	HTTPAttempts     int           // tries per HTTP request on 429/5xx
	MaxRequests      int           // http_request + http_stream_open per call
	MaxLogLines      int           // log lines kept per call
}

// Defaults and bounds of Limits. The memory floor keeps Go guests working
// (their runtime starts at ~40 pages and grows); the ceiling is wasm32's.
const (
	DefaultMemoryMiB        = 64
	MinMemoryMiB            = 16
	MaxMemoryMiB            = 4096
	DefaultCallTimeout      = 120 * time.Second
	MinCallTimeout          = 100 * time.Millisecond
	MaxCallTimeout          = time.Hour
	DefaultPoolSize         = 4
	MaxPoolSize             = 64
	DefaultMaxResponseBytes = 8 << 20
	MinMaxResponseBytes     = 1 << 10
	MaxMaxResponseBytes     = 1 << 30
	DefaultHTTPTimeout      = 60 * time.Second
	DefaultHTTPAttempts     = 3
	MaxHTTPAttempts         = 10
	DefaultMaxRequests      = 16
	MaxMaxRequests          = 1000
	DefaultMaxLogLines      = 100
	MaxMaxLogLines          = 10000
)

// DefaultLimits returns the limits an entry gets for every field it leaves out.
func DefaultLimits() Limits {
	return Limits{
		MemoryMiB:        DefaultMemoryMiB,
		CallTimeout:      DefaultCallTimeout,
		PoolSize:         DefaultPoolSize,
		MaxResponseBytes: DefaultMaxResponseBytes,
		HTTPTimeout:      DefaultHTTPTimeout,
		HTTPAttempts:     DefaultHTTPAttempts,
		MaxRequests:      DefaultMaxRequests,
		MaxLogLines:      DefaultMaxLogLines,
	}
}

// Raw TOML shapes. Pointers tell "left out" from "zero".
type fileConfig struct {
	Runtime struct {
		CacheDir string `toml:"cache_dir"`
	} `toml:"runtime"`
	Plugins map[string]filePlugin `toml:"plugins"`
}

type filePlugin struct {
	Enabled      *bool             `toml:"enabled"`
	Path         string            `toml:"path"`
	SHA256       string            `toml:"sha256"`
	KeySlot      string            `toml:"key_slot"`
	RawKey       bool              `toml:"raw_key"`
	Capabilities []string          `toml:"capabilities"`
	AllowedHosts []string          `toml:"allowed_hosts"`
	AllowPrivate bool              `toml:"allow_private"`
	AuthHeaders  *[]string         `toml:"auth_headers"`
	Limits       fileLimits        `toml:"limits"`
	Config       map[string]string `toml:"config"`
}

type fileLimits struct {
	MemoryMiB        *int      `toml:"memory_mib"`
	CallTimeout      *duration `toml:"call_timeout"`
	PoolSize         *int      `toml:"pool_size"`
	MaxResponseBytes *int64    `toml:"max_response_bytes"`
	HTTPTimeout      *duration `toml:"http_timeout"`
	HTTPAttempts     *int      `toml:"http_attempts"`
	MaxRequests      *int      `toml:"max_requests_per_call"`
	MaxLogLines      *int      `toml:"max_log_lines"`
}

// duration reads "90s", "2m" or "1m30s" from TOML.
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. \"90s\" or \"2m\")", b)
	}
	d.Duration = v
	return nil
}

// LoadConfig reads and parses a plugins.toml file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin config: %w", err)
	}
	cfg, err := ParseConfig(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Source = abs
	return cfg, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ParseConfig parses plugins.toml text. Relative paths (plugin files, the
// cache directory) are resolved against baseDir when it is not "".
//
// Unknown keys, wrong types and bad TOML are errors for the whole file: a
// typo must never silently drop a limit. A well-formed entry that makes no
// sense (an unknown capability, a host without a port) only marks that entry
// (see PluginConfig.Problem) so the other plugins still load.
func ParseConfig(data []byte, baseDir string) (*Config, error) {
	var raw fileConfig
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, fmt.Errorf("plugin config: %w", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("plugin config: unknown key %s (see docs/plugins-toml.md for the fields)", strings.Join(keys, ", "))
	}
	cfg := &Config{Plugins: make(map[string]PluginConfig, len(raw.Plugins))}
	if raw.Runtime.CacheDir != "" {
		cfg.Runtime.CacheDir = resolve(baseDir, raw.Runtime.CacheDir)
	}
	for name, fp := range raw.Plugins {
		cfg.Plugins[name] = buildPlugin(name, fp, baseDir)
	}
	return cfg, nil
}

// Names returns the plugin entry names in sorted order.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Plugins))
	for n := range c.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func resolve(baseDir, p string) string {
	if baseDir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(baseDir, p)
}

func buildPlugin(name string, fp filePlugin, baseDir string) PluginConfig {
	pc := PluginConfig{
		Name:         name,
		Enabled:      fp.Enabled == nil || *fp.Enabled,
		SHA256:       strings.ToLower(strings.TrimSpace(fp.SHA256)),
		KeySlot:      fp.KeySlot,
		RawKey:       fp.RawKey,
		Capabilities: slices.Clone(fp.Capabilities),
		AllowPrivate: fp.AllowPrivate,
		Config:       fp.Config,
	}
	if pc.Config == nil {
		pc.Config = map[string]string{}
	}
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if !nameRE.MatchString(name) {
		add("the name %q must be lowercase letters, digits, '-' or '_'", name)
	}
	if fp.Path == "" {
		add("path is missing: say where the plugin's .wasm file is")
	} else {
		pc.Path = resolve(baseDir, fp.Path)
	}
	if pc.SHA256 != "" {
		if b, err := hex.DecodeString(pc.SHA256); err != nil || len(b) != 32 {
			add("sha256 must be 64 hex digits (as printed by sha256sum)")
		}
	}
	if pc.KeySlot != "" && !nameRE.MatchString(pc.KeySlot) {
		add("key_slot %q must be lowercase letters, digits, '-' or '_'", pc.KeySlot)
	}
	known := abi.KnownCapabilities()
	for _, c := range pc.Capabilities {
		if !slices.Contains(known, c) {
			add("capability %q is unknown (known: %s)", c, strings.Join(known, ", "))
		}
	}
	for _, h := range fp.AllowedHosts {
		norm, err := normalizeHostPort(h)
		if err != nil {
			add("allowed_hosts: %v", err)
			continue
		}
		pc.AllowedHosts = append(pc.AllowedHosts, norm)
	}
	pc.AuthHeaders = []string{"Authorization"}
	if fp.AuthHeaders != nil {
		pc.AuthHeaders = nil
		for _, h := range *fp.AuthHeaders {
			canon, err := authHeader(h)
			if err != nil {
				add("auth_headers: %v", err)
				continue
			}
			pc.AuthHeaders = append(pc.AuthHeaders, canon)
		}
	}
	pc.Limits = buildLimits(fp.Limits, add)
	if len(problems) > 0 {
		pc.problem = errors.Join(problems...)
	}
	return pc
}

func buildLimits(fl fileLimits, add func(string, ...any)) Limits {
	l := DefaultLimits()
	if fl.MemoryMiB != nil {
		l.MemoryMiB = *fl.MemoryMiB
		if l.MemoryMiB < MinMemoryMiB || l.MemoryMiB > MaxMemoryMiB {
			add("limits.memory_mib = %d is outside %d..%d", l.MemoryMiB, MinMemoryMiB, MaxMemoryMiB)
		}
	}
	if fl.CallTimeout != nil {
		l.CallTimeout = fl.CallTimeout.Duration
		if l.CallTimeout < MinCallTimeout || l.CallTimeout > MaxCallTimeout {
			add("limits.call_timeout = %s is outside %s..%s (a plugin that never answers must be stopped)", l.CallTimeout, MinCallTimeout, MaxCallTimeout)
		}
	}
	if fl.PoolSize != nil {
		l.PoolSize = *fl.PoolSize
		if l.PoolSize < 1 || l.PoolSize > MaxPoolSize {
			add("limits.pool_size = %d is outside 1..%d", l.PoolSize, MaxPoolSize)
		}
	}
	if fl.MaxResponseBytes != nil {
		l.MaxResponseBytes = *fl.MaxResponseBytes
		if l.MaxResponseBytes < MinMaxResponseBytes || l.MaxResponseBytes > MaxMaxResponseBytes {
			add("limits.max_response_bytes = %d is outside %d..%d", l.MaxResponseBytes, MinMaxResponseBytes, MaxMaxResponseBytes)
		}
	}
	if fl.HTTPTimeout != nil {
		l.HTTPTimeout = fl.HTTPTimeout.Duration
		if l.HTTPTimeout < MinCallTimeout || l.HTTPTimeout > MaxCallTimeout {
			add("limits.http_timeout = %s is outside %s..%s", l.HTTPTimeout, MinCallTimeout, MaxCallTimeout)
		}
	}
	if fl.HTTPAttempts != nil {
		l.HTTPAttempts = *fl.HTTPAttempts
		if l.HTTPAttempts < 1 || l.HTTPAttempts > MaxHTTPAttempts {
			add("limits.http_attempts = %d is outside 1..%d", l.HTTPAttempts, MaxHTTPAttempts)
		}
	}
	if fl.MaxRequests != nil {
		l.MaxRequests = *fl.MaxRequests
		if l.MaxRequests < 1 || l.MaxRequests > MaxMaxRequests {
			add("limits.max_requests_per_call = %d is outside 1..%d", l.MaxRequests, MaxMaxRequests)
		}
	}
	if fl.MaxLogLines != nil {
		l.MaxLogLines = *fl.MaxLogLines
		if l.MaxLogLines < 0 || l.MaxLogLines > MaxMaxLogLines {
			add("limits.max_log_lines = %d is outside 0..%d", l.MaxLogLines, MaxMaxLogLines)
		}
	}
	return l
}

var headerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

// authHeader checks an auth_headers entry and returns its canonical form.
// Headers that frame or route the request are never a place for a key.
func authHeader(h string) (string, error) {
	if !headerNameRE.MatchString(h) {
		return "", fmt.Errorf("%q is not a header name (letters, digits and '-')", h)
	}
	canon := http.CanonicalHeaderKey(h)
	switch canon {
	case "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer", "Keep-Alive", "Expect":
		return "", fmt.Errorf("%q cannot carry a key", h)
	}
	if strings.HasPrefix(canon, "Proxy-") {
		return "", fmt.Errorf("%q cannot carry a key", h)
	}
	return canon, nil
}

// normalizeHostPort checks a "host:port" allow-list entry and lowercases it.
func normalizeHostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil || host == "" {
		return "", fmt.Errorf("%q must be host:port, e.g. \"api.openai.com:443\"", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q has no valid port (1..65535)", s)
	}
	if strings.ContainsAny(host, "*/?#@ ") {
		return "", fmt.Errorf("%q: wildcards, paths and credentials are not allowed, name one host", s)
	}
	return net.JoinHostPort(strings.ToLower(host), port), nil
}
