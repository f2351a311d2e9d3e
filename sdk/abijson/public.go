package abijson

import (
	"errors"
	"iter"
	"math"
	"strconv"
	"strings"
)

// ErrFallback is what Decoder.End returns when the document is not one the
// decoder handles the way encoding/json would (invalid JSON, a duplicate
// key, a key matching a field but for case, a number out of range). Decode
// the same bytes with json.Unmarshal then: it gives the right value or the
// right error.
var ErrFallback = errors.New("abijson: document needs encoding/json")

// Decoder reads one JSON document into a plugin's own types without
// reflection, for hot paths such as a provider's response. Use it like
// this, reading every key the type has and Unknown for the rest:
//
//	d := abijson.NewDecoder(body)
//	var v reply
//	var seen uint64
//	for key := range d.Object() {
//		switch key {
//		case "model":
//			d.Once(&seen, 0)
//			v.Model = d.String()
//		default:
//			d.Unknown(key, "model")
//		}
//	}
//	if d.End() != nil {
//		v = reply{}
//		err = json.Unmarshal(body, &v)
//	}
//
// Values read into fresh zero values match json.Unmarshal, null included:
// String, Int, Float and Bool give the zero value for null, Object and
// Array yield nothing for it; OptFloat, OptInt, OptInt64 and OptBool read
// pointer fields (nil for null), Strings and Slice read slice fields (nil
// for null); use Null first where null must stay nil otherwise (a pointer
// to a struct). Strings share memory with the input.
type Decoder struct{ d decoder }

// NewDecoder returns a decoder reading data.
func NewDecoder(data []byte) *Decoder { return &Decoder{d: decoder{b: data}} }

// End checks that nothing but whitespace follows the document and returns
// nil, or ErrFallback when the document must go to encoding/json.
func (d *Decoder) End() error {
	d.d.end()
	if d.d.bad {
		return ErrFallback
	}
	return nil
}

// Null consumes a null and reports whether there was one.
func (d *Decoder) Null() bool {
	if d.d.bad || d.d.peek() != 'n' {
		return false
	}
	d.d.literal("null")
	return !d.d.bad
}

// Object yields the keys of the object that comes next; read (or Skip) the
// key's value in the loop body, and do not leave the loop early (End then
// reports ErrFallback). It yields nothing for null.
func (d *Decoder) Object() iter.Seq[string] {
	return func(yield func(string) bool) {
		if d.Null() || !d.d.object() {
			return
		}
		for first := true; ; first = false {
			key, ok := d.d.more(first)
			if !ok {
				return
			}
			if !yield(key) {
				d.d.bad = true // a loop left early: the rest is unread
				return
			}
		}
	}
}

// Array yields the index of each element of the array that comes next;
// read (or Skip) the element in the loop body, and do not leave the loop
// early. It yields nothing for null.
func (d *Decoder) Array() iter.Seq[int] {
	return func(yield func(int) bool) {
		if d.Null() || !d.d.array() {
			return
		}
		for i := 0; d.d.next(i == 0); i++ {
			if !yield(i) {
				d.d.bad = true // a loop left early: the rest is unread
				return
			}
		}
	}
}

// Once records that the key for field (0-63) of the current object was
// read; a second time (a duplicate key, which encoding/json merges) sends
// the document to encoding/json.
func (d *Decoder) Once(seen *uint64, field uint) {
	if *seen&(1<<field) != 0 {
		d.d.bad = true
	}
	*seen |= 1 << field
}

// Unknown skips the value of a key the type has no field for. fields are
// the type's JSON names: encoding/json matches keys without regard to
// case, so a key equal to one of them but for case sends the document to
// encoding/json.
func (d *Decoder) Unknown(key string, fields ...string) {
	// The decoder's own check assumes ASCII names (see unknown); a
	// non-ASCII name may fold to a shorter ASCII key ("K" to "k").
	for _, f := range fields {
		if len(f) > len(key) && !asciiString(f) && strings.EqualFold(key, f) {
			d.d.bad = true
			return
		}
	}
	d.d.unknown(key, fields...)
}

// Skip moves past the next value, whatever it is.
func (d *Decoder) Skip() { d.d.skip() }

