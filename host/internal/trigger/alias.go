package trigger

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MaxAliasRunes is the longest alias (and personality name) the index accepts, in characters.
// It bounds the work per "@" in a message.
const MaxAliasRunes = 100

// Alias maps a name a user can type after "@" to a personality. A personality's own name is
// indexed as an alias too.
type Alias struct {
	Name          string
	PersonalityID int64 // the store's personality id (never 0)
}

// Mention is one "@alias" found in a message.
type Mention struct {
	PersonalityID int64
	// Start and End are byte offsets of the mention in the text, "@" included.
	Start, End int
}

// AliasIndex finds "@alias" mentions in message text without a database query. It is safe for
// concurrent use: lookups share a read lock, and every change (Replace, Upsert, Delete,
// DeletePersonality) is applied at once, so a message never sees half of a change.
//
// Aliases are matched case-insensitively and runs of whitespace in the text match one space in
// the alias, so "@Bambi   Prime" finds "bambi prime" (see Key). An alias belongs to one personality
// and the index never moves it silently: claiming it for another personality is a *ConflictError
// and the first holder keeps it. (The database already allows one holder per Key, in the table
// personality_handles, so a conflict here means the index and the database disagree.)
type AliasIndex struct {
	mu sync.RWMutex
	// keys holds every alias and every prefix of an alias at which the matcher may stop, so the
	// matcher gives up as soon as the text leaves all aliases (usually after the first word).
	keys          map[string]key
	byPersonality map[int64]map[string]struct{} // personality id -> its normalized aliases
	count         int                           // number of aliases
	maxRunes      int                           // longest alias ever indexed, in runes
}

// key is an entry of AliasIndex.keys.
type key struct {
	personalityID int64 // set (non-zero) when the key is an alias
	longer        int32 // how many aliases continue past this key
}

// NewAliasIndex returns an empty index.
func NewAliasIndex() *AliasIndex {
	return &AliasIndex{
		keys:          map[string]key{},
		byPersonality: map[int64]map[string]struct{}{},
	}
}

// ConflictError is a name two personalities claim. The index keeps it for HolderID, which had it
// first, and refuses ClaimantID: a later entry never silently wins a name.
type ConflictError struct {
	Name       string // as normalized (Key)
	HolderID   int64
	ClaimantID int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("the name %q is claimed by personality %d and personality %d; it stays with %d, the first", e.Name, e.HolderID, e.ClaimantID, e.HolderID)
}

// put indexes a normalized alias for a personality. An alias another personality holds is not
// changed: put returns the conflict. Caller holds the lock.
func (x *AliasIndex) put(name string, personalityID int64) *ConflictError {
	k, exists := x.keys[name]
	if exists && k.personalityID != 0 {
		if k.personalityID != personalityID {
			return &ConflictError{Name: name, HolderID: k.personalityID, ClaimantID: personalityID}
		}
		return nil
	}
	for _, p := range stopPrefixes(name) {
		pk := x.keys[p]
		pk.longer++
		x.keys[p] = pk
	}
	x.count++
	k.personalityID = personalityID
	x.keys[name] = k
	set := x.byPersonality[personalityID]
	if set == nil {
		set = map[string]struct{}{}
		x.byPersonality[personalityID] = set
	}
	set[name] = struct{}{}
	x.maxRunes = max(x.maxRunes, utf8.RuneCountInString(name))
	return nil
}

// remove drops a normalized alias. Caller holds the lock.
func (x *AliasIndex) remove(name string) {
	k, ok := x.keys[name]
	if !ok || k.personalityID == 0 {
		return
	}
	delete(x.byPersonality[k.personalityID], name)
	if len(x.byPersonality[k.personalityID]) == 0 {
		delete(x.byPersonality, k.personalityID)
	}
	k.personalityID = 0
	x.setKey(name, k)
	for _, p := range stopPrefixes(name) {
		pk := x.keys[p]
		pk.longer--
		x.setKey(p, pk)
	}
	x.count--
}

func (x *AliasIndex) setKey(name string, k key) {
	if k.personalityID == 0 && k.longer <= 0 {
		delete(x.keys, name)
		return
	}
	x.keys[name] = k
}

// stopPrefixes returns the proper prefixes of a normalized alias at which longestAt looks the
// buffer up: after a rune that is not a space, where the alias does not continue the same word.
// (Where it does continue the word, text that stops there has already left the alias.)
func stopPrefixes(name string) []string {
	var out []string
	prev := rune(-1)
	for i, r := range name {
		if i > 0 && prev != ' ' && !(isWordRune(prev) && isWordRune(r)) {
			out = append(out, name[:i])
		}
		prev = r
	}
	return out
}

// Replace swaps the whole index for all, for example at startup. If any alias is invalid, nothing
// changes and the error names it. A name listed for two personalities stays with the first in all
// and each such clash is returned (the index is still swapped): the caller logs them.
func (x *AliasIndex) Replace(all []Alias) ([]ConflictError, error) {
	// Sized up front: about two keys per alias (the alias and a word prefix).
	fresh := &AliasIndex{
		keys:          make(map[string]key, 2*len(all)),
		byPersonality: make(map[int64]map[string]struct{}, len(all)/4),
	}
	var conflicts []ConflictError
	for _, a := range all {
		name, err := validate(a)
		if err != nil {
			return nil, err
		}
		if c := fresh.put(name, a.PersonalityID); c != nil {
			conflicts = append(conflicts, *c)
		}
	}
	x.mu.Lock()
	x.keys, x.byPersonality, x.count, x.maxRunes = fresh.keys, fresh.byPersonality, fresh.count, fresh.maxRunes
	x.mu.Unlock()
	return conflicts, nil
}

