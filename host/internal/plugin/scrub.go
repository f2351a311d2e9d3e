package plugin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
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
// the call that reaches it is the instance's last.
const maxExposedKeys = 8

// exposure remembers the keys an instance was served (read with api_key or
// injected into its requests, whose answers may echo them) so they can be
// scrubbed from its later calls, which may be another user's. It keeps no
// plain text (a decrypted key lives no longer than its call): per key its
// length, an HMAC-SHA256 under a random key of the instance, and a keyed
// 64-bit hash of its last 8 bytes to find candidates cheaply.
type exposure struct {
	mac  [32]byte
	seed uint64
	keys []exposedKey
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

// add remembers key (keys shorter than minSecretLen are never scrubbed).
func (e *exposure) add(key string) {
	if len(key) < minSecretLen {
		return
	}
	d := e.sum(key)
	for _, k := range e.keys {
		if k.n == len(key) && hmac.Equal(k.sum[:], d[:]) {
			return
		}
	}
	e.keys = append(e.keys, exposedKey{n: len(key), tail: e.tailHash(key, len(key)), sum: d})
}

func (e exposure) clone() exposure {
	e.keys = append([]exposedKey(nil), e.keys...)
	return e
}

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
func (e *exposure) full() bool { return len(e.keys) >= maxExposedKeys }

// scrub replaces every remembered key in s.
func (e *exposure) scrub(s string) string {
	if len(e.keys) == 0 || len(s) < minSecretLen {
		return s
	}
	var b strings.Builder
	last := 0 // end of the text already copied
	for i := minSecretLen; i <= len(s); i++ {
		h := e.tailHash(s, i)
		for _, k := range e.keys {
			start := i - k.n
			if k.tail != h || start < last {
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
	if e := st.exposure(); !st.keyOK && (e == nil || len(e.keys) == 0) {
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
