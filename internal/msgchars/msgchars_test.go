package msgchars

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/docketd/docket/internal/errdefs"
)

// reference is Index read rune by rune with the standard library.
func reference(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return i
			}
		}
		if !(r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return i
		}
	}
	return -1
}

func TestIndex(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", -1},
		{"ascii", "hello, world", -1},
		{"tab newline return", "a\tb\nc\rd", -1},
		{"delete is allowed", "\x7f", -1},
		{"nul", "ab\x00", 2},
		{"control", long + "\x01", len(long)},
		{"vertical tab", "\v", 0},
		{"two-byte", "héllo", -1},
		{"C1 control is in the range", "\u0085", -1},
		{"three-byte", "✓ done", -1},
		{"four-byte", "𝄞", -1},
		{"last allowed", "\uFFFD\U0010FFFF\uD7FF\uE000", -1},
		{"U+FFFE", "ok\uFFFE", 2},
		{"U+FFFF", "\uFFFF", 0},
		{"invalid byte", "abc\xff", 3},
		{"stray continuation", long + "\x80", len(long)},
		{"overlong slash", "\xc0\xaf", 0},
		{"overlong three-byte", "\xe0\x80\xaf", 0},
		{"surrogate", "a\xed\xa0\x80", 1},
		{"over U+10FFFF", "\xf4\x90\x80\x80", 0},
		{"truncated", "ab\xe2\x9c", 2},
		{"bad continuation", "\xe2\x28\xa1", 0},
		{"after eight-byte steps", long + "é" + long + "\x1f", len(long) + 2 + len(long)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Index(tt.in); got != tt.want {
				t.Errorf("Index(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if got := Index([]byte(tt.in)); got != tt.want {
				t.Errorf("Index([]byte(%q)) = %d, want %d", tt.in, got, tt.want)
			}
			if got := reference(tt.in); got != tt.want {
				t.Errorf("the reference says %d for %q, want %d: the table is wrong", got, tt.in, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	if err := Check("plain text"); err != nil {
		t.Fatalf("Check(plain) = %v, want nil", err)
	}
	tests := []struct{ in, wantMsg string }{
		{"ab\x01", "character U+0001 is not allowed at byte 2"},
		{"\xff", "invalid UTF-8 (byte 0xff) at byte 0"},
		{"x\uFFFF", "character U+FFFF is not allowed at byte 1"},
	}
	for _, tt := range tests {
		err := Check([]byte(tt.in))
		if !errors.Is(err, errdefs.ErrInvalid) || errdefs.Code(err, "") != Code {
			t.Errorf("Check(%q) = %v, want class ErrInvalid and code %s", tt.in, err, Code)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.wantMsg) {
			t.Errorf("Check(%q) = %q, want it to start %q", tt.in, err, tt.wantMsg)
		}
	}
}

// ascii8 agrees with a byte-by-byte test for every byte value at every
// position, and for random words.
func TestASCII8(t *testing.T) {
	check := func(b []byte) {
		want := true
		for _, c := range b {
			want = want && c >= 0x20 && c < 0x80
		}
		if got := ascii8(b); got != want {
			t.Fatalf("ascii8(%q) = %v, want %v", b, got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			for _, fill := range []byte{'a', ' ', '~', 0x7f} {
				b := []byte(strings.Repeat(string(fill), 8))
				b[pos] = byte(c)
				check(b)
			}
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
			if r.IntN(2) == 0 {
				b[i] = byte(0x20 + r.IntN(0x60))
			}
		}
		check(b[:])
	}
}

// Index agrees with the standard library's reading of the text, for
// strings and byte slices alike.
func FuzzIndex(f *testing.F) {
	for _, s := range []string{"", "plain ascii over eight bytes", "tab\t", "ü✓", "\x00", "\xff", "a\xed\xa0\x80", "\ufffe", "𝄞", "\xf4\x90\x80\x80", "\xc0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := reference(s)
		if got := Index(s); got != want {
			t.Fatalf("Index(%q) = %d, want %d", s, got, want)
		}
		if got := Index([]byte(s)); got != want {
			t.Fatalf("Index([]byte(%q)) = %d, want %d", s, got, want)
		}
	})
}

func BenchmarkIndexASCII(b *testing.B) {
	s := []byte(strings.Repeat(`{"order":12345,"item":"widget","qty":3} `, 6400)) // 256 KiB
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if Index(s) >= 0 {
			b.Fatal("refused")
		}
	}
}

func BenchmarkIndexUnicode(b *testing.B) {
	s := []byte(strings.Repeat("größer ✓ 𝄞 text ", 10000))
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if Index(s) >= 0 {
			b.Fatal("refused")
		}
	}
}
