package vault

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Environment variables holding master keys.
const (
	EnvMasterKey         = "APP_MASTER_KEY"
	EnvMasterKeyPrevious = "APP_MASTER_KEY_PREVIOUS"
)

// ErrNoMasterKey means APP_MASTER_KEY is unset: the host refuses to start
// rather than store users' keys unprotected.
var ErrNoMasterKey = errors.New(EnvMasterKey + " is not set: the host refuses to start without a master key for the API-key vault (generate one with `openssl rand -base64 32`)")

// ParseMasterKey decodes a 32-byte key written as base64 (standard or URL
// alphabet, padded or not) or as 64 hex digits. The error never repeats the
// value.
func ParseMasterKey(name, s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) == KeySize {
				return b, nil
			}
			return nil, fmt.Errorf("%s decodes to %d bytes, but a master key must be exactly %d (generate one with `openssl rand -base64 32`)", name, len(b), KeySize)
		}
	}
	return nil, fmt.Errorf("%s is neither base64 nor 64 hex digits (generate a key with `openssl rand -base64 32`)", name)
}

// FromEnv builds the vault from APP_MASTER_KEY and, during a rotation,
// APP_MASTER_KEY_PREVIOUS. getenv is os.Getenv in production.
func FromEnv(getenv func(string) string, opts ...Option) (*Vault, error) {
	raw := getenv(EnvMasterKey)
	if strings.TrimSpace(raw) == "" {
		return nil, ErrNoMasterKey
	}
	current, err := ParseMasterKey(EnvMasterKey, raw)
	if err != nil {
		return nil, err
	}
	var previous []byte
	if p := getenv(EnvMasterKeyPrevious); strings.TrimSpace(p) != "" {
		if previous, err = ParseMasterKey(EnvMasterKeyPrevious, p); err != nil {
			return nil, err
		}
	}
	return New(current, previous, opts...)
}
