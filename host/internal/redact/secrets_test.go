package redact

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func TestObservedSecretIsMaskedWherever_ItAppears(t *testing.T) {
	secrets := NewSecrets(0)
	r := New(secrets)
	// Shaped like nothing the patterns know, so only the registry can
	// catch it.
	const key = "zAi.4f8e1b2c9d7a6e5f"
	if got := r.String("using " + key); got != "using "+key {
		t.Fatalf("unregistered value changed: %q", got)
	}
	secrets.Observe(key)
	for in, want := range map[string]string{
		"using " + key:                        "using " + Mask,
		key + key:                             Mask, // adjacent occurrences merge
		"prefix" + key + "suffix":             "prefix" + Mask + "suffix",
		"a " + key + " b " + key + " c":       "a " + Mask + " b " + Mask + " c",
		"zAi.4f8e1b2c9d7a6e5":                 "zAi.4f8e1b2c9d7a6e5", // one byte short: not the secret
		"zAi.4f8e1b2c9d7a6e5F":                "zAi.4f8e1b2c9d7a6e5F",
		"ok":                                  "ok",
		strings.Repeat("z", 40) + key + "...": strings.Repeat("z", 40) + Mask + "...",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestObservedSecretIsMaskedInEscapedForms(t *testing.T) {
	secrets := NewSecrets(0)
	r := New(secrets)
	const pass = `p@ss"w<rd>&/ü 100%`
	secrets.Observe(pass)

	plainJSON, _ := json.Marshal(map[string]string{"note": pass}) // HTML-escaped form
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode([]string{pass})
	for _, text := range []string{
		"raw " + pass + " end",
		string(plainJSON),
		b.String(),
		"https://example.com/cb?state=" + url.QueryEscape(pass),
	} {
		got := r.String(text)
		if !strings.Contains(got, Mask) {
			t.Errorf("String(%q) = %q, want the secret masked", text, got)
		}
		for _, leak := range []string{pass, "w<rd>", `w\u003crd`, "w%3Crd"} {
			if strings.Contains(got, leak) {
				t.Errorf("String(%q) = %q still contains %q", text, got, leak)
			}
		}
	}
}

func TestShortSecretsAreNotRegistered(t *testing.T) {
	secrets := NewSecrets(0)
	secrets.Observe("true")
	secrets.Observe("1234567")
	if n := secrets.Len(); n != 0 {
		t.Fatalf("registry holds %d short values; it would mask ordinary words", n)
	}
	if got := New(secrets).String("true 1234567"); got != "true 1234567" {
		t.Errorf("short values masked: %q", got)
	}
}

func TestRegistryForgetsLeastRecentlyObserved(t *testing.T) {
	secrets := NewSecrets(3)
	r := New(secrets)
	keys := []string{"first-secret-aaaa", "second-secret-bbb", "third-secret-cccc", "fourth-secret-ddd"}
	secrets.Observe(keys[0])
	secrets.Observe(keys[1])
	secrets.Observe(keys[2])
	secrets.Observe(keys[0]) // used again: now the most recent
	secrets.Observe(keys[3]) // evicts keys[1]
	if n := secrets.Len(); n != 3 {
		t.Fatalf("Len() = %d, want 3", n)
	}
	for i, key := range keys {
		masked := r.String(key) == Mask
		if want := i != 1; masked != want {
			t.Errorf("%s masked = %v, want %v", key, masked, want)
		}
	}
	// Churn through many more than the bound, which also rebuilds the
	// filters; the survivors must still be found.
	for i := range 100 {
		secrets.Observe(fmt.Sprintf("churn-secret-%04d", i))
	}
	if n := secrets.Len(); n != 3 {
		t.Fatalf("Len() = %d after churn, want 3", n)
	}
	for i := 97; i < 100; i++ {
		if key := fmt.Sprintf("churn-secret-%04d", i); r.String(key) != Mask {
			t.Errorf("%s not masked after churn", key)
		}
	}
	if r.String("churn-secret-0050") != "churn-secret-0050" {
		t.Error("evicted secret still masked")
	}
}

// The project promises decrypted keys are not kept in plaintext: nothing
// reachable from the registry may contain a secret or a long piece of it.
func TestRegistryKeepsNoPlaintext(t *testing.T) {
	secrets := NewSecrets(64)
	observed := []string{openRouterKey, "hunter2-hunter2", `quote"and\backslash`}
	for _, s := range observed {
		secrets.Observe(s)
	}
	var found []string
	walkMemory(reflect.ValueOf(secrets), map[uintptr]bool{}, func(b []byte) {
		for _, s := range observed {
			for i := 0; i+MinSecretLen <= len(s); i++ {
				if strings.Contains(string(b), s[i:i+MinSecretLen]) {
					found = append(found, s[i:i+MinSecretLen])
				}
			}
		}
	})
	if len(found) > 0 {
		t.Errorf("registry memory holds plaintext pieces %q", found)
	}
	if secrets.Len() == 0 || New(secrets).String(observed[1]) != Mask {
		t.Fatal("the walk found nothing because nothing was registered")
	}
}

// walkMemory calls visit with the bytes of every string, byte slice and
// integer array reachable from v, unexported fields included.
func walkMemory(v reflect.Value, seen map[uintptr]bool, visit func([]byte)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Kind() == reflect.Pointer {
			if seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
		}
		walkMemory(v.Elem(), seen, visit)
	case reflect.Struct:
		if v.CanAddr() {
			// Read the raw struct bytes too: digests and indexes are there.
			visit(unsafe.Slice((*byte)(unsafe.Pointer(v.UnsafeAddr())), v.Type().Size()))
		}
		for i := range v.NumField() {
			f := v.Field(i)
			if f.CanAddr() {
				f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			}
			walkMemory(f, seen, visit)
		}
	case reflect.String:
		visit([]byte(v.String()))
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			visit(b)
			return
		}
		for i := range v.Len() {
			walkMemory(v.Index(i), seen, visit)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walkMemory(it.Key(), seen, visit)
			walkMemory(it.Value(), seen, visit)
		}
	}
}

func TestRegistryIsSafeForConcurrentUse(t *testing.T) {
	secrets := NewSecrets(50)
	r := New(secrets)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 200 {
				secrets.Observe(fmt.Sprintf("goroutine-%d-secret-%d", g, i))
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 200 {
				key := fmt.Sprintf("goroutine-%d-secret-%d", g, i)
				secrets.Observe(key)
				if got := r.String("value " + key); got != "value "+Mask {
					// It may have been evicted by the other goroutines
					// between Observe and String, but only if the registry
					// is full.
					if secrets.Len() < 50 {
						t.Errorf("String(%q) = %q", key, got)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := secrets.Len(); n != 50 {
		t.Errorf("Len() = %d, want the bound 50", n)
	}
}
