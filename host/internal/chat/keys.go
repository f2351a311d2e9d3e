package chat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
)

// Environment variables of the fallback-key policy (see FallbackFromEnv).
const (
	// EnvFallbackKeyPrefix + upper-case slot names a key the bot host pays
	// for: TZUROT_FALLBACK_KEY_OPENROUTER=sk-or-...
	EnvFallbackKeyPrefix = "TZUROT_FALLBACK_KEY_"
	// EnvFallbackUsers and EnvFallbackGuilds list (comma or space separated)
	// the Discord user and guild ids that may use the fallback keys; "*"
	// means everyone.
	EnvFallbackUsers  = "TZUROT_FALLBACK_USERS"
	EnvFallbackGuilds = "TZUROT_FALLBACK_GUILDS"
)

// Fallback is the deployment's policy for users without a key of their own:
// keys owned by the bot host, per provider slot, and who may use them.
type Fallback struct {
	// Keys maps a key slot (provider) to the host's key for it.
	Keys map[string]string
	// Users and Guilds allow the fallback for these Discord ids.
	Users, Guilds []string
	// Everyone allows the fallback for every user.
	Everyone bool
}

// FallbackFromEnv reads the fallback policy. environ is os.Environ in
// production (the slots are discovered from the variable names); observe,
// when not nil, is told every key so the log redactor masks it.
func FallbackFromEnv(environ []string, getenv func(string) string, observe func(string)) (Fallback, error) {
	f := Fallback{Keys: map[string]string{}}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvFallbackKeyPrefix) {
			continue
		}
		slot := strings.ToLower(strings.TrimPrefix(name, EnvFallbackKeyPrefix))
		value = strings.TrimSpace(value)
		if slot == "" || value == "" {
			continue
		}
		if strings.ContainsAny(value, " \t\r\n") {
			return Fallback{}, fmt.Errorf("%s does not look like an API key (it contains spaces)", name)
		}
		f.Keys[slot] = value
		if observe != nil {
			observe(value)
		}
	}
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
	}
	for _, id := range split(getenv(EnvFallbackUsers)) {
		if id == "*" {
			f.Everyone = true
			continue
		}
		if !isSnowflake(id) {
			return Fallback{}, fmt.Errorf("%s: %q is not a Discord user id (or *)", EnvFallbackUsers, id)
		}
		f.Users = append(f.Users, id)
	}
	for _, id := range split(getenv(EnvFallbackGuilds)) {
		if id == "*" {
			f.Everyone = true
			continue
		}
		if !isSnowflake(id) {
			return Fallback{}, fmt.Errorf("%s: %q is not a Discord server (guild) id (or *)", EnvFallbackGuilds, id)
		}
		f.Guilds = append(f.Guilds, id)
	}
	return f, nil
}

// Allowed reports whether the user (in the guild, "" for DMs) may use the
// fallback keys.
func (f Fallback) Allowed(userID, guildID string) bool {
	if len(f.Keys) == 0 {
		return false
	}
	return f.Everyone || slices.Contains(f.Users, userID) || (guildID != "" && slices.Contains(f.Guilds, guildID))
}

func isSnowflake(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Which key paid for a call.
const (
	keyNone     int32 = iota // no key was asked for (yet)
	keyOwn                   // the user's own key
	keyFallback              // the host's fallback key
	keyMissing               // asked, and there was none
)

// keyUse travels in a call's context so the pipeline learns, after the
// call, whose key the plugin used: errors about a user's own key go to that
// user; errors about the host's key go only to the log.
type keyUse struct {
	allowFallback bool
	used          atomic.Int32
	// readErr is the key store's failure (the database away past the
	// retries), if reading the key failed: the bot's own failure, which the
	// plugin can only report as some provider error.
	readErr atomic.Pointer[error]
	// read is the user's own key as read just before the call (see
	// KeySource.prepare), nil when it was not; cleared when the call ends.
	read atomic.Pointer[readKey]
}

// readKey is the outcome of reading one user's key for one slot.
type readKey struct {
	userID, slot string
	key          string
	ok           bool
}

// storeErr returns why reading the key failed, or nil.
func (k *keyUse) storeErr() error {
	if p := k.readErr.Load(); p != nil {
		return *p
	}
	return nil
}

type keyUseKey struct{}

func withKeyUse(ctx context.Context, k *keyUse) context.Context {
	return context.WithValue(ctx, keyUseKey{}, k)
}

// KeySource serves users' own keys from the store and, where the policy in
// the call's context allows, the host's fallback key. It is the
// plugin.KeySource the app gives the plugin host. Keys are never cached.
type KeySource struct {
	Own      plugin.KeySource
	Fallback Fallback
	// Retry rides out a database restart (zero: DefaultRetryPolicy).
	Retry RetryPolicy
}

// APIKey implements plugin.KeySource. A key read for this call by prepare
// is served from memory (no second database read inside the call).
func (k *KeySource) APIKey(ctx context.Context, userID, slot string) (string, bool, error) {
	if userID == plugin.DeploymentCaller {
		// The deployment's own calls (embedding memories) use its fallback
		// key, whoever the fallback policy lets use it for replies.
		fk := k.Fallback.Keys[slot]
		return fk, fk != "", nil
	}
	use, _ := ctx.Value(keyUseKey{}).(*keyUse)
	var (
		key string
		ok  bool
		err error
	)
	if r := use.prepared(userID, slot); r != nil {
		key, ok = r.key, r.ok
	} else {
		key, ok, err = k.own(ctx, userID, slot)
	}
	if err != nil {
		if use != nil {
			use.readErr.Store(&err)
		}
		return "", false, err
	}
	if ok {
		if use != nil {
			use.used.Store(keyOwn)
		}
		return key, true, nil
	}
	if use != nil && use.allowFallback {
		if fk := k.Fallback.Keys[slot]; fk != "" {
			use.used.Store(keyFallback)
			return fk, true, nil
		}
	}
	if use != nil {
		use.used.Store(keyMissing)
	}
	return "", false, nil
}

// prepare reads the user's own key for slot before the plugin call, with
// the retry policy and the job's context. Read inside the call instead, the
// retries would end with the plugin's call_timeout (often shorter than the
// retry window), and a database restart in that moment would lose the
// reply although it was within the window. The key is kept only in use,
// for this call; done clears it.
func (k *KeySource) prepare(ctx context.Context, use *keyUse, userID, slot string) error {
	key, ok, err := k.own(ctx, userID, slot)
	if err != nil {
		return err
	}
	use.read.Store(&readKey{userID: userID, slot: slot, key: key, ok: ok})
	return nil
}

// own reads the user's own key, riding out a database restart.
func (k *KeySource) own(ctx context.Context, userID, slot string) (string, bool, error) {
	policy := k.Retry
	if policy == (RetryPolicy{}) {
		policy = DefaultRetryPolicy()
	}
	var key string
	var ok bool
	err := policy.do(ctx, func(ctx context.Context) error {
		var err error
		key, ok, err = k.Own.APIKey(ctx, userID, slot)
		return err
	})
	return key, ok, err
}

// prepared returns the key read before the call for this user and slot,
// or nil (none was read, or the plugin host asks for another one).
func (k *keyUse) prepared(userID, slot string) *readKey {
	if k == nil {
		return nil
	}
	r := k.read.Load()
	if r == nil || r.userID != userID || r.slot != slot {
		return nil
	}
	return r
}

// done forgets the key read for the call: it lives no longer than the call.
func (k *keyUse) done() { k.read.Store(nil) }
