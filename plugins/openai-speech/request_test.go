//go:build !wasip1

package main

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func TestSettingsFromConfig(t *testing.T) {
	get := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, c := range []struct {
		cfg     map[string]string
		base    string
		useAuth bool
	}{
		{map[string]string{}, "https://api.openai.com", true},
		// A base_url copied from the chat entry keeps working.
		{map[string]string{"base_url": "https://api.openai.com/v1/"}, "https://api.openai.com", true},
		{map[string]string{"base_url": "http://127.0.0.1:8000"}, "http://127.0.0.1:8000", false},
		{map[string]string{"base_url": "https://10.0.0.5:8080"}, "https://10.0.0.5:8080", false},
		{map[string]string{"base_url": "http://localai.local:8080", "auth": "bearer"}, "http://localai.local:8080", true},
		{map[string]string{"base_url": "https://speech.example.com", "auth": "none"}, "https://speech.example.com", false},
	} {
		s, err := newSettings(get(c.cfg))
		if err != nil || s.BaseURL != c.base || s.UseAuth != c.useAuth {
			t.Errorf("%v: %+v %v, want base %s auth %v", c.cfg, s, err, c.base, c.useAuth)
		}
	}
	for _, bad := range []map[string]string{{"base_url": "api.openai.com"}, {"base_url": "ftp://x"}, {"auth": "basic"}} {
		if _, err := newSettings(get(bad)); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func TestIsoLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"english": "en", "English": "en", "german": "de", "chinese": "zh", "haitian creole": "ht",
		"cantonese": "yue", "javanese": "jv", "jw": "jv", "en": "en", "DE": "de", "": "", "klingon": "klingon",
	} {
		if got := isoLanguage(in); got != want {
			t.Errorf("isoLanguage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUploadNameAndFormat(t *testing.T) {
	for _, c := range []struct {
		ref  abi.AudioRef
		want string
	}{
		{abi.AudioRef{MimeType: "audio/ogg", Filename: "voice-message.ogg"}, "voice-message.ogg"},
		{abi.AudioRef{MimeType: "audio/ogg; codecs=opus"}, "audio.ogg"},
		{abi.AudioRef{MimeType: "audio/mpeg", Filename: "blob"}, "audio.mp3"},
		{abi.AudioRef{MimeType: "audio/x-wav"}, "audio.wav"},
		{abi.AudioRef{MimeType: "audio/mp4"}, "audio.m4a"},
	} {
		if got, err := uploadName(c.ref); err != nil || got != c.want {
			t.Errorf("%+v: %q %v, want %q", c.ref, got, err, c.want)
		}
	}
	if _, err := uploadName(abi.AudioRef{MimeType: "text/plain"}); err == nil {
		t.Error("text/plain was given an audio file name")
	}
	for model, want := range map[string]string{"whisper-1": "verbose_json", "gpt-4o-transcribe": "json",
		"gpt-4o-mini-transcribe": "json", "Systran/faster-whisper-small": "verbose_json"} {
		if got := transcribeFormat(model); got != want {
			t.Errorf("%s: %s, want %s", model, got, want)
		}
	}
}

func TestParseTranscription(t *testing.T) {
	for _, c := range []struct {
		body, hint string
		fallback   int64
		want       abi.TranscribeResponse
	}{
		{`{"task":"transcribe","language":"english","duration":3.52,"text":" Hello there. "}`, "", 0,
			abi.TranscribeResponse{Text: "Hello there.", Language: "en", DurationMS: 3520, Usage: abi.Usage{Kind: "voice", Model: "m", AudioMS: 3520}}},
		// Speaches answers the language as a code.
		{`{"language":"en","duration":1.0,"text":"Hi"}`, "", 0,
			abi.TranscribeResponse{Text: "Hi", Language: "en", DurationMS: 1000, Usage: abi.Usage{Kind: "voice", Model: "m", AudioMS: 1000}}},
		// json: no language, no duration; the hint and the caller's measure stand in.
		{`{"text":"Hallo","usage":{"type":"tokens","input_tokens":14}}`, "de", 2400,
			abi.TranscribeResponse{Text: "Hallo", Language: "de", DurationMS: 2400, Usage: abi.Usage{Kind: "voice", Model: "m", AudioMS: 2400}}},
		{`{"text":"Hi","usage":{"type":"duration","seconds":2}}`, "", 0,
			abi.TranscribeResponse{Text: "Hi", DurationMS: 2000, Usage: abi.Usage{Kind: "voice", Model: "m", AudioMS: 2000}}},
		// Silence is a transcription too: empty text.
		{`{"text":""}`, "", 500, abi.TranscribeResponse{DurationMS: 500, Usage: abi.Usage{Kind: "voice", Model: "m", AudioMS: 500}}},
	} {
		got, err := parseTranscription([]byte(c.body), "m", c.hint, c.fallback)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.body, got, err, c.want)
		}
	}
	for _, bad := range []string{`{"status":"queued"}`, `<html>`, `{"text":3}`} {
		if _, err := parseTranscription([]byte(bad), "m", "", 0); err == nil {
			t.Errorf("%s read as a transcription", bad)
		}
	}
}
