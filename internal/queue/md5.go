package queue

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
)

// AttributesMD5 is SQS's MD5OfMessageAttributes of attrs: over the
// attributes sorted by name, each its name, data type, a transport byte
// (1 for strings and numbers, 2 for binary) and value, the strings and
// values prefixed with their 4-byte big-endian length. "" for none.
func AttributesMD5(attrs []Attr) string {
	if len(attrs) == 0 {
		return ""
	}
	sorted := slices.Clone(attrs)
	slices.SortFunc(sorted, func(a, b Attr) int { return strings.Compare(a.Name, b.Name) })
	h := md5.New()
	lp := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, a := range sorted {
		lp([]byte(a.Name))
		lp([]byte(a.Type))
		if IsBinary(a.Type) {
			h.Write([]byte{2})
		} else {
			h.Write([]byte{1})
		}
		lp(a.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// IsBinary reports whether an attribute's data type is Binary (or a
// custom Binary.x).
func IsBinary(dataType string) bool { return strings.HasPrefix(dataType, "Binary") }
