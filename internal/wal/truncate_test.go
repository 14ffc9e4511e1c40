package wal

import (
	"errors"
	"syscall"
	"testing"
)

// appendAll appends each record in its own commit and returns them as
// entries, failing the test on an error.
func appendAll(tb testing.TB, l *Log, recs ...[]byte) []entry {
	tb.Helper()
	var out []entry
	for _, r := range recs {
		pos, err := l.Append(r)
		if err != nil {
			tb.Fatalf("Append: %v", err)
		}
		out = append(out, entry{pos[0], r})
	}
	return out
}

// scanAll scans l up to end and returns its records, copied.
func scanAll(tb testing.TB, l *Log, end Pos) []entry {
	tb.Helper()
	var got []entry
	if err := l.Scan(end, func(pos Pos, rec []byte) error {
		got = append(got, entry{pos, append([]byte(nil), rec...)})
		return nil
	}); err != nil {
		tb.Fatalf("Scan: %v", err)
	}
	return got
}

// TestTruncateAtErasesFailedCommits fails an fdatasync after a write that
// reached the page cache, as a full or failing disk does, and checks that
// the log's durable end excludes it, that Scan stops there, and that a log
// reopened with TruncateAt at that end never gives the failed record back
// (reopened without it, it does: the bytes are there to be found).
func TestTruncateAtErasesFailedCommits(t *testing.T) {
	for _, tc := range []struct {
		name string
		roll bool // the failed commit is the first of a new segment
	}{
		{"same segment", false},
		{"new segment", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachMode(t, func(t *testing.T, opts Options) {
				opts.SegmentSize = 4096
				l := mustOpen(t, opts)
				var want []entry
				for i := range 5 {
					want = append(want, appendAll(t, l, payload(uint64(i), 500))...)
				}
				if tc.roll {
					want = append(want, appendAll(t, l, payload(10, 1400))...)
				}
				durable := l.Durable()
				last := want[len(want)-1]
				if wantEnd := (Pos{last.pos.Segment, last.pos.Offset + recordHeaderSize + uint32(len(last.rec))}); durable != wantEnd {
					t.Fatalf("Durable: got %v, want %v", durable, wantEnd)
				}
				l.fdatasync = func(int) error { return syscall.ENOSPC }
				if _, err := l.Append(payload(99, 1000)); !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("Append with failing fdatasync: got %v, want ENOSPC", err)
				}
				// A roll that failed itself (growing segments are synced
				// when made) leaves the durable end where it was.
				end := l.Durable()
				rolled := end.Segment != durable.Segment
				if wantEnd := (Pos{durable.Segment + 1, segmentHeaderSize}); end != durable && !(tc.roll && end == wantEnd) {
					t.Fatalf("Durable after the failed commit: got %v, want %v", end, durable)
				}
				if tc.roll && !rolled && !opts.NoPreallocate {
					t.Fatalf("the failed commit did not go to a new segment (durable %v)", end)
				}
				checkEntries(t, scanAll(t, l, end), want)
				if err := l.Scan(Pos{end.Segment, end.Offset + 1}, func(Pos, []byte) error { return nil }); err == nil {
					t.Error("Scan past the durable end: got no error")
				}
				l.Close()

				// Without TruncateAt the failed record comes back.
				plain := opts
				plain.Dir = copyDir(t, opts.Dir)
				if got := replayAll(t, mustOpen(t, plain)); (rolled || !tc.roll) && (len(got) != len(want)+1 || keyOf(got[len(got)-1].rec) != 99) {
					t.Fatalf("plain reopen: got %d records, want %d and the failed one (the test no longer shows the failure; durable %v, end %v)", len(got), len(want)+1, durable, end)
				}

				opts.TruncateAt = end
				l = mustOpen(t, opts)
				checkEntries(t, replayAll(t, l), want)
				if got := l.Durable(); got != end {
					t.Errorf("Durable after the truncating open: got %v, want %v", got, end)
				}
				want = append(want, appendAll(t, l, payload(100, 300))...)
				l.Close()
				opts.TruncateAt = Pos{}
				checkEntries(t, replayAll(t, mustOpen(t, opts)), want)
			})
		})
	}
}

// TestTruncateAtRemovesLaterSegments truncates a log back into a segment
// that later ones follow: they are removed, and what is left replays and
// takes appends.
func TestTruncateAtRemovesLaterSegments(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		opts.SegmentSize = 4096
		l := mustOpen(t, opts)
		want := appendAll(t, l, payload(1, 500), payload(2, 500))
		cut := l.Durable()
		for i := range 20 {
			appendAll(t, l, payload(uint64(10+i), 700))
		}
		if l.Durable().Segment < cut.Segment+2 {
			t.Fatalf("the appends did not roll twice (durable %v)", l.Durable())
		}
		l.Close()
		opts.TruncateAt = cut
		l = mustOpen(t, opts)
		checkEntries(t, replayAll(t, l), want)
		if ids, active := l.Segments(); active != cut.Segment || len(ids) != 1 {
			t.Errorf("segments after truncation: %v active %d, want only %d", ids, active, cut.Segment)
		}
		want = append(want, appendAll(t, l, payload(50, 3000), payload(51, 3000))...)
		l.Close()
		for _, at := range []Pos{{}, {Segment: cut.Segment + 100, Offset: segmentHeaderSize}} {
			opts.TruncateAt = at
			l = mustOpen(t, opts)
			checkEntries(t, replayAll(t, l), want)
			l.Close()
		}
	})
}
