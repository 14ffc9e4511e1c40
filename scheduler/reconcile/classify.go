package reconcile

import (
	"time"

	"github.com/docketd/docket/specs"
)

// phase is where an allocation stands as far as reconciliation is concerned.
// The order matters: a lower phase is a better holder of its name index.
type phase int

const (
	// phaseRunning and phasePending are live allocations.
	phaseRunning phase = iota
	phasePending
	// phaseDelayed is a failed allocation whose backoff has not expired; it
	// keeps its index so that nothing is placed in its stead meanwhile.
	phaseDelayed
	// phaseReplace is an allocation that has ended or is lost and must be
	// replaced now.
	phaseReplace
	// phaseDone is a completed batch allocation: its index needs no more
	// work.
	phaseDone
)

// view is an allocation with what reconciliation derives from it.
type view struct {
	Alloc
	phase phase
	// lost means the allocation is on a down or unknown node, or was
	// reported lost: it is always stopped with the lost client status.
	lost bool
	// ended means the client status is terminal.
	ended bool
	// draining means the allocation is live on a draining node.
	draining bool
	// current means the allocation runs the job's latest version.
	current bool
	// retryAt is when a delayed allocation may be replaced.
	retryAt time.Time
	// The replacement of a phaseReplace allocation: why it is placed, why
	// the old one stops, and the failure count the new one carries.
	placeReason string
	stopReason  string
	failures    int
}

// live reports whether the allocation is pending or running.
func (v *view) live() bool { return v.phase == phaseRunning || v.phase == phasePending }

// classify returns a view of every allocation that should run, in input
// order. Allocations already told to stop are left out: they hold no name
// index and are never replaced again.
func classify(in Input, backoff Backoff) []*view {
	views := make([]*view, 0, len(in.Allocs))
	// For a job run to completion an index is a unit of work, which one
	// completed allocation finishes.
	completion := specs.KindOf(in.Job.Type).Plan == specs.PlanCompletion
	for _, a := range in.Allocs {
		if a.DesiredStatus == DesiredStop {
			continue
		}
		views = append(views, classifyOne(in, backoff, completion, a))
	}
	return views
}

func classifyOne(in Input, backoff Backoff, completion bool, a Alloc) *view {
	v := &view{Alloc: a, current: a.JobVersion >= in.Job.Version}
	node, known := in.Nodes[a.NodeID]
	down := !known || node.Status == NodeDown

	switch a.ClientStatus {
	case ClientComplete:
		v.ended = true
		if completion {
			v.phase = phaseDone
			return v
		}
		// A service is meant to run for ever; one that exits cleanly is
		// simply started again, and a clean exit ends a run of failures.
		v.replace(PlaceReplaceComplete, StopReplaced, 0)
	case ClientFailed:
		v.ended = true
		retry := PlaceReplaceFailed
		if completion {
			retry = PlaceBatchRetry
		}
		if !v.current {
			v.replace(retry, StopReplaced, 0)
			return v
		}
		n := max(a.Failures, 1)
		v.retryAt = a.FailedAt.Add(backoff.after(n))
		if in.Now.Before(v.retryAt) {
			v.phase = phaseDelayed
			return v
		}
		v.replace(retry, StopReplaced, n+1)
	case ClientLost:
		v.ended = true
		v.lost = true
		v.replace(PlaceReplaceLost, StopLost, a.Failures)
	default:
		switch {
		case down:
			// No agent will report on this allocation again, so it is lost
			// now rather than after a backoff: losing a node is not the
			// allocation's fault.
			v.lost = true
			v.replace(PlaceReplaceLost, StopLost, a.Failures)
		case a.ClientStatus == ClientRunning:
			v.phase = phaseRunning
		default:
			v.phase = phasePending
		}
		v.draining = !down && node.Status == NodeDraining
	}
	return v
}

func (v *view) replace(place, stop string, failures int) {
	v.phase = phaseReplace
	v.placeReason = place
	v.stopReason = stop
	v.failures = failures
}
