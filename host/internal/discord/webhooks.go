package discord

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"
)

// Webhook is a channel webhook the bot posts through. Token is a credential: it is kept out of
// logs and fmt output.
type Webhook struct {
	ID    string
	Token string
}

// LogValue keeps the token out of structured logs.
func (w Webhook) LogValue() slog.Value { return slog.StringValue("webhook " + w.ID) }

// String keeps the token out of fmt output (%v, %+v, %s).
func (w Webhook) String() string { return "webhook " + w.ID }

// GoString keeps the token out of %#v.
func (w Webhook) GoString() string { return "discord.Webhook{ID: " + w.ID + "}" }

// WebhookStore remembers the webhook of each channel, so a reply costs one request instead of
// three (list, create, execute). The PostgreSQL store implements the same methods with the token
// sealed at rest; MemoryWebhookStore is for tests and single runs.
type WebhookStore interface {
	ChannelWebhook(ctx context.Context, channelID string) (w Webhook, found bool, err error)
	PutChannelWebhook(ctx context.Context, channelID string, w Webhook) error
	DeleteChannelWebhook(ctx context.Context, channelID string) error
}

// MemoryWebhookStore is an in-memory WebhookStore.
type MemoryWebhookStore struct {
	mu sync.Mutex
	m  map[string]Webhook
}

// NewMemoryWebhookStore returns an empty store.
func NewMemoryWebhookStore() *MemoryWebhookStore {
	return &MemoryWebhookStore{m: map[string]Webhook{}}
}

// ChannelWebhook implements WebhookStore.
func (s *MemoryWebhookStore) ChannelWebhook(_ context.Context, channelID string) (Webhook, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.m[channelID]
	return w, ok, nil
}

// PutChannelWebhook implements WebhookStore.
func (s *MemoryWebhookStore) PutChannelWebhook(_ context.Context, channelID string, w Webhook) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[channelID] = w
	return nil
}

// DeleteChannelWebhook implements WebhookStore.
func (s *MemoryWebhookStore) DeleteChannelWebhook(_ context.Context, channelID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, channelID)
	return nil
}

// MaxWebhookName is Discord's limit on webhook names and username overrides, in characters.
const MaxWebhookName = 80

// fallbackName is used when a personality's name is blank.
const fallbackName = "Personality"

// WebhookUsername makes a personality name acceptable to Discord as a webhook username:
//
//   - Discord refuses names containing "clyde" or "discord" in any case, so one letter of each
//     such word is swapped for a Cyrillic look-alike ("discord" -> "discоrd" with U+043E for the
//     o, "Clyde" -> "Clydе" with U+0435 for the e), which reads the same;
//   - surrounding whitespace is trimmed and a blank name becomes "Personality";
//   - names longer than 80 characters are cut to 80.
func WebhookUsername(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return fallbackName
	}
	name = swapLetter(name, "discord", 4, 'о', 'О')
	name = swapLetter(name, "clyde", 4, 'е', 'Е')
	if utf8.RuneCountInString(name) > MaxWebhookName {
		runes := []rune(name)
		name = strings.TrimSpace(string(runes[:MaxWebhookName]))
	}
	return name
}

// swapLetter replaces, in every case-insensitive occurrence of the ASCII word, the letter at
// index i with lower or upper (matching the original letter's case).
func swapLetter(s, word string, i int, lower, upper rune) string {
	var b strings.Builder
	last := 0
	for at := 0; at+len(word) <= len(s); at++ {
		if !equalFoldASCII(s[at:at+len(word)], word) {
			continue
		}
		b.WriteString(s[last : at+i])
		if c := s[at+i]; c >= 'A' && c <= 'Z' {
			b.WriteRune(upper)
		} else {
			b.WriteRune(lower)
		}
		last = at + i + 1
		at += len(word) - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func equalFoldASCII(a, b string) bool {
	for k := 0; k < len(a); k++ {
		c := a[k]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[k] {
			return false
		}
	}
	return true
}
