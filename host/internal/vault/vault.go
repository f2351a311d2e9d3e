// Package vault seals secrets (users' provider API keys, webhook tokens) for
// storage with AES-256-GCM, and opens them again only at the moment of use.
//
// Every sealed value carries:
//   - a fresh random 96-bit nonce;
//   - the id of the master key that sealed it (its "key version"), derived from
//     the key itself, so that after a rotation the vault knows which key opens a
//     value instead of guessing by position;
//   - associated data naming the row it belongs to (table, user, provider), so
//     a ciphertext copied into another row fails to open.
//
// The AES key is not the master key itself but derived from it with HKDF-SHA256,
// which keeps the key id (also derived) independent of the encryption key.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

const (
	// KeySize is the length of a master key in bytes.
	KeySize = 32
	// NonceSize is the GCM nonce length (96 bits).
	NonceSize = 12

	infoAESKey = "tzurot-go vault v1: aes-256-gcm key"
	infoKeyID  = "tzurot-go vault v1: key id"
)

var (
	// ErrUnknownKey means a value was sealed with a master key this process was
	// not given (neither APP_MASTER_KEY nor APP_MASTER_KEY_PREVIOUS).
	ErrUnknownKey = errors.New("sealed with a master key this host does not have")
	// ErrOpen means authentication failed: the master key is wrong, the stored
	// bytes were changed, or the value was copied from another row.
	ErrOpen = errors.New("cannot decrypt the stored secret: wrong master key, altered data, or a value moved from another row")
)

// Sealed is a value as stored: nonce, ciphertext (with the GCM tag) and the id
// of the master key that sealed it.
type Sealed struct {
	Nonce      []byte
	Ciphertext []byte
	KeyVersion int32
}

type masterKey struct {
	id   int32
	aead cipher.AEAD
}

// Vault seals with the current master key and opens with the current or the
// previous one. It is safe for concurrent use.
type Vault struct {
	current  masterKey
	previous *masterKey

	mu        sync.RWMutex
	observers []func(secret string)
}

// Option configures a Vault.
type Option func(*Vault)

// WithObserver registers fn to be called with every secret the vault opens
// (used by the log redactor to learn the exact strings to hide).
func WithObserver(fn func(secret string)) Option {
	return func(v *Vault) { v.observers = append(v.observers, fn) }
}

// New returns a vault that seals with current and also opens values sealed
// with previous (nil when no rotation is under way).
func New(current, previous []byte, opts ...Option) (*Vault, error) {
	cur, err := newMasterKey(current)
	if err != nil {
		return nil, fmt.Errorf("current master key: %w", err)
	}
	v := &Vault{current: cur}
	if previous != nil {
		prev, err := newMasterKey(previous)
		if err != nil {
			return nil, fmt.Errorf("previous master key: %w", err)
		}
		if prev.id == cur.id {
			return nil, errors.New("APP_MASTER_KEY_PREVIOUS is the same key as APP_MASTER_KEY: leave it unset unless you are rotating")
		}
		v.previous = &prev
	}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

func newMasterKey(k []byte) (masterKey, error) {
	if len(k) != KeySize {
		return masterKey{}, fmt.Errorf("a master key must be %d bytes, got %d", KeySize, len(k))
	}
	aesKey, err := hkdf.Key(sha256.New, k, nil, infoAESKey, KeySize)
	if err != nil {
		return masterKey{}, fmt.Errorf("derive encryption key: %w", err)
	}
	idBytes, err := hkdf.Key(sha256.New, k, nil, infoKeyID, 4)
	if err != nil {
		return masterKey{}, fmt.Errorf("derive key id: %w", err)
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return masterKey{}, fmt.Errorf("create cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return masterKey{}, fmt.Errorf("create gcm: %w", err)
	}
	return masterKey{id: int32(binary.BigEndian.Uint32(idBytes)), aead: aead}, nil
}

// OnOpen registers fn to be called with every secret opened from now on. It
// exists for components built after the vault; prefer WithObserver.
func (v *Vault) OnOpen(fn func(secret string)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.observers = append(v.observers, fn)
}

// CurrentVersion is the key id new values are sealed with.
func (v *Vault) CurrentVersion() int32 { return v.current.id }

// PreviousVersion is the key id of APP_MASTER_KEY_PREVIOUS, if one was given.
func (v *Vault) PreviousVersion() (int32, bool) {
	if v.previous == nil {
		return 0, false
	}
	return v.previous.id, true
}

// IsCurrent reports whether s is sealed with the current master key.
func (v *Vault) IsCurrent(s Sealed) bool { return s.KeyVersion == v.current.id }

// Seal encrypts plaintext for the row named by aad (see RowAAD).
func (v *Vault) Seal(plaintext, aad []byte) (Sealed, error) {
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("read nonce: %w", err)
	}
	return Sealed{
		Nonce:      nonce,
		Ciphertext: v.current.aead.Seal(nil, nonce, plaintext, aad),
		KeyVersion: v.current.id,
	}, nil
}

// Open decrypts s for the row named by aad. The error never contains any part
// of the secret.
func (v *Vault) Open(s Sealed, aad []byte) ([]byte, error) {
	k, err := v.keyFor(s.KeyVersion)
	if err != nil {
		return nil, err
	}
	if len(s.Nonce) != NonceSize {
		return nil, ErrOpen
	}
	plain, err := k.aead.Open(nil, s.Nonce, s.Ciphertext, aad)
	if err != nil {
		return nil, ErrOpen
	}
	v.mu.RLock()
	obs := v.observers
	v.mu.RUnlock()
	if len(obs) > 0 {
		secret := string(plain)
		for _, fn := range obs {
			fn(secret)
		}
	}
	return plain, nil
}

// Reseal opens s and seals it again with the current key: the rotation step.
// The plaintext is not passed to observers: nothing uses it.
func (v *Vault) Reseal(s Sealed, aad []byte) (Sealed, error) {
	k, err := v.keyFor(s.KeyVersion)
	if err != nil {
		return Sealed{}, err
	}
	if len(s.Nonce) != NonceSize {
		return Sealed{}, ErrOpen
	}
	plain, err := k.aead.Open(nil, s.Nonce, s.Ciphertext, aad)
	if err != nil {
		return Sealed{}, ErrOpen
	}
	defer clear(plain)
	return v.Seal(plain, aad)
}

func (v *Vault) keyFor(version int32) (*masterKey, error) {
	switch {
	case version == v.current.id:
		return &v.current, nil
	case v.previous != nil && version == v.previous.id:
		return v.previous, nil
	}
	if v.previous == nil {
		return nil, fmt.Errorf("%w (key id %08x; this host's key is %08x): if APP_MASTER_KEY was changed, set APP_MASTER_KEY_PREVIOUS to the old key and run `tzurot keys rotate`",
			ErrUnknownKey, uint32(version), uint32(v.current.id))
	}
	return nil, fmt.Errorf("%w (key id %08x; this host has %08x and previous %08x)",
		ErrUnknownKey, uint32(version), uint32(v.current.id), uint32(v.previous.id))
}

// RowAAD builds associated data naming one row: its table and identifying
// parts (for an API key: internal user id and provider). Each part is length
// prefixed so ("ab","c") and ("a","bc") differ.
func RowAAD(table string, parts ...string) []byte {
	n := 2 + len(table)
	for _, p := range parts {
		n += 2 + len(p)
	}
	out := make([]byte, 0, n+8)
	out = append(out, "tzv1"...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(table)))
	out = append(out, table...)
	for _, p := range parts {
		out = binary.BigEndian.AppendUint16(out, uint16(len(p)))
		out = append(out, p...)
	}
	return out
}
