package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
)

func TestTimerSet(t *testing.T) {
	t.Run("fires", func(t *testing.T) {
		var ts timerSet
		var fired atomic.Bool
		ts.after("a", 0, func() { fired.Store(true) })
		waitFor(t, 5*time.Second, func() error {
			if !fired.Load() {
				return errors.New("not fired")
			}
			return nil
		})
		if n := ts.pending(); n != 0 {
			t.Fatalf("got %d pending after it fired, want 0", n)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		var ts timerSet
		ts.after("a", time.Hour, func() {})
		ts.after("b", time.Hour, func() {})
		ts.cancel("a")
		if ts.has("a") || !ts.has("b") || ts.pending() != 1 {
			t.Fatalf("got a=%v b=%v pending=%d, want a cancelled and b pending", ts.has("a"), ts.has("b"), ts.pending())
		}
		ts.stop()
	})
	t.Run("replace", func(t *testing.T) {
		var ts timerSet
		var old, cur atomic.Bool
		ts.after("a", time.Hour, func() { old.Store(true) })
		ts.after("a", 0, func() { cur.Store(true) })
		waitFor(t, 5*time.Second, func() error {
			if !cur.Load() {
				return errors.New("the new timer did not fire")
			}
			return nil
		})
		if old.Load() || ts.pending() != 0 {
			t.Fatalf("got old fired %v, pending %d; want the replaced timer gone", old.Load(), ts.pending())
		}
	})
	t.Run("stop waits and refuses", func(t *testing.T) {
		var ts timerSet
		started, release := make(chan struct{}), make(chan struct{})
		var finished atomic.Bool
		ts.after("slow", 0, func() {
			close(started)
			<-release
			finished.Store(true)
		})
		ts.after("later", time.Hour, func() { t.Error("a stopped timer fired") })
		<-started
		stopped := make(chan struct{})
		go func() {
			ts.stop()
			close(stopped)
		}()
		waitFor(t, 5*time.Second, func() error {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			if !ts.stopped {
				return errors.New("stop has not begun")
			}
			return nil
		})
		close(release)
		<-stopped
		if !finished.Load() {
			t.Fatal("stop returned before the callback it found running")
		}
		if ts.after("new", 0, func() { t.Error("a timer started after stop fired") }) || ts.pending() != 0 {
			t.Fatalf("a stopped set took a timer: %d pending", ts.pending())
		}
	})
}

// drainJob runs one small allocation on the nodes of class.
func drainJob(name, class string) string {
	return fmt.Sprintf(`
job %q {
  constraint {
    attribute = "node.class"
    value     = %q
  }
  task "app" {
    image = "oci-archive:/images/app.tar"
    resources {
      cpu    = 100
      memory = 64
    }
  }
}
`, name, class)
}

// runOn starts a node of its own class with one running allocation of a
// job of the same name.
func runOn(t *testing.T, cl *api.Client, node string) {
	t.Helper()
	startNode(t, cl, node, 4000, 4096, nil, node)
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, drainJob(node, node), nil)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := liveAllocs(t, cl, node)[node]; n != 1 {
			return fmt.Errorf("%d live on %s, want 1", n, node)
		}
		return nil
	})
	runAll(t, cl, node)
}

// deadlineStops counts the node's allocations stopped by a drain deadline.
func deadlineStops(t *testing.T, cl *api.Client, node string) int {
	t.Helper()
	allocs, _, err := cl.Allocations(context.Background(), "", node, "", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range allocs {
		if a.DesiredStatus == "stop" && a.DesiredReason == "drain deadline" {
			n++
		}
	}
	return n
}

// TestDrainDeadlineTimers checks that a node's drain-deadline timer is
// kept only while its committed drain has a deadline: cancelling the drain
// or replacing it with one without a deadline stops the timer, and a drain
// command that failed starts none.
func TestDrainDeadlineTimers(t *testing.T) {
	s, cl, _ := newCluster(t, Config{})
	ctx := context.Background()
	startNode(t, cl, "n1", 4000, 4096, nil, "")
	drain := func(id string, req api.DrainRequest) {
		t.Helper()
		if _, err := cl.DrainNode(ctx, id, req); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		req  api.DrainRequest
		want bool // a deadline timer for n1
	}{
		{"drain with a deadline", api.DrainRequest{Enable: true, Deadline: "1h"}, true},
		{"cancel the drain", api.DrainRequest{Enable: false, MarkEligible: true}, false},
		{"drain with a deadline again", api.DrainRequest{Enable: true, Deadline: "1h"}, true},
		{"replace it with a drain without one", api.DrainRequest{Enable: true}, false},
		{"a deadline once more", api.DrainRequest{Enable: true, Deadline: "2h"}, true},
		{"replace it with another deadline", api.DrainRequest{Enable: true, Deadline: "3h"}, true},
	}
	for _, st := range steps {
		drain("n1", st.req)
		if got := s.drains.has("n1"); got != st.want {
			t.Fatalf("after %s: got a deadline timer %v, want %v", st.name, got, st.want)
		}
		if got := s.drains.pending(); got > 1 {
			t.Fatalf("after %s: got %d drain timers for one node, want at most 1", st.name, got)
		}
	}

	_, err := cl.DrainNode(ctx, "nope", api.DrainRequest{Enable: true, Deadline: "1h"})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("drain of an unknown node: got %v, want 404", err)
	}
	if s.drains.has("nope") || s.drains.pending() != 1 {
		t.Fatalf("a failed drain command left a timer: %d pending, want only n1's", s.drains.pending())
	}
}

