package reconcile

import (
	"cmp"
	"slices"
)

// disrupt stops and replaces up to maxParallel healthy allocations that must
// move: those on draining nodes and, when outdated is set, those of an older
// job version. Both share one budget because both take capacity away on
// purpose.
//
// A batch starts only when the job is otherwise settled: nothing else is
// placed in this result and no allocation of the current version is pending
// or failed. Because everything a previous batch placed is of the current
// version, the next batch waits until all of it runs, and a new version that
// fails stops its own rollout. Disruptions are therefore made in whole
// batches, and never more than maxParallel of them are in flight.
func disrupt(p *plan, held []*view, pool *indexPool, count, maxParallel int, outdated bool) {
	var movers []*view
	settled := len(p.result.Place) == 0
	for _, v := range held {
		if v.current && (v.phase == phasePending || v.phase == phaseDelayed) {
			settled = false
		}
		if v.live() && (v.draining || (outdated && !v.current)) {
			movers = append(movers, v)
		}
	}
	if !settled {
		return
	}
	// Draining nodes are going away, so their allocations move first; idle
	// allocations go before busy ones, which may have finished their
	// messages by the next batch.
	slices.SortFunc(movers, func(a, b *view) int {
		return cmp.Or(
			preferTrue(a.draining, b.draining),
			preferTrue(!a.Busy, !b.Busy),
			cmp.Compare(a.Index, b.Index),
			cmp.Compare(a.ID, b.ID),
		)
	})
	for _, v := range movers[:min(len(movers), maxParallel)] {
		stopReason, placeReason := StopUpdate, PlaceUpdate
		if v.draining {
			stopReason, placeReason = StopDraining, PlaceMigrate
		}
		p.stop(v, stopReason)
		p.place(Placement{
			Index:         pool.indexFor(v, count),
			PreviousAlloc: v.ID,
			Failures:      v.Failures,
			Reason:        placeReason,
		})
	}
}

// countMovers counts the live allocations the result keeps that still have
// to move, for status output.
func countMovers(p *plan, held []*view, outdated bool) {
	for _, v := range held {
		if !v.live() || p.isStopped(v) {
			continue
		}
		if v.draining {
			p.result.Desired.Migrating++
		}
		if outdated && !v.current {
			p.result.Desired.Outdated++
		}
	}
}
