package plugin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Scrubbing: the host takes every key a plugin instance may have seen out
// of everything the plugin hands back (output, errors, emitted text, usage,
// log lines). It is defence in depth: the guarantees are that a plugin reads
// no raw key unless granted (raw_key) and that an instance holding a user's
// key never serves another user. A plugin that transforms a key (base64,
// reversed, split across log lines) defeats scrubbing; that is why those
// guarantees come first.

// redactedText replaces a key.
const redactedText = "[redacted]"

// minSecretLen: shorter keys are not scrubbed, as they would mask ordinary
// words (no provider issues keys this short).
const minSecretLen = 8

// scrubString replaces every secret in s.
func scrubString(s string, secrets []string) string {
	for _, k := range secrets {
		if len(k) >= minSecretLen && strings.Contains(s, k) {
			s = strings.ReplaceAll(s, k, redactedText)
		}
	}
	return s
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut. Cut
// only text already scrubbed: a key straddling the cut would otherwise lose
// its tail and no longer match.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// keyPrefixSuffix returns the length of the longest end of s, at least
// minLen bytes, that is the start (not the whole) of a secret: text the
// next piece may complete into a key.
func keyPrefixSuffix(s string, secrets []string, minLen int) int {
	best := 0
	for _, k := range secrets {
		if len(k) < minSecretLen {
			continue
		}
		for n := min(len(k)-1, len(s)); n > best; n-- {
			if n >= minLen && strings.HasSuffix(s, k[:n]) {
				best = n
				break
			}
		}
	}
	return best
}

// scrubCutTail scrubs s, which was cut short by a cap before the host saw
// all of it, and also masks a key's beginning left at its end.
func scrubCutTail(s string, secrets []string) string {
	s = scrubString(s, secrets)
	// A start shorter than 4 bytes ("sk-") says nothing; leave it.
	if n := keyPrefixSuffix(s, secrets, 4); n > 0 {
		s = s[:len(s)-n] + redactedText
	}
	return s
}

// secrets are the keys of this call, in plain text, to scrub from what the
// plugin hands back. Keys of the instance's earlier calls are scrubbed too,
// through its exposure (see redact).
func (st *callState) secrets() []string {
	if st.keyOK && st.key != "" {
		return []string{st.key}
	}
	return nil
}

// maxExposedKeys bounds the keys an instance may be served in its life;
// the call that reaches it is the instance's last. With header injection
// every user who talks to a personality adds a key, so the bound must be
// far above a pool's share of a busy deployment's users: retiring an
// instance costs a new one (about 0.7 ms and 2 MB of allocation for a Go
// plugin), which at 8 keys made every third reply pay for one.
const maxExposedKeys = 1024

// filterBits sizes the bit filter that lets scrub skip most positions
// with one bit test: 16,384 bits (2 KiB) keep false hits under 7% at
// maxExposedKeys.
const filterBits = 1 << 14

// exposure remembers the keys an instance was served (read with api_key or
// injected into its requests, whose answers may echo them) so they can be
// scrubbed from its later calls, which may be another user's. It keeps no
// plain text (a decrypted key lives no longer than its call): per key its
// length, an HMAC-SHA256 under a random key of the instance, and a keyed
// 64-bit hash of its last 8 bytes to find candidates cheaply.
//
// The remembered keys are an immutable set that add replaces (copy on
// write), so a snapshot for scrubbing what a finished call returned is a
// pointer copy, safe while the instance serves its next call.
type exposure struct {
	mac  [32]byte
	seed uint64
	set  *exposedSet // nil until the first key
}

// exposedSet is never changed once built.
type exposedSet struct {
	filter [filterBits / 64]uint64 // bit tail%filterBits set for each key
	keys   []exposedKey            // sorted by tail
}

type exposedKey struct {
	n    int
	tail uint64
	sum  [sha256.Size]byte
}

func newExposure() exposure {
	var e exposure
	var b [8]byte
	_, _ = rand.Read(e.mac[:]) // crypto/rand never fails on supported platforms
	_, _ = rand.Read(b[:])
	e.seed = binary.LittleEndian.Uint64(b[:])
	return e
}

func (e *exposure) sum(s string) (d [sha256.Size]byte) {
	h := hmac.New(sha256.New, e.mac[:])
	h.Write([]byte(s))
	h.Sum(d[:0])
	return d
}

// tailHash mixes the 8 bytes s[i-8:i] with the instance's seed
// (splitmix64's finaliser).
func (e *exposure) tailHash(s string, i int) uint64 {
	w := s[i-8 : i]
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	x ^= e.seed
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// count is how many keys the instance was served.
func (e *exposure) count() int {
	if e.set == nil {
		return 0
	}
	return len(e.set.keys)
}

// candidates returns the remembered keys whose last 8 bytes hash to tail.
func (set *exposedSet) candidates(tail uint64) []exposedKey {
	if set.filter[(tail%filterBits)/64]&(1<<(tail%64)) == 0 {
		return nil
	}
	i := sort.Search(len(set.keys), func(i int) bool { return set.keys[i].tail >= tail })
	j := i
	for j < len(set.keys) && set.keys[j].tail == tail {
		j++
	}
	return set.keys[i:j]
}

// add remembers key (keys shorter than minSecretLen are never scrubbed).
func (e *exposure) add(key string) {
	if len(key) < minSecretLen {
		return
	}
	k := exposedKey{n: len(key), tail: e.tailHash(key, len(key)), sum: e.sum(key)}
	old := e.set
	if old == nil {
		old = &exposedSet{}
	}
	for _, c := range old.candidates(k.tail) {
		if c.n == k.n && hmac.Equal(c.sum[:], k.sum[:]) {
			return // already remembered
		}
	}
	next := &exposedSet{filter: old.filter, keys: make([]exposedKey, 0, len(old.keys)+1)}
	i := sort.Search(len(old.keys), func(i int) bool { return old.keys[i].tail > k.tail })
	next.keys = append(append(append(next.keys, old.keys[:i]...), k), old.keys[i:]...)
	next.filter[(k.tail%filterBits)/64] |= 1 << (k.tail % 64)
	e.set = next
}

// clone is a snapshot of the keys remembered so far: later adds do not
// change it.
func (e exposure) clone() exposure { return e }

// exposure is the instance's exposure while the call runs, a copy of it
// once the call ended (the instance may then serve another call), or nil.
func (st *callState) exposure() *exposure {
	switch {
	case st.exposed != nil:
		return st.exposed
	case st.inst != nil:
		return &st.inst.exposure
	}
	return nil
}

// full reports that the instance must not serve another call.
func (e *exposure) full() bool { return e.count() >= maxExposedKeys }

// scrub replaces every remembered key in s.
func (e *exposure) scrub(s string) string {
	set := e.set
	if set == nil || len(s) < minSecretLen {
		return s
	}
	var b strings.Builder
	last := 0 // end of the text already copied
	for i := minSecretLen; i <= len(s); i++ {
		for _, k := range set.candidates(e.tailHash(s, i)) {
			start := i - k.n
			if start < last {
				continue
			}
			if d := e.sum(s[start:i]); hmac.Equal(d[:], k.sum[:]) {
				b.WriteString(s[last:start])
				b.WriteString(redactedText)
				last = i
				break
			}
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// pluginError is the error a plugin set, as the user sees it: keys
// scrubbed, then cut to maxErrorText (a key across the cut would otherwise
// keep its start).
func (st *callState) pluginError(typed string) *abi.Error {
	e := parsePluginError(typed)
	e.Message = clip(st.redact(e.Message), maxErrorText)
	return e
}

// emit forwards text the plugin emitted to the caller, scrubbed. A key may
// be split across emits, so the end of the text that could be the start of
// this call's key is held back until the next emit shows what follows, or
// the call ends (flushEmit).
func (st *callState) emit(text string) {
	s := st.redact(st.emitHeld + text)
	n := keyPrefixSuffix(s, st.secrets(), 1)
	st.emitHeld = s[len(s)-n:]
	if out := s[:len(s)-n]; out != "" {
		st.call.OnChunk(out)
	}
}

// flushEmit forwards what emit held back when the call ends, masked if it
// is a key's start.
func (st *callState) flushEmit() {
	if st.emitHeld == "" || st.call.OnChunk == nil {
		return
	}
	held := st.emitHeld
	st.emitHeld = ""
	st.call.OnChunk(scrubCutTail(held, st.secrets()))
}

// redactBytes is redact for a plugin's raw output.
func (st *callState) redactBytes(b []byte) []byte {
	if e := st.exposure(); !st.keyOK && (e == nil || e.count() == 0) {
		return b
	}
	s := string(b)
	if r := st.redact(s); r != s {
		return []byte(r)
	}
	return b
}

// redactChat scrubs every text field of a chat response after decoding,
// so a key spelled with JSON escapes is caught too.
func redactChat(resp *abi.ChatResponse, redact func(string) string) {
	resp.Content = redact(resp.Content)
	resp.Reasoning = redact(resp.Reasoning)
	resp.Model = redact(resp.Model)
	resp.FinishReason = redact(resp.FinishReason)
	resp.Usage.Model = redact(resp.Usage.Model)
	resp.Usage.Kind = redact(resp.Usage.Kind)
	for i := range resp.ToolCalls {
		tc := &resp.ToolCalls[i]
		tc.ID, tc.Name, tc.Arguments = redact(tc.ID), redact(tc.Name), redact(tc.Arguments)
	}
}
