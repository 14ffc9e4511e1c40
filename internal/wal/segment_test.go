package wal

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/docketd/docket/internal/polltest"
)

// TestSegmentRoll checks where appends go as segments fill: a batch never
// spans segments, and an append larger than a segment gets its own.
func TestSegmentRoll(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		opts.SegmentSize = 4096
		l := openLog(t, opts)
		const hdr = segmentHeaderSize
		tests := []struct {
			name  string
			sizes []int // records of one Append
			want  Pos   // position of its first record
		}{
			{"first", []int{1000}, Pos{1, hdr}},
			{"fits", []int{1000, 1500}, Pos{1, hdr + 1008}},
			{"batch would overflow", []int{500, 500}, Pos{2, hdr}},
			{"fills exactly", []int{4096 - hdr - 1016 - 8}, Pos{2, hdr + 1016}},
			{"full segment rolls", []int{0}, Pos{3, hdr}},
			{"larger than a segment", []int{10000}, Pos{4, hdr}},
			{"after a large one", []int{10}, Pos{5, hdr}},
			{"batch larger than a segment", []int{3000, 3000}, Pos{6, hdr}},
		}
		var want []entry
		for i, tt := range tests {
			recs := make([][]byte, len(tt.sizes))
			for j, n := range tt.sizes {
				recs[j] = payload(uint64(i*10+j), n)
			}
			pos, err := l.Append(recs...)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if pos[0] != tt.want {
				t.Errorf("%s: first record at %v, want %v", tt.name, pos[0], tt.want)
			}
			for j := range recs {
				if pos[j].Segment != pos[0].Segment {
					t.Errorf("%s: batch spans segments: %v", tt.name, pos)
				}
				want = append(want, entry{pos[j], recs[j]})
			}
		}
		ids, active := l.Segments()
		if !slices.Equal(ids, []uint32{1, 2, 3, 4, 5, 6}) || active != 6 {
			t.Errorf("Segments: got %v active %d, want [1 … 6] active 6", ids, active)
		}
		l = reopen(t, l, opts)
		checkEntries(t, replayAll(t, l), want)
		for _, e := range want {
			got, err := l.Read(e.pos)
			if err != nil || string(got) != string(e.rec) {
				t.Fatalf("Read(%v): %d bytes, %v", e.pos, len(got), err)
			}
		}
	})
}

// TestRollAndDrop checks Roll, DropBefore, reads of dropped positions, the
// files left, Size, and reopening with an empty active segment.
func TestRollAndDrop(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		opts.SegmentSize = 8192
		l := openLog(t, opts)
		var all []entry
		for i := range 30 {
			rec := payload(uint64(i), 1000)
			pos, err := l.Append(rec)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, entry{pos[0], rec})
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		ids, active := l.Segments()
		if active != ids[len(ids)-1] || active != all[len(all)-1].pos.Segment+1 {
			t.Fatalf("after Roll: segments %v active %d, last record in %d", ids, active, all[len(all)-1].pos.Segment)
		}
		sizeBefore := l.Size()

		// Reopen with the new, empty segment active.
		l = reopen(t, l, opts)
		checkEntries(t, replayAll(t, l), all)
		if ids2, active2 := l.Segments(); !slices.Equal(ids2, ids) || active2 != active {
			t.Fatalf("after reopen: segments %v active %d, want %v active %d", ids2, active2, ids, active)
		}
		rec := payload(99, 10)
		pos, err := l.Append(rec)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Pos{active, segmentHeaderSize}); pos[0] != want {
			t.Fatalf("first append after Roll at %v, want %v", pos[0], want)
		}
		kept := entry{pos[0], rec}

		if err := l.DropBefore(active + 5); err != nil { // never the active one
			t.Fatal(err)
		}
		if ids, a := l.Segments(); !slices.Equal(ids, []uint32{active}) || a != active {
			t.Fatalf("after DropBefore: segments %v active %d, want [%d]", ids, a, active)
		}
		if got, want := segmentFiles(t, opts.Dir), []string{segmentPath("", active)}; !slices.Equal(got, want) {
			if !opts.NoPreallocate && len(got) == 2 && got[0] == want[0] {
				// The spare segment being prepared is expected too.
			} else {
				t.Errorf("files after DropBefore: got %v, want %v", got, want)
			}
		}
		if l.Size() >= sizeBefore {
			t.Errorf("Size after DropBefore: got %d, want less than %d", l.Size(), sizeBefore)
		}
		for _, e := range all {
			if _, err := l.Read(e.pos); !errors.Is(err, ErrDropped) {
				t.Fatalf("Read(%v) of a dropped segment: got %v, want ErrDropped", e.pos, err)
			}
		}
		if got, err := l.Read(kept.pos); err != nil || string(got) != string(kept.rec) {
			t.Fatalf("Read(%v) in the kept segment: %d bytes, %v", kept.pos, len(got), err)
		}
		if err := l.DropBefore(active + 5); err != nil {
			t.Fatalf("DropBefore again: %v", err)
		}

		l = reopen(t, l, opts)
		checkEntries(t, replayAll(t, l), []entry{kept})
	})
}

// TestSize checks that Size follows the files on disk.
func TestSize(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		opts.SegmentSize = 8192
		l := openLog(t, opts)
		// The preallocated tail of a segment left by a roll is released in
		// the background, so poll until Size and the files agree.
		check := func(when string) {
			t.Helper()
			polltest.WaitFor(t, 30*time.Second, func() error {
				var total int64
				ids, _ := l.Segments()
				for _, id := range ids {
					fi, err := os.Stat(segmentPath(opts.Dir, id))
					if err != nil {
						return err
					}
					total += fi.Size()
				}
				if got := l.Size(); got != total {
					return fmt.Errorf("%s: Size %d, files hold %d", when, got, total)
				}
				return nil
			})
		}
		check("new")
		for i := range 20 {
			if _, err := l.Append(payload(uint64(i), 1500)); err != nil {
				t.Fatal(err)
			}
		}
		check("after appends")
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		check("after roll")
		_, active := l.Segments()
		if err := l.DropBefore(active); err != nil {
			t.Fatal(err)
		}
		check("after drop")
		l = reopen(t, l, opts)
		check("after reopen")
	})
}
