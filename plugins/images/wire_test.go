//go:build !wasip1

package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The fast decoders give exactly what json.Unmarshal gives, or an error
// where it gives one: escapes, nulls, unknown keys, a key differing only
// in case, a document that is not an object.
func TestDecodersMatchEncodingJSON(t *testing.T) {
	chats := []string{
		`{"id":"gen-1","model":"google/gemini-2.5-flash-image","choices":[{"index":0,"finish_reason":"stop","native_finish_reason":"STOP","message":{"role":"assistant","content":"Here \"it\" is \u00e9","images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO\/Rw0="}}]}}],"usage":{"prompt_tokens":12,"completion_tokens":1290,"total_tokens":1302,"cost":0.039}}`,
		`{"choices":[{"message":{"content":null,"refusal":"I can't help with that.","images":null},"finish_reason":"content_filter"}],"usage":null}`,
		`{"error":{"code":503,"message":"Upstream down","metadata":{"raw":"x"}},"choices":[]}`,
		`{"Model":"case differs","choices":[]}`,
		`{"choices":[{"Message":{"Content":"x"}}]}`,
		`{"model":"x","choices":[{"message":{"content":"a"}}]} trailing`,
		`"just a string"`,
		`[]`,
		`null`,
		`{"model":"x","model":"y"}`,
	}
	for _, doc := range chats {
		got, gotErr := decodeChatAnswer([]byte(doc))
		var want chatAnswer
		wantErr := json.Unmarshal([]byte(doc), &want)
		if (gotErr == nil) != (wantErr == nil) || (gotErr == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s:\n got %+v, %v\nwant %+v, %v", doc, got, gotErr, want, wantErr)
		}
	}
	images := []string{
		`{"created":1733100000,"data":[{"b64_json":"iVBORw0KGgo=","revised_prompt":"A \"cat\""},{"url":"https://x/y.png"}],"usage":{"input_tokens":50,"output_tokens":4160,"total_tokens":4210,"input_tokens_details":{"text_tokens":50}}}`,
		`{"created":1,"data":[],"usage":null}`,
		`{"created":1,"data":null}`,
		`{"Data":[{"B64_JSON":"x"}]}`,
		`{"created":"soon","data":[]}`,
		`{"data":[{"b64_json":12}]}`,
		`{"data":[`,
	}
	for _, doc := range images {
		got, gotErr := decodeImagesAnswer([]byte(doc))
		var want imagesAnswer
		wantErr := json.Unmarshal([]byte(doc), &want)
		if (gotErr == nil) != (wantErr == nil) || (gotErr == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s:\n got %+v, %v\nwant %+v, %v", doc, got, gotErr, want, wantErr)
		}
	}
}
