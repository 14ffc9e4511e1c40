package reconcile

// reconcileService keeps count live allocations of the latest version, each
// with its own name index.
func reconcileService(p *plan, views []*view, count, maxParallel int) {
	held := scaleIn(p, keepers(p, views, nil), count)
	pool := newIndexPool(count, held)
	// Replacements keep their index; those out of range take the lowest free
	// ones before new allocations do.
	for _, v := range held {
		switch v.phase {
		case phaseReplace:
			p.stop(v, v.stopReason)
			p.place(Placement{
				Index:         pool.indexFor(v, count),
				PreviousAlloc: v.ID,
				Failures:      v.failures,
				Reason:        v.placeReason,
			})
		case phaseDelayed:
			p.delay(v)
		}
	}
	for range count - len(held) {
		p.place(Placement{Index: pool.next(), Reason: PlaceNew})
	}
	disrupt(p, held, pool, count, maxParallel, true)
	countMovers(p, held, true)
}
