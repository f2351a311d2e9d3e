package chat

import (
	"context"
	"encoding/json"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// HostVoice is the Voice of a plugin host: speech, transcription and the
// voice_schema check go to the real plugins (their capability grants,
// blobs, key injection and usage rules are the host's).
type HostVoice struct{ Host *plugin.Host }

// Speak implements Voice.
func (v HostVoice) Speak(ctx context.Context, name string, req abi.SpeakRequest) (Speech, []abi.Usage, error) {
	resp, audio, usage, err := v.Host.Speak(ctx, name, req)
	if err != nil {
		return Speech{}, usage, err
	}
	return Speech{Audio: audio, MimeType: resp.Audio.MimeType, DurationMS: resp.Audio.DurationMS}, usage, nil
}

// Transcribe implements Voice: the host puts the audio into the call's blob
// store, so it never crosses the boundary inside JSON.
func (v HostVoice) Transcribe(ctx context.Context, name string, audio []byte, ref abi.AudioRef, req abi.TranscribeRequest) (abi.TranscribeResponse, []abi.Usage, error) {
	req.Audio = ref
	return v.Host.Transcribe(ctx, name, req, audio)
}

// ValidateVoiceSettings implements Voice.
func (v HostVoice) ValidateVoiceSettings(name string, settings json.RawMessage) error {
	return v.Host.ValidateVoiceSettings(name, settings)
}
