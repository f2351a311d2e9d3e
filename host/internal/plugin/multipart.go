package plugin

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Bounds on a multipart/form-data body the host builds for a plugin
// (HTTPRequest.Multipart, docs/plugin-abi.md §8). 25 voice samples of at
// most 10 MB each (the sample limits of issue 11) fit under the byte cap.
const (
	maxMultipartParts = 64
	maxMultipartBytes = 256 << 20
	// maxMultipartField bounds a part's name, filename and content type.
	maxMultipartField = 256
)

// multipartBody is a built form body: the boundary lines and headers the
// mime/multipart writer produced, interleaved with the blobs' own bytes,
// which are never copied (a clone call may send hundreds of MB of samples).
type multipartBody struct {
	segments    [][]byte
	size        int64
	contentType string
}

// reader returns a fresh reader over the body, one per attempt.
func (m *multipartBody) reader() io.Reader {
	rs := make([]io.Reader, len(m.segments))
	for i, s := range m.segments {
		rs[i] = bytes.NewReader(s)
	}
	return io.MultiReader(rs...)
}

// segmentWriter collects what mime/multipart writes (boundaries, part
// headers, text values) into the current segment.
type segmentWriter struct {
	cur  bytes.Buffer
	body *multipartBody
}

func (w *segmentWriter) Write(p []byte) (int, error) { return w.cur.Write(p) }

// cut ends the current segment, so a blob can follow it uncopied.
func (w *segmentWriter) cut() {
	if w.cur.Len() > 0 {
		w.body.segments = append(w.body.segments, bytes.Clone(w.cur.Bytes()))
		w.body.size += int64(w.cur.Len())
		w.cur.Reset()
	}
}

// buildMultipart checks a plugin's parts and builds the body. File parts
// name blobs of the call's store: the caller's (samples, voice messages),
// HTTP response bodies kept host-side, or ones the plugin created.
func buildMultipart(st *callState, parts []abi.MultipartPart) (*multipartBody, *abi.Error) {
	if len(parts) > maxMultipartParts {
		return nil, &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("a multipart body may have at most %d parts; this one has %d", maxMultipartParts, len(parts))}
	}
	var total int64
	blobs := make([][]byte, len(parts))
	for i, p := range parts {
		if p.Name == "" {
			return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("multipart part %d has no name", i+1)}
		}
		for _, f := range []struct{ what, v string }{{"name", p.Name}, {"filename", p.Filename}, {"content_type", p.ContentType}} {
			if why := headerValueProblem(f.v); why != "" {
				return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("multipart part %d: %s %s", i+1, f.what, why)}
			}
		}
		if p.ContentType != "" {
			if _, _, err := mime.ParseMediaType(p.ContentType); err != nil {
				return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("multipart part %d: content_type %q is not a MIME type", i+1, p.ContentType)}
			}
		}
		if p.Blob == 0 {
			total += int64(len(p.Value))
		} else {
			b, ok := st.blobs.Get(p.Blob)
			if !ok {
				return nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("multipart part %d (%s) names blob %d, which does not exist in this call", i+1, p.Name, p.Blob)}
			}
			blobs[i] = b
			total += int64(len(b))
		}
		if total > maxMultipartBytes {
			return nil, &abi.Error{Code: abi.ErrDenied, Message: fmt.Sprintf("a multipart body may carry at most %d MiB", maxMultipartBytes>>20)}
		}
	}

	body := &multipartBody{}
	sw := &segmentWriter{body: body}
	mw := multipart.NewWriter(sw)
	for i, p := range parts {
		h := make(textproto.MIMEHeader, 2)
		disp := `form-data; name="` + quoteEscaper.Replace(p.Name) + `"`
		if p.Blob != 0 || p.Filename != "" {
			disp += `; filename="` + quoteEscaper.Replace(p.Filename) + `"`
		}
		h.Set("Content-Disposition", disp)
		switch {
		case p.ContentType != "":
			h.Set("Content-Type", p.ContentType)
		case p.Blob != 0:
			h.Set("Content-Type", "application/octet-stream")
		}
		w, err := mw.CreatePart(h)
		if err != nil { // the segment writer never fails
			return nil, &abi.Error{Code: abi.ErrInternal, Message: "building the multipart body failed"}
		}
		if p.Blob == 0 {
			_, _ = io.WriteString(w, p.Value)
			continue
		}
		sw.cut()
		if len(blobs[i]) > 0 {
			body.segments = append(body.segments, blobs[i])
			body.size += int64(len(blobs[i]))
		}
	}
	_ = mw.Close()
	sw.cut()
	body.contentType = mw.FormDataContentType()
	return body, nil
}

// quoteEscaper escapes a quoted-string in Content-Disposition the way
// mime/multipart's CreateFormFile does.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// headerValueProblem says why v cannot go into a part header: control
// characters (CR and LF would let a plugin forge headers or parts), or
// excessive length. "" means it may.
func headerValueProblem(v string) string {
	if len(v) > maxMultipartField {
		return fmt.Sprintf("is longer than %d bytes", maxMultipartField)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("contains the control character %U (line breaks and other control characters are not allowed in part headers)", r)
		}
	}
	return ""
}
