package queue

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// engineImage is everything durable an engine holds, in a form that can be
// compared: what a restart must rebuild exactly.
type engineImage struct {
	Counters string   // the nonce and the sequence counters
	Queues   []string // one line per queue: id, name, attributes, tags
	Entries  []string // one line per message
	Live     map[uint32]int64
	// LiveBytes is the sum of Live: the one figure of it that does not
	// depend on where records lie in the log.
	LiveBytes int64
}

// image takes an engineImage of e.
func (e *Engine) image() engineImage { return e.takeImage(true) }

// imageWithoutPositions is image without what depends on where the
// records lie in the log: messages' positions, the segment of each queue's
// definition and the live bytes per segment (their sum stays). An engine
// that applied the same records to a log of its own (a fresh one, as a
// replica does) holds them at other positions, and must agree on the rest.
func (e *Engine) imageWithoutPositions() engineImage { return e.takeImage(false) }

func (e *Engine) takeImage(positions bool) engineImage {
	var img engineImage
	e.mu.RLock()
	img.Counters = fmt.Sprintf("nonce=%x nextSeq=%d nextQueueID=%d", e.nonce, e.nextSeq.Load(), e.nextQueueID)
	e.mu.RUnlock()
	for _, q := range e.sortedQueues() {
		q.mu.Lock()
		line := fmt.Sprintf("%d %s %+v %v created=%d purgedBelow=%d",
			q.id, q.name, q.attrs, q.tags, q.created, q.purgedBelow)
		if positions {
			line += fmt.Sprintf(" defSegment=%d", q.defSegment)
		}
		img.Queues = append(img.Queues, line)
		for en := q.head; en != nil; en = en.next {
			line := fmt.Sprintf("q%d seq=%d size=%d sent=%d visible=%d first=%d count=%d source=%d",
				q.id, en.seq, en.size, en.sentAt, en.visibleAt, en.firstRecvAt, en.recvCount, en.source)
			if positions {
				line += fmt.Sprintf(" pos=%v sub=%d", en.pos, en.sub)
			}
			img.Entries = append(img.Entries, line)
		}
		q.mu.Unlock()
	}
	e.segMu.Lock()
	if positions {
		img.Live = maps.Clone(e.segLive)
	}
	for _, n := range e.segLive {
		img.LiveBytes += n
	}
	e.segMu.Unlock()
	return img
}

// diffImages describes how b differs from a, "" when it does not.
func diffImages(a, b engineImage) string {
	var out []string
	if a.Counters != b.Counters {
		out = append(out, fmt.Sprintf("counters: %s, %s", a.Counters, b.Counters))
	}
	if d := diffLines(a.Queues, b.Queues); d != "" {
		out = append(out, "queues:\n"+d)
	}
	if d := diffLines(a.Entries, b.Entries); d != "" {
		out = append(out, "messages:\n"+d)
	}
	if fmt.Sprint(a.Live) != fmt.Sprint(b.Live) {
		out = append(out, fmt.Sprintf("live bytes per segment: %v, %v", a.Live, b.Live))
	}
	if a.LiveBytes != b.LiveBytes {
		out = append(out, fmt.Sprintf("live bytes: %d, %d", a.LiveBytes, b.LiveBytes))
	}
	return strings.Join(out, "\n")
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
	if d := diffImages(live, r.image()); d != "" {
		t.Errorf("replay check: the state replayed differs (- live, + replayed):\n%s", d)
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
