package redact

import "bytes"

// secretWords are fragments that make a name secret wherever they appear
// in it, after the name is lower-cased and stripped of separators
// ("X-Api-Key" -> "xapikey").
var secretWords = [][]byte{
	[]byte("password"),
	[]byte("passwd"),
	[]byte("passphrase"),
	[]byte("secret"),
	[]byte("apikey"),
	[]byte("authorization"),
	[]byte("credential"),
	[]byte("cookie"),
	[]byte("privatekey"),
	[]byte("accesskey"),
	[]byte("masterkey"),
	[]byte("signingkey"),
	[]byte("encryptionkey"),
	[]byte("fallbackkey"),
	[]byte("sessionkey"),
}

// publicKeyKinds are words that, in front of a trailing "key", name
// something that is not a credential ("cache_key", "idempotencyKey").
var publicKeyKinds = [][]byte{
	[]byte("cache"),
	[]byte("idempotency"),
	[]byte("dedup"),
	[]byte("dedupe"),
	[]byte("primary"),
	[]byte("foreign"),
	[]byte("partition"),
	[]byte("sort"),
	[]byte("lookup"),
	[]byte("public"),
	[]byte("hot"),
	[]byte("routing"),
	[]byte("object"),
	[]byte("unique"),
	[]byte("group"),
	[]byte("row"),
	[]byte("map"),
}

// IsSecretName reports whether a JSON field, slog attribute, header or
// environment variable with this name holds a credential when its value is
// a string: key, api_key, apiKey, X-Api-Key, OPENAI_KEY, password,
// client_secret, access_token, Authorization, DISCORD_TOKEN, Cookie...
//
// Token counts and tokenizers are not secret ("input_tokens",
// "max_tokens", "tokenizer"), and neither are keys that name a place
// rather than a credential ("cache_key", "public_key").
func IsSecretName(name string) bool {
	if len(name) > 96 {
		// Long names are sentences or data, not field names; checking them
		// would only produce false alarms.
		return false
	}
	var buf [96]byte
	norm := buf[:0]
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			norm = append(norm, c)
		case 'A' <= c && c <= 'Z':
			norm = append(norm, c+'a'-'A')
		}
	}
	if !hasSecretStem(norm) {
		return false // most names: one short pass and done
	}
	switch string(norm) {
	case "key", "auth", "pass":
		return true
	}
	for _, w := range secretWords {
		if bytes.Contains(norm, w) {
			return true
		}
	}
	if hasTokenWord(norm) {
		return true
	}
	return endsWithKeyWord(name, norm)
}

// hasSecretStem reports whether norm contains one of the stems every
// secret name has: key, pass, secret, auth, token, credential, cookie.
func hasSecretStem(norm []byte) bool {
	for i, c := range norm {
		var stems []string
		switch c {
		case 'k':
			stems = []string{"key"}
		case 'p':
			stems = []string{"pass"}
		case 's':
			stems = []string{"secret"}
		case 'a':
			stems = []string{"auth"}
		case 't':
			stems = []string{"token"}
		case 'c':
			stems = []string{"credential", "cookie"}
		default:
			continue
		}
		for _, stem := range stems {
			if bytes.HasPrefix(norm[i:], []byte(stem)) {
				return true
			}
		}
	}
	return false
}

// hasTokenWord reports whether norm contains "token" other than as
// "tokens" (counts) or "tokeniz..." (tokenizers).
func hasTokenWord(norm []byte) bool {
	for i := 0; ; {
		j := bytes.Index(norm[i:], []byte("token"))
		if j < 0 {
			return false
		}
		rest := norm[i+j+len("token"):]
		if !bytes.HasPrefix(rest, []byte("s")) && !bytes.HasPrefix(rest, []byte("iz")) {
			return true
		}
		i += j + len("token")
	}
}

// endsWithKeyWord reports whether the last word of name is "key" (openai_key,
// providerKey, TZUROT_FALLBACK_KEY) and the word before it is not one of
// publicKeyKinds. "monkey" and "hotkey" have no word break and do not count.
func endsWithKeyWord(name string, norm []byte) bool {
	n := len(name)
	if n < 4 {
		return false
	}
	last3 := name[n-3:]
	var wordBreak bool
	switch last3 {
	case "key", "KEY":
		c := name[n-4]
		wordBreak = c == '_' || c == '-' || c == '.' || c == ' '
	case "Key":
		c := name[n-4]
		wordBreak = c == '_' || c == '-' || c == '.' || c == ' ' || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
	}
	if !wordBreak {
		return false
	}
	before := norm[:len(norm)-3]
	for _, k := range publicKeyKinds {
		if bytes.HasSuffix(before, k) {
			return false
		}
	}
	return true
}
