package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// describeCacheDir is the cache_dir subdirectory holding describe results.
// wazero keeps its compiled code in its own "wazero-…" subdirectory.
const describeCacheDir = "tzurot-describe"

// describeCacheFormat changes whenever the meaning of a record changes, so
// records of an older host are never read as current ones.
const describeCacheFormat = 1

// maxDescribeRecord caps what is read of a record: a describe output with
// its schemas is a few KiB; anything this large is not ours.
const maxDescribeRecord = 4 << 20

// describeCache keeps, per plugin file and configuration, what the load
// learned by running the plugin: describe's output and the module's
// exports. With a record that matches, a start needs neither a compile nor
// an instance before the plugin is listed and its grants are checked: on
// a 2-core machine that was most of `tzurot plugins list` and of serve's
// start (docs/performance.md, "Start to ready"). Every check of the
// description still runs on the record, against today's plugins.toml, and
// serve compiles and describes the plugin again in the background
// (Host.WarmUp), so a record that no longer tells the truth is caught.
//
// A record is trusted only when its key, which includes the SHA-256 of the
// file as read now, matches; anything else (corrupt, truncated, another
// host's, another file's) is ignored and the plugin is described afresh.
// The records sit next to wazero's compiled machine code, which the host
// trusts already: whoever can write this directory can run code in it.
type describeCache struct {
	dir  string // <cache_dir>/tzurot-describe
	host string // hostFingerprint
	log  *slog.Logger
}

func newDescribeCache(cacheDir string, log *slog.Logger) *describeCache {
	return &describeCache{dir: filepath.Join(cacheDir, describeCacheDir), host: hostFingerprint(), log: log}
}

// describeRecord is one file in the cache.
type describeRecord struct {
	Format int    `json:"format"`
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	// Output is describe's output exactly as the plugin returned it (it is
	// parsed and checked again on every load).
	Output  []byte   `json:"describe"`
	Exports []string `json:"exports"`
	// Written is informational only.
	Written time.Time `json:"written"`
}

// describeKeyInput is everything a describe result depends on besides the
// plugin's code: what the plugin can read while describing (its config;
// the key slot, hosts and headers decide what the host functions would
// do), the bounds it ran under (all its limits: memory, output size, the
// describe deadline...), the ABI and the host (its import list and build).
// Capabilities are not in it: they are checked against the description on
// every load.
type describeKeyInput struct {
	Format       int               `json:"format"`
	ABI          int               `json:"abi"`
	Host         string            `json:"host"`
	SHA256       string            `json:"sha256"`
	Config       map[string]string `json:"config"`
	Limits       Limits            `json:"limits"`
	Limit        time.Duration     `json:"describe_limit"`
	KeySlot      string            `json:"key_slot"`
	RawKey       bool              `json:"raw_key"`
	AllowedHosts []string          `json:"allowed_hosts"`
	AllowPrivate bool              `json:"allow_private"`
	AuthHeaders  []string          `json:"auth_headers"`
}

// key names the record for pc's file (whose SHA-256 is sum) described
// within limit.
func (c *describeCache) key(pc PluginConfig, sum string, limit time.Duration) string {
	b, _ := json.Marshal(describeKeyInput{ // map keys are sorted by encoding/json
		Format: describeCacheFormat, ABI: abi.Version, Host: c.host, SHA256: sum,
		Config: pc.Config, Limits: pc.Limits, Limit: limit,
		KeySlot: pc.KeySlot, RawKey: pc.RawKey, AllowedHosts: pc.AllowedHosts,
		AllowPrivate: pc.AllowPrivate, AuthHeaders: pc.AuthHeaders,
	})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (c *describeCache) path(key string) string { return filepath.Join(c.dir, key+".json") }

// get returns the record for key when there is one that matches key and
// the file's current SHA-256 in every respect; otherwise false.
func (c *describeCache) get(key, sum string) (describeRecord, bool) {
	f, err := os.Open(c.path(key))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("describe cache unreadable; describing the plugin again", "err", err)
		}
		return describeRecord{}, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDescribeRecord+1))
	var rec describeRecord
	switch {
	case err != nil:
	case len(b) > maxDescribeRecord:
		err = errors.New("too large")
	default:
		err = json.Unmarshal(b, &rec)
	}
	if err == nil && (rec.Format != describeCacheFormat || rec.Key != key || rec.SHA256 != sum || rec.Output == nil) {
		err = errors.New("it is for another file, host or format")
	}
	if err != nil {
		// Never trusted and never fatal: the plugin is described afresh and
		// the record rewritten.
		c.log.Warn("describe cache record ignored; describing the plugin again", "file", c.path(key), "reason", err)
		return describeRecord{}, false
	}
	return rec, true
}

// put writes the record for key, all or nothing (a temporary file renamed
// into place), readable by this user only. A failure is logged: the cache
// only saves time.
func (c *describeCache) put(key, sum string, output []byte, exports []string) {
	if err := c.write(key, sum, output, exports); err != nil {
		c.log.Warn("cannot write describe cache; the next start describes this plugin again", "dir", c.dir, "err", err)
	}
}

func (c *describeCache) write(key, sum string, output []byte, exports []string) error {
	if output == nil {
		output = []byte{}
	}
	b, err := json.Marshal(describeRecord{Format: describeCacheFormat, Key: key, SHA256: sum,
		Output: output, Exports: exports, Written: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, "."+key+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: no such file
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path(key))
}

// hostFingerprint identifies what of this host a describe result depends
// on: the host functions offered to plugins (names and signatures), the
// Extism and wazero versions, and this build of tzurot when it is known.
// A host with other imports may refuse a module that loaded before.
func hostFingerprint() string {
	var parts []string
	for _, f := range hostFunctions() {
		parts = append(parts, fmt.Sprintf("%s.%s%v%v", f.Namespace, f.Name, f.Params, f.Returns))
	}
	slices.Sort(parts)
	if bi, ok := debug.ReadBuildInfo(); ok {
		parts = append(parts, "main="+bi.Main.Path+"@"+bi.Main.Version)
		for _, d := range bi.Deps {
			if strings.HasPrefix(d.Path, "github.com/extism/") || strings.HasPrefix(d.Path, "github.com/tetratelabs/wazero") {
				v := d.Version
				if d.Replace != nil {
					v += "=>" + d.Replace.Path + "@" + d.Replace.Version
				}
				parts = append(parts, d.Path+"@"+v)
			}
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				parts = append(parts, s.Key+"="+s.Value)
			}
		}
	}
	s := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(s[:])
}
