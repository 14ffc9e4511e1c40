package queue

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Message ids are the nonce and the sequence laid out as a UUID, with
// every digit where a formatted print would put it.
func TestMessageIDLayout(t *testing.T) {
	want := func(n, seq uint64) string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
			uint32(n>>32), uint16(n>>16), uint16(n), uint16(seq>>48), seq&0xffffffffffff)
	}
	cases := [][2]uint64{{0, 0}, {0x0123456789abcdef, 1}, {^uint64(0), ^uint64(0)}, {1 << 63, 1 << 48}}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		cases = append(cases, [2]uint64{r.Uint64(), r.Uint64()})
	}
	for _, c := range cases {
		e := &Engine{nonce: c[0]}
		if got := e.messageID(c[1]); got != want(c[0], c[1]) {
			t.Fatalf("messageID(nonce %#x, seq %#x) = %s, want %s", c[0], c[1], got, want(c[0], c[1]))
		}
	}
}