// String reads a string ("" for null).
func (d *Decoder) String() string {
	if d.Null() {
		return ""
	}
	return d.d.str()
}

// Int reads an integer (0 for null).
func (d *Decoder) Int() int64 {
	if d.Null() {
		return 0
	}
	return d.d.int64v()
}

// Float reads a number (0 for null).
func (d *Decoder) Float() float64 {
	if d.Null() {
		return 0
	}
	return d.d.float64v()
}

// Bool reads true or false (false for null).
func (d *Decoder) Bool() bool {
	if d.Null() {
		return false
	}
	return d.d.boolean()
}

// OptFloat reads a number into a new float64, or gives nil for null: a
// *float64 field, as json.Unmarshal fills one in a zero value.
func (d *Decoder) OptFloat() *float64 {
	if d.Null() {
		return nil
	}
	f := d.d.float64v()
	return &f
}

// OptInt reads an integer into a new int, or gives nil for null: an *int
// field, as json.Unmarshal fills one in a zero value. A number that does
// not fit an int (on a 32-bit platform) sends the document to
// encoding/json, which reports it.
func (d *Decoder) OptInt() *int {
	if d.Null() {
		return nil
	}
	n64 := d.d.int64v()
	n := int(n64)
	if int64(n) != n64 {
		d.d.bad = true
	}
	return &n
}

// OptInt64 is OptInt for an *int64 field.
func (d *Decoder) OptInt64() *int64 {
	if d.Null() {
		return nil
	}
	n := d.d.int64v()
	return &n
}

// OptBool reads true or false into a new bool, or gives nil for null: a
// *bool field, as json.Unmarshal fills one in a zero value.
func (d *Decoder) OptBool() *bool {
	if d.Null() {
		return nil
	}
	b := d.d.boolean()
	return &b
}

// Strings reads an array of strings into a new slice, or gives nil for
// null: a []string field, as json.Unmarshal fills one in a zero value.
func (d *Decoder) Strings() []string {
	if d.Null() {
		return nil
	}
	s := []string{}
	for range d.Array() {
		s = append(s, d.String())
	}
	return s
}

// Slice reads an array into a new slice, each element by read into a
// fresh zero T, or gives nil for null: a []T field, as json.Unmarshal
// fills one in a zero value. read is the element type's own reader.
func Slice[T any](d *Decoder, read func(*Decoder, *T)) []T {
	if d.Null() {
		return nil
	}
	s := []T{}
	for range d.Array() {
		s = append(s, *new(T))
		read(d, &s[len(s)-1])
	}
	return s
}

// Raw returns a copy of the next value's bytes, as json.RawMessage gets
// them (null included).
func (d *Decoder) Raw() []byte {
	d.d.ws()
	start := d.d.i
	d.d.skip()
	if d.d.bad {
		return nil
	}
	return append([]byte(nil), d.d.b[start:d.d.i]...)
}

// AppendFloat appends f as json.Marshal writes a float64. NaN and the
// infinities, which JSON cannot hold, are an error (json.Marshal's too).
func AppendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, errors.New("abijson: unsupported value: " + strconv.FormatFloat(f, 'g', -1, 64))
	}
	// As encoding/json: exponent notation only outside [1e-6, 1e21).
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// AppendOptFloat appends `,"name":v` as json.Marshal writes a later field
// `*float64` tagged omitempty: nothing when v is nil. name is written as a
// JSON string. NaN and the infinities are an error, as in AppendFloat.
func AppendOptFloat(dst []byte, name string, v *float64) ([]byte, error) {
	if v == nil {
		return dst, nil
	}
	dst = append(dst, ',')
	dst = AppendString(dst, name)
	dst = append(dst, ':')
	return AppendFloat(dst, *v)
}

// AppendOptInt appends `,"name":v` as json.Marshal writes a later field
// `*int` tagged omitempty: nothing when v is nil. name is written as a
// JSON string.
func AppendOptInt(dst []byte, name string, v *int) []byte {
	if v == nil {
		return dst
	}
	dst = append(dst, ',')
	dst = AppendString(dst, name)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, int64(*v), 10)
}
