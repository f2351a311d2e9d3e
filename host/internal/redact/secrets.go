package redact

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
)

const (
	// MinSecretLen is the shortest secret Secrets registers. Shorter values
	// ("true", "1234") would redact ordinary words and numbers all over the
	// logs, and are not worth protecting as keys anyway.
	MinSecretLen = 8
	// MaxSecretLen is the longest secret Secrets registers (a PEM private
	// key or a service-account JSON fits).
	MaxSecretLen = 8192
	// DefaultMaxSecrets bounds a registry made with NewSecrets(0).
	DefaultMaxSecrets = 100_000

	// tailLen is the window the fast filters look at: the last
	// MinSecretLen bytes of a secret. The last bytes, not the first: many
	// keys share their first bytes ("sk-or-v1"), and a filter on those
	// would send every mention of that prefix to the slow check.
	tailLen = MinSecretLen
)

// Secrets is the set of exact secret values the process has handled
// (decrypted provider keys, the master key, the Discord token, the database
// password). Redactor masks every occurrence of any of them in log text.
//
// Secrets never keeps a plaintext. For each secret it stores an
// HMAC-SHA256 digest under a random per-process key, its length, and one
// bit in each of two fixed-size filters. At redaction time every window of
// the text whose last eight bytes pass the filters is hashed and looked
// up, so a secret is found at any position, inside longer words too.
//
// The registry holds at most max secrets; observing a secret again makes
// it the most recent, and the least recently observed one is forgotten
// first. It is safe for concurrent use.
type Secrets struct {
	hmacKey  [32]byte
	filterK0 uint64 // keys of the filter fingerprints
	filterK1 uint64

	mu      sync.RWMutex
	max     int
	entries map[digest]*list.Element // of *secretEntry
	order   *list.List               // most recently observed first
	lengths map[int]int              // length -> number of entries
	sorted  []int                    // keys of lengths, ascending; replaced, never mutated
	tail    bitset                   // fingerprints of the last tailLen bytes
	shaped  bitset                   // fingerprints of (last tailLen bytes, length)
	stale   int                      // evictions since the filters were rebuilt
}

type digest [sha256.Size]byte

type secretEntry struct {
	sum      digest
	length   int
	tailAt   uint32 // bit index in Secrets.tail
	shapedAt uint32 // bit index in Secrets.shaped
}

// NewSecrets returns an empty registry that remembers at most max secrets
// (DefaultMaxSecrets when max <= 0). Its memory is fixed at creation: about
// 20 bytes of filter per allowed secret (2 MiB for the default), plus
// about 200 bytes per secret actually observed.
func NewSecrets(max int) *Secrets {
	if max <= 0 {
		max = DefaultMaxSecrets
	}
	s := &Secrets{
		max:     max,
		entries: make(map[digest]*list.Element),
		order:   list.New(),
		lengths: make(map[int]int),
	}
	var seed [16]byte
	_, _ = rand.Read(s.hmacKey[:]) // crypto/rand.Read never fails (it crashes the program instead)
	_, _ = rand.Read(seed[:])
	s.filterK0 = binary.LittleEndian.Uint64(seed[:8])
	s.filterK1 = binary.LittleEndian.Uint64(seed[8:])
	// 64 filter bits per secret keeps false positives near 1-2% when full;
	// capped at 2^23 bits (1 MiB) per filter.
	bits := 1 << 12
	for bits < max*64 && bits < 1<<23 {
		bits <<= 1
	}
	s.tail = newBitset(bits)
	s.shaped = newBitset(bits)
	return s
}

// Observe registers secret so that it is masked in every log line from now
// on. It is meant to be called with every key the process decrypts and
// every credential it reads from its environment. Values shorter than
// MinSecretLen or longer than MaxSecretLen are ignored.
//
// The forms a secret takes once escaped inside JSON or a URL are
// registered too, so it is also found inside logged request bodies and
// links.
func (s *Secrets) Observe(secret string) {
	if len(secret) < MinSecretLen || len(secret) > MaxSecretLen {
		return
	}
	if !needsEscaping(secret) { // most keys: every form is the same
		s.add(secret)
		return
	}
	var forms [4]string
	for i, form := range secretForms(secret, &forms) {
		if i > 0 && slices.Contains(forms[:i], form) {
			continue
		}
		s.add(form)
	}
}

// needsEscaping reports whether JSON or a URL query would write secret
// differently.
func needsEscaping(secret string) bool {
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return true
		}
	}
	return false
}

// secretForms fills forms with secret as written raw, inside a JSON string
// (with and without HTML escaping) and inside a URL query.
func secretForms(secret string, forms *[4]string) []string {
	forms[0] = secret
	forms[1] = jsonEscape(secret, false)
	forms[2] = jsonEscape(secret, true)
	forms[3] = url.QueryEscape(secret)
	return forms[:]
}

