package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/polltest"
	"golang.org/x/sys/unix"
)

// failingSync is an fdatasync that fails with EIO while on is set: the
// write before it reached the page cache, as it does when a disk fails.
type failingSync struct{ on atomic.Bool }

func (f *failingSync) fdatasync(fd int) error {
	if f.on.Load() {
		return syscall.EIO
	}
	return unix.Fdatasync(fd)
}

// bodies receives every visible message of queue (making them visible
// again afterwards) and returns their bodies, sorted.
func bodies(t *testing.T, e *Engine, queue string) []string {
	t.Helper()
	var got, receipts []string
	for {
		msgs := mustReceive(t, e, queue, ReceiveOptions{Max: 10, VisibilityTimeout: dur(time.Hour)})
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			got = append(got, string(m.Body))
			receipts = append(receipts, m.Receipt)
		}
	}
	for _, r := range receipts {
		if err := e.ChangeVisibility(queue, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(got)
	return got
}

// TestFailedCommitIsRolledBack fails an fdatasync under a running engine
// and checks what DESIGN.md promises: the refused send is out of the
// index at once, while the disk still fails (reads show only what is on
// disk); once the disk works again the engine recovers by itself; and the
// refused send never comes back, neither then nor after a restart, though
// its bytes were in the page cache for a reopened log to find.
func TestFailedCommitIsRolledBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queues")
	var sync failingSync
	cfg := Config{SegmentSize: 1 << 20, MaintenanceInterval: 10 * time.Millisecond, fdatasync: sync.fdatasync}
	e := openEngine(t, dir, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	mustCreate(t, e, "q", nil)
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("acked-%d", i))
	}
	mustSend(t, e, "q", want...)

	sync.on.Store(true)
	if _, err := e.Send("q", []SendInput{{Body: []byte("refused")}}); !errors.Is(err, errdefs.ErrStorageFailed) {
		t.Fatalf("send with a failing disk: got %v, want storage_failed", err)
	}
	if _, err := e.CreateQueue("refused", DefaultAttributes()); !errors.Is(err, errdefs.ErrStorageFailed) {
		t.Fatalf("create with a failing disk: got %v, want storage_failed", err)
	}
	// The disk still fails: the index is rolled back to it all the same.
	polltest.WaitFor(t, 10*time.Second, func() error {
		st, err := e.Stats("q")
		if err != nil {
			return err
		}
		if st.Visible != len(want) {
			return fmt.Errorf("visible while failed: got %d, want the %d acknowledged", st.Visible, len(want))
		}
		return nil
	})
	if e.Err() == nil {
		t.Fatal("Err() while the disk fails: got nil")
	}
	if _, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(0)}); !errors.Is(err, errdefs.ErrStorageFailed) {
		t.Errorf("receive while failed: got %v, want storage_failed", err)
	}

	sync.on.Store(false)
	polltest.WaitFor(t, 10*time.Second, func() error { return e.Err() })
	if got := bodies(t, e, "q"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after recovery: got %q, want %q", got, want)
	}
	mustSend(t, e, "q", "after")
	want = append(want, "after")
	sort.Strings(want)
	if got := bodies(t, e, "q"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a send that followed recovery: got %q, want %q", got, want)
	}
	checkReplay(t, e)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	done <- nil
	e.Close()

	r := openEngine(t, dir, Config{SegmentSize: cfg.SegmentSize})
	if got := bodies(t, r, "q"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a restart: got %q, want %q", got, want)
	}
	if _, err := r.Queue("refused"); err == nil {
		t.Error("the queue whose creation was refused exists after a restart")
	}
}

// TestCloseWhileFailed: stopping a server whose disk is full or failing is
// an orderly stop (everything acknowledged is on disk), not an error: the
// crash soak saw the server exit 1 on SIGTERM while degraded.
func TestCloseWhileFailed(t *testing.T) {
	var sync failingSync
	e := openEngine(t, filepath.Join(t.TempDir(), "queues"), Config{fdatasync: sync.fdatasync})
	mustCreate(t, e, "q", nil)
	sync.on.Store(true)
	if _, err := e.Send("q", []SendInput{{Body: []byte("refused")}}); !errors.Is(err, errdefs.ErrStorageFailed) {
		t.Fatalf("send with a failing disk: got %v, want storage_failed", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close while failed: %v", err)
	}
}
