package formdata

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// TestBodyParsesAndRereads: what Build makes is a form a provider's parser
// reads back exactly, its Size is its length, and Reader gives the same
// bytes again (a retry resends the body whole).
func TestBodyParsesAndRereads(t *testing.T) {
	blobs := map[int64][]byte{1: []byte("ID3 sample"), 2: {}}
	get := func(h int64) ([]byte, bool) { b, ok := blobs[h]; return b, ok }
	body, aerr := Build([]abi.MultipartPart{
		{Name: "model", Value: "whisper-1"},
		{Name: "file", Blob: 1, Filename: `a "quoted" name.mp3`, ContentType: "audio/mpeg"},
		{Name: "empty", Blob: 2},
	}, get)
	if aerr != nil {
		t.Fatal(aerr)
	}
	first, _ := io.ReadAll(body.Reader())
	second, _ := io.ReadAll(body.Reader())
	if !bytes.Equal(first, second) || int64(len(first)) != body.Size {
		t.Fatalf("reads of %d and %d bytes, Size %d", len(first), len(second), body.Size)
	}
	_, params, err := mime.ParseMediaType(body.ContentType)
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(first), params["boundary"])
	var got []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		got = append(got, p.FormName()+"|"+p.FileName()+"|"+p.Header.Get("Content-Type")+"|"+string(b))
	}
	want := []string{"model|||whisper-1", `file|a "quoted" name.mp3|audio/mpeg|ID3 sample`, "empty||application/octet-stream|"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("parts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBuildRefuses(t *testing.T) {
	none := func(int64) ([]byte, bool) { return nil, false }
	for _, c := range []struct {
		parts []abi.MultipartPart
		code  string
	}{
		{[]abi.MultipartPart{{Name: "f", Blob: 3}}, abi.ErrBadRequest},
		{[]abi.MultipartPart{{Value: "x"}}, abi.ErrBadRequest},
		{[]abi.MultipartPart{{Name: "f", Value: "x", Filename: "a\x00b"}}, abi.ErrBadRequest},
		{[]abi.MultipartPart{{Name: strings.Repeat("n", MaxField+1), Value: "x"}}, abi.ErrBadRequest},
		{[]abi.MultipartPart{{Name: "f", Value: strings.Repeat("v", MaxBytes+1)}}, abi.ErrDenied},
	} {
		if _, aerr := Build(c.parts, none); aerr == nil || aerr.Code != c.code {
			t.Errorf("%.40q: %v, want %s", c.parts[0].Name, aerr, c.code)
		}
	}
}
