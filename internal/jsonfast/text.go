package jsonfast

import "unicode/utf8"

// InvalidText returns the offset in the JSON text b of the first thing
// encoding/json would decode as U+FFFD without reporting an error: a byte
// that is not valid UTF-8, or a \u escape of a UTF-16 surrogate that is
// not the first half of a pair followed by its second. -1 when there is
// none. A caller that must not store altered text (message bodies, whose
// MD5 the sender is told) checks the body with it before handing it to
// encoding/json; the Decoder needs no such check, as it gives up on both.
// Plain ASCII without backslashes is skipped eight bytes at a time.
func InvalidText(b []byte) int {
	for i := 0; i < len(b); {
		if i+8 <= len(b) && asciiNoEscape8(b[i:i+8]) {
			i += 8
			continue
		}
		switch c := b[i]; {
		case c == '\\':
			if i+1 < len(b) && b[i+1] == 'u' {
				r, ok := hex4(b[i+2:])
				switch {
				case !ok:
					// Malformed: encoding/json reports it.
				case r >= 0xD800 && r < 0xDC00:
					if r2, ok := hex4(b[min(i+8, len(b)):]); ok && b[i+6] == '\\' && b[i+7] == 'u' && r2 >= 0xDC00 && r2 < 0xE000 {
						i += 12
						continue
					}
					return i
				case r >= 0xDC00 && r < 0xE000:
					return i
				}
			}
			i += 2 // the escape's two bytes; \uXXXX's hex digits are ASCII
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return i
			}
			i += n
		}
	}
	return -1
}

// hex4 reads the four hex digits b starts with.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// asciiNoEscape8 reports whether the 8 bytes of b (len 8) are all ASCII
// and none is a backslash, testing them at once, in one word.
func asciiNoEscape8(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	bs := x ^ (ones * '\\')
	zero := (bs - ones) &^ bs // a high bit for each byte that was '\\'
	return (zero|x)&highs == 0
}