func jsonEscape(s string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		return s
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1] // without the quotes
}

func (s *Secrets) add(secret string) {
	if len(secret) < MinSecretLen || len(secret) > MaxSecretLen {
		return
	}
	sum := s.sum(secret)
	w := window(secret[len(secret)-tailLen:])
	e := &secretEntry{
		sum:    sum,
		length: len(secret),
		// Only the bits the filters use are kept, so the entry says as
		// little about the secret's last bytes as the filters need.
		tailAt:   s.tailIndex(w) & s.tail.mask,
		shapedAt: s.shapedIndex(w, len(secret)) & s.shaped.mask,
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[sum]; ok {
		s.order.MoveToFront(el)
		return
	}
	s.entries[sum] = s.order.PushFront(e)
	s.tail.set(e.tailAt)
	s.shaped.set(e.shapedAt)
	if s.lengths[e.length]++; s.lengths[e.length] == 1 {
		s.resortLengths()
	}
	for s.order.Len() > s.max {
		s.evictOldest()
	}
}

// evictOldest forgets the least recently observed secret. Its filter bits
// stay set (another secret may share them) until enough evictions have
// piled up to rebuild the filters from the remaining entries.
func (s *Secrets) evictOldest() {
	el := s.order.Back()
	e := el.Value.(*secretEntry)
	s.order.Remove(el)
	delete(s.entries, e.sum)
	if s.lengths[e.length]--; s.lengths[e.length] == 0 {
		delete(s.lengths, e.length)
		s.resortLengths()
	}
	s.stale++
	if s.stale > s.max/4 {
		s.tail.clear()
		s.shaped.clear()
		for el := s.order.Front(); el != nil; el = el.Next() {
			e := el.Value.(*secretEntry)
			s.tail.set(e.tailAt)
			s.shaped.set(e.shapedAt)
		}
		s.stale = 0
	}
}

func (s *Secrets) resortLengths() {
	sorted := make([]int, 0, len(s.lengths))
	for n := range s.lengths {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)
	s.sorted = sorted
}

// Len reports how many secret forms the registry currently remembers.
func (s *Secrets) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.order.Len()
}

// appendMatches appends to dst the span of every occurrence in text of a
// registered secret.
func (s *Secrets) appendMatches(dst []span, text string) []span {
	if s == nil || len(text) < MinSecretLen {
		return dst
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.sorted) == 0 {
		return dst
	}
	// w holds text[i-7..i]: the last eight bytes of every candidate that
	// ends at i.
	var w uint64
	for i := 0; i < len(text); i++ {
		w = w>>8 | uint64(text[i])<<56
		if i < tailLen-1 || !s.tail.has(s.tailIndex(w)) {
			continue
		}
		end := i + 1
		for _, n := range s.sorted {
			if n > end {
				break
			}
			if !s.shaped.has(s.shapedIndex(w, n)) {
				continue
			}
			if _, ok := s.entries[s.sum(text[end-n:end])]; ok {
				dst = append(dst, span{start: end - n, end: end, mask: Mask})
			}
		}
	}
	return dst
}

// sum is the HMAC of secret. A fresh hash every time, never a pooled
// one: a hash keeps the tail of its last input in its block buffer, and a
// pool would keep that plaintext reachable from the registry. Sums are
// only computed on Observe and when the filters flag a window, so the
// allocation is rare.
func (s *Secrets) sum(secret string) digest {
	h := hmac.New(sha256.New, s.hmacKey[:])
	_, _ = h.Write([]byte(secret))
	var d digest
	h.Sum(d[:0])
	return d
}

// window packs the tailLen bytes of text the way appendMatches' rolling
// window does.
func window(text string) uint64 {
	var w uint64
	for i := range tailLen {
		w = w>>8 | uint64(text[i])<<56
	}
	return w
}

func (s *Secrets) tailIndex(w uint64) uint32 {
	return uint32(mix(w^s.filterK0) >> 32)
}

func (s *Secrets) shapedIndex(w uint64, length int) uint32 {
	return uint32(mix(w^s.filterK1^uint64(length)*0x9e3779b97f4a7c15) >> 32)
}

// mix is the 64-bit finalizer of MurmurHash3: every input bit affects
// every output bit, which is all the filters need.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// bitset is a fixed-size set of bit indexes; an index is reduced to the
// set's size by its low bits.
type bitset struct {
	words []uint64
	mask  uint32
}

func newBitset(bits int) bitset {
	return bitset{words: make([]uint64, bits/64), mask: uint32(bits - 1)}
}

func (b bitset) set(i uint32) {
	i &= b.mask
	b.words[i>>6] |= 1 << (i & 63)
}

func (b bitset) has(i uint32) bool {
	i &= b.mask
	return b.words[i>>6]&(1<<(i&63)) != 0
}

func (b bitset) clear() { clear(b.words) }
