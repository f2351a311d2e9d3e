package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/app"
	"github.com/tzurot-go/tzurot/host/internal/config"
	"github.com/tzurot-go/tzurot/host/internal/embedding"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
	"github.com/tzurot-go/tzurot/schema"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

const doctorUsage = `usage: tzurot doctor [check ...]

Checks the setup in one run and reports each check as ok, FAIL or WARN,
with a fix for each problem. Reads only; changes nothing. With no check
named, runs them all. Exit status 1 when a check fails (warnings do not).

checks:
`

// DiscordAPI is Discord's REST base URL, used unless
// TZUROT_DISCORD_REST_URL names another (as for serve); doctor's tests
// point it at the fake Discord.
const DiscordAPI = "https://discord.com/api/v10"

// doctorCheck is one check of `tzurot doctor`.
type doctorCheck struct {
	name    string
	summary string
	run     func(d *doctorRun)
}

// doctorChecks lists the checks in the order `tzurot doctor` runs them:
// each later one may use what an earlier one found (the database pool).
// A new check is one entry here.
func doctorChecks() []doctorCheck {
	return []doctorCheck{
		{"env", "every required setting is set (all missing ones are listed at once), and the others parse", checkEnv},
		{"masterkey", "APP_MASTER_KEY is 32 bytes in base64 or hex", checkMasterKey},
		{"database", "PostgreSQL answers and its schema is migrated", checkDatabase},
		{"names", "strings (name, display name, slug, alias) claimed by several personalities, or recorded for none", checkNamesDoctor},
		{"memory", "memories are indexed by personality and word (migration 19)", checkMemoryIndex},
		{"pgvector", "whether memory vector search runs in PostgreSQL's vector extension or in the host (never required)", checkPGVector},
		{"plugins", "every plugins.toml entry: file, sha256, plugin ABI, grant; at least one chat plugin", checkPlugins},
		{"discord", "the bot token (GET /users/@me), the Message Content intent, Manage Webhooks in each server", checkDiscord},
		{"dns", "every allowed_hosts name of an enabled plugin resolves", checkDNS},
	}
}

// doctorOptions are what the checks reach out to; tests point them at
// fakes.
type doctorOptions struct {
	getenv     func(string) string
	environ    func() []string // for TZUROT_FALLBACK_KEY_<SLOT>; os.Environ
	stdout     io.Writer
	stderr     io.Writer
	discordURL string
	httpClient *http.Client
	lookupHost func(ctx context.Context, host string) ([]string, error)
}

// doctorRun is one run: the output, the tally, and what checks share.
type doctorRun struct {
	ctx      context.Context
	o        doctorOptions
	failures int
	warnings int
	// pool is the database, once the database check found it reachable and
	// migrated; nil otherwise (checks that need it skip).
	pool      *pgxpool.Pool
	dbProblem string
}

func (d *doctorRun) line(status, name, msg string) {
	fmt.Fprintf(d.o.stdout, "%-4s  %-9s  %s\n", status, name, msg)
}

func (d *doctorRun) ok(name, msg string) { d.line("ok", name, msg) }

func (d *doctorRun) fail(name, msg, fix string) {
	d.failures++
	d.line("FAIL", name, msg)
	if fix != "" {
		fmt.Fprintf(d.o.stdout, "      %-9s  fix: %s\n", "", fix)
	}
}

func (d *doctorRun) warn(name, msg, fix string) {
	d.warnings++
	d.line("WARN", name, msg)
	if fix != "" {
		fmt.Fprintf(d.o.stdout, "      %-9s  fix: %s\n", "", fix)
	}
}

func (d *doctorRun) skip(name, why string) { d.line("skip", name, why) }

