package jsonfast

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"unicode/utf8"
)

// Decoder reads one JSON document; every method returns false when the
// input leaves the plain form.
type Decoder struct {
	b []byte
	i int
	// Strict gives up on keys an object does not know, instead of
	// skipping them: for decoders that disallow unknown fields.
	Strict bool
}

// NewDecoder returns a decoder of b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// End reports whether only white space is left.
func (d *Decoder) End() bool {
	d.ws()
	return d.i == len(d.b)
}

func (d *Decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// Next skips white space and reports whether the next byte is c,
// consuming it if so.
func (d *Decoder) Next(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// Str reads a string without escapes or control characters, in valid
// UTF-8.
func (d *Decoder) Str() (string, bool) {
	if !d.Next('"') {
		return "", false
	}
	start := d.i
	ascii := true
	for d.i < len(d.b) {
		if d.i+8 <= len(d.b) && plain8(d.b[d.i:d.i+8]) {
			d.i += 8
			continue
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// Int64 reads an integer: an optional minus and digits, no leading
// zero, within int64.
func (d *Decoder) Int64() (*int64, bool) {
	d.ws()
	neg := d.i < len(d.b) && d.b[d.i] == '-'
	if neg {
		d.i++
	}
	start := d.i
	var n int64
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		if n > (1<<63-1)/10-1 {
			return nil, false // near the edge of int64: leave it to encoding/json
		}
		n = n*10 + int64(d.b[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || (digits > 1 && d.b[start] == '0') {
		return nil, false
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return nil, false
		}
	}
	if neg {
		n = -n
	}
	return &n, true
}

// Strs reads an array of strings; an empty array is an empty, non-nil
// slice, as encoding/json makes it.
func (d *Decoder) Strs() ([]string, bool) {
	out := []string{}
	ok := d.Array(func() bool {
		s, ok := d.Str()
		out = append(out, s)
		return ok
	})
	return out, ok
}

// StrMap reads an object of string values; a key given twice gives up
// (encoding/json keeps the last). An empty object is an empty map.
func (d *Decoder) StrMap() (map[string]string, bool) {
	m := map[string]string{}
	ok := d.list('{', '}', func() bool {
		k, ok := d.Str()
		if !ok || !d.Next(':') {
			return false
		}
		v, ok := d.Str()
		if _, dup := m[k]; dup || !ok {
			return false
		}
		m[k] = v
		return true
	})
	return m, ok
}

// Raw reads one value in the plain form and returns its bytes, for a
// type that decodes itself.
func (d *Decoder) Raw() ([]byte, bool) {
	d.ws()
	start := d.i
	if !d.skip(0) {
		return nil, false
	}
	return d.b[start:d.i], true
}

// list reads open, elements separated by commas, and close; elem reads
// one element.
func (d *Decoder) list(open, close byte, elem func() bool) bool {
	if !d.Next(open) {
		return false
	}
	if d.Next(close) {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.Next(close) {
			return true
		}
		if !d.Next(',') {
			return false
		}
	}
}

// Array reads an array, calling elem for each element.
func (d *Decoder) Array(elem func() bool) bool { return d.list('[', ']', elem) }

// Object reads an object whose keys are fields: field is called with the
// index in known (at most 64 of them) of a key, consumes its value and
// reports whether it read it. A key not in known is skipped, unless it
// matches a known one but for case, which encoding/json would take; a key
// given twice gives up.
func (d *Decoder) Object(known []string, field func(i int) bool) bool {
	return d.objectAt(0, known, field)
}

func (d *Decoder) objectAt(depth int, known []string, field func(i int) bool) bool {
	var seen uint64
	return d.list('{', '}', func() bool {
		key, ok := d.key()
		if !ok || !d.Next(':') {
			return false
		}
		i := -1
		for j, k := range known {
			if string(key) == k {
				i = j
				break
			}
		}
		if i < 0 {
			for _, k := range known {
				if asciiEqualFold(k, key) {
					return false // encoding/json takes it for k
				}
			}
			return !d.Strict && d.skip(depth+1)
		}
		if seen&(1<<i) != 0 || !field(i) {
			return false
		}
		seen |= 1 << i
		return true
	})
}

// key reads an object key in place: a string of ASCII without escapes or
// control characters. Other keys are encoding/json's, whose matching of
// keys to fields folds Unicode case.
func (d *Decoder) key() ([]byte, bool) {
	if !d.Next('"') {
		return nil, false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// asciiEqualFold reports whether s and b are equal under ASCII case
// folding.
func asciiEqualFold(s string, b []byte) bool {
	if len(s) != len(b) {
		return false
	}
	for i := range len(s) {
		x, y := s[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// skip passes over one value of an unknown field: strings, integers,
// true, false and arrays or objects of them, nested at most 32 deep.
func (d *Decoder) skip(depth int) bool {
	if depth > 32 {
		return false
	}
	d.ws()
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		_, ok := d.Str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		_, ok := d.Int64()
		return ok
	case c == 't' || c == 'f':
		for _, lit := range []string{"true", "false"} {
			if bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
				d.i += len(lit)
				return true
			}
		}
		return false
	case c == '[':
		return d.Array(func() bool { return d.skip(depth + 1) })
	case c == '{':
		return d.objectAt(depth+1, nil, nil)
	default:
		return false // null and the rest: encoding/json decides
	}
}

// AppendList writes a JSON array, or null for a nil slice as
// encoding/json does.
func AppendList[T any](dst []byte, list []T, elem func([]byte, T) []byte) []byte {
	if list == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, e := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(dst, e)
	}
	return append(dst, ']')
}

// AppendField writes sep, "name": and the string value.
func AppendField(dst []byte, sep byte, name, value string) []byte {
	dst = append(dst, sep, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return AppendString(dst, value)
}

// AppendStringMap writes sep, "name": and m as a JSON object with its
// keys sorted, as encoding/json writes maps.
func AppendStringMap(dst []byte, sep byte, name string, m map[string]string) []byte {
	dst = append(dst, sep, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':', '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		dst = AppendString(dst, m[k])
	}
	return append(dst, '}')
}

// AppendString writes s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028 and
// U+2029 escaped, as encoding/json does.
func AppendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plain8 reports whether the 8 bytes of s (len 8) are all ASCII that a
// JSON string holds as it is: at least 0x20, and neither '"' nor '\\'.
// It tests them at once, in one word.
func plain8[T string | []byte](s T) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	less := (x - ones*0x20) &^ x // a high bit for each byte under 0x20 (or 0x80 and over)
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	zero := (q-ones)&^q | (bs-ones)&^bs // a high bit for each byte that was '"' or '\\'
	return (less|zero|x)&highs == 0
}

// Encode writes v with encoding/json as the fast writer would: HTML
// escaping off, a newline after. It is the fallback for what the fast
// writer does not take.
func Encode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
