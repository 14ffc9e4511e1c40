package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/errdefs"
)

func publishTo(queues ...string) []PublishTarget {
	targets := make([]PublishTarget, len(queues))
	for i, q := range queues {
		targets[i] = PublishTarget{Queue: q, Message: SendInput{Body: []byte("for " + q),
			Attributes: []Attr{{Name: "queue", Type: "String", Value: []byte(q)}}}}
	}
	return targets
}

// A publish puts each target's own message in its queue, durably: a
// restart rebuilds exactly what the engine held, also after the messages
// were received, one deleted and the rest copied by compaction.
func TestPublishFansOut(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentSize: 16 << 10}
	e := openEngine(t, dir, cfg)
	for _, q := range []string{"a", "b", "c"} {
		mustCreate(t, e, q, nil)
	}
	ids, err := e.Publish(publishTo("a", "b", "c"))
	if err != nil || len(ids) != 3 || ids[0] == ids[1] {
		t.Fatalf("Publish: %v, %v", ids, err)
	}
	for _, q := range []string{"a", "b", "c"} {
		wantStats(t, e, q, 1, 0, 0)
	}
	img := e.image()
	e.Close()
	e = openEngine(t, dir, cfg)
	if d := diffImages(img, e.image()); d != "" {
		t.Fatalf("after a restart:\n%s", d)
	}
	got := map[string]string{}
	for _, q := range []string{"a", "b", "c"} {
		msgs := mustReceive(t, e, q, ReceiveOptions{})
		if len(msgs) != 1 {
			t.Fatalf("queue %s: %d messages", q, len(msgs))
		}
		got[q] = string(msgs[0].Body) + " " + string(msgs[0].Attributes[0].Value)
		if q == "b" {
			mustDelete(t, e, q, msgs[0].Receipt)
		}
	}
	if got["a"] != "for a a" || got["b"] != "for b b" || got["c"] != "for c c" {
		t.Fatalf("each queue should get its own message: %v", got)
	}
	// Fill segments so the publish record's segment is compacted away.
	for i := range 100 {
		mustSend(t, e, "a", fmt.Sprintf("filler %d %s", i, strings.Repeat("x", 400)))
	}
	segs, _ := e.log().Segments()
	for range segs {
		if err := e.Compact(true); err != nil {
			t.Fatal(err)
		}
	}
	if now, _ := e.log().Segments(); now[0] == segs[0] {
		t.Fatalf("compaction kept segment %d", segs[0])
	}
	img = e.image()
	e.Close()
	e = openEngine(t, dir, cfg)
	if d := diffImages(img, e.image()); d != "" {
		t.Fatalf("after compaction and a restart:\n%s", d)
	}
	wantStats(t, e, "b", 0, 0, 0)
	wantStats(t, e, "c", 0, 1, 0)
	if img.LiveBytes <= 0 {
		t.Fatalf("live bytes %d", img.LiveBytes)
	}
}

// A publish that one target refuses stores nothing anywhere.
func TestPublishAllOrNothing(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "a", nil)
	mustCreate(t, e, "small", func(a *Attributes) { a.MaxMessageSize = 1024 })
	targets := publishTo("a", "small")
	targets[1].Message.Body = []byte(strings.Repeat("x", 2048))
	if _, err := e.Publish(targets); errdefs.Code(err, "") != "message_too_large" {
		t.Fatalf("Publish to a queue the message is too large for: %v", err)
	}
	if _, err := e.Publish(publishTo("a", "missing")); errdefs.Code(err, "") != "queue_not_found" {
		t.Fatalf("Publish to a missing queue: %v", err)
	}
	if _, err := e.Publish(nil); errdefs.Code(err, "") != "too_many_targets" {
		t.Fatalf("Publish to nothing: %v", err)
	}
	wantStats(t, e, "a", 0, 0, 0)
	wantStats(t, e, "small", 0, 0, 0)
	// The same queue twice gets two messages.
	if _, err := e.Publish(publishTo("a", "a")); err != nil {
		t.Fatal(err)
	}
	wantStats(t, e, "a", 2, 0, 0)
}

// A crash that tears the publish record leaves the message in none of
// its queues; a crash after it is whole leaves it in all.
func TestPublishTornByACrash(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{}
	e := openEngine(t, dir, cfg)
	for _, q := range []string{"a", "b", "c"} {
		mustCreate(t, e, q, nil)
	}
	if _, err := e.Publish(publishTo("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	before := e.log().Durable()
	big := publishTo("a", "b", "c")
	for i := range big {
		big[i].Message.Body = []byte(strings.Repeat("y", 4000))
	}
	if _, err := e.Publish(big); err != nil {
		t.Fatal(err)
	}
	after := e.log().Durable()
	e.Close()
	if before.Segment != after.Segment {
		t.Fatalf("the publish rolled the segment: %v %v", before, after)
	}
	// Cut the second publish's record in the middle, as a crash during
	// its write would.
	seg := filepath.Join(dir, fmt.Sprintf("%08d.wal", after.Segment))
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	mid := before.Offset + (after.Offset-before.Offset)/2
	if _, err := f.WriteAt(make([]byte, after.Offset-mid), int64(mid)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e = openEngine(t, dir, cfg)
	for _, q := range []string{"a", "b", "c"} {
		msgs := mustReceive(t, e, q, ReceiveOptions{Max: 10})
		if len(msgs) != 1 || string(msgs[0].Body) != "for "+q {
			t.Errorf("queue %s after the torn publish: %d messages, want the first publish's only", q, len(msgs))
		}
	}
}

func BenchmarkPublish(b *testing.B) {
	e := openEngine(b, b.TempDir(), Config{})
	var names []string
	for i := range 5 {
		names = append(names, fmt.Sprintf("q%d", i))
		mustCreate(b, e, names[i], nil)
	}
	targets := publishTo(names...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Publish(targets); err != nil {
			b.Fatal(err)
		}
	}
}
