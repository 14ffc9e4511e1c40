package queue

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCompactionThenRestartKeepsEveryMessage is the loss found in the
// field: compaction rewrote a queue's definition at the log's tail, after
// a segment that still held messages sent long before, and replay skipped
// messages of a queue it had not met yet. Mixed sizes, several
// compactions, then a restart: every message not deleted must be there,
// with its body.
func TestCompactionThenRestartKeepsEveryMessage(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentSize: 64 << 10}
	e := openEngine(t, dir, cfg)
	mustCreate(t, e, "q", func(a *Attributes) { a.MaxMessageSize = 256 << 10 })
	rng := rand.New(rand.NewPCG(1, 2))
	bodies := map[string]string{} // id → body of every message not deleted
	keep := map[string]bool{}
	compactions := 0
	for round := 0; round < 12; round++ {
		for i := 0; i < 20; i++ {
			size := 100 + rng.IntN(20<<10)
			if rng.IntN(10) == 0 {
				size = 40<<10 + rng.IntN(20<<10)
			}
			body := fmt.Sprintf("%d-%d-%s", round, i, strings.Repeat("x", size))
			ids := mustSend(t, e, "q", body)
			bodies[ids[0]] = body
		}
		// Delete most of what is there, so old segments become mostly
		// dead; a fifth of the messages stay for good.
		var kept []string
		for {
			msgs := mustReceive(t, e, "q", ReceiveOptions{Max: 10, VisibilityTimeout: dur(time.Hour)})
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				if keep[m.ID] || rng.IntN(5) == 0 {
					keep[m.ID] = true
					kept = append(kept, m.Receipt)
					continue
				}
				mustDelete(t, e, "q", m.Receipt)
				delete(bodies, m.ID)
			}
		}
		for _, r := range kept {
			if err := e.ChangeVisibility("q", r, 0); err != nil {
				t.Fatal(err)
			}
		}
		// One compaction a round: segments written before a queue's
		// definition was rewritten stay behind it for a while.
		before := e.Compactions()
		if err := e.Compact(true); err != nil {
			t.Fatal(err)
		}
		compactions += int(e.Compactions() - before)
	}
	if compactions < 3 {
		t.Fatalf("got %d compactions, want at least 3", compactions)
	}
	checkReplay(t, e)
	e.Close()

	e2 := openEngine(t, dir, cfg)
	got := map[string]string{}
	for {
		msgs := mustReceive(t, e2, "q", ReceiveOptions{Max: 10, VisibilityTimeout: dur(time.Hour)})
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			got[m.ID] = string(m.Body)
		}
	}
	lost := 0
	for id, body := range bodies {
		if got[id] != body {
			lost++
		}
	}
	if lost > 0 || len(got) != len(bodies) {
		t.Fatalf("after %d compactions and a restart: %d of %d messages lost, %d received", compactions, lost, len(bodies), len(got))
	}
}

// TestCompactionKeepsMessagesMovedMeanwhile dead-letters a message while a
// compaction runs, after the dead-letter queue (the lower id) was copied
// and before its source queue was: the moved message still points at the
// segment being reclaimed, and must be copied too, or a restart loses it.
func TestCompactionKeepsMessagesMovedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentSize: 16 << 10}
	e := openEngine(t, dir, cfg)
	mustCreate(t, e, "dead", nil)
	mustCreate(t, e, "work", func(a *Attributes) { a.MaxReceives, a.DeadLetter = 1, "dead" })
	mustSend(t, e, "work", "to be dead-lettered")
	first := mustReceive(t, e, "work", ReceiveOptions{VisibilityTimeout: dur(time.Hour)})
	if len(first) != 1 {
		t.Fatalf("got %d messages, want 1", len(first))
	}
	// Fill the first segment and move on, so that it can be compacted.
	for i := 0; i < 40; i++ {
		mustSend(t, e, "work", strings.Repeat("x", 1000))
	}
	for {
		msgs := mustReceive(t, e, "work", ReceiveOptions{Max: 10, VisibilityTimeout: dur(time.Hour)})
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			mustDelete(t, e, "work", m.Receipt)
		}
	}
	moved := false
	e.afterCopy = func(q *queueState) {
		if q.name != "dead" || moved {
			return
		}
		moved = true
		// The message's second receive goes over max_receives: it moves.
		if err := e.ChangeVisibility("work", first[0].Receipt, 0); err != nil {
			t.Error(err)
		}
		if m := mustReceive(t, e, "work", ReceiveOptions{}); len(m) != 0 {
			t.Errorf("got %d messages, want the dead-lettered one to move", len(m))
		}
	}
	before := e.Compactions()
	if err := e.Compact(true); err != nil {
		t.Fatal(err)
	}
	if !moved || e.Compactions() != before+1 {
		t.Fatalf("moved %v, compactions %d, want a move during one compaction", moved, e.Compactions()-before)
	}
	e.afterCopy = nil
	e.Close()
	e2 := openEngine(t, dir, cfg)
	dm := mustReceive(t, e2, "dead", ReceiveOptions{})
	if len(dm) != 1 || string(dm[0].Body) != "to be dead-lettered" {
		t.Fatalf("dead-letter queue after compaction and restart: got %+v, want the moved message", dm)
	}
}

// TestCompactionKeepsUpWithTheLog writes many segments' worth of messages
// and deletes them between two maintenance rounds: one round must reclaim
// them all, or a log that grows faster than a segment per interval grows
// until the disk is full (the crash soak's disk-full phase never
// recovered: the log itself filled the volume).
func TestCompactionKeepsUpWithTheLog(t *testing.T) {
	cfg := Config{SegmentSize: 64 << 10}
	e := openEngine(t, filepath.Join(t.TempDir(), "q"), cfg)
	mustCreate(t, e, "q", nil)
	body := strings.Repeat("x", 4<<10)
	for range 200 {
		mustSend(t, e, "q", body, body)
		for _, m := range mustReceive(t, e, "q", ReceiveOptions{Max: 10}) {
			mustDelete(t, e, "q", m.Receipt)
		}
	}
	before, _ := e.log().Segments()
	if len(before) < 20 {
		t.Fatalf("the test wrote only %d segments", len(before))
	}
	if err := e.compactAll(); err != nil {
		t.Fatal(err)
	}
	after, _ := e.log().Segments()
	if len(after) > 2 {
		t.Errorf("one maintenance round left %d of %d segments, want at most 2", len(after), len(before))
	}
	checkReplay(t, e)
}

// TestCompactionKeepsThePurgeMark purges a queue and compacts until the
// segment holding the purge is dropped: a restart must still know the
// queue's purge mark, or its state differs from the live one (the mark was
// in the purge record only).
func TestCompactionKeepsThePurgeMark(t *testing.T) {
	cfg := Config{SegmentSize: 16 << 10}
	e := openEngine(t, t.TempDir(), cfg)
	mustCreate(t, e, "q", nil)
	mustSend(t, e, "q", "purged")
	if _, err := e.Purge("q"); err != nil {
		t.Fatal(err)
	}
	purged, _ := e.log().Segments()
	body := strings.Repeat("x", 1000)
	for range 40 {
		mustSend(t, e, "q", body)
		for _, m := range mustReceive(t, e, "q", ReceiveOptions{}) {
			mustDelete(t, e, "q", m.Receipt)
		}
	}
	if err := e.compactAll(); err != nil {
		t.Fatal(err)
	}
	if left, _ := e.log().Segments(); left[0] <= purged[len(purged)-1] {
		t.Fatalf("segments %v left after compaction, want the purge's segment %d dropped", left, purged[len(purged)-1])
	}
	checkReplay(t, e)
}
