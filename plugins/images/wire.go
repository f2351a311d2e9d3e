package main

import (
	"encoding/json"

	"github.com/tzurot-go/tzurot/sdk/abijson"
)

// The answers hold megabytes of base64 in JSON strings. encoding/json
// checks such a string byte by byte and copies it, which in a plugin took
// 2.4 to 2.9 s for one 2 MiB image (BenchmarkGenerateImage); abijson scans
// it eight bytes at a time and returns it without a copy. Anything it does
// not read the way encoding/json would (invalid JSON, a key differing from
// a field only in case) goes to json.Unmarshal, which then gives the same
// value or the right error.

// decodeChatAnswer reads a chat completion.
func decodeChatAnswer(raw []byte) (chatAnswer, error) {
	var a chatAnswer
	d := abijson.NewDecoder(raw)
	for key := range d.Object() {
		switch key {
		case "model":
			a.Model = d.String()
		case "choices":
			a.Choices = abijson.Slice(d, readChoice)
		case "usage":
			if !d.Null() {
				a.Usage = &chatUsage{}
				for k := range d.Object() {
					switch k {
					case "prompt_tokens":
						a.Usage.PromptTokens = d.Int()
					case "completion_tokens":
						a.Usage.CompletionTokens = d.Int()
					default:
						d.Unknown(k, "prompt_tokens", "completion_tokens")
					}
				}
			}
		case "error":
			if !d.Null() {
				a.Error = &chatError{}
				for k := range d.Object() {
					switch k {
					case "code":
						a.Error.Code = d.Raw()
					case "message":
						a.Error.Message = d.String()
					default:
						d.Unknown(k, "code", "message")
					}
				}
			}
		default:
			d.Unknown(key, "model", "choices", "usage", "error")
		}
	}
	if d.End() != nil {
		a = chatAnswer{}
		return a, json.Unmarshal(raw, &a)
	}
	return a, nil
}

func readChoice(d *abijson.Decoder, c *chatChoice) {
	for key := range d.Object() {
		switch key {
		case "message":
			for k := range d.Object() {
				switch k {
				case "content":
					c.Message.Content = optString(d)
				case "refusal":
					c.Message.Refusal = optString(d)
				case "images":
					c.Message.Images = abijson.Slice(d, readChatImage)
				default:
					d.Unknown(k, "content", "refusal", "images")
				}
			}
		case "finish_reason":
			c.FinishReason = d.String()
		case "native_finish_reason":
			c.NativeFinishReason = d.String()
		default:
			d.Unknown(key, "message", "finish_reason", "native_finish_reason")
		}
	}
}

func readChatImage(d *abijson.Decoder, im *chatImage) {
	for key := range d.Object() {
		switch key {
		case "type":
			im.Type = d.String()
		case "image_url":
			for k := range d.Object() {
				if k == "url" {
					im.ImageURL.URL = d.String()
				} else {
					d.Unknown(k, "url")
				}
			}
		default:
			d.Unknown(key, "type", "image_url")
		}
	}
}

// optString reads a *string field: nil for null.
func optString(d *abijson.Decoder) *string {
	if d.Null() {
		return nil
	}
	s := d.String()
	return &s
}

// decodeImagesAnswer reads an answer of /v1/images/generations.
func decodeImagesAnswer(raw []byte) (imagesAnswer, error) {
	var a imagesAnswer
	d := abijson.NewDecoder(raw)
	for key := range d.Object() {
		switch key {
		case "created":
			a.Created = d.Int()
		case "data":
			a.Data = abijson.Slice(d, readImagesItem)
		case "usage":
			if !d.Null() {
				a.Usage = &imagesUsage{}
				for k := range d.Object() {
					switch k {
					case "input_tokens":
						a.Usage.InputTokens = d.Int()
					case "output_tokens":
						a.Usage.OutputTokens = d.Int()
					default:
						d.Unknown(k, "input_tokens", "output_tokens")
					}
				}
			}
		default:
			d.Unknown(key, "created", "data", "usage")
		}
	}
	if d.End() != nil {
		a = imagesAnswer{}
		return a, json.Unmarshal(raw, &a)
	}
	return a, nil
}

func readImagesItem(d *abijson.Decoder, it *imagesItem) {
	for key := range d.Object() {
		switch key {
		case "b64_json":
			it.B64JSON = d.String()
		case "url":
			it.URL = d.String()
		case "revised_prompt":
			it.RevisedPrompt = d.String()
		default:
			d.Unknown(key, "b64_json", "url", "revised_prompt")
		}
	}
}
