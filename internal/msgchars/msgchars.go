package msgchars

import (
	"fmt"
	"unicode/utf8"

	"github.com/docketd/docket/internal/errdefs"
)

// Code is the errdefs code of text refused by [Check].
const Code = "invalid_message_contents"

// Allowed describes the allowed characters, for error messages.
const Allowed = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"

// Index returns the byte offset of the first character of s that SQS does
// not allow, or of the first byte that is not valid UTF-8; -1 when every
// character is allowed. Most text is printable ASCII, which it checks
// eight bytes at a time.
func Index[T string | []byte](s T) int {
	i := 0
	for i < len(s) {
		if i+8 <= len(s) && ascii8(s[i:i+8]) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return i
			}
			i++
			continue
		}
		r, n := decodeRune(s[i:])
		if n == 0 || r == 0xFFFE || r == 0xFFFF {
			return i
		}
		i += n
	}
	return -1
}

// Check returns nil when s holds only allowed characters in valid UTF-8,
// and otherwise an error of class [errdefs.ErrInvalid] with code [Code]
// that says where the first offending byte is.
func Check[T string | []byte](s T) error {
	i := Index(s)
	if i < 0 {
		return nil
	}
	return errdefs.New(errdefs.ErrInvalid, Code, "%s at byte %d; message contents may hold only %s", describe(s[i:]), i, Allowed)
}

// describe names the character or byte that s starts with.
func describe[T string | []byte](s T) string {
	if s[0] < utf8.RuneSelf {
		return fmt.Sprintf("character U+%04X is not allowed", s[0])
	}
	if r, n := decodeRune(s); n > 0 {
		return fmt.Sprintf("character U+%04X is not allowed", r)
	}
	return fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", s[0])
}

// decodeRune decodes the UTF-8 sequence s starts with, which starts with
// a byte of 0x80 or more; n is 0 when it is not valid UTF-8 (a stray
// continuation byte, a truncated or overlong sequence, a surrogate or a
// code point over U+10FFFF), which utf8.DecodeRune would report as
// U+FFFD. Written for both string and []byte so that neither is copied.
func decodeRune[T string | []byte](s T) (r rune, n int) {
	c := s[0]
	var lo, hi byte = 0x80, 0xBF // the range of the second byte
	switch {
	case c < 0xC2:
		return 0, 0 // a continuation byte, or the lead of an overlong pair
	case c < 0xE0:
		n, r = 2, rune(c&0x1F)
	case c < 0xF0:
		n, r = 3, rune(c&0x0F)
		if c == 0xE0 {
			lo = 0xA0 // not overlong
		} else if c == 0xED {
			hi = 0x9F // not a surrogate
		}
	case c < 0xF5:
		n, r = 4, rune(c&0x07)
		if c == 0xF0 {
			lo = 0x90 // not overlong
		} else if c == 0xF4 {
			hi = 0x8F // not over U+10FFFF
		}
	default:
		return 0, 0
	}
	if len(s) < n || s[1] < lo || s[1] > hi {
		return 0, 0
	}
	r = r<<6 | rune(s[1]&0x3F)
	for j := 2; j < n; j++ {
		if s[j] < 0x80 || s[j] > 0xBF {
			return 0, 0
		}
		r = r<<6 | rune(s[j]&0x3F)
	}
	return r, n
}

// ascii8 reports whether the 8 bytes of s (len 8) are all allowed ASCII:
// 0x20 to 0x7F. It tests them at once, in one word; tab, newline and
// carriage return take the byte-by-byte path.
func ascii8[T string | []byte](s T) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	less := (x - ones*0x20) &^ x // a high bit for each byte under 0x20 (or 0x80 and over)
	return (less|x)&highs == 0
}
