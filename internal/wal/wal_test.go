package wal

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// TestRoundTrip appends records of random sizes from many goroutines, some
// calls with several records, and checks that after reopening every
// acknowledged record replays at its position with its bytes, in an order
// consistent with each goroutine's own, with each call's records contiguous.
func TestRoundTrip(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		opts.SegmentSize = 256 << 10 // several rolls
		l := openLog(t, opts)
		const goroutines, calls = 16, 150
		type call struct {
			pos  []Pos
			recs [][]byte
		}
		acked := make([][]call, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(g), 1))
				seq := 0
				for range calls {
					recs := make([][]byte, 1+r.IntN(4))
					for i := range recs {
						size := 8 + r.IntN(2048)
						if r.IntN(50) == 0 {
							size = 8 + r.IntN(100<<10)
						}
						recs[i] = payload(uint64(g)<<32|uint64(seq), size)
						seq++
					}
					pos, err := l.Append(recs...)
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					acked[g] = append(acked[g], call{pos, recs})
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}

		want := map[Pos][]byte{}
		for _, calls := range acked {
			for _, c := range calls {
				if len(c.pos) != len(c.recs) {
					t.Fatalf("got %d positions for %d records", len(c.pos), len(c.recs))
				}
				for i, p := range c.pos {
					if i > 0 && (p.Segment != c.pos[0].Segment || int(p.Offset) != int(c.pos[i-1].Offset)+recordHeaderSize+len(c.recs[i-1])) {
						t.Fatalf("records of one call not contiguous: %v", c.pos)
					}
					want[p] = c.recs[i]
					got, err := l.Read(p)
					if err != nil || string(got) != string(c.recs[i]) {
						t.Fatalf("Read(%v) before reopen: %d bytes, %v", p, len(got), err)
					}
				}
			}
		}

		l = reopen(t, l, opts)
		got := replayAll(t, l)
		if len(got) != len(want) {
			t.Fatalf("replayed %d records, want %d", len(got), len(want))
		}
		lastSeq := map[uint64]int64{}
		for i, e := range got {
			w, ok := want[e.pos]
			if !ok || string(w) != string(e.rec) {
				t.Fatalf("record %d at %v: not the acknowledged one", i, e.pos)
			}
			if i > 0 && got[i-1].pos.Compare(e.pos) >= 0 {
				t.Fatalf("positions out of order: %v then %v", got[i-1].pos, e.pos)
			}
			k := keyOf(e.rec)
			g, seq := k>>32, int64(k&0xffffffff)
			if prev, ok := lastSeq[g]; ok && seq != prev+1 {
				t.Fatalf("goroutine %d: record %d follows %d", g, seq, prev)
			}
			lastSeq[g] = seq
			rec, err := l.Read(e.pos)
			if err != nil || string(rec) != string(w) {
				t.Fatalf("Read(%v) after reopen: %d bytes, %v", e.pos, len(rec), err)
			}
		}
		if ids, _ := l.Segments(); len(ids) < 3 {
			t.Errorf("got segments %v, want several", ids)
		}
	})
}

// TestReadInto checks both paths of ReadInto: a record that fits the
// caller's buffer lands in it, a larger one comes back in a new slice.
func TestReadInto(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := openLog(t, opts)
		small, large := payload(1, 100), payload(2, 10000)
		pos, err := l.Append(small, large, nil)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 256)
		tests := []struct {
			name      string
			pos       Pos
			want      []byte
			intoBuf   bool
			wantEmpty bool
		}{
			{"fits", pos[0], small, true, false},
			{"too large", pos[1], large, false, false},
			{"empty", pos[2], nil, true, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := l.ReadInto(tt.pos, buf)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(tt.want) {
					t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
				}
				if same := cap(got) > 0 && &got[:1][0] == &buf[:1][0]; same != tt.intoBuf {
					t.Errorf("result in caller's buffer: got %v, want %v", same, tt.intoBuf)
				}
				r, err := l.Read(tt.pos)
				if err != nil || string(r) != string(tt.want) {
					t.Fatalf("Read: %d bytes, %v", len(r), err)
				}
				if r == nil {
					t.Errorf("Read returned nil for an empty record, want empty slice")
				}
			})
		}
	})
}

