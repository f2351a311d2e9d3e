//go:build !wasip1

package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// TestCloneParts: the upload names every sample's blob, in order, as a
// repeated "files" field, with a filename ElevenLabs can read the type
// from; a request that could not make a voice is refused before any
// upload.
func TestCloneParts(t *testing.T) {
	got, err := cloneParts(abi.CloneVoiceRequest{
		Name: " Lilith ", Description: "Calm, low, a little amused.",
		Samples: []abi.AudioRef{
			{Blob: 3, MimeType: "audio/mpeg", Filename: "first take.mp3"},
			{Blob: 4, MimeType: "audio/wav"},
			{Blob: 5},
		},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []abi.MultipartPart{
		{Name: "name", Value: "Lilith"},
		{Name: "description", Value: "Calm, low, a little amused."},
		{Name: "remove_background_noise", Value: "true"},
		{Name: "files", Blob: 3, Filename: "first take.mp3", ContentType: "audio/mpeg"},
		{Name: "files", Blob: 4, Filename: "sample-2.wav", ContentType: "audio/wav"},
		{Name: "files", Blob: 5, Filename: "sample-3", ContentType: "application/octet-stream"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parts = %+v\nwant %+v", got, want)
	}
	for _, c := range []struct {
		req  abi.CloneVoiceRequest
		want string
	}{
		{abi.CloneVoiceRequest{Name: " ", Samples: []abi.AudioRef{{Blob: 1}}}, "needs a name"},
		{abi.CloneVoiceRequest{Name: "x"}, "at least one voice sample"},
		{abi.CloneVoiceRequest{Name: "x", Samples: []abi.AudioRef{{Blob: 1}, {Blob: 0}}}, "voice sample 2 has no audio"},
	} {
		if _, err := cloneParts(c.req, false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.req, err, c.want)
		}
	}
}

// TestErrorBodies: each shape of ElevenLabs' error body gives its message
// to the user, and a key echoed in one never does.
func TestErrorBodies(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		code   string
		want   string
	}{
		{422, `{"detail":[{"loc":["body","voice_settings","stability"],"msg":"Input should be less than or equal to 1","type":"less_than_equal"}]}`,
			abi.ErrBadRequest, "voice_settings.stability: Input should be less than or equal to 1"},
		{400, `{"detail":"Text too long"}`, abi.ErrBadRequest, "ElevenLabs refused the request (Text too long)"},
		{401, `{"detail":{"status":"invalid_api_key","message":"Invalid API key: sk_0123456789abcdef0123456789abcdef"}}`, abi.ErrInvalidKey, "sk_0123…"},
		{401, `{"detail":{"status":"quota_exceeded","message":"This request exceeds your quota."}}`, abi.ErrNoCredit, "no characters left"},
		{400, `{"detail":{"status":"can_not_use_instant_voice_cloning","message":"Your subscription has no access to instant voice cloning."}}`, abi.ErrBadRequest, "plan of this key does not allow this"},
		{502, `<html>Bad gateway</html>`, abi.ErrUnavailable, "(<html>Bad gateway</html>)"},
		{504, ``, abi.ErrTimeout, "(HTTP 504)"},
	} {
		e := apiError(opClone, c.status, nil, []byte(c.body), "")
		if e.Code != c.code || !strings.Contains(e.Message, c.want) || e.HTTPStatus != c.status {
			t.Errorf("%d %s: %+v, want %s containing %q", c.status, c.body, e, c.code, c.want)
		}
		if strings.Contains(e.Message, "0123456789abcdef0123") {
			t.Errorf("a key survived in %q", e.Message)
		}
	}
}

// TestTTSBodyMatchesEncodingJSON: the hand-written encoder writes exactly
// what json.Marshal writes, for every combination of settings present.
func TestTTSBodyMatchesEncodingJSON(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	yes, no := true, false
	for i := 0; i < 64; i++ {
		vs := &wireVoiceSettings{}
		if i&1 != 0 {
			vs.Stability = f(0)
		}
		if i&2 != 0 {
			vs.SimilarityBoost = f(0.75)
		}
		if i&4 != 0 {
			vs.Style = f(1e-7)
		}
		if i&8 != 0 {
			vs.UseSpeakerBoost = &yes
			if i&32 != 0 {
				vs.UseSpeakerBoost = &no
			}
		}
		if i&16 != 0 {
			vs.Speed = f(1.15)
		}
		b := &ttsBody{Text: "Say \"hi\" <3 \u2028 é 🌙\n", ModelID: "eleven_v3", VoiceSettings: vs}
		if i == 63 {
			b.VoiceSettings = nil
		}
		want, _ := json.Marshal(b)
		got, err := appendTTSBody(nil, b)
		if err != nil || string(got) != string(want) {
			t.Fatalf("case %d: got %s (%v)\nwant %s", i, got, err, want)
		}
	}
}
