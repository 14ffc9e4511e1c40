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
