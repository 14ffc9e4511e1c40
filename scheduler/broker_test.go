package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/docketd/docket/scheduler/state"
)

// dequeueNow returns the evaluation ready to run, or nil if none is.
func dequeueNow(t *testing.T, b *broker) *state.Evaluation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	e, err := b.dequeue(ctx)
	if err != nil {
		return nil
	}
	b.done(e.Job)
	return e
}

// A blocked evaluation waits for a change of capacity, and runs again
// after one.
func TestBrokerBlockThenUnblock(t *testing.T) {
	b := newBroker()
	now := time.Now()
	e := &state.Evaluation{ID: "e1", Job: "web", Status: state.EvalBlocked}
	b.block(e, b.capacitySeen(), now)
	if b.blockedCount() != 1 || dequeueNow(t, b) != nil {
		t.Fatalf("blocked %d, and it ran without a change of capacity", b.blockedCount())
	}
	b.unblock(now)
	if got := dequeueNow(t, b); got != e {
		t.Fatalf("after the capacity change: dequeued %v, want e1", got)
	}
}

// Capacity that arrives while an evaluation plans (before it is blocked)
// is not missed: the evaluation runs again at once instead of waiting for
// the next change.
func TestBrokerCapacityDuringPlanning(t *testing.T) {
	b := newBroker()
	now := time.Now()
	seen := b.capacitySeen() // the worker starts planning
	b.unblock(now)           // a node registers; nothing is blocked yet
	e := &state.Evaluation{ID: "e1", Job: "web", Status: state.EvalBlocked}
	b.block(e, seen, now) // the plan could not place everything
	if b.blockedCount() != 0 {
		t.Fatal("the evaluation waits for capacity that has already arrived")
	}
	if got := dequeueNow(t, b); got != e {
		t.Fatalf("dequeued %v, want e1 to run again", got)
	}
}

// Unblocked evaluations run oldest first, by the order their IDs were
// made in, whatever the state recorded of them.
func TestBrokerUnblocksOldestFirst(t *testing.T) {
	b := newBroker()
	now := time.Now()
	var made []*state.Evaluation
	for _, job := range []string{"c", "a", "d", "b", "e"} {
		made = append(made, &state.Evaluation{ID: newID(), Job: job, Status: state.EvalBlocked})
	}
	for i := len(made) - 1; i >= 0; i-- { // blocked newest first
		b.block(made[i], b.capacitySeen(), now)
	}
	b.unblock(now)
	for i, want := range made {
		if got := dequeueNow(t, b); got != want {
			t.Fatalf("run %d: got %v, want %s (the %d-th made)", i, got, want.Job, i)
		}
	}
}
