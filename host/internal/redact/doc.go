// Package redact keeps secrets out of the logs.
//
// Every log line of the process passes through a Handler, which masks two
// kinds of secret before the line is written:
//
//   - Credentials recognisable by their shape or their name: provider keys
//     (sk-or-..., sk-ant-..., sk-..., AIza...), bearer and Discord bot
//     tokens, JWTs, passwords in URLs (postgres://user:***@host), and string
//     values of fields and attributes named like secrets (api_key, token,
//     password, Authorization...; see IsSecretName). Token counts such as
//     "input_tokens": 123 are numbers and stay.
//   - Exact values the process is known to hold: every key the vault
//     decrypts and every credential read from the environment is handed to
//     Secrets.Observe, and from then on any occurrence of it, whatever its
//     shape, is masked.
//
// Secrets does not keep those values in plaintext, because the project
// promises that a decrypted key lives no longer than the call that needed
// it. It keeps an HMAC-SHA256 digest of each under a random key made at
// start, and finds occurrences by hashing candidate windows of the text.
// See docs/security.md ("Logs") for what that costs and what it leaks.
//
// Redactor.String is usable on its own, for any text that leaves the
// process (error messages shown to users, for instance).
package redact