// runDoctor implements `tzurot doctor`.
func runDoctor(ctx context.Context, args []string) error {
	return doctor(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

func doctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return doctorWith(ctx, args, doctorOptions{getenv: getenv, stdout: stdout, stderr: stderr})
}

func doctorWith(ctx context.Context, args []string, o doctorOptions) error {
	if o.environ == nil {
		o.environ = os.Environ
	}
	if o.discordURL == "" {
		// The base serve uses: TZUROT_DISCORD_REST_URL (a proxy), else Discord's.
		o.discordURL = strings.TrimSpace(o.getenv(app.EnvDiscordRESTURL))
	}
	if o.discordURL == "" {
		o.discordURL = DiscordAPI
	}
	if o.httpClient == nil {
		o.httpClient = &http.Client{Timeout: 15 * time.Second}
	}
	if o.lookupHost == nil {
		o.lookupHost = net.DefaultResolver.LookupHost
	}
	all := doctorChecks()
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	fs.Usage = func() {
		fmt.Fprint(o.stderr, doctorUsage)
		for _, c := range all {
			fmt.Fprintf(o.stderr, "  %-9s %s\n", c.name, c.summary)
		}
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	checks := all
	if fs.NArg() > 0 {
		want := map[string]bool{}
		for _, name := range fs.Args() {
			if indexCheck(all, name) < 0 {
				fs.Usage()
				return fmt.Errorf("%w: unknown check %q", errUsage, name)
			}
			want[name] = true
		}
		// names, memory and pgvector need the database check first (it
		// opens the pool).
		if want["names"] || want["memory"] || want["pgvector"] {
			want["database"] = true
		}
		checks = nil
		for _, c := range all {
			if want[c.name] {
				checks = append(checks, c)
			}
		}
	}
	d := &doctorRun{ctx: ctx, o: o}
	defer func() {
		if d.pool != nil {
			d.pool.Close()
		}
	}()
	for _, c := range checks {
		c.run(d)
	}
	if d.failures > 0 {
		return fmt.Errorf("%d problem(s) found (see above)", d.failures)
	}
	if d.warnings > 0 {
		fmt.Fprintf(o.stdout, "\n%d warning(s), no failure.\n", d.warnings)
	}
	return nil
}

func indexCheck(checks []doctorCheck, name string) int {
	for i, c := range checks {
		if c.name == name {
			return i
		}
	}
	return -1
}

// checkEnv lists every missing required setting at once (serve refuses to
// start with the same list), then parses the rest as serve would.
func checkEnv(d *doctorRun) {
	missing := app.MissingSettings(d.o.getenv)
	for _, m := range missing {
		d.fail("env", m.Name+" is not set", strings.TrimPrefix(m.Err.Error(), m.Name+" is not set: "))
	}
	if len(missing) > 0 {
		fmt.Fprintf(d.o.stdout, "      %-9s  %s\n", "", app.FirstRunHelp)
		return
	}
	// The secrets it finds are not printed; observe is not needed.
	if _, err := app.ConfigFromEnv(d.o.getenv, d.o.environ(), nil); err != nil {
		d.fail("env", "a setting is not valid", err.Error())
		return
	}
	d.ok("env", "every required setting is set and the others parse")
}

// checkMasterKey checks APP_MASTER_KEY's shape (and the previous key's,
// during a rotation) without showing either.
func checkMasterKey(d *doctorRun) {
	raw := d.o.getenv(vault.EnvMasterKey)
	if strings.TrimSpace(raw) == "" {
		d.skip("masterkey", vault.EnvMasterKey+" is not set (see env)")
		return
	}
	if _, err := vault.ParseMasterKey(vault.EnvMasterKey, raw); err != nil {
		d.fail("masterkey", err.Error(), "generate one with `./bin/tzurot keys generate`; if users already stored keys, keep the old value: a new key cannot open them")
		return
	}
	if prev := d.o.getenv(vault.EnvMasterKeyPrevious); strings.TrimSpace(prev) != "" {
		if _, err := vault.ParseMasterKey(vault.EnvMasterKeyPrevious, prev); err != nil {
			d.fail("masterkey", err.Error(), "set it to the key used before the rotation, or unset it once `tzurot keys rotate` reports 0 failed")
			return
		}
	}
	d.ok("masterkey", "32 bytes")
}

// checkDatabase connects and compares the schema with the migrations this
// binary carries. Doctor changes nothing, so it does not migrate.
func checkDatabase(d *doctorRun) {
	dsn, err := config.DatabaseURL(d.o.getenv)
	if err != nil {
		d.dbProblem = "DATABASE_URL is not set"
		d.skip("database", d.dbProblem+" (see env)")
		return
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx quotes the input in its parse errors; a URL can hold a password.
		d.dbProblem = "DATABASE_URL is not valid"
		d.fail("database", "DATABASE_URL is not a valid PostgreSQL connection string (value hidden)", "write it as postgres://user:password@host:5432/dbname?sslmode=disable")
		return
	}
	where := net.JoinHostPort(poolCfg.ConnConfig.Host, strconv.Itoa(int(poolCfg.ConnConfig.Port)))
	ctx, cancel := context.WithTimeout(d.ctx, 15*time.Second)
	defer cancel()
	poolCfg.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err == nil {
		err = pool.Ping(ctx)
		if err != nil {
			pool.Close()
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		d.dbProblem = "the database does not exist yet"
		d.fail("database", fmt.Sprintf("PostgreSQL at %s answers, but the database %q does not exist yet", where, poolCfg.ConnConfig.Database),
			"run `./bin/tzurot migrate up` (or `make run`): it creates the database and applies the migrations; with a restricted user, `createdb -O <user> "+poolCfg.ConnConfig.Database+"` first")
		return
	}
	if err != nil {
		d.dbProblem = "the database does not answer"
		d.fail("database", fmt.Sprintf("PostgreSQL at %s does not answer (%s)", where, pgCause(err)),
			"start PostgreSQL (e.g. `systemctl start postgresql`), or point DATABASE_URL at a running server; check the user, password and database name")
		return
	}
	pending, err := schema.Pending(ctx, dsn)
	switch {
	case err != nil:
		d.dbProblem = "its schema cannot be read"
		d.fail("database", "cannot read the schema version: "+pgCause(err), "check that the user may read the goose_db_version table")
		pool.Close()
		return
	case pending:
		d.dbProblem = "the schema is not up to date"
		d.fail("database", "the database schema is not up to date", "run `tzurot migrate up` (or start `tzurot serve`, which migrates)")
		pool.Close()
		return
	}
	d.pool = pool
	d.ok("database", fmt.Sprintf("PostgreSQL at %s answers, schema current", where))
}

// pgCause is a database error without the connection string (pgx errors
// can quote it) and on one line.
func pgCause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg[:i], "@") {
		msg = msg[i+2:]
	}
	return strings.ReplaceAll(msg, "\n", " ")
}

func checkNamesDoctor(d *doctorRun) {
	if d.pool == nil {
		d.skip("names", "needs the database ("+orNone(d.dbProblem)+")")
		return
	}
	var buf strings.Builder
	n, err := checkNames(d.ctx, store.New(d.pool, nil, nil), &buf)
	switch {
	case err != nil:
		d.fail("names", "cannot read the names: "+pgCause(err), "")
	case n == 0:
		d.ok("names", "every name, display name, slug and alias calls exactly one personality")
	default:
		d.fail("names", fmt.Sprintf("%d string(s) call the wrong personality, or none", n), "see each claim below")
		fmt.Fprint(d.o.stdout, buf.String())
	}
}

// checkMemoryIndex reports whether memory retrieval can find a
// personality's matches without reading its other memories: the word-key
// index of migration 19, valid, and the planner statistic that keeps its
// one plan per statement on the per-personality recency index. Each can only
// be lost by hand (a DROP, an interrupted REINDEX CONCURRENTLY, ALTER TABLE
// ... RESET); retrieval still works without them, slower, so each is a
// warning.
func checkMemoryIndex(d *doctorRun) {
	if d.pool == nil {
		d.skip("memory", "needs the database ("+orNone(d.dbProblem)+")")
		return
	}
	var (
		valid     *bool // NULL: no such index
		nDistinct bool
	)
	err := d.pool.QueryRow(d.ctx, `
SELECT (SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('personality_memories_keys_idx')),
       coalesce((SELECT 'n_distinct=1000' = ANY (a.attoptions) FROM pg_attribute a
                 WHERE a.attrelid = to_regclass('personality_memories') AND a.attname = 'personality_id'), false)`).Scan(&valid, &nDistinct)
	if err != nil {
		d.fail("memory", "cannot read the memory indexes: "+pgCause(err), "")
		return
	}
	const again = "`tzurot migrate down -to 18 -yes` then `tzurot migrate up` (migration 19 holds no data)"
	switch {
	case valid == nil:
		d.warn("memory", "memories have no word index (personality_memories_keys_idx): each reply's memory search reads every memory in the database",
			"`tzurot migrate up`; if it says the schema is up to date: "+again)
	case !*valid:
		d.warn("memory", "the memory word index personality_memories_keys_idx is invalid (an interrupted rebuild): PostgreSQL does not use it",
			"as the database owner: REINDEX INDEX personality_memories_keys_idx")
	case !nDistinct:
		d.warn("memory", "personality_memories.personality_id lost its planner statistic (n_distinct): retrieval's plan may walk every personality's newest memories",
			"as the database owner: ALTER TABLE personality_memories ALTER COLUMN personality_id SET (n_distinct = 1000); ANALYZE personality_memories; or "+again)
	default:
		d.ok("memory", "memories are indexed by personality and word")
	}
}

// checkPGVector reports where memory vector search runs: PostgreSQL's
// vector extension is used when the server has it, never required, so
// only what a self-hoster can act on is a warning (the extension is there
// but cannot be used). Reads only: serve creates what is missing.
func checkPGVector(d *doctorRun) {
	if d.pool == nil {
		d.skip("pgvector", "needs the database ("+orNone(d.dbProblem)+")")
		return
	}
	st, err := embedding.DetectPGVector(d.ctx, d.pool)
	if err != nil {
		d.fail("pgvector", "cannot read the server's extensions: "+pgCause(err), "check that the user may read pg_available_extensions and pg_extension")
		return
	}
	embedOff := strings.TrimSpace(d.o.getenv(app.EnvEmbedPlugin)) == ""
	turnedOff := strings.EqualFold(strings.TrimSpace(d.o.getenv(app.EnvEmbedPGVector)), embedding.PGVectorOff)
	switch {
	case embedOff:
		where := "the server does not have PostgreSQL's vector extension"
		if v := st.Version; st.Installed {
			where = "PostgreSQL's vector extension " + v + " is created"
		} else if st.Available {
			where = "the server has PostgreSQL's vector extension " + st.Default
		}
		d.ok("pgvector", "memory vector search is off ("+app.EnvEmbedPlugin+" is not set: full-text search only); "+where)
	case turnedOff:
		d.ok("pgvector", "memory vector search runs in the host: "+app.EnvEmbedPGVector+"=off")
	case st.Usable():
		d.ok("pgvector", st.Summary())
		var unsynced, indexes, invalid int
		err := d.pool.QueryRow(d.ctx, `
SELECT (SELECT count(*) FROM memory_embeddings WHERE embedding IS NULL),
       count(*) FILTER (WHERE i.indisvalid), count(*) FILTER (WHERE NOT i.indisvalid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'memory_embeddings'::regclass AND c.relname LIKE 'memory\_embeddings\_hnsw\_%'`).Scan(&unsynced, &indexes, &invalid)
		switch {
		case err != nil:
			d.warn("pgvector", "cannot read the vector indexes: "+pgCause(err), "")
		case unsynced > 0 || invalid > 0:
			d.warn("pgvector", fmt.Sprintf("%d stored vector(s) not yet copied to the extension's column, %d HNSW index(es) ready, %d unfinished: until serve finishes them, searches of those models run in the host", unsynced, indexes, invalid),
				"keep `tzurot serve` running: it copies the vectors and builds the indexes in the background (the log says \"memory vector index ready\")")
		default:
			d.ok("pgvector", fmt.Sprintf("%d HNSW index(es) ready, every stored vector copied", indexes))
		}
	case st.Available && !st.Installed && st.Superuser:
		d.ok("pgvector", "PostgreSQL's vector extension "+st.Default+" is available: serve creates it at start and searches memories with it")
	case st.Available && !st.Installed:
		d.warn("pgvector", st.Summary(), fmt.Sprintf("as a superuser: `psql -d %s -c 'CREATE EXTENSION vector;'`, then restart serve", st.Database))
	case !st.Available && !st.Installed:
		// Never required: search in the host works, the message says how
		// to get the faster path.
		d.ok("pgvector", st.Summary())
	case st.Installed && st.Available && st.HNSW() && !st.Column:
		d.ok("pgvector", "PostgreSQL's vector extension "+st.Version+" is created: serve adds its column at start and searches memories with it")
	default: // created but its files are gone, or too old for HNSW
		d.warn("pgvector", st.Summary(), "see docs/operations.md, \"PostgreSQL's vector extension\"")
	}
}

// checkPlugins loads plugins.toml as serve would and reports each entry.
func checkPlugins(d *doctorRun) {
	path := app.DefaultPluginsFile
	if p := strings.TrimSpace(d.o.getenv(app.EnvPlugins)); p != "" {
		path = p
	}
	cfg, err := plugin.LoadConfig(path)
	if err != nil {
		d.fail("plugins", fmt.Sprintf("cannot read %s: %v", path, err), "fix the file (docs/plugins-toml.md), or set "+app.EnvPlugins+" to the one you use")
		return
	}
	h, err := plugin.NewHost(d.ctx, plugin.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		d.fail("plugins", err.Error(), "")
		return
	}
	defer h.Close(context.Background())
	// Compiled and started for real, even the plugins serve would list from
	// the describe cache before compiling them: a plugin whose code no
	// longer compiles or starts shows as refused here, with the reason.
	_ = h.WarmUp(d.ctx)
	chat := 0
	for _, s := range h.Status() {
		switch s.State {
		case plugin.StateDisabled:
			d.line("off", "plugins", s.Name+": enabled = false")
		case plugin.StateRefused:
			d.fail("plugins", s.Name+": refused: "+s.Reason, pluginFix(s))
		default:
			desc := s.Description
			if containsString(s.Capabilities, abi.CapChat) {
				chat++
			}
			d.ok("plugins", fmt.Sprintf("%s: %s %s (ABI v%d), granted %s", s.Name, desc.Name, desc.Version, desc.ABI, strings.Join(s.Capabilities, ", ")))
		}
	}
	if chat == 0 {
		d.fail("plugins", "no loaded plugin is granted llm.chat: personalities cannot answer", "enable a provider entry in "+path+" (README \"Enabling a plugin\")")
	}
}

// pluginFix suggests the way out of a refusal.
func pluginFix(s plugin.PluginStatus) string {
	switch r := s.Reason; {
	case strings.Contains(r, "sha256 mismatch"):
		return fmt.Sprintf("if %s was replaced on purpose, put its new hash in sha256 (`./bin/tzurot plugins check %s` prints it); otherwise restore the file you trusted", s.Path, s.Path)
	case strings.Contains(r, "cannot read"):
		return "build the first-party plugins with `make plugins`, or correct path"
	case strings.Contains(r, "not a WebAssembly file"), strings.Contains(r, "ABI"), strings.Contains(r, abi.MarkerExport):
		return fmt.Sprintf("the file is not a plugin for this host's ABI (v%d): `./bin/tzurot plugins check %s` says why", abi.Version, s.Path)
	case strings.Contains(r, "plugins.toml"):
		return "correct the entry (docs/plugins-toml.md lists every field)"
	}
	return "`./bin/tzurot plugins check " + s.Path + "` and docs/plugins-toml.md"
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Discord permission and application flag bits the checks read.
const (
	permAdministrator  = 1 << 3
	permManageWebhooks = 1 << 29
	// GATEWAY_MESSAGE_CONTENT (verified bots) and ..._LIMITED (the
	// developer-portal toggle of a bot in fewer than 100 servers).
	appFlagMessageContent        = 1 << 18
	appFlagMessageContentLimited = 1 << 19
)

// checkDiscord asks Discord, with the bot token, who the bot is, whether
// its application may read message content, and what it may do in each
// server it is in. The token is never printed.
func checkDiscord(d *doctorRun) {
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d.o.getenv(app.EnvDiscordToken)), "Bot "))
	if token == "" {
		d.skip("discord", app.EnvDiscordToken+" is not set (see env)")
		return
	}
	var me struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Bot      bool   `json:"bot"`
	}
	status, err := d.discordGet("/users/@me", token, &me)
	switch {
	case err != nil:
		d.fail("discord", "cannot reach Discord: "+err.Error(), "check the machine's network and DNS (discord.com must be reachable over HTTPS)")
		return
	case status == http.StatusUnauthorized:
		d.fail("discord", "Discord refused the bot token (401 Unauthorized): it is wrong, or was reset",
			"on the Bot page of your application (https://discord.com/developers/applications) press Reset Token and put the new token in "+app.EnvDiscordToken)
		return
	case status != http.StatusOK:
		d.fail("discord", fmt.Sprintf("GET /users/@me answered %d", status), "try again later; Discord may be having trouble")
		return
	}
	if !me.Bot {
		d.fail("discord", "the token is not a bot's token", "use the token of the Bot page, not a user's")
		return
	}
	d.ok("discord", fmt.Sprintf("token valid: bot %s (id %s)", me.Username, me.ID))

	var appInfo struct {
		Flags int64 `json:"flags"`
	}
	if status, err := d.discordGet("/applications/@me", token, &appInfo); err != nil || status != http.StatusOK {
		d.fail("discord", fmt.Sprintf("cannot read the application (status %d, %v)", status, err), "")
	} else if appInfo.Flags&(appFlagMessageContent|appFlagMessageContentLimited) == 0 {
		d.fail("discord", "the Message Content intent is off: personalities cannot read the messages that call them",
			"on the Bot page, under Privileged Gateway Intents, turn on Message Content Intent and save")
	} else {
		d.ok("discord", "Message Content intent enabled")
	}

	var guilds []struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Owner       bool   `json:"owner"`
		Permissions string `json:"permissions"`
	}
	if status, err := d.discordGet("/users/@me/guilds", token, &guilds); err != nil || status != http.StatusOK {
		d.fail("discord", fmt.Sprintf("cannot list the bot's servers (status %d, %v)", status, err), "")
		return
	}
	if len(guilds) == 0 {
		d.warn("discord", "the bot is in no server yet",
			fmt.Sprintf("invite it: https://discord.com/oauth2/authorize?client_id=%s&scope=bot+applications.commands&permissions=275414895616", me.ID))
		return
	}
	var lacking []string
	for _, g := range guilds {
		perms, _ := strconv.ParseUint(g.Permissions, 10, 64)
		if !g.Owner && perms&(permAdministrator|permManageWebhooks) == 0 {
			lacking = append(lacking, fmt.Sprintf("%s (%s)", g.Name, g.ID))
		}
	}
	if len(lacking) > 0 {
		d.fail("discord", fmt.Sprintf("no Manage Webhooks in %d of %d server(s): %s", len(lacking), len(guilds), strings.Join(lacking, ", ")),
			"in each, give the bot's role Manage Webhooks (Server Settings → Roles), or invite it again with the link in README \"Running the bot\"")
		return
	}
	d.ok("discord", fmt.Sprintf("Manage Webhooks in all %d server(s)", len(guilds)))
}