// TestErrors checks the misuse and closed-log errors.
func TestErrors(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := openLog(t, opts)
		pos, err := l.Append([]byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		p := pos[0]
		tests := []struct {
			name    string
			do      func() error
			wantIs  error
			wantSub string
		}{
			{"replay after append", func() error { return l.Replay(func(Pos, []byte) error { return nil }) }, nil, "after Append"},
			{"record too large", func() error { _, err := l.Append(make([]byte, MaxRecordSize+1)); return err }, nil, "exceeds"},
			{"read past end", func() error { _, err := l.Read(Pos{p.Segment, p.Offset + 100}); return err }, nil, "outside"},
			{"read in header", func() error { _, err := l.Read(Pos{p.Segment, 3}); return err }, nil, "outside"},
			{"read mid-record", func() error { _, err := l.Read(Pos{p.Segment, p.Offset + 1}); return err }, ErrCorrupt, ""},
			{"read future segment", func() error { _, err := l.Read(Pos{p.Segment + 1, p.Offset}); return err }, nil, "no such segment"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.do()
				if err == nil {
					t.Fatal("got nil error")
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("got %v, want %v", err, tt.wantIs)
				}
				if !strings.Contains(err.Error(), tt.wantSub) {
					t.Errorf("got %q, want it to mention %q", err, tt.wantSub)
				}
			})
		}
		if _, err := l.Append(make([]byte, MaxRecordSize)); err != nil {
			t.Errorf("Append of MaxRecordSize bytes: %v", err)
		}

		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		closed := []struct {
			name string
			do   func() error
		}{
			{"append", func() error { _, err := l.Append([]byte("x")); return err }},
			{"enqueue", func() error { c, _ := l.Enqueue([]byte("x")); return c.Wait() }},
			{"read", func() error { _, err := l.Read(p); return err }},
			{"roll", l.Roll},
			{"drop", func() error { return l.DropBefore(10) }},
		}
		for _, tt := range closed {
			if err := tt.do(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close: got %v, want ErrClosed", tt.name, err)
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// TestEnqueue checks that Enqueue fixes the order at enqueue time and that
// an empty Enqueue waits for everything before it.
func TestEnqueue(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := openLog(t, opts)
		var commits []*Commit
		var want []entry
		for i := range 50 {
			rec := payload(uint64(i), 8+i)
			c, pos := l.Enqueue(rec)
			commits = append(commits, c)
			want = append(want, entry{pos[0], rec})
		}
		barrier, pos := l.Enqueue()
		if pos != nil {
			t.Errorf("empty Enqueue returned positions %v", pos)
		}
		if err := barrier.Wait(); err != nil {
			t.Fatal(err)
		}
		for i, c := range commits {
			select {
			case <-c.done:
			default:
				t.Fatalf("commit %d not complete after the barrier", i)
			}
			if err := c.Wait(); err != nil {
				t.Fatal(err)
			}
		}
		l = reopen(t, l, opts)
		checkEntries(t, replayAll(t, l), want)
	})
}

// TestExclusive checks that a directory is used by one Log at a time.
func TestExclusive(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := openLog(t, opts)
		if l2, err := Open(opts); err == nil {
			l2.Close()
			t.Fatal("second Open of the same directory succeeded")
		} else if !strings.Contains(err.Error(), "in use") {
			t.Errorf("got %v, want an in-use error", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, opts)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEmptyRecords checks that empty records keep their place.
func TestEmptyRecords(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := openLog(t, opts)
		recs := [][]byte{nil, []byte("a"), {}, {}, []byte("bc"), nil}
		var want []entry
		for i := range recs {
			pos, err := l.Append(recs[:i+1]...)
			if err != nil {
				t.Fatal(err)
			}
			for j, p := range pos {
				want = append(want, entry{p, recs[j]})
			}
		}
		l = reopen(t, l, opts)
		checkEntries(t, replayAll(t, l), want)
	})
}
