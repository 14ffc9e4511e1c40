package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/polltest"
)

// smallVolume mounts a tmpfs of size bytes for the test and returns its
// path. It needs root; without it the test is skipped, except under CI,
// which runs as root and must run it.
func smallVolume(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root to mount a small volume")
		}
		t.Skip("mounting a small volume needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	return dir
}

// fill writes a file until the volume is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return path
		}
	}
}

// TestDiskFullIsAStateNotACrash fills the volume under a running engine:
// writes must fail with storage_full at once (no panic, no lock left
// held, no hang), reads keep working, and once space is freed the engine
// recovers by itself, with every acknowledged message there, also after a
// restart.
func TestDiskFullIsAStateNotACrash(t *testing.T) {
	vol := smallVolume(t, "6m")
	dir := filepath.Join(vol, "queues")
	cfg := Config{SegmentSize: 256 << 10, MaintenanceInterval: 10 * time.Millisecond}
	e := openEngine(t, dir, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	mustCreate(t, e, "q", func(a *Attributes) { a.MaxMessageSize = 256 << 10 })
	mustCreate(t, e, "other", nil)

	acked := map[string]string{}
	send := func(i int) error {
		body := fmt.Sprintf("%06d%s", i, strings.Repeat("x", 8<<10))
		res, err := e.Send("q", []SendInput{{Body: []byte(body)}})
		if err == nil {
			acked[res[0].ID] = body
		}
		return err
	}
	filler := fill(t, vol)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = send(i)
	}
	if !errors.Is(err, errdefs.ErrStorageFull) || errdefs.Code(err, "") != "storage_full" {
		t.Fatalf("send on a full disk: got %v after %d acknowledged, want storage_full", err, len(acked))
	}
	if !errors.Is(e.Err(), errdefs.ErrStorageFull) {
		t.Fatalf("Err() on a full disk: got %v, want storage_full", e.Err())
	}
	// Every write is refused at once; nothing hangs or panics.
	for name, write := range map[string]func() error{
		"send":   func() error { return send(-1) },
		"create": func() error { _, err := e.CreateQueue("new", DefaultAttributes()); return err },
		"receive": func() error {
			_, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(0)})
			return err
		},
		"purge":  func() error { _, err := e.Purge("other"); return err },
		"delete": func() error { return e.DeleteQueue("other") },
	} {
		if err := write(); !errors.Is(err, errdefs.ErrStorageFull) {
			t.Errorf("%s on a full disk: got %v, want storage_full", name, err)
		}
	}
	// Reads keep working.
	if got := len(e.Queues()); got != 2 {
		t.Errorf("Queues on a full disk: got %d queues, want 2", got)
	}
	if _, err := e.Stats("q"); err != nil {
		t.Errorf("Stats on a full disk: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	polltest.WaitFor(t, 10*time.Second, func() error { return e.Err() })
	for i := 0; i < 20; i++ {
		if err := send(100000 + i); err != nil {
			t.Fatalf("send after space was freed: %v", err)
		}
	}
	if _, err := e.CreateQueue("new", DefaultAttributes()); err != nil {
		t.Fatalf("create after space was freed: %v", err)
	}
	checkReplay(t, e)
	wantAll := func(e *Engine, when string) {
		t.Helper()
		got := map[string]string{}
		var receipts []string
		for {
			msgs, err := e.Receive(context.Background(), "q", ReceiveOptions{Max: 10, Wait: dur(0), VisibilityTimeout: dur(time.Hour)})
			if err != nil {
				t.Fatalf("receive %s: %v", when, err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				got[m.ID] = string(m.Body)
				receipts = append(receipts, m.Receipt)
			}
		}
		for _, r := range receipts { // visible again for the next check
			if err := e.ChangeVisibility("q", r, 0); err != nil {
				t.Fatal(err)
			}
		}
		lost := 0
		for id, body := range acked {
			if got[id] != body {
				lost++
			}
		}
		if lost > 0 {
			t.Fatalf("%s: %d of %d acknowledged messages lost", when, lost, len(acked))
		}
		if len(got) != len(acked) {
			t.Errorf("%s: got %d messages, want the %d acknowledged", when, len(got), len(acked))
		}
	}
	wantAll(e, "after recovery")
	stop()
	e.Close()
	wantAll(openEngine(t, dir, cfg), "after a restart")
}

// A FIFO send whose commit failed on a full disk is no original: a resend
// with its deduplication id is refused too while the disk is full (not
// answered as a duplicate of what never reached the disk), and stored
// once the engine has recovered.
func TestDiskFullDuplicateIsNotAcknowledged(t *testing.T) {
	vol := smallVolume(t, "6m")
	dir := filepath.Join(vol, "queues")
	e := openEngine(t, dir, Config{SegmentSize: 256 << 10, MaintenanceInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	mustCreate(t, e, "f.fifo", func(a *Attributes) { a.FIFO, a.ContentDedup = true, true })
	filler := fill(t, vol)
	var failed []byte
	for i := 0; i < 10000; i++ {
		body := []byte(fmt.Sprintf("%06d%s", i, strings.Repeat("x", 8<<10)))
		if _, err := e.Send("f.fifo", []SendInput{{Body: body, Group: "g"}}); err != nil {
			if !errors.Is(err, errdefs.ErrStorageFull) {
				t.Fatalf("send on a full disk: %v", err)
			}
			failed = body
			break
		}
	}
	if failed == nil {
		t.Fatal("the disk never filled")
	}
	res, err := e.Send("f.fifo", []SendInput{{Body: failed, Group: "g"}})
	if err == nil {
		t.Fatalf("the resend of a send that failed was acknowledged: %+v", res)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	polltest.WaitFor(t, 10*time.Second, func() error { return e.Err() })
	res, err = e.Send("f.fifo", []SendInput{{Body: failed, Group: "g"}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("the resend after recovery: %+v, %v", res, err)
	}
	// Stored now, or found a duplicate of the first send, whose record
	// reached the disk after all (its answer was an error, not a no):
	// either way the queue holds it exactly once.
	n := 0
	for {
		msgs := mustReceive(t, e, "f.fifo", ReceiveOptions{Max: 10, VisibilityTimeout: dur(time.Hour)})
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if string(m.Body) == string(failed) {
				n++
			}
			mustDelete(t, e, "f.fifo", m.Receipt)
		}
	}
	if n != 1 {
		t.Fatalf("the queue held the resent message %d times (duplicate answer: %v), want once", n, res[0].Duplicate)
	}
}