// discordGet GETs a REST path with the bot token and decodes a 200 answer
// into v. Errors never carry the token (it is only in a header).
func (d *doctorRun) discordGet(path, token string, v any) (int, error) {
	ctx, cancel := context.WithTimeout(d.ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(d.o.discordURL, "/")+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bot "+token)
	req.Header.Set("User-Agent", "DiscordBot (https://github.com/tzurot-go/tzurot, doctor)")
	resp, err := d.o.httpClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("unreadable answer: %w", err)
	}
	return resp.StatusCode, nil
}

// checkDNS resolves every host name an enabled plugin may reach. A name
// that does not resolve is a warning, not a failure: the machine may be
// offline on purpose, and only that provider is affected.
func checkDNS(d *doctorRun) {
	path := app.DefaultPluginsFile
	if p := strings.TrimSpace(d.o.getenv(app.EnvPlugins)); p != "" {
		path = p
	}
	cfg, err := plugin.LoadConfig(path)
	if err != nil {
		d.skip("dns", "plugins.toml cannot be read (see plugins)")
		return
	}
	checked := map[string]bool{}
	bad := 0
	for _, name := range cfg.Names() {
		pc := cfg.Plugins[name]
		if !pc.Enabled {
			continue
		}
		for _, hp := range pc.AllowedHosts {
			host, _, err := net.SplitHostPort(hp)
			if err != nil {
				host = hp
			}
			if checked[host] || net.ParseIP(host) != nil {
				continue
			}
			checked[host] = true
			ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
			_, err = d.o.lookupHost(ctx, host)
			cancel()
			if err != nil {
				bad++
				d.warn("dns", fmt.Sprintf("%s (plugin %s) does not resolve: %v", host, name, dnsCause(err)),
					"check this machine's DNS and network; "+name+" cannot reach its provider until the name resolves (an offline machine can only use local servers)")
			}
		}
	}
	if bad == 0 {
		d.ok("dns", fmt.Sprintf("%d provider host name(s) resolve", len(checked)))
	}
}

