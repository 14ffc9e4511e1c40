package jsonfast

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestInvalidText(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
	}{
		{"plain", `{"body":"hello world, over eight"}`, -1},
		{"utf-8", `{"body":"héllo ✓ 𝄞"}`, -1},
		{"escapes", `"a\"b\\c\n\u00e9\uFFFD"`, -1},
		{"surrogate pair", `"\ud834\udd1e"`, -1},
		{"upper-case pair", `"\uD834\uDD1E"`, -1},
		{"raw invalid byte", "\"abc\xff\"", 4},
		{"after eight-byte steps", "\"0123456789abcdef\xc0\xaf\"", 17},
		{"lone high surrogate", `"x\ud800"`, 2},
		{"high then not low", `"\ud800\u0041"`, 1},
		{"high then high", `"\ud800\ud800\udc00"`, 1},
		{"lone low surrogate", `"ab\udc00"`, 3},
		{"escaped backslash before u", `"\\ud800"`, -1},
		{"truncated escape", `"\ud8`, -1},
		{"raw surrogate", "\"\xed\xa0\x80\"", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InvalidText([]byte(tt.in)); got != tt.want {
				t.Errorf("InvalidText(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// replacements counts the U+FFFD a JSON string literal holds in its own
// right: raw, or as a \ufffd escape.
func replacements(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] == '\\' && i+1 < len(b) {
			if r, ok := hex4(b[i+2:]); b[i+1] == 'u' && ok && r == utf8.RuneError {
				n++
			}
			i += 2
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 3 {
			n++
		}
		i += size
	}
	return n
}

// InvalidText finds something exactly when encoding/json decodes a string
// with more U+FFFD than the text holds: it catches every silent
// replacement and nothing else.
func FuzzInvalidText(f *testing.F) {
	for _, s := range []string{`"plain"`, `"\ud834\udd1e"`, `"\ud800"`, "\"\xff\"", `"\\ud800"`, `"\ufffd"`, "\"\xef\xbf\xbd\"", `"\udc00\ud800"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s string
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		replaced := strings.Count(s, "\uFFFD") > replacements([]byte(in))
		if got := InvalidText([]byte(in)) >= 0; got != replaced {
			t.Fatalf("InvalidText(%q) found something: %v; encoding/json decoded %q, replacing: %v", in, got, s, replaced)
		}
	})
}
