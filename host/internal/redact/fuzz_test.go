package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// FuzzHandlersNeverLeak logs generated records with secrets of every kind
// the package promises to catch, planted at random places, through both
// the JSON and the tint handler, and fails if any piece of a secret shows
// up in the output. The fuzzer drives the generator's seed and the ordinary
// text around the secrets.
//
//	go test -run '^$' -fuzz FuzzHandlersNeverLeak ./host/internal/redact/
func FuzzHandlersNeverLeak(f *testing.F) {
	for i, filler := range []string{
		"", "calling provider", `{"model":"x","n":1}`, "token: ", "password=", "Bearer ", "sk-",
		"postgres://", `"api_key": `, `\"`, "skill task-12 input_tokens=5", "é ü \u2028 \x00\xff",
		strings.Repeat("abc.def ", 40),
	} {
		f.Add(uint64(i), filler, filler)
		f.Add(uint64(i)*7919+1, "", filler)
	}
	f.Fuzz(func(t *testing.T, seed uint64, before, after string) {
		// The text around secrets only needs to be varied, not long: it is
		// repeated at every planted spot.
		before, after = before[:min(len(before), 256)], after[:min(len(after), 256)]
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		// A small registry: cheap to make per input, and its small filters
		// let unrelated text through to the exact check more often.
		secrets := NewSecrets(256)
		rec := &plantedRecord{rng: rng, before: before, after: after}
		for range 1 + rng.IntN(4) {
			rec.plant(newPlantedSecret(rng, secrets))
		}
		for name, output := range outputs {
			var buf bytes.Buffer
			rec.log(slog.New(NewHandler(output(&buf), New(secrets))))
			out := buf.String()
			if !strings.Contains(out, "\n") {
				t.Fatalf("%s handler wrote nothing", name)
			}
			for _, body := range rec.bodies {
				if piece, ok := leaked(out, body); ok {
					t.Fatalf("%s output leaks %q of secret %q\nrecord plan: %s\noutput:\n%s", name, piece, body, rec.plan, out)
				}
			}
		}
	})
}

// plantedSecret is a secret as it is written in a log (text) and the part
// of it that must never be seen (body).
type plantedSecret struct {
	kind      string
	text      string
	body      string
	secretKey string // for kind "attr": the attribute's secret name; text is its value
	exact     bool   // registered in Secrets: may be glued to other text
}

const (
	keyChars    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	bearerChars = keyChars + "._~+/="
	// Printable ASCII, space, quotes and backslashes included.
	printable = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	// What a URL password may hold unescaped.
	passwordChars = keyChars + "!$%&*+,;=:@.~"
	// What a bare key=value value may hold.
	valueChars = keyChars + "!$%*+./:=@~"
)