func dnsCause(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return "no such host"
		}
		if de.IsTimeout {
			return "the DNS server did not answer in time"
		}
		return de.Err
	}
	return err.Error()
}

// checkNames lists every string that calls a personality and is claimed by
// more than one (rows from before migration 5, which records one holder per
// string but does not resolve older clashes), or that no personality is
// recorded as holding. Each claim gets a suggested fix.
func checkNames(ctx context.Context, st *store.Store, w io.Writer) (int, error) {
	conflicts, err := st.NameConflicts(ctx)
	if err != nil {
		return 0, err
	}
	if len(conflicts) == 0 {
		return 0, nil
	}
	fmt.Fprintf(w, "names: %d string(s) that should call exactly one personality do not (docs/security.md):\n", len(conflicts))
	for _, c := range conflicts {
		holder := "nobody"
		for _, cl := range c.Claims {
			if cl.Holds {
				holder = fmt.Sprintf("%s (id %d)", cl.Slug, cl.PersonalityID)
				break
			}
		}
		fmt.Fprintf(w, "\n  %q: \"@%s\" calls %s\n", c.Handle, c.Handle, holder)
		for _, cl := range c.Claims {
			who := fmt.Sprintf("%s (id %d, %s, owner %s)", cl.Slug, cl.PersonalityID, visibility(cl.IsPublic), orNone(cl.OwnerDiscord))
			if cl.Holds {
				fmt.Fprintf(w, "    - %s %q of %s: holds it\n", cl.Kind, cl.Value, who)
				continue
			}
			fmt.Fprintf(w, "    - %s %q of %s: does not call it\n      fix: %s\n", cl.Kind, cl.Value, who, nameFix(c, cl))
		}
	}
	return len(conflicts), nil
}

