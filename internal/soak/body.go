package soak

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Bodies are derived from the run's seed and a key unique to each message,
// so that any body can be checked without keeping it: a header naming the
// key and the size, then bytes from a generator seeded with both.
//
//	soak 000000000000002a 1234\n<payload>

const bodyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// makeBody returns the body of key with exactly size bytes (at least the
// header's length).
func makeBody(seed, key uint64, size int) string {
	b := make([]byte, 0, size)
	b = fmt.Appendf(b, "soak %016x %d\n", key, size)
	header := len(b)
	if header >= size {
		return string(b) // the sizes used are far above the header's length
	}
	b = b[:size]
	fillPayload(b[header:], seed, key)
	return string(b)
}

// fillPayload fills p with printable bytes from a generator seeded with
// seed and key; they need no escaping in JSON.
func fillPayload(p []byte, seed, key uint64) {
	r := rand.NewPCG(seed, key)
	for i := 0; i < len(p); {
		v := r.Uint64()
		for j := 0; j < 8 && i < len(p); j++ {
			p[i] = bodyAlphabet[v&63]
			v >>= 8
			i++
		}
	}
}

// errNotSoakBody is a body without the soak header.
var errNotSoakBody = errors.New("not a soak body")

// checkBody returns the key of body and an error if the body is not exactly
// the one makeBody produces for it.
func checkBody(seed uint64, body string) (uint64, error) {
	header, payload, ok := strings.Cut(body, "\n")
	f := strings.Fields(header)
	if !ok || len(f) != 3 || f[0] != "soak" {
		return 0, errNotSoakBody
	}
	key, err := strconv.ParseUint(f[1], 16, 64)
	if err != nil {
		return 0, errNotSoakBody
	}
	size, err := strconv.Atoi(f[2])
	if err != nil {
		return key, errNotSoakBody
	}
	if size != len(body) {
		return key, fmt.Errorf("body of %d bytes, its header says %d", len(body), size)
	}
	want := make([]byte, len(payload))
	fillPayload(want, seed, key)
	if string(want) != payload {
		i := 0
		for i < len(want) && want[i] == payload[i] {
			i++
		}
		return key, fmt.Errorf("payload differs from byte %d of %d", i, len(payload))
	}
	return key, nil
}

// bodyKey reads the key from a body's header without checking the rest.
func bodyKey(body string) (uint64, bool) {
	header, _, _ := strings.Cut(body[:min(len(body), 64)], "\n")
	f := strings.Fields(header)
	if len(f) != 3 || f[0] != "soak" {
		return 0, false
	}
	key, err := strconv.ParseUint(f[1], 16, 64)
	return key, err == nil
}