func randString(rng *rand.Rand, chars string, minLen, maxLen int) string {
	b := make([]byte, minLen+rng.IntN(maxLen-minLen+1))
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

func pick[T any](rng *rand.Rand, items ...T) T { return items[rng.IntN(len(items))] }

func newPlantedSecret(rng *rand.Rand, secrets *Secrets) plantedSecret {
	switch rng.IntN(13) {
	case 0:
		body := randString(rng, keyChars, 20, 64)
		return plantedSecret{kind: "openrouter", text: "sk-or-v1-" + body, body: body}
	case 1:
		body := randString(rng, keyChars, 20, 90)
		return plantedSecret{kind: "anthropic", text: "sk-ant-api03-" + body, body: body}
	case 2:
		body := randString(rng, keyChars, 20, 60)
		return plantedSecret{kind: "openai", text: "sk-" + body, body: body}
	case 3:
		body := randString(rng, keyChars, 35, 40)
		return plantedSecret{kind: "google", text: "AIza" + body, body: body}
	case 4:
		body := randString(rng, bearerChars, 16, 60)
		return plantedSecret{kind: "bearer", text: pick(rng, "Bearer ", "bearer ", "BEARER ", "Authorization: Bearer ") + body, body: body}
	case 5:
		body := randString(rng, keyChars, 24, 26) + "." + randString(rng, keyChars, 6, 6) + "." +
			randString(rng, keyChars, pick(rng, 27, 38), 38)
		return plantedSecret{kind: "discord", text: pick(rng, "", "Bot ", "Authorization: Bot ") + body, body: body}
	case 6:
		pass := randString(rng, passwordChars, 8, 30)
		scheme := pick(rng, "postgres", "postgresql", "mysql", "redis", "https")
		return plantedSecret{kind: "url", text: scheme + "://tzurot:" + pass + "@db.internal:5432/tzurot", body: pass}
	case 7:
		value := randString(rng, printable, 8, 40)
		name := pick(rng, "api_key", "apiKey", "apikey", "secret", "token", "password", "authorization", "client_secret", "access_token", "X-Api-Key")
		quoted, _ := json.Marshal(value)
		return plantedSecret{kind: "json", text: `{"` + name + `":` + pick(rng, "", " ") + string(quoted) + `,"n":1}`, body: value}
	case 8:
		value := randString(rng, printable, 8, 40)
		name := pick(rng, "api_key", "apiKey", "secret", "token", "password", "Authorization", "DISCORD_TOKEN", "openai_key")
		return plantedSecret{kind: "attr", secretKey: name, text: value, body: value}
	case 9:
		value := randString(rng, valueChars, 8, 40)
		name := pick(rng, "password", "token", "api_key", "secret", "passwd")
		return plantedSecret{kind: "kv", text: name + pick(rng, "=", ": ", "=") + value, body: value}
	case 10:
		value := randString(rng, valueChars, 8, 40)
		form := pick(rng, "Authorization: Basic %s", "X-Api-Key: %s", "Cookie: session=%s", "'password': %s", `"secret": [%q]`, "map[Authorization:[%s]]")
		return plantedSecret{kind: "header", text: fmt.Sprintf(form, value), body: value}
	default:
		secret := randString(rng, printable, MinSecretLen, 64)
		secrets.Observe(secret)
		return plantedSecret{kind: "exact", text: secret, body: secret, exact: true}
	}
}

// plantedRecord builds one log call with its secrets spread over the
// message, attributes, groups, errors, structs and handler attributes.
type plantedRecord struct {
	rng           *rand.Rand
	before, after string
	msg           []string
	attrs         []any
	withAttrs     []any
	groups        []string
	bodies        []string
	plan          []string
}

type fuzzNote struct {
	Note  string
	Count int
}

type fuzzStringer struct{ s string }

func (s fuzzStringer) String() string { return "<" + s.s + ">" }

// wrap puts the ordinary text around a secret, with a separator on each
// side unless the secret is registered exactly (those are found glued to
// anything).
func (r *plantedRecord) wrap(p plantedSecret) string {
	if p.exact {
		return r.before + p.text + r.after
	}
	sep := func() string { return pick(r.rng, " ", "\n", "(", ")", ", ", "; ", `"`, "'", "\t", " | ") }
	return r.before + sep() + p.text + sep() + r.after
}

func (r *plantedRecord) plant(p plantedSecret) {
	r.bodies = append(r.bodies, p.body)
	if p.kind == "attr" {
		where := r.rng.IntN(3)
		r.plan = append(r.plan, fmt.Sprintf("%s %q under key %q at %d", p.kind, p.text, p.secretKey, where))
		switch where {
		case 0:
			r.attrs = append(r.attrs, slog.String(p.secretKey, p.text))
		case 1:
			r.withAttrs = append(r.withAttrs, slog.Any(p.secretKey, errors.New(p.text)))
		default:
			r.attrs = append(r.attrs, slog.Group("g", slog.Any(p.secretKey, fuzzStringer{p.text})))
		}
		return
	}
	text := r.wrap(p)
	where := r.rng.IntN(13)
	r.plan = append(r.plan, fmt.Sprintf("%s %q at %d", p.kind, text, where))
	key := fmt.Sprintf("k%d", len(r.attrs))
	switch where {
	case 0:
		r.msg = append(r.msg, text)
	case 1:
		r.attrs = append(r.attrs, slog.String(key, text))
	case 2:
		r.attrs = append(r.attrs, slog.Any(key, fmt.Errorf("request failed: %w", errors.New(text))))
	case 3:
		r.attrs = append(r.attrs, slog.Group("outer", slog.Group("inner", slog.String(key, text), slog.Int("n", 2))))
	case 4:
		r.withAttrs = append(r.withAttrs, slog.String(key, text))
	case 5:
		r.groups = append(r.groups, text)
	case 6:
		r.attrs = append(r.attrs, slog.Any(key, fuzzNote{Note: text, Count: 3}))
	case 7:
		r.attrs = append(r.attrs, slog.Any(key, map[string]any{"detail": text, "tokens": 12}))
	case 8:
		r.attrs = append(r.attrs, slog.Any(key, []any{1, text}))
	case 9:
		r.attrs = append(r.attrs, slog.Any(key, fuzzStringer{text}))
	case 10:
		r.attrs = append(r.attrs, slog.Any(key, []byte(text)))
	case 11:
		r.attrs = append(r.attrs, slog.Any(key, &fuzzNote{Note: text}))
	default:
		r.attrs = append(r.attrs, slog.String(text, "value")) // in a key
	}
}

func (r *plantedRecord) log(logger *slog.Logger) {
	if len(r.withAttrs) > 0 {
		logger = logger.With(r.withAttrs...)
	}
	for _, g := range r.groups {
		logger = logger.WithGroup(g)
	}
	logger.Warn("event "+strings.Join(r.msg, " / "), r.attrs...)
}

// leaked reports whether out shows any piece of secret (eight bytes with
// at least two letters or digits, or the whole of a shorter one), written
// raw or escaped the way the JSON or tint
// handler, or JSON inside JSON, would write it.
func leaked(out, secret string) (string, bool) {
	forms := []string{secret}
	for _, f := range []func(string) string{jsonEscapeNoHTML, jsonEscapeHTML, goQuote} {
		forms = append(forms, f(secret))
	}
	forms = append(forms, jsonEscapeNoHTML(jsonEscapeNoHTML(secret)), goQuote(jsonEscapeNoHTML(secret)))
	for _, form := range forms {
		n := min(8, len(form))
		for i := 0; i+n <= len(form); i++ {
			// A window of punctuation only (`\\\"\\`) is escape noise that
			// other text produces too; the windows around it still count.
			if piece := form[i : i+n]; alnumCount(piece) >= min(2, alnumCount(form)) && strings.Contains(out, piece) {
				return piece, true
			}
		}
	}
	return "", false
}

func alnumCount(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			n++
		}
	}
	return n
}

func jsonEscapeNoHTML(s string) string { return jsonEscape(s, false) }
func jsonEscapeHTML(s string) string   { return jsonEscape(s, true) }
func goQuote(s string) string          { q := strconv.Quote(s); return q[1 : len(q)-1] }