// nameFix suggests how to end one claim that is not the holder's.
func nameFix(c store.NameConflict, cl store.NameClaim) string {
	if c.HolderID == 0 && countPersonalities(c) == 1 {
		return fmt.Sprintf("save it again to record it, e.g. `/personality edit personality:%s name:%s`", cl.Slug, cl.Name)
	}
	switch cl.Kind {
	case "name":
		return fmt.Sprintf("rename it: `/personality edit personality:%s name:<another name>`", cl.Slug)
	case "display name":
		return fmt.Sprintf("`/personality edit personality:%s display_name:none` (or another display name)", cl.Slug)
	case "alias":
		return fmt.Sprintf("`/personality alias remove personality:%s alias:%s`", cl.Slug, cl.Value)
	}
	// No command changes a slug.
	return fmt.Sprintf("change the other personality's string, or the slug in SQL: UPDATE personalities SET slug = '%s-2' WHERE id = %d", strings.ReplaceAll(cl.Slug, "'", "''"), cl.PersonalityID)
}

func countPersonalities(c store.NameConflict) int {
	seen := map[int64]bool{}
	for _, cl := range c.Claims {
		seen[cl.PersonalityID] = true
	}
	return len(seen)
}

func visibility(public bool) string {
	if public {
		return "public"
	}
	return "private"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
