package wal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestReadBatchMatchesRead(t *testing.T) {
	l, err := Open(Options{Dir: t.TempDir(), SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Replay(func(Pos, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var all []Pos
	var want [][]byte
	for i := 0; i < 300; i++ {
		n := 1 + rng.IntN(3)
		recs := make([][]byte, n)
		for j := range recs {
			size := 1 + rng.IntN(2000)
			if rng.IntN(20) == 0 {
				size = 20000 // longer than one batched read fetches past the last start
			}
			recs[j] = bytes.Repeat([]byte{byte(i + j)}, size)
			recs[j][0] = byte(len(all))
		}
		pos, err := l.Append(recs...)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pos...)
		want = append(want, recs...)
	}
	for trial := 0; trial < 50; trial++ {
		k := 1 + rng.IntN(12)
		var ps []Pos
		var ws [][]byte
		for j := 0; j < k; j++ {
			i := rng.IntN(len(all))
			if trial%2 == 0 { // neighbours, as a receive of one send batch
				i = min(len(all)-1, rng.IntN(len(all)-k)+j)
			}
			ps = append(ps, all[i])
			ws = append(ws, want[i])
		}
		got, err := l.ReadBatch(ps)
		if err != nil {
			t.Fatal(err)
		}
		for j := range ps {
			if !bytes.Equal(got[j], ws[j]) {
				t.Fatalf("trial %d: record %d at %v: got %d bytes, want %d", trial, j, ps[j], len(got[j]), len(ws[j]))
			}
		}
	}
	if _, err := l.ReadBatch([]Pos{{Segment: 99, Offset: 100}}); err == nil {
		t.Fatal("reading a missing segment: got no error")
	}
	_ = fmt.Sprint
}
