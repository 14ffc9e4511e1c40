package scheduler_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/state"
)

// TestPlanConflictsLeaveAFollowUp makes every plan attempt of an
// evaluation lose its race for capacity (the node turns ineligible while
// each plan commits, as when another evaluation's plan takes it): the
// evaluation must leave a follow-up that places the allocations once the
// races stop, not be recorded complete with nothing placed.
func TestPlanConflictsLeaveAFollowUp(t *testing.T) {
	s, cl, _ := newCluster(t, scheduler.Config{})
	var attempts atomic.Int32
	var taken atomic.Bool
	s.SetPlanHook(func(before bool) {
		switch {
		case before && attempts.Load() < scheduler.MaxPlanAttempts:
			attempts.Add(1)
			taken.Store(true)
			if _, err := s.State().Apply(state.SetNodeEligibility{ID: "n1", Eligible: false}); err != nil {
				t.Error(err)
			}
		case !before && taken.Swap(false):
			if _, err := s.State().Apply(state.SetNodeEligibility{ID: "n1", Eligible: true}); err != nil {
				t.Error(err)
			}
		}
	})
	startNode(t, cl, "n1", 8000, 16*1024, nil, "general")
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, webJob, map[string]string{"n": "2"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if live := liveAllocs(t, cl, "web"); live["n1"] != 2 {
			return fmt.Errorf("live allocations %v, want 2 on n1", live)
		}
		return nil
	})
	if got := attempts.Load(); got != scheduler.MaxPlanAttempts {
		t.Errorf("%d plan attempts lost their race, want %d (the test did not exhaust them)", got, scheduler.MaxPlanAttempts)
	}
}
