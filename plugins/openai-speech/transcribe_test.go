//go:build !wasip1

package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// voiceMessage is what a Discord voice message looks like to the plugin:
// Ogg Opus bytes (here an Ogg page header and text the fake "hears").
func voiceMessage(said string) []byte {
	return append([]byte("OggS\x00\x02"), []byte(said)...)
}

func TestTranscribe(t *testing.T) {
	h, api := setup(t, false, plugintest.Options{})
	said := strings.Repeat("hello from a voice message ", 4000) // ~100 KiB
	audio := voiceMessage(said)
	out, e := h.Transcribe(abi.TranscribeRequest{Audio: abi.AudioRef{MimeType: "audio/ogg", Filename: "voice-message.ogg", DurationMS: 3000}}, audio)
	if e != nil {
		t.Fatalf("transcribe: %v", e)
	}
	// verbose_json: the server's text, its language as ISO 639-1, its
	// duration (not the caller's 3000 ms) as what is billed.
	want := abi.TranscribeResponse{Text: strings.TrimSpace(string(audio)), Language: "en", DurationMS: 3520,
		Usage: abi.Usage{Kind: abi.UsageVoice, Model: "whisper-1", AudioMS: 3520}}
	if out != want {
		t.Fatalf("out = %+v\nwant %+v", trunc(out), trunc(want))
	}
	up := api.lastUpload()
	if !bytes.Equal(up.File, audio) || up.FileName != "voice-message.ogg" || up.FileType != "audio/ogg" {
		t.Fatalf("file part: %d bytes (want %d) named %q of type %q", len(up.File), len(audio), up.FileName, up.FileType)
	}
	if fmt.Sprint(up.Fields) != fmt.Sprint(map[string]string{"model": "whisper-1", "response_format": "verbose_json"}) {
		t.Fatalf("form fields = %v (no language unless the caller gives one)", up.Fields)
	}
	if up.Header.Get("Authorization") != "Bearer "+keyGood || !strings.HasPrefix(up.Header.Get("Content-Type"), "multipart/form-data; boundary=") {
		t.Fatalf("headers: auth %q, type %q", up.Header.Get("Authorization"), up.Header.Get("Content-Type"))
	}
}

func TestTranscribeLanguageAndModels(t *testing.T) {
	h, api := setup(t, false, plugintest.Options{Config: map[string]string{"default_transcription_model": "gpt-4o-mini-transcribe"}})
	// gpt-4o transcription models answer only json: no language, no
	// duration, so the hint and the caller's measure stand in.
	out, e := h.Transcribe(abi.TranscribeRequest{Language: "DE", Audio: abi.AudioRef{MimeType: "audio/mpeg", DurationMS: 2500}}, []byte("ID3 hallo"))
	if e != nil {
		t.Fatal(e)
	}
	if out.Text != "ID3 hallo" || out.Language != "de" || out.DurationMS != 2500 || out.Usage.AudioMS != 2500 || out.Usage.Model != "gpt-4o-mini-transcribe" {
		t.Fatalf("out = %+v", out)
	}
	up := api.lastUpload()
	if up.FileName != "audio.mp3" || up.Fields["response_format"] != "json" || up.Fields["language"] != "de" || up.Fields["model"] != "gpt-4o-mini-transcribe" {
		t.Fatalf("upload %q %v", up.FileName, up.Fields)
	}
	// whisper-1 asked for by name, with a language: verbose_json, German.
	out, e = h.Transcribe(abi.TranscribeRequest{Model: "whisper-1", Language: "de", Audio: abi.AudioRef{MimeType: "audio/wav"}}, []byte("RIFF guten tag"))
	if e != nil {
		t.Fatal(e)
	}
	if out.Language != "de" || out.DurationMS != 3520 || api.lastUpload().FileName != "audio.wav" || api.lastUpload().Fields["response_format"] != "verbose_json" {
		t.Fatalf("out = %+v, upload %+v", out, api.lastUpload().Fields)
	}
}

func TestTranscribeLocalServer(t *testing.T) {
	h, api := setup(t, true, plugintest.Options{Config: map[string]string{"default_transcription_model": "Systran/faster-whisper-small"}})
	out, e := h.Transcribe(abi.TranscribeRequest{Audio: abi.AudioRef{MimeType: "audio/ogg"}}, voiceMessage("local"))
	if e != nil {
		t.Fatal(e)
	}
	if out.Text == "" || out.Usage.Model != "Systran/faster-whisper-small" {
		t.Fatalf("out = %+v", out)
	}
	if up := api.lastUpload(); up.Header.Get("Authorization") != "" || up.Fields["response_format"] != "verbose_json" {
		t.Fatalf("auth %q, fields %v", up.Header.Get("Authorization"), up.Fields)
	}
}

func TestTranscribeErrors(t *testing.T) {
	h, api := setup(t, false, plugintest.Options{})
	for _, c := range []struct {
		name string
		req  abi.TranscribeRequest
		want plugintest.WantError
	}{
		{"rate limited", abi.TranscribeRequest{Model: "busy"}, plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 429,
			Message: "Rate limit reached for whisper-1. (the provider asks to wait 3 s before trying again)"}},
		{"bad gateway", abi.TranscribeRequest{Model: "down"}, plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: 502, Message: "502 Bad Gateway"}},
		{"no transcript", abi.TranscribeRequest{Model: "garbage"}, plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true,
			Message: `the speech server sent an answer that is not a transcription: {"status":"queued"}`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, e := h.Transcribe(c.req, voiceMessage("hi"))
			plugintest.CheckError(t, e, c.want)
		})
	}

	before := api.uploadCount()
	_, e := h.Transcribe(abi.TranscribeRequest{Audio: abi.AudioRef{MimeType: "text/plain"}}, []byte("just text"))
	plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrBadRequest, Message: `audio of type "text/plain" cannot be transcribed (send mp3, wav, ogg, webm, flac or m4a)`})
	if api.uploadCount() != before {
		t.Fatal("a text file was sent to the server")
	}

	bad, _ := setup(t, false, plugintest.Options{Key: keyBad})
	_, e = bad.Transcribe(abi.TranscribeRequest{}, voiceMessage("hi"))
	plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrInvalidKey, HTTPStatus: 401, Message: "Incorrect API key provided"})
	if strings.Contains(e.Message, keyBad) {
		t.Fatalf("the key reached the error: %q", e.Message)
	}
}

// trunc shortens a transcription for a failure message.
func trunc(r abi.TranscribeResponse) abi.TranscribeResponse {
	if len(r.Text) > 60 {
		r.Text = r.Text[:60] + "…"
	}
	return r
}