// Upsert adds an alias. If another personality holds it, nothing changes and the error is a
// *ConflictError naming both.
func (x *AliasIndex) Upsert(a Alias) error {
	name, err := validate(a)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if c := x.put(name, a.PersonalityID); c != nil {
		return c
	}
	return nil
}

// Delete removes an alias. Deleting an unknown alias does nothing.
func (x *AliasIndex) Delete(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(normalize(name))
}

// DeletePersonality removes every alias of a personality (when it is deleted).
func (x *AliasIndex) DeletePersonality(personalityID int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for name := range x.byPersonality[personalityID] {
		x.remove(name)
	}
}

// Len returns the number of aliases.
func (x *AliasIndex) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count
}

// Lookup returns the personality an alias (typed with or without "@") belongs to.
func (x *AliasIndex) Lookup(name string) (personalityID int64, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	k := x.keys[normalize(name)]
	return k.personalityID, k.personalityID != 0
}

// FindMentions returns the "@alias" mentions in text in order of appearance. At each "@" the
// longest alias wins ("@bambi prime" over "@bambi"). An "@" right after a letter or digit is not
// a mention (so e-mail addresses are skipped), and an alias must end where a word ends ("@bambix"
// does not mention "bambi").
func (x *AliasIndex) FindMentions(text string) []Mention {
	var out []Mention
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.count == 0 {
		return nil
	}
	for i := 0; i < len(text); {
		at := strings.IndexByte(text[i:], '@')
		if at < 0 {
			break
		}
		at += i
		if at > 0 {
			if r, _ := utf8.DecodeLastRuneInString(text[:at]); isWordRune(r) {
				i = at + 1
				continue
			}
		}
		if end, pid, ok := x.longestAt(text, at+1); ok {
			out = append(out, Mention{PersonalityID: pid, Start: at, End: end})
			i = end
			continue
		}
		i = at + 1
	}
	return out
}

// longestAt finds the longest alias starting at byte offset start. It normalizes the text as it
// goes (lower case, one space per whitespace run) into a stack buffer and looks the buffer up where
// an alias could end; it stops as soon as no alias continues the buffer, so an "@" costs a map
// lookup or two whatever the size of the index. The caller holds the read lock.
func (x *AliasIndex) longestAt(text string, start int) (end int, personalityID int64, ok bool) {
	var arr [4 * MaxAliasRunes]byte
	buf := arr[:0]
	runes := 0
	for i := start; i < len(text) && runes < x.maxRunes; {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if isSpace(r) {
			if runes == 0 {
				return 0, 0, false // "@ name" is not a mention
			}
			if buf[len(buf)-1] != ' ' {
				buf = append(buf, ' ')
				runes++
			}
			continue
		}
		buf = utf8.AppendRune(buf, toLower(r))
		runes++
		if i < len(text) && isWordRune(r) {
			if next, _ := utf8.DecodeRuneInString(text[i:]); isWordRune(next) {
				continue // an alias cannot end in the middle of a word
			}
		}
		k, found := x.keys[string(buf)]
		if !found {
			break
		}
		if k.personalityID != 0 {
			end, personalityID, ok = i, k.personalityID, true
		}
		if k.longer == 0 {
			break
		}
	}
	return end, personalityID, ok
}

// validate normalizes an alias and checks it can be matched.
func validate(a Alias) (string, error) {
	name := normalize(a.Name)
	switch {
	case name == "":
		return "", fmt.Errorf("alias %q is empty", a.Name)
	case a.PersonalityID == 0:
		return "", fmt.Errorf("alias %q has no personality", a.Name)
	case utf8.RuneCountInString(name) > MaxAliasRunes:
		return "", fmt.Errorf("alias %q is longer than %d characters", a.Name, MaxAliasRunes)
	}
	return name, nil
}

// Key is the form in which a name calls a personality: two names with one Key call the same
// personality, so the Key is what must have a single holder. It is what the database computes as
// tzurot_handle_key (schema/migrations/00005_personality_handles.sql); the store's tests check
// that the two agree on every character.
func Key(name string) string { return normalize(name) }

// normalize lower-cases a name, drops leading space and "@" (any mix: longestAt never sees an
// "@" first, since a mention starts after one), drops trailing space, and turns every run of
// whitespace into one space, the same way longestAt reads message text. normalize(normalize(s))
// is normalize(s).
func normalize(name string) string {
	name = strings.TrimLeftFunc(name, func(r rune) bool { return r == '@' || isSpace(r) })
	var b strings.Builder
	space := false
	for _, r := range name {
		if isSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(toLower(r))
	}
	return b.String()
}

// isWordRune, isSpace and toLower have ASCII fast paths: most text is ASCII and these run per rune.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || '\t' <= r && r <= '\r'
	}
	return unicode.IsSpace(r)
}

func toLower(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(r)
}
