package reconcile

// reconcileBatch runs each index below count until one allocation of it
// completes. A completed index is never run again, whatever the job's
// version: a new version runs only the indexes not yet done, and live
// allocations of an older version are left to finish rather than thrown
// away mid-work. To run a batch job again from scratch the scheduler must
// reconcile it without the previous run's allocations.
func reconcileBatch(p *plan, views []*view, count, maxParallel int) {
	done := make(map[int]bool)
	for _, v := range views {
		if v.phase == phaseDone {
			done[v.Index] = true
		}
	}
	var held []*view
	for _, v := range keepers(p, views, done) {
		// Indexes are units of work here, so an index beyond count is not
		// needed whatever its allocation is doing.
		if v.Index < 0 || v.Index >= count {
			p.stop(v, StopScaleIn)
			continue
		}
		held = append(held, v)
	}
	for _, v := range held {
		switch v.phase {
		case phaseReplace:
			p.stop(v, v.stopReason)
			p.place(Placement{
				Index:         v.Index,
				PreviousAlloc: v.ID,
				Failures:      v.failures,
				Reason:        v.placeReason,
			})
		case phaseDelayed:
			p.delay(v)
		}
	}
	holds := make(map[int]bool, len(held))
	for _, v := range held {
		holds[v.Index] = true
	}
	for i := range count {
		if !done[i] && !holds[i] {
			p.place(Placement{Index: i, Reason: PlaceNew})
		}
	}
	disrupt(p, held, newIndexPool(0, nil), count, maxParallel, false)
	countMovers(p, held, false)
}
