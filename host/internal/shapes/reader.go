package shapes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// recordReader pulls records one at a time out of a JSON file that is either
// a list of records or an object holding the list under one of a few keys
// (shapes.inc wraps chat history as {shape_id, ..., messages: [...]}, its
// API pages as {items: [...]}). It never holds more than one record in
// memory: a chat history of any size streams through a bounded buffer.
//
// The object's other keys are small (counts, dates) and are kept in Header.
type recordReader struct {
	dec       *json.Decoder
	arrayKeys map[string]bool
	state     readerState
	// Header holds the top-level object's keys other than the record list,
	// verbatim.
	Header map[string]json.RawMessage
	// ListKey is the key the records were read from ("" for a bare list).
	ListKey string
	// Index is the position of the record Next last returned within its
	// list, from 0.
	Index int
}

type readerState int

const (
	stateStart readerState = iota
	stateTopList
	stateObject
	stateObjectList
	stateDone
)

func newRecordReader(r io.Reader, arrayKeys ...string) *recordReader {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	keys := make(map[string]bool, len(arrayKeys))
	for _, k := range arrayKeys {
		keys[k] = true
	}
	return &recordReader{dec: dec, arrayKeys: keys, Header: map[string]json.RawMessage{}, Index: -1}
}

// Offset is how far into the file the reader has got, for error messages.
func (r *recordReader) Offset() int64 { return r.dec.InputOffset() }

// Next returns the next record verbatim, or io.EOF after the last one. Any
// other error means the file is not valid JSON or not shaped as expected;
// the error says where.
func (r *recordReader) Next() (json.RawMessage, error) {
	for {
		switch r.state {
		case stateStart:
			tok, err := r.dec.Token()
			if err != nil {
				return nil, r.syntax(err)
			}
			switch tok {
			case json.Delim('['):
				r.state = stateTopList
			case json.Delim('{'):
				r.state = stateObject
			default:
				return nil, fmt.Errorf("expected a JSON list or object, found %v", describeToken(tok))
			}
		case stateTopList, stateObjectList:
			if r.dec.More() {
				var raw json.RawMessage
				if err := r.dec.Decode(&raw); err != nil {
					return nil, r.syntax(err)
				}
				r.Index++
				return raw, nil
			}
			if _, err := r.dec.Token(); err != nil { // the closing ']'
				return nil, r.syntax(err)
			}
			if r.state == stateObjectList {
				r.state = stateObject
				continue
			}
			r.state = stateDone
		case stateObject:
			if !r.dec.More() {
				if _, err := r.dec.Token(); err != nil { // the closing '}'
					return nil, r.syntax(err)
				}
				r.state = stateDone
				continue
			}
			tok, err := r.dec.Token()
			if err != nil {
				return nil, r.syntax(err)
			}
			key, _ := tok.(string)
			if r.arrayKeys[key] {
				// The record list streams; a null in its place means "none".
				tok, err := r.dec.Token()
				if err != nil {
					return nil, r.syntax(err)
				}
				switch tok {
				case json.Delim('['):
					r.ListKey = key
					r.Index = -1
					r.state = stateObjectList
				case nil:
					r.Header[key] = json.RawMessage("null")
				default:
					return nil, fmt.Errorf("field %q should be a list of records, found %v", key, describeToken(tok))
				}
				continue
			}
			var raw json.RawMessage
			if err := r.dec.Decode(&raw); err != nil {
				return nil, r.syntax(err)
			}
			r.Header[key] = raw
		case stateDone:
			// Anything after the closing bracket is garbage (two documents
			// pasted together, a half-overwritten file).
			if _, err := r.dec.Token(); !errors.Is(err, io.EOF) {
				if err != nil {
					return nil, r.syntax(err)
				}
				return nil, fmt.Errorf("unexpected data after the end of the JSON document at byte %d", r.dec.InputOffset())
			}
			return nil, io.EOF
		}
	}
}

// syntax turns decoder errors into words: a truncated file is the common
// case (a backup interrupted mid-write).
func (r *recordReader) syntax(err error) error {
	off := r.dec.InputOffset()
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || (errors.Is(err, io.EOF) && r.state != stateStart):
		return fmt.Errorf("the file ends in the middle of the JSON (truncated after %d bytes)", off)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("the file is empty")
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return fmt.Errorf("invalid JSON near byte %d: %w", off, err)
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "true/false"
	case nil:
		return "null"
	default:
		return fmt.Sprint(v)
	}
}
