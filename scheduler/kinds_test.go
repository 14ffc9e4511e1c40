package scheduler

import (
	"testing"

	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// TestQueueDrivenFollowsTheTable checks which jobs get a driver: those of a
// kind run per message, and those scaled on their queue's backlog that have
// a scaling block.
func TestQueueDrivenFollowsTheTable(t *testing.T) {
	tests := []struct {
		typ    string
		scaled bool
		want   bool
	}{
		{specs.JobService, false, false},
		{specs.JobService, true, true},
		{specs.JobBatch, false, false},
		{specs.JobBatch, true, false},
		{specs.JobDispatch, false, true},
		{specs.JobDispatch, true, true},
		{"cron", true, false},
	}
	for _, tt := range tests {
		spec := &specs.Job{Name: "j", Type: tt.typ, Queue: "q"}
		if tt.scaled {
			spec.Scaling = &specs.Scaling{Max: 2}
		}
		if got := queueDriven(&state.Job{Name: "j", Spec: spec}); got != tt.want {
			t.Errorf("%s job, scaling %v: queueDriven %v, want %v", tt.typ, tt.scaled, got, tt.want)
		}
		if queueDriven(&state.Job{Name: "j", Spec: spec, Stopped: true}) {
			t.Errorf("%s job, scaling %v: a stopped job is queue-driven", tt.typ, tt.scaled)
		}
	}
}
