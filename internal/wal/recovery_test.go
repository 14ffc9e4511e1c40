package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// damage describes one way of breaking a log directory at a file offset.
type damage struct {
	name  string
	apply func(tb testing.TB, path string, off int64)
}

func truncateAt(tb testing.TB, path string, off int64) {
	tb.Helper()
	if err := os.Truncate(path, off); err != nil {
		tb.Fatal(err)
	}
}

func writeAt(tb testing.TB, path string, p []byte, off int64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(p, off); err != nil {
		tb.Fatal(err)
	}
}

func flipAt(tb testing.TB, path string, off int64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		tb.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		tb.Fatal(err)
	}
}

// zeroFrom zeroes the file from off to its end (or a little past it when it
// ends there), the state a preallocated segment is in when a write was lost.
func zeroFrom(tb testing.TB, path string, off int64) {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	writeAt(tb, path, make([]byte, max(fi.Size()-off, 64)), off)
}

// TestTornTail damages the last record of the last segment in every way a
// crash or a bad sector can, at every offset inside it, and checks that
// reopening keeps exactly the records before it, that new appends follow
// them, and that those replay after another reopen.
func TestTornTail(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		opts.SegmentSize = 64 << 10
		l := mustOpen(t, opts)
		var want []entry
		for i := range 6 {
			rec := payload(uint64(i), 40+i*7)
			pos, err := l.Append(rec)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, entry{pos[0], rec})
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		last := want[len(want)-1]
		start := int64(last.pos.Offset)
		end := start + recordHeaderSize + int64(len(last.rec))
		seg := filepath.Base(segmentPath(opts.Dir, last.pos.Segment))

		damages := []struct {
			damage
			keep int // how many records survive
			from int64
			to   int64
		}{
			{damage{"truncate", truncateAt}, 5, start, end},
			{damage{"zero from", zeroFrom}, 5, start, end},
			{damage{"flip byte", flipAt}, 5, start, end},
			{damage{"garbage after", func(tb testing.TB, p string, off int64) {
				writeAt(tb, p, []byte("\x07\x00\x00\x00not a record at all"), off)
			}}, 6, end, end + 1},
			{damage{"zeros after", func(tb testing.TB, p string, off int64) {
				writeAt(tb, p, make([]byte, 4096), off)
			}}, 6, end, end + 1},
			{damage{"huge length after", func(tb testing.TB, p string, off int64) {
				writeAt(tb, p, []byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4}, off)
			}}, 6, end, end + 1},
		}
		for _, d := range damages {
			t.Run(d.name, func(t *testing.T) {
				for off := d.from; off < d.to; off++ {
					dir := copyDir(t, opts.Dir)
					d.apply(t, filepath.Join(dir, seg), off)
					o := opts
					o.Dir = dir
					checkRecovery(t, o, want[:d.keep], fmt.Sprintf("%s at %d", d.name, off))
				}
			})
		}
	})
}

// checkRecovery opens a damaged log, expects it to replay want, appends to
// it and checks the result after another reopen.
func checkRecovery(t testing.TB, opts Options, want []entry, what string) {
	t.Helper()
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	defer func() { l.Close() }()
	got := replayAll(t, l)
	if len(got) != len(want) {
		t.Fatalf("%s: replayed %d records, want %d", what, len(got), len(want))
	}
	checkEntries(t, got, want)
	next := Pos{Segment: want[len(want)-1].pos.Segment,
		Offset: want[len(want)-1].pos.Offset + recordHeaderSize + uint32(len(want[len(want)-1].rec))}
	more := []entry{{rec: payload(100, 33)}, {rec: payload(101, 3)}}
	pos, err := l.Append(more[0].rec, more[1].rec)
	if err != nil {
		t.Fatalf("%s: Append: %v", what, err)
	}
	if pos[0] != next {
		t.Fatalf("%s: append after recovery at %v, want %v", what, pos[0], next)
	}
	more[0].pos, more[1].pos = pos[0], pos[1]
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(opts)
	if err != nil {
		t.Fatalf("%s: second Open: %v", what, err)
	}
	checkEntries(t, replayAll(t, l), append(want[:len(want):len(want)], more...))
}

// TestTornBatchDoesNotResurrect covers a crash that lost the start of a
// batch but not its end: the surviving later records were never
// acknowledged and must stay gone even when a new record of the same size
// lands exactly where the lost one was.
func TestTornBatchDoesNotResurrect(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := mustOpen(t, opts)
		first := payload(1, 50)
		p0, err := l.Append(first)
		if err != nil {
			t.Fatal(err)
		}
		batch := [][]byte{payload(2, 60), payload(3, 60), payload(4, 60)}
		pos, err := l.Append(batch...)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// Lose the first record of the batch, as if its sector never
		// reached the disk.
		path := segmentPath(opts.Dir, pos[0].Segment)
		writeAt(t, path, make([]byte, recordHeaderSize+60), int64(pos[0].Offset))

		l = mustOpen(t, opts)
		checkEntries(t, replayAll(t, l), []entry{{p0[0], first}})
		again := payload(5, 60) // same size: its end is where the next lost record starts
		p1, err := l.Append(again)
		if err != nil {
			t.Fatal(err)
		}
		if p1[0] != pos[0] {
			t.Fatalf("appended at %v, want %v", p1[0], pos[0])
		}
		l = reopen(t, l, opts)
		checkEntries(t, replayAll(t, l), []entry{{p0[0], first}, {p1[0], again}})
	})
}

