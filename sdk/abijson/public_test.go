package abijson

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	cases := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.7, 2, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789.125,
		math.MaxFloat64, math.SmallestNonzeroFloat64, -1.5e-10, 3.14159}
	for range 5000 {
		cases = append(cases, math.Float64frombits(r.Uint64()), r.NormFloat64()*math.Pow(10, float64(r.IntN(60)-30)))
	}
	for _, f := range cases {
		want, err := json.Marshal(f)
		got, gotErr := AppendFloat(nil, f)
		if (err != nil) != (gotErr != nil) {
			t.Fatalf("AppendFloat(%v): error %v, encoding/json: %v", f, gotErr, err)
		}
		if err == nil && string(got) != string(want) {
			t.Fatalf("AppendFloat(%v) = %s, encoding/json gives %s", f, got, want)
		}
	}
}

// sample is a type read with the public Decoder the way a plugin would.
type sample struct {
	S string          `json:"s"`
	I int64           `json:"i"`
	F float64         `json:"f"`
	B bool            `json:"b"`
	P *float64        `json:"p"`
	L []string        `json:"l"`
	O *sampleInner    `json:"o"`
	V sampleInner     `json:"v"`
	R json.RawMessage `json:"r"`
	// Pointer fields read with the Opt helpers.
	OF *float64      `json:"of"`
	OI *int          `json:"oi"`
	OJ *int64        `json:"oj"`
	OB *bool         `json:"ob"`
	LS []string      `json:"ls"`
	LO []sampleInner `json:"lo"`
}

type sampleInner struct {
	N int64 `json:"n"`
}

var sampleFields = []string{"s", "i", "f", "b", "p", "l", "o", "v", "r", "of", "oi", "oj", "ob", "ls", "lo"}

func readInner(d *Decoder, in *sampleInner) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "n":
			d.Once(&seen, 0)
			in.N = d.Int()
		default:
			d.Unknown(key, "n")
		}
	}
}

func decodeSample(data []byte) (sample, error) {
	d := NewDecoder(data)
	var v sample
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "s":
			d.Once(&seen, 0)
			v.S = d.String()
		case "i":
			d.Once(&seen, 1)
			v.I = d.Int()
		case "f":
			d.Once(&seen, 2)
			v.F = d.Float()
		case "b":
			d.Once(&seen, 3)
			v.B = d.Bool()
		case "p":
			d.Once(&seen, 4)
			if !d.Null() {
				f := d.Float()
				v.P = &f
			}
		case "l":
			d.Once(&seen, 5)
			if !d.Null() {
				v.L = []string{}
				for range d.Array() {
					v.L = append(v.L, d.String())
				}
			}
		case "o":
			d.Once(&seen, 6)
			if !d.Null() {
				v.O = &sampleInner{}
				readInner(d, v.O)
			}
		case "v":
			d.Once(&seen, 7)
			readInner(d, &v.V)
		case "r":
			d.Once(&seen, 8)
			v.R = d.Raw()
		case "of":
			d.Once(&seen, 9)
			v.OF = d.OptFloat()
		case "oi":
			d.Once(&seen, 10)
			v.OI = d.OptInt()
		case "oj":
			d.Once(&seen, 11)
			v.OJ = d.OptInt64()
		case "ob":
			d.Once(&seen, 12)
			v.OB = d.OptBool()
		case "ls":
			d.Once(&seen, 13)
			v.LS = d.Strings()
		case "lo":
			d.Once(&seen, 14)
			v.LO = Slice(d, readInner)
		default:
			d.Unknown(key, sampleFields...)
		}
	}
	if d.End() != nil {
		v = sample{}
		return v, json.Unmarshal(data, &v)
	}
	return v, nil
}

