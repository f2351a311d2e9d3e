//go:build wasip1

package main

import (
	"encoding/json"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// The voice exports talk to a fake provider at config base_url the way
// the real voice plugins do: speech kept host-side as a response blob,
// samples and audio uploaded as host-built multipart forms.

//go:wasmexport speak
func speak() int32 {
	return sdk.Handle(func(req abi.SpeakRequest) (abi.SpeakResponse, error) {
		if req.Text == "bytes" {
			a, err := sdk.AudioFromBytes([]byte("ID3\x04\x00\x00\x00\x00\x00\x00made in the plugin"), "audio/mpeg")
			return abi.SpeakResponse{Audio: a}, err
		}
		base, _ := sdk.Config("base_url")
		body, _ := json.Marshal(map[string]any{"text": req.Text, "voice_settings": req.Settings})
		r, err := sdk.HTTP(abi.HTTPRequest{Method: "POST", URL: base + "/v1/text-to-speech/" + req.VoiceID,
			Body: string(body), ResponseBlob: true, Auth: &abi.Auth{Header: "xi-api-key", Scheme: "-"}})
		if err != nil {
			return abi.SpeakResponse{}, err
		}
		if !r.OK() {
			return abi.SpeakResponse{}, sdk.Errorf(abi.ErrBadRequest, "the provider answered %d", r.Status)
		}
		a, err := sdk.AudioFromResponse(r, "")
		return abi.SpeakResponse{Audio: a, Usage: abi.Usage{Kind: abi.UsageVoice, Characters: int64(len(req.Text))}}, err
	})
}

//go:wasmexport transcribe
func transcribe() int32 {
	return sdk.Handle(func(req abi.TranscribeRequest) (abi.TranscribeResponse, error) {
		base, _ := sdk.Config("base_url")
		r, err := sdk.HTTP(abi.HTTPRequest{Method: "POST", URL: base + "/v1/audio/transcriptions", Auth: sdk.BearerAuth(),
			Multipart: []abi.MultipartPart{sdk.FilePart("file", req.Audio), sdk.TextPart("model", "whisper-1")}})
		if err != nil {
			return abi.TranscribeResponse{}, err
		}
		var out struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(r.Body, &out); err != nil || !r.OK() {
			return abi.TranscribeResponse{}, sdk.Errorf(abi.ErrUnavailable, "the provider answered %d", r.Status)
		}
		return abi.TranscribeResponse{Text: out.Text, Usage: abi.Usage{Kind: abi.UsageVoice, AudioMS: 1000}}, nil
	})
}

//go:wasmexport clone_voice
func cloneVoice() int32 {
	return sdk.Handle(func(req abi.CloneVoiceRequest) (abi.CloneVoiceResponse, error) {
		base, _ := sdk.Config("base_url")
		parts := []abi.MultipartPart{sdk.TextPart("name", req.Name)}
		for _, s := range req.Samples {
			parts = append(parts, sdk.FilePart("files", s))
		}
		r, err := sdk.HTTP(abi.HTTPRequest{Method: "POST", URL: base + "/v1/voices/add", Multipart: parts,
			Auth: &abi.Auth{Header: "xi-api-key", Scheme: "-"}})
		if err != nil {
			return abi.CloneVoiceResponse{}, err
		}
		var out struct {
			VoiceID string `json:"voice_id"`
		}
		_ = json.Unmarshal(r.Body, &out)
		return abi.CloneVoiceResponse{VoiceID: out.VoiceID}, nil
	})
}