// TestCancelledDrainDeadlineStopsNothing checks that a drain cancelled, or
// replaced by one without a deadline, does not stop the node's allocations
// when its old deadline passes. A third node's later deadline tells when
// the old ones have passed.
func TestCancelledDrainDeadlineStopsNothing(t *testing.T) {
	_, cl, _ := newCluster(t, Config{})
	ctx := context.Background()
	for _, n := range []string{"cancelled", "replaced", "reference"} {
		runOn(t, cl, n)
	}
	drain := func(id string, req api.DrainRequest) {
		t.Helper()
		if _, err := cl.DrainNode(ctx, id, req); err != nil {
			t.Fatal(err)
		}
	}
	drain("cancelled", api.DrainRequest{Enable: true, Deadline: "1s"})
	drain("replaced", api.DrainRequest{Enable: true, Deadline: "1s"})
	drain("cancelled", api.DrainRequest{Enable: false, MarkEligible: true})
	drain("replaced", api.DrainRequest{Enable: true})
	drain("reference", api.DrainRequest{Enable: true, Deadline: "2s"})
	waitFor(t, 10*time.Second, func() error {
		if n := deadlineStops(t, cl, "reference"); n != 1 {
			return fmt.Errorf("reference node: %d allocations stopped by its deadline, want 1", n)
		}
		return nil
	})
	for _, n := range []string{"cancelled", "replaced"} {
		if got := deadlineStops(t, cl, n); got != 0 {
			t.Errorf("node %s: got %d allocations stopped by a deadline its drain no longer has, want 0", n, got)
		}
	}
}

// TestNoTimerAfterRun checks that when Run returns every timer the server
// started is stopped — heartbeats, drain deadlines, evaluation backoffs —
// and that none can start after it.
func TestNoTimerAfterRun(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	cl := api.NewClient(hs.URL)
	if _, err := cl.RegisterNode(ctx, api.RegisterNodeRequest{ID: "n1", Name: "n1", OS: "linux", Arch: "amd64", CPU: 1000, Memory: 1024}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DrainNode(ctx, "n1", api.DrainRequest{Enable: true, Deadline: "1h"}); err != nil {
		t.Fatal(err)
	}
	later := newEval("later", triggerJobRegister, "")
	later.WaitUntil = time.Now().Add(time.Hour)
	s.broker.enqueue(later, time.Now())
	pending := func() string {
		return fmt.Sprintf("heartbeats %d, drains %d, backoffs %d", s.hb.timers.pending(), s.drains.pending(), s.broker.delayed.pending())
	}
	if want := "heartbeats 1, drains 1, backoffs 1"; pending() != want {
		t.Fatalf("while running: got %s, want %s", pending(), want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := "heartbeats 0, drains 0, backoffs 0"; pending() != want {
		t.Fatalf("after Run: got %s, want %s", pending(), want)
	}
	// What a request still in progress might do once Run has returned.
	s.hb.reset("n1")
	s.scheduleDrainDeadline("n1", time.Now())
	again := newEval("again", triggerJobRegister, "")
	again.WaitUntil = time.Now().Add(time.Hour)
	s.broker.enqueue(again, time.Now())
	if want := "heartbeats 0, drains 0, backoffs 0"; pending() != want {
		t.Fatalf("timers started after Run: got %s, want %s", pending(), want)
	}
}

// TestDispatchStopsWithItsDriver checks that dispatch leases nothing on
// its driver's ended context: a stopped or replaced driver takes no more
// messages.
func TestDispatchStopsWithItsDriver(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	cl := api.NewClient(hs.URL)
	ctx := context.Background()
	if _, err := cl.RegisterNode(ctx, api.RegisterNodeRequest{ID: "n1", Name: "n1", OS: "linux", Arch: "amd64", CPU: 8000, Memory: 8192}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.RegisterJobs(ctx, parseFile(t, dispatchJob, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Send(ctx, "in", api.SendMessage{Body: "m"}); err != nil {
		t.Fatal(err)
	}
	var j *state.Job
	s.state.View(func(rd *state.Reader) { j = rd.Job("work") })
	dispatched := func() int {
		n := 0
		s.state.View(func(rd *state.Reader) { n = len(rd.Allocs("work", "", "")) })
		return n
	}
	ended, end := context.WithCancel(ctx)
	end()
	s.dispatch(ended, j)
	if n := dispatched(); n != 0 {
		t.Fatalf("on an ended context: got %d allocations dispatched, want 0", n)
	}
	s.dispatch(ctx, j)
	if n := dispatched(); n != 1 {
		t.Fatalf("got %d allocations dispatched, want 1", n)
	}
}
