package reconcile

import "github.com/docketd/docket/specs"

// Compute reconciles one job: it returns the allocations to place and to
// stop so that what runs converges on what the job asks for, and when to
// evaluate the job again. It reads nothing but in and is deterministic, so
// the same snapshot always gives the same result.
func Compute(in Input) Result {
	p := newPlan()
	views := classify(in, in.Job.Restart.withDefaults())
	count := max(in.Job.Count, 0)
	maxParallel := max(in.Job.MaxParallel, 1)

	switch plan := specs.KindOf(in.Job.Type).Plan; {
	case in.Job.Stopped:
		stopAll(p, views)
	case plan == specs.PlanCount:
		reconcileService(p, views, count, maxParallel)
	case plan == specs.PlanCompletion:
		reconcileBatch(p, views, count, maxParallel)
	default:
		// Dispatch jobs (specs.PlanPerMessage), and any type Compute does
		// not know (specs.PlanNothing), which it must not guess how to
		// place.
		reconcileDispatch(p, views)
	}
	return p.finish(views, count)
}

// stopAll stops every allocation of a stopped job that has not ended. Ended
// ones are left as they are: a completed batch index stays done should the
// job be started again.
func stopAll(p *plan, views []*view) {
	for _, v := range views {
		if !v.ended {
			p.stop(v, StopJobStopped)
		}
	}
}
