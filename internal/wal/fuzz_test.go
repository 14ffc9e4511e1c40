package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecover writes arbitrary bytes after a valid segment header and checks
// that opening never fails or panics, that whatever replays is kept, and that
// an append after recovery replays behind it.
func FuzzRecover(f *testing.F) {
	valid := appendRecord(nil, []byte("hello"), payloadChecksum([]byte("hello")))
	f.Add([]byte{})
	f.Add(valid)
	f.Add(append(append([]byte{}, valid...), valid[:7]...))
	f.Add(append(append([]byte{}, valid...), 0, 0, 0, 0, 0, 0, 0, 0, 1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		dir := filepath.Join(t.TempDir(), "wal")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		seg := append(segmentHeader(1), body...)
		if err := os.WriteFile(segmentPath(dir, 1), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := Options{Dir: dir, SegmentSize: 1 << 20, NoPreallocate: true}
		l := mustOpen(t, opts)
		kept := replayAll(t, l)
		pos, err := l.Append([]byte("after"))
		if err != nil {
			t.Fatal(err)
		}
		l = reopen(t, l, opts)
		checkEntries(t, replayAll(t, l), append(kept, entry{pos[0], []byte("after")}))
	})
}