// TestCorruptEarlierSegment checks that damage outside the last segment is
// reported, not repaired.
func TestCorruptEarlierSegment(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		opts.SegmentSize = 4096
		l := mustOpen(t, opts)
		var first []Pos
		for i := range 40 {
			pos, err := l.Append(payload(uint64(i), 500))
			if err != nil {
				t.Fatal(err)
			}
			if pos[0].Segment == 1 {
				first = append(first, pos[0])
			}
		}
		if ids, _ := l.Segments(); len(ids) < 4 {
			t.Fatalf("got segments %v, want at least 4", ids)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		mid := first[len(first)/2]
		seg1 := filepath.Base(segmentPath(opts.Dir, 1))
		seg2 := filepath.Base(segmentPath(opts.Dir, 2))
		seg3 := filepath.Base(segmentPath(opts.Dir, 3))

		tests := []struct {
			name     string
			damage   func(tb testing.TB, dir string)
			openFail bool   // Open itself fails
			wantMsg  string // in the error
		}{
			{"flipped payload byte", func(tb testing.TB, dir string) {
				flipAt(tb, filepath.Join(dir, seg1), int64(mid.Offset)+recordHeaderSize+10)
			}, false, fmt.Sprintf("segment %s offset %d: record checksum mismatch", seg1, mid.Offset)},
			{"flipped length byte", func(tb testing.TB, dir string) {
				flipAt(tb, filepath.Join(dir, seg1), int64(mid.Offset)+1)
			}, false, fmt.Sprintf("segment %s offset %d", seg1, mid.Offset)},
			{"truncated mid-record", func(tb testing.TB, dir string) {
				truncateAt(tb, filepath.Join(dir, seg1), int64(mid.Offset)+100)
			}, false, fmt.Sprintf("segment %s offset %d: short record", seg1, mid.Offset)},
			{"zeroed record header", func(tb testing.TB, dir string) {
				writeAt(tb, filepath.Join(dir, seg1), make([]byte, recordHeaderSize), int64(mid.Offset))
			}, false, fmt.Sprintf("segment %s offset %d: data after a zero record header", seg1, mid.Offset)},
			{"bad magic", func(tb testing.TB, dir string) {
				writeAt(tb, filepath.Join(dir, seg2), []byte("XXXX"), 0)
			}, true, seg2 + ": bad magic"},
			{"misplaced file", func(tb testing.TB, dir string) {
				b, err := os.ReadFile(filepath.Join(dir, seg3))
				if err != nil {
					tb.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, seg2), b, 0o644); err != nil {
					tb.Fatal(err)
				}
			}, true, seg2 + ": header names segment 3"},
			{"missing segment", func(tb testing.TB, dir string) {
				if err := os.Remove(filepath.Join(dir, seg2)); err != nil {
					tb.Fatal(err)
				}
			}, true, seg2 + " missing"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				o := opts
				o.Dir = copyDir(t, opts.Dir)
				tt.damage(t, o.Dir)
				l, err := Open(o)
				if err == nil {
					defer l.Close()
					if tt.openFail {
						t.Fatal("Open succeeded, want an error")
					}
					n := 0
					err = l.Replay(func(Pos, []byte) error { n++; return nil })
					if err != nil && n != len(first)/2 {
						t.Errorf("replayed %d records before the error, want %d", n, len(first)/2)
					}
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("got %v, want ErrCorrupt", err)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("got %q, want it to contain %q", err, tt.wantMsg)
				}
			})
		}
	})
}

// TestEmptyLastSegmentHeader covers a crash between creating a segment and
// syncing its header: the empty file is given its header again.
func TestEmptyLastSegmentHeader(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := mustOpen(t, opts)
		pos, err := l.Append([]byte("kept"))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(segmentPath(opts.Dir, 2), 0); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, opts)
		checkEntries(t, replayAll(t, l), []entry{{pos[0], []byte("kept")}})
		p, err := l.Append([]byte("next"))
		if err != nil {
			t.Fatal(err)
		}
		if want := (Pos{2, segmentHeaderSize}); p[0] != want {
			t.Errorf("appended at %v, want %v", p[0], want)
		}
	})
}

// A torn tail on a full disk is cut off rather than zeroed (zeros may need
// space the tail did not hold), so the log opens, keeps its records and
// takes appends once there is room again.
func TestTornTailOnAFullDisk(t *testing.T) {
	opts := Options{Dir: t.TempDir(), SegmentSize: 64 << 10}
	l := mustOpen(t, opts)
	var want [][]byte
	for i := range 4 {
		rec := payload(uint64(i), 100)
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec)
	}
	end := l.Durable()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	writeAt(t, segmentPath(opts.Dir, end.Segment), []byte("\x07\x00\x00\x00torn"), int64(end.Offset))

	var full atomic.Bool
	full.Store(true)
	opts.Pwrite = func(fd int, p []byte, off int64) (int, error) {
		if full.Load() {
			return 0, syscall.ENOSPC
		}
		return unix.Pwrite(fd, p, off)
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	if got := replayAll(t, l); len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	if _, err := l.Append(payload(9, 50)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("an append on the full disk: %v, want ENOSPC", err)
	}
	l.Close()
	full.Store(false)
	l = mustOpen(t, opts)
	if got := replayAll(t, l); len(got) != len(want) {
		t.Fatalf("after the failed append: replayed %d records, want %d", len(got), len(want))
	}
	if _, err := l.Append(payload(10, 50)); err != nil {
		t.Fatalf("an append once there is room: %v", err)
	}
	l.Close()
	l = mustOpen(t, opts)
	if got := replayAll(t, l); len(got) != len(want)+1 {
		t.Fatalf("replayed %d records, want %d", len(got), len(want)+1)
	}
}
