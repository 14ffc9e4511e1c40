package wal

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// forEachMode runs fn as a subtest for every storage setting (the
// conformance permutations), with opts holding that setting and a fresh
// directory.
func forEachMode(t *testing.T, fn func(t *testing.T, opts Options)) {
	t.Helper()
	modes := []struct {
		name string
		opts Options
	}{
		{"prealloc", Options{}},
		{"grow", Options{NoPreallocate: true}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			opts := m.opts
			opts.Dir = filepath.Join(t.TempDir(), "wal")
			fn(t, opts)
		})
	}
}

// openLog opens a log that the test is expected to leave intact: cleanup
// closes it and checks that it reopens and replays without error.
func openLog(tb testing.TB, opts Options) *Log {
	tb.Helper()
	l := mustOpen(tb, opts)
	tb.Cleanup(func() {
		if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) && !tb.Failed() {
			tb.Errorf("Close: %v", err)
		}
		if tb.Failed() {
			return
		}
		l2, err := Open(opts)
		if err != nil {
			tb.Errorf("reopen after test: %v", err)
			return
		}
		defer l2.Close()
		if err := l2.Replay(func(Pos, []byte) error { return nil }); err != nil {
			tb.Errorf("replay after test: %v", err)
		}
	})
	return l
}

// mustOpen opens a log and closes it at cleanup, without checking it.
func mustOpen(tb testing.TB, opts Options) *Log {
	tb.Helper()
	l, err := Open(opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

type entry struct {
	pos Pos
	rec []byte
}

// replayAll replays l and returns its records, copied.
func replayAll(tb testing.TB, l *Log) []entry {
	tb.Helper()
	var got []entry
	err := l.Replay(func(pos Pos, rec []byte) error {
		got = append(got, entry{pos, slices.Clone(rec)})
		return nil
	})
	if err != nil {
		tb.Fatalf("Replay: %v", err)
	}
	return got
}

// reopen closes l and opens the log again, unchecked.
func reopen(tb testing.TB, l *Log, opts Options) *Log {
	tb.Helper()
	if err := l.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	return mustOpen(tb, opts)
}

// payload returns a deterministic record of n bytes that starts with key
// (when n allows) and carries a checksum of itself, so checkPayload can tell
// it apart from any other bytes.
func payload(key uint64, n int) []byte {
	p := make([]byte, n)
	var seed [8]byte
	binary.LittleEndian.PutUint64(seed[:], key)
	h := fnv.New64a()
	for i := 0; i < n; i += 8 {
		h.Write(seed[:])
		binary.LittleEndian.PutUint64(seed[:], h.Sum64())
		copy(p[i:], seed[:])
	}
	if n >= 8 {
		binary.LittleEndian.PutUint64(p, key)
	}
	return p
}

// keyOf returns the key of a record made by payload, which is at least 8
// bytes long.
func keyOf(rec []byte) uint64 { return binary.LittleEndian.Uint64(rec) }

// segmentFiles lists the segment numbers present in dir.
func segmentFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// copyDir copies the regular files of src into a new directory.
func copyDir(tb testing.TB, src string) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), "wal")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		tb.Fatal(err)
	}
	es, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range es {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			tb.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// checkEntries compares replayed records with the wanted ones.
func checkEntries(tb testing.TB, got, want []entry) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].pos != want[i].pos {
			tb.Fatalf("record %d at %v, want %v", i, got[i].pos, want[i].pos)
		}
		if string(got[i].rec) != string(want[i].rec) {
			tb.Fatalf("record %d at %v: got %d bytes %.16x…, want %d bytes %.16x…",
				i, got[i].pos, len(got[i].rec), got[i].rec, len(want[i].rec), want[i].rec)
		}
	}
}