var sampleInputs = []string{
	`{"s":"x","i":-3,"f":1.5e3,"b":true,"p":0.25,"l":["a","b\n"],"o":{"n":1},"v":{"n":2},"r":{"k":[1,null]}}`,
	`{"s":null,"i":null,"f":null,"b":null,"p":null,"l":null,"o":null,"v":null,"r":null}`,
	`{"l":[],"o":{},"v":{"x":1},"extra":{"deep":[{}]}}`,
	`{"l":[null,"a"]}`, `{"i":1.5}`, `{"i":1e2}`, `{"S":"case"}`, `{"s":"a","s":"b"}`, `{"l":["a"],"l":["b"]}`,
	`{"o":{"n":1},"o":{}}`, `{"s":1}`, `{"l":"x"}`, `{"o":[]}`, `[]`, `null`, `{}`, `{"r":  "spaced"  }`,
	`{"f":1e400}`, `{"b":"true"}`, `{"s":"\ud800"}`,
	`{"of":0.5,"oi":-7,"oj":9007199254740993,"ob":false}`, `{"of":null,"oi":null,"oj":null,"ob":null}`,
	`{"of":0,"oi":0,"oj":0,"ob":true}`, `{"oi":1.5}`, `{"oi":9223372036854775808}`, `{"oj":-9223372036854775809}`,
	`{"ls":["a","b\n"],"lo":[{"n":1},{}]}`, `{"ls":null,"lo":null}`, `{"ls":[],"lo":[]}`, `{"ls":[null,"a"],"lo":[null,{"n":2}]}`,
	`{"ls":"x"}`, `{"lo":{}}`, `{"ls":[1]}`, `{"lo":[1]}`, `{"ls":["a"],"ls":["b"]}`, `{"lo":[{"n":1}],"lo":null}`,
	`{"of":"1"}`, `{"ob":1}`, `{"oi":true}`, `{"OF":1}`, `{"oi":1,"oi":2}`, `{"ob":nul}`, `{"of":1e400}`,
}

func TestDecoderMatchesEncodingJSON(t *testing.T) {
	for _, in := range sampleInputs {
		sameDecode(t, "decodeSample", []byte(in), decodeSample)
	}
}

func FuzzDecoder(f *testing.F) {
	for _, in := range sampleInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, "decodeSample", data, decodeSample)
	})
}

func ExampleDecoder() {
	body := []byte(`{"model":"gpt-test","usage":{"prompt_tokens":12},"id":"x"}`)
	type reply struct {
		Model string `json:"model"`
	}
	d := NewDecoder(body)
	var v reply
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "model":
			d.Once(&seen, 0)
			v.Model = d.String()
		default:
			d.Unknown(key, "model")
		}
	}
	if d.End() != nil {
		v = reply{}
		_ = json.Unmarshal(body, &v)
	}
	fmt.Println(v.Model)
	// Output: gpt-test
}

// optFields is a struct json.Marshal writes with a first field, then the
// optional ones AppendOptFloat and AppendOptInt write.
type optFields struct {
	A int      `json:"a"`
	F *float64 `json:"top_p,omitempty"`
	I *int     `json:"max_tokens,omitempty"`
}

func TestAppendOptMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	floats := []*float64{nil}
	for _, f := range []float64{0, 1, -0.5, 1e-7, 1e21, math.MaxFloat64, math.NaN(), math.Inf(1)} {
		floats = append(floats, &f)
	}
	for range 500 {
		f := math.Float64frombits(r.Uint64())
		floats = append(floats, &f)
	}
	ints := []*int{nil}
	for _, n := range []int{0, 1, -1, math.MaxInt, math.MinInt} {
		ints = append(ints, &n)
	}
	for range 500 {
		n := int(r.Uint64())
		ints = append(ints, &n)
	}
	for i, f := range floats {
		v := optFields{F: f, I: ints[i%len(ints)]}
		want, wantErr := json.Marshal(v)
		got, err := AppendOptFloat([]byte(`{"a":0`), "top_p", v.F)
		if err == nil {
			got = append(AppendOptInt(got, "max_tokens", v.I), '}')
		}
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%+v: error %v, encoding/json: %v", v, err, wantErr)
		}
		if err == nil && string(got) != string(want) {
			t.Fatalf("got %s, encoding/json gives %s", got, want)
		}
	}
}
