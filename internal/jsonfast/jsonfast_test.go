package jsonfast

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

func plainByte(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }

// plain8 agrees with a byte-by-byte test for every byte value at every
// position, and for random words.
func TestPlain8(t *testing.T) {
	check := func(b []byte) {
		want := true
		for _, c := range b {
			want = want && plainByte(c)
		}
		if got := plain8(string(b)); got != want {
			t.Fatalf("plain8(%q) = %v, want %v", b, got, want)
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
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
			if r.IntN(2) == 0 {
				b[i] = byte(0x20 + r.IntN(0x60)) // mostly printable
			}
		}
		check(b[:])
	}
}

// AppendString writes what encoding/json writes (HTML escaping off) for
// strings of every length around the 8-byte steps.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain ascii text over eight", "q\"uote", "back\\slash", "\x00\x1f", "héllo", "\xff", "\u2028", "0123456\"89"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sb strings.Builder
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		want := strings.TrimSuffix(sb.String(), "\n")
		if got := string(AppendString(nil, s)); got != want {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}
