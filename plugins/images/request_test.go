//go:build !wasip1

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Each images model gets only what it takes: a size, quality or style it
// would refuse with a 400 is mapped or left out (and named in dropped),
// so a personality that switches models keeps working.
func TestBuildImagesPerModel(t *testing.T) {
	for _, tc := range []struct {
		j       job
		want    string
		dropped string
	}{
		{job{Prompt: "p", Model: "gpt-image-1", Size: "1792x1024", Quality: "standard", Count: 1},
			`{"model":"gpt-image-1","prompt":"p","n":1,"quality":"medium","moderation":"auto"}`, "size 1792x1024"},
		{job{Prompt: "p", Model: "gpt-image-1.5", Size: "auto", Count: 1, NSFW: true},
			`{"model":"gpt-image-1.5","prompt":"p","n":1,"size":"auto","moderation":"low"}`, ""},
		{job{Prompt: "p", Model: "dall-e-3", Size: "512x512", Quality: "auto", Style: "anime", Count: 2},
			`{"model":"dall-e-3","prompt":"p\n\nStyle: anime","n":1,"response_format":"b64_json"}`, "size 512x512, count"},
		{job{Prompt: "p", Model: "dall-e-3", Size: "auto", Quality: "low", Count: 1},
			`{"model":"dall-e-3","prompt":"p","n":1,"response_format":"b64_json","quality":"standard"}`, "size auto"},
		{job{Prompt: "p", Model: "dall-e-2", Size: "1536x1024", Quality: "hd", Style: "vivid", Count: 4},
			`{"model":"dall-e-2","prompt":"p\n\nStyle: vivid","n":4,"response_format":"b64_json"}`, "quality, size 1536x1024"},
		{job{Prompt: "p", Model: "stablediffusion", Size: "512x512", Quality: "hd", Style: "Natural", Count: 1},
			`{"model":"stablediffusion","prompt":"p","n":1,"size":"512x512","response_format":"b64_json","quality":"hd","style":"natural"}`, ""},
		{job{Prompt: "p", Model: "stablediffusion", Size: "auto", Count: 1},
			`{"model":"stablediffusion","prompt":"p","n":1,"response_format":"b64_json"}`, ""},
	} {
		body, dropped := buildImages(tc.j)
		got, _ := json.Marshal(body)
		if string(got) != tc.want || strings.Join(dropped, ", ") != tc.dropped {
			t.Errorf("%+v:\n got %s dropped %q\nwant %s dropped %q", tc.j, got, strings.Join(dropped, ", "), tc.want, tc.dropped)
		}
	}
}

// Chat image models take the prompt (with the style) as a user message and
// the size as an aspect ratio; quality and count have no field.
func TestBuildChat(t *testing.T) {
	body, dropped := buildChat(job{Prompt: "p", Model: "m", Size: "1024x1024", Quality: "hd", Style: "pixel art", Count: 2})
	got, _ := json.Marshal(body)
	want := `{"model":"m","messages":[{"role":"user","content":"p\n\nStyle: pixel art"}],"modalities":["image","text"],"image_config":{"aspect_ratio":"1:1"},"stream":false}`
	if string(got) != want || fmt.Sprint(dropped) != "[quality count]" {
		t.Fatalf("got %s dropped %v\nwant %s", got, dropped, want)
	}
	body, _ = buildChat(job{Prompt: "p", Model: "m", Size: "auto", Count: 1})
	if body.ImageConfig != nil {
		t.Fatalf("auto size sent image_config %+v", body.ImageConfig)
	}
}

// The request's own size and style win over the personality's settings,
// which win over plugins.toml's default_size.
func TestResolvePrecedence(t *testing.T) {
	s := settings{API: apiImages, Model: "gpt-image-1", Size: "1024x1024"}
	j, err := s.resolve(abi.ImageRequest{Prompt: " a cat ", Settings: json.RawMessage(`{"size":"1536x1024","style":"ink","quality":"low"}`)})
	if err != nil || j.Prompt != "a cat" || j.Size != "1536x1024" || j.Style != "ink" || j.Quality != "low" || j.Count != 1 || j.Model != "gpt-image-1" {
		t.Fatalf("settings over config: %+v %v", j, err)
	}
	j, err = s.resolve(abi.ImageRequest{Prompt: "a cat", Size: "1024x1536", Style: "oil", Model: "dall-e-3", Count: 2,
		Settings: json.RawMessage(`{"size":"1536x1024","style":"ink"}`)})
	if err != nil || j.Size != "1024x1536" || j.Style != "oil" || j.Model != "dall-e-3" || j.Count != 2 {
		t.Fatalf("request over settings: %+v %v", j, err)
	}
	if j, _ := s.resolve(abi.ImageRequest{Prompt: "a cat"}); j.Size != "1024x1024" {
		t.Fatalf("config default: %+v", j)
	}
}
