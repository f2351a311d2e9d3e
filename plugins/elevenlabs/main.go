//go:build wasip1

// Command elevenlabs is tzurot's voice plugin for ElevenLabs: text to
// speech with every setting of a personality's voice config sent, and
// instant voice cloning from stored samples.
//
// It never sees a user's key (the host injects it into the xi-api-key
// header, abi.Auth) nor the audio: speech comes back as an HTTP response
// kept host-side (HTTPRequest.ResponseBlob), and cloning samples go out
// as multipart file parts the host builds from blobs (HTTPRequest.
// Multipart). All I/O goes through the host's HTTP functions.
package main

import (
	"encoding/json"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

const version = "1.0.0"

func config() (settings, error) {
	s, err := newSettings(sdk.Config)
	if err != nil {
		return s, sdk.Errorf(abi.ErrInternal, "%v", err)
	}
	return s, nil
}

//go:wasmexport describe
func describe() int32 {
	return sdk.Describe(abi.Description{
		Name:         "elevenlabs",
		Version:      version,
		Summary:      "Speak with ElevenLabs voices (text to speech, MP3) and clone voices from samples.",
		Capabilities: []string{abi.CapSpeak, abi.CapVoiceClone, abi.CapValidateKey},
		NeedsKey:     true,
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
		// Everything ElevenLabs would refuse is refused here, before a
		// request spends the user's characters.
		sp, err := s.prepareSpeech(req)
		if err != nil {
			return abi.SpeakResponse{}, sdk.Errorf(abi.ErrBadRequest, "%v", err)
		}
		res, err := sdk.HTTP(s.speechRequest(sp))
		if err != nil {
			return abi.SpeakResponse{}, transportError("the speech", sdk.AsError(err))
		}
		if !res.OK() {
			return abi.SpeakResponse{}, apiError(opSpeak, res.Status, res.Headers, errorBody(res), sp.voice)
		}
		if e := checkAudio(res.Headers); e != nil {
			return abi.SpeakResponse{}, e
		}
		if res.BodyBlob <= 0 {
			return abi.SpeakResponse{}, sdk.Errorf(abi.ErrInternal, "the host kept no audio for the speech")
		}
		// ElevenLabs bills the characters of the text.
		u := abi.Usage{Kind: abi.UsageVoice, Model: sp.model, Characters: sp.characters}
		sdk.RecordSpentUsage(u)
		return abi.SpeakResponse{Audio: abi.AudioRef{Blob: res.BodyBlob, MimeType: mimeMP3}, Usage: u}, nil
	})
}

// errorBody is an error answer's body: with ResponseBlob it is in a blob
// (error bodies are small JSON, so reading it in is cheap).
func errorBody(res *sdk.Response) []byte {
	if res.BodyBlob <= 0 {
		return res.Body
	}
	b, err := sdk.ReadBlob(res.BodyBlob)
	if err != nil {
		return nil
	}
	return b
}

//go:wasmexport clone_voice
func cloneVoice() int32 {
	return sdk.Handle(func(req abi.CloneVoiceRequest) (abi.CloneVoiceResponse, error) {
		s, err := config()
		if err != nil {
			return abi.CloneVoiceResponse{}, err
		}
		parts, err := cloneParts(req, s.RemoveNoise)
		if err != nil {
			return abi.CloneVoiceResponse{}, sdk.Errorf(abi.ErrBadRequest, "%v", err)
		}
		r := s.request("POST", "/v1/voices/add")
		r.Multipart = parts
		// A retried upload could create the voice twice.
		r.NoRetry = true
		res, err := sdk.HTTP(r)
		if err != nil {
			return abi.CloneVoiceResponse{}, transportError("the voice clone", sdk.AsError(err))
		}
		if !res.OK() {
			return abi.CloneVoiceResponse{}, apiError(opClone, res.Status, res.Headers, res.Body, "")
		}
		var out cloneResult
		if err := json.Unmarshal(res.Body, &out); err != nil || !validVoiceID(out.VoiceID) {
			return abi.CloneVoiceResponse{}, &abi.Error{Code: abi.ErrUnavailable,
				Message: "ElevenLabs answered the voice clone without a usable voice id: " + scrub(provider.Snippet(res.Body))}
		}
		if out.RequiresVerification {
			sdk.Log(abi.LogInfo, "ElevenLabs wants the cloned voice verified before use", map[string]string{"voice_id": out.VoiceID})
		}
		// Instant cloning costs no characters, so there is no usage to bill.
		return abi.CloneVoiceResponse{VoiceID: out.VoiceID}, nil
	})
}

//go:wasmexport validate_key
func validateKey() int32 {
	return sdk.Handle(func(abi.ValidateKeyRequest) (abi.ValidateKeyResult, error) {
		s, err := config()
		if err != nil {
			return abi.ValidateKeyResult{}, err
		}
		// Reading the subscription is authenticated, costs nothing and
		// says whether characters are left.
		req := s.request("GET", "/v1/user/subscription")
		req.TimeoutMS = 15_000
		r, err := sdk.HTTP(req)
		if err != nil {
			return provider.KeyCheckFailed(err)
		}
		return validation(r.Status, r.Headers, r.Body), nil
	})
}

func main() {}
