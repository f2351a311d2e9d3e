package logging

import (
	"net/url"
	"slices"
	"strings"

	"github.com/tzurot-go/tzurot/host/internal/redact"
)

// knownSecretVars are the host's own credentials. Their names are secret
// names anyway; listing them keeps that true if the naming rule changes.
var knownSecretVars = []string{
	"APP_MASTER_KEY",
	"APP_MASTER_KEY_PREVIOUS",
	"DISCORD_TOKEN",
	"TZUROT_FALLBACK_KEY",
}

// ObserveEnvironment registers with secrets every credential found in
// environ (NAME=value pairs, as os.Environ returns them):
//
//   - the value of every variable named like a credential
//     (redact.IsSecretName: APP_MASTER_KEY, DISCORD_TOKEN,
//     OPENROUTER_API_KEY, PGPASSWORD...);
//   - the password of a URL in any value (DATABASE_URL=postgres://u:p@h/db),
//     as written and decoded;
//   - the password of a key=value connection string (host=db password=p).
//
// It returns the names of the variables secrets were taken from, sorted,
// so the caller can say what is being masked without saying what.
func ObserveEnvironment(secrets *redact.Secrets, environ []string) []string {
	var names []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		found := false
		if slices.Contains(knownSecretVars, name) || redact.IsSecretName(name) {
			secrets.Observe(value)
			found = len(value) >= redact.MinSecretLen
		}
		for _, pass := range urlPasswords(value) {
			secrets.Observe(pass)
			found = found || len(pass) >= redact.MinSecretLen
		}
		if pass := connStringPassword(value); pass != "" {
			secrets.Observe(pass)
			found = found || len(pass) >= redact.MinSecretLen
		}
		if found {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// urlPasswords returns the password of a URL value, as written in it and
// percent-decoded (the decoded form is what gets sent to the server and
// may turn up in error messages).
func urlPasswords(value string) []string {
	i := strings.Index(value, "://")
	if i < 0 {
		return nil
	}
	rest := value[i+len("://"):]
	authority := rest[:strings.IndexAny(rest+"/", "/?#")]
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return nil
	}
	_, raw, ok := strings.Cut(authority[:at], ":")
	if !ok || raw == "" {
		return nil
	}
	out := []string{raw}
	if decoded, err := url.PathUnescape(raw); err == nil && decoded != raw {
		out = append(out, decoded)
	}
	return out
}

// connStringPassword returns the password of a libpq-style key=value
// connection string ("host=db user=tzurot password=secret"), or "".
func connStringPassword(value string) string {
	for _, field := range strings.Fields(value) {
		if k, v, ok := strings.Cut(field, "="); ok && strings.EqualFold(k, "password") {
			return strings.Trim(v, `'"`)
		}
	}
	return ""
}
