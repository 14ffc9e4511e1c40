package reconcile

import (
	"cmp"
	"slices"
)

// keepers returns, for every name index, the one allocation that holds it,
// sorted by index, and stops the others. Indexes in taken (a batch job's
// completed indexes) are held already, so every allocation on them is a
// duplicate.
//
// The view has no creation times, so "the newest extras" are judged by
// what they are: the allocation that is running (rather than starting, or
// waiting to be replaced) is the older, established one and is kept; among
// equals the one of the current version, off draining nodes and busy with
// messages is kept, since stopping it would cost the most.
func keepers(p *plan, views []*view, taken map[int]bool) []*view {
	byIndex := make(map[int][]*view)
	for _, v := range views {
		if v.phase == phaseDone {
			continue
		}
		byIndex[v.Index] = append(byIndex[v.Index], v)
	}
	kept := make([]*view, 0, len(byIndex))
	for index, vs := range byIndex {
		slices.SortFunc(vs, keeperOrder)
		first := 0
		if taken[index] {
			first = len(vs)
		}
		for i, v := range vs {
			if i == first {
				kept = append(kept, v)
				continue
			}
			p.stop(v, StopDuplicate)
		}
	}
	slices.SortFunc(kept, func(a, b *view) int { return cmp.Compare(a.Index, b.Index) })
	return kept
}

// keeperOrder sorts the best holder of an index first.
func keeperOrder(a, b *view) int {
	return cmp.Or(
		cmp.Compare(a.phase, b.phase),
		preferTrue(a.current, b.current),
		preferTrue(!a.draining, !b.draining),
		preferTrue(a.Busy, b.Busy),
		cmp.Compare(a.ID, b.ID),
	)
}

// scaleIn stops the holders beyond count and returns the rest, still sorted
// by index. It stops first what costs nothing (allocations that have ended
// or are lost, then failed ones waiting for their backoff), then live ones
// on draining nodes (which would have to move anyway), then idle before busy
// ones, so in-flight messages are not interrupted while an idle worker is
// left; then pending before running ones and older versions, which an
// update would replace; and finally the highest indexes.
func scaleIn(p *plan, held []*view, count int) []*view {
	excess := len(held) - count
	if excess <= 0 {
		return held
	}
	order := slices.Clone(held)
	slices.SortFunc(order, victimOrder)
	for _, v := range order[:excess] {
		p.stop(v, StopScaleIn)
	}
	return slices.DeleteFunc(held, p.isStopped)
}

// victimOrder sorts the allocation to stop first first.
func victimOrder(a, b *view) int {
	return cmp.Or(
		preferTrue(a.phase == phaseReplace, b.phase == phaseReplace),
		preferTrue(a.phase == phaseDelayed, b.phase == phaseDelayed),
		preferTrue(a.draining, b.draining),
		preferTrue(!a.Busy, !b.Busy),
		preferTrue(a.phase == phasePending, b.phase == phasePending),
		preferTrue(!a.current, !b.current),
		cmp.Compare(b.Index, a.Index),
		cmp.Compare(a.ID, b.ID),
	)
}

// preferTrue orders a true before a false.
func preferTrue(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	default:
		return 1
	}
}
