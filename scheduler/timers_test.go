package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
)

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
	s, cl, _ := newCluster(t, scheduler.Config{})
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
		if got := s.DrainTimer("n1"); got != st.want {
			t.Fatalf("after %s: got a deadline timer %v, want %v", st.name, got, st.want)
		}
		if got := s.DrainTimers(); got > 1 {
			t.Fatalf("after %s: got %d drain timers for one node, want at most 1", st.name, got)
		}
	}

	_, err := cl.DrainNode(ctx, "nope", api.DrainRequest{Enable: true, Deadline: "1h"})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("drain of an unknown node: got %v, want 404", err)
	}
	if s.DrainTimer("nope") || s.DrainTimers() != 1 {
		t.Fatalf("a failed drain command left a timer: %d pending, want only n1's", s.DrainTimers())
	}
}

// TestCancelledDrainDeadlineStopsNothing checks that a drain cancelled, or
// replaced by one without a deadline, does not stop the node's allocations
// when its old deadline passes. A third node's later deadline tells when
// the old ones have passed.
func TestCancelledDrainDeadlineStopsNothing(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
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
	s, err := scheduler.New(scheduler.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cl := trustedClient(t, s)
	if _, err := cl.RegisterNode(ctx, api.RegisterNodeRequest{ID: "n1", Name: "n1", OS: "linux", Arch: "amd64", CPU: 1000, Memory: 1024}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DrainNode(ctx, "n1", api.DrainRequest{Enable: true, Deadline: "1h"}); err != nil {
		t.Fatal(err)
	}
	s.EnqueueDelayed("later", time.Now().Add(time.Hour))
	pending := func() string {
		hb, drains, backoffs := s.PendingTimers()
		return fmt.Sprintf("heartbeats %d, drains %d, backoffs %d", hb, drains, backoffs)
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
	s.StartTimers("n1", "again")
	if want := "heartbeats 0, drains 0, backoffs 0"; pending() != want {
		t.Fatalf("timers started after Run: got %s, want %s", pending(), want)
	}
}

// TestDispatchStopsWithItsDriver checks that dispatch leases nothing on
// its driver's ended context: a stopped or replaced driver takes no more
// messages.
func TestDispatchStopsWithItsDriver(t *testing.T) {
	s, err := scheduler.New(scheduler.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl := trustedClient(t, s)
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
	s.State().View(func(rd *state.Reader) { j = rd.Job("work") })
	dispatched := func() int {
		n := 0
		s.State().View(func(rd *state.Reader) { n = len(rd.Allocs("work", "", "")) })
		return n
	}
	ended, end := context.WithCancel(ctx)
	end()
	s.Dispatch(ended, j)
	if n := dispatched(); n != 0 {
		t.Fatalf("on an ended context: got %d allocations dispatched, want 0", n)
	}
	s.Dispatch(ctx, j)
	if n := dispatched(); n != 1 {
		t.Fatalf("got %d allocations dispatched, want 1", n)
	}
}
