package queue

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// engineImage is everything durable an engine holds, in a form that can be
// compared: what a restart must rebuild exactly.
type engineImage struct {
	Queues  []string // one line per queue: id, name, attributes, tags
	Entries []string // one line per message
	Live    map[uint32]int64
}

// image takes an engineImage of e.
func (e *Engine) image() engineImage {
	var img engineImage
	img.Live = map[uint32]int64{}
	for _, q := range e.sortedQueues() {
		q.mu.Lock()
		img.Queues = append(img.Queues, fmt.Sprintf("%d %s %+v %v created=%d purgedBelow=%d",
			q.id, q.name, q.attrs, q.tags, q.created, q.purgedBelow))
		for en := q.head; en != nil; en = en.next {
			img.Entries = append(img.Entries, fmt.Sprintf("q%d seq=%d pos=%v size=%d sent=%d visible=%d first=%d count=%d source=%d",
				q.id, en.seq, en.pos, en.size, en.sentAt, en.visibleAt, en.firstRecvAt, en.recvCount, en.source))
		}
		q.mu.Unlock()
	}
	e.segMu.Lock()
	for s, n := range e.segLive {
		img.Live[s] = n
	}
	e.segMu.Unlock()
	return img
}

// checkReplay compares e's live state with the state a restart rebuilds
// from a copy of its log: live and replayed state must not differ. It is
// the invariant every queue test checks in its cleanup (bbolt checks its
// database after every test the same way).
func checkReplay(t testing.TB, e *Engine) {
	t.Helper()
	e.mu.RLock()
	closed := e.closed
	e.mu.RUnlock()
	if closed || e.Err() != nil {
		return
	}
	// Wait for everything enqueued to be durable, then copy the log.
	if c, _ := e.log().Enqueue(); c.Wait() != nil {
		t.Errorf("replay check: flush failed")
		return
	}
	live := e.image()
	dir := t.TempDir()
	names, err := filepath.Glob(filepath.Join(e.cfg.Dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		copyFile(t, name, filepath.Join(dir, filepath.Base(name)))
	}
	cfg := e.cfg
	cfg.Dir = dir
	cfg.Logger = nil
	r, err := Open(cfg)
	if err != nil {
		t.Errorf("replay check: reopen a copy of the log: %v", err)
		return
	}
	defer r.Close()
	replayed := r.image()
	if d := diffLines(live.Queues, replayed.Queues); d != "" {
		t.Errorf("replay check: queues differ after replay (- live, + replayed):\n%s", d)
	}
	if d := diffLines(live.Entries, replayed.Entries); d != "" {
		t.Errorf("replay check: messages differ after replay (- live, + replayed):\n%s", d)
	}
	if fmt.Sprint(live.Live) != fmt.Sprint(replayed.Live) {
		t.Errorf("replay check: live bytes per segment: live %v, replayed %v", live.Live, replayed.Live)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// diffLines lists the lines only in a (-) and only in b (+), at most 20.
func diffLines(a, b []string) string {
	inA, inB := make(map[string]bool, len(a)), make(map[string]bool, len(b))
	for _, l := range a {
		inA[l] = true
	}
	for _, l := range b {
		inB[l] = true
	}
	var out []string
	for _, l := range a {
		if !inB[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !inA[l] {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("… and %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}
