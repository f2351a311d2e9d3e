//go:build wasip1

// Command openai-speech is tzurot's voice plugin for OpenAI-compatible
// speech (POST /v1/audio/speech) and transcription (POST
// /v1/audio/transcriptions): OpenAI itself and local servers that copy its
// API (Speaches, LocalAI), chosen by base_url in plugins.toml.
//
// Audio never enters the plugin: speech comes back as an HTTP response the
// host keeps as a blob (HTTPRequest.ResponseBlob), and the audio to
// transcribe goes out as a file part of a multipart body the host builds
// from the caller's blob (HTTPRequest.Multipart). The plugin never holds a
// key either: the host injects "Authorization: Bearer <key>" (abi.Auth).
package main

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

const version = "1.0.0"

// who names the provider in messages a user reads.
const who = "the speech server"

func config() (settings, error) {
	s, err := newSettings(sdk.Config)
	if err != nil {
		return s, sdk.Errorf(abi.ErrInternal, "%v", err)
	}
	return s, nil
}

//go:wasmexport describe
func describe() int32 {
	s, err := config()
	return sdk.Describe(abi.Description{
		Name:         "openai-speech",
		Version:      version,
		Summary:      "Speech and transcription through OpenAI or a local OpenAI-compatible server (Speaches, LocalAI).",
		Capabilities: []string{abi.CapSpeak, abi.CapTranscribe, abi.CapValidateKey},
		NeedsKey:     err != nil || s.UseAuth,
		NeedsNetwork: true,
		VoiceSchema:  json.RawMessage(voiceSchema),
	})
}

//go:wasmexport speak
func speak() int32 {
	return sdk.Handle(func(req abi.SpeakRequest) (abi.SpeakResponse, error) {
		s, err := config()
		if err != nil {
			return abi.SpeakResponse{}, err
		}
		body, mime, dropped, err := s.buildSpeech(req)
		if err != nil {
			// Refused before any request: nothing spent, nothing sent.
			return abi.SpeakResponse{}, sdk.Errorf(abi.ErrBadRequest, "%v", err)
		}
		if len(dropped) > 0 {
			sdk.Log(abi.LogDebug, "settings this speech model does not take were left out",
				map[string]string{"model": body.Model, "dropped": dropped[0]})
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return abi.SpeakResponse{}, sdk.Errorf(abi.ErrInternal, "encode request: %v", err)
		}
		hr := s.httpRequest("POST", "/v1/audio/speech")
		hr.Body = string(raw)
		hr.Headers["Content-Type"] = "application/json"
		// The audio stays host-side: the plugin hands its handle on.
		hr.ResponseBlob = true
		r, err := sdk.HTTP(hr)
		if err != nil {
			return abi.SpeakResponse{}, noAnswer("the audio", err)
		}
		if !r.OK() {
			return abi.SpeakResponse{}, provider.OpenAIError(r.Status, blobText(r), r.Headers["retry-after"])
		}
		if ct := r.Headers["content-type"]; !speechAnswerIsAudio(ct) {
			return abi.SpeakResponse{}, &abi.Error{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: r.Status,
				Message: who + " answered with " + ct + " instead of audio: " + provider.Snippet(blobText(r))}
		}
		// The response's usage is billed (the call records no row): the
		// characters sent, as OpenAI bills its speech models.
		usage := abi.Usage{Kind: abi.UsageVoice, Model: body.Model, Characters: int64(utf8.RuneCountInString(body.Input))}
		return abi.SpeakResponse{Audio: abi.AudioRef{Blob: r.BodyBlob, MimeType: mime}, Usage: usage}, nil
	})
}

//go:wasmexport transcribe
func transcribe() int32 {
	return sdk.Handle(func(req abi.TranscribeRequest) (abi.TranscribeResponse, error) {
		s, err := config()
		if err != nil {
			return abi.TranscribeResponse{}, err
		}
		parts, model, _, err := s.buildTranscription(req)
		if err != nil {
			return abi.TranscribeResponse{}, sdk.Errorf(abi.ErrBadRequest, "%v", err)
		}
		hr := s.httpRequest("POST", "/v1/audio/transcriptions")
		hr.Headers["Accept"] = "application/json"
		hr.Multipart = parts // built by the host: the audio never enters the plugin
		r, err := sdk.HTTP(hr)
		if err != nil {
			return abi.TranscribeResponse{}, noAnswer("the transcription", err)
		}
		if !r.OK() {
			return abi.TranscribeResponse{}, provider.OpenAIError(r.Status, r.Body, r.Headers["retry-after"])
		}
		out, err := parseTranscription(r.Body, model, req.Language, req.Audio.DurationMS)
		if err != nil {
			return abi.TranscribeResponse{}, &abi.Error{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: r.Status,
				Message: who + " sent an answer that is not a transcription: " + provider.Snippet(r.Body)}
		}
		return out, nil
	})
}

//go:wasmexport validate_key
func validateKey() int32 {
	return sdk.Handle(func(abi.ValidateKeyRequest) (abi.ValidateKeyResult, error) {
		s, err := config()
		if err != nil {
			return abi.ValidateKeyResult{}, err
		}
		req := s.httpRequest("GET", "/v1/models")
		req.Headers["Accept"] = "application/json"
		req.TimeoutMS = 15_000
		r, err := sdk.HTTP(req)
		if err != nil {
			return provider.KeyCheckFailed(err)
		}
		if !r.OK() {
			return provider.KeyCheckRefused(who, r.Status, provider.OpenAIError(r.Status, r.Body, r.Headers["retry-after"])), nil
		}
		return abi.ValidateKeyResult{Status: abi.KeyValid}, nil
	})
}

// noAnswer is the error when no whole HTTP answer arrived (err from
// sdk.HTTP): the host's own words, saying what was lost. A connection cut
// half way through the audio lands here too, since the host reads the
// whole body before it answers.
func noAnswer(what string, err error) *abi.Error {
	e := *sdk.AsError(err)
	if e.Code == abi.ErrUnavailable || e.Code == abi.ErrTimeout {
		e.Message = what + " did not arrive whole from " + who + ": " + e.Message
	}
	return &e
}

// blobText reads a (small) answer kept host-side, for an error message.
func blobText(r *sdk.Response) []byte {
	if r.BodyBlob == 0 {
		return r.Body
	}
	b, err := sdk.ReadBlob(r.BodyBlob)
	if err != nil {
		return nil
	}
	return b
}

func main() {}
