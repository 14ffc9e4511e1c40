package reconcile

import (
	"cmp"
	"slices"
)

// plan accumulates a [Result] while a job is reconciled. It guarantees that
// an allocation is stopped at most once and that the output is sorted, so
// the reconcilers can decide in whatever order reads best.
type plan struct {
	result  Result
	stopped map[string]int // allocation ID to its index, for sorting
}

func newPlan() *plan {
	return &plan{stopped: make(map[string]int)}
}

// stop stops v. A lost allocation is always recorded with the lost client
// status, and stopped as lost unless the job itself was stopped.
func (p *plan) stop(v *view, reason string) {
	if _, ok := p.stopped[v.ID]; ok {
		return
	}
	p.stopped[v.ID] = v.Index
	s := Stop{AllocID: v.ID, Reason: reason}
	if v.lost {
		s.ClientStatus = ClientLost
		if reason != StopJobStopped {
			s.Reason = StopLost
		}
		p.result.Desired.Lost++
	}
	p.result.Stop = append(p.result.Stop, s)
}

func (p *plan) isStopped(v *view) bool {
	_, ok := p.stopped[v.ID]
	return ok
}

func (p *plan) place(pl Placement) {
	p.result.Place = append(p.result.Place, pl)
}

// delay keeps a failed allocation until its backoff expires and asks for an
// evaluation then, keeping the earliest time asked for.
func (p *plan) delay(v *view) {
	p.result.Desired.Delayed++
	if p.result.FollowUpAt.IsZero() || v.retryAt.Before(p.result.FollowUpAt) {
		p.result.FollowUpAt = v.retryAt
	}
}

// finish sorts the result and counts what the job looks like once it is
// applied.
func (p *plan) finish(views []*view, count int) Result {
	r := p.result
	slices.SortFunc(r.Place, func(a, b Placement) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.PreviousAlloc, b.PreviousAlloc))
	})
	slices.SortFunc(r.Stop, func(a, b Stop) int {
		return cmp.Or(cmp.Compare(p.stopped[a.AllocID], p.stopped[b.AllocID]), cmp.Compare(a.AllocID, b.AllocID))
	})
	done := make(map[int]bool)
	for _, v := range views {
		if p.isStopped(v) {
			continue
		}
		switch v.phase {
		case phaseRunning:
			r.Desired.Running++
		case phasePending:
			r.Desired.Pending++
		case phaseDone:
			if v.Index >= 0 && v.Index < count {
				done[v.Index] = true
			}
		}
	}
	r.Desired.Complete = len(done)
	r.Desired.Place = len(r.Place)
	r.Desired.Stop = len(r.Stop)
	return r
}

// indexPool hands out free name indexes, lowest first.
type indexPool struct{ free []int }

// newIndexPool returns the indexes below count that no view in held holds.
func newIndexPool(count int, held []*view) *indexPool {
	taken := make(map[int]bool, len(held))
	for _, v := range held {
		taken[v.Index] = true
	}
	pool := &indexPool{}
	for i := range count {
		if !taken[i] {
			pool.free = append(pool.free, i)
		}
	}
	return pool
}

// next returns the lowest free index. The reconcilers only ask when they
// have counted that one is free, so running dry is a bug.
func (ip *indexPool) next() int {
	if len(ip.free) == 0 {
		panic("reconcile: no free name index")
	}
	i := ip.free[0]
	ip.free = ip.free[1:]
	return i
}

// indexFor returns the index a replacement of v takes: its own if it is
// below count, otherwise the lowest free one, so that indexes left out of
// range by scaling in move back into range when they are replaced anyway.
func (ip *indexPool) indexFor(v *view, count int) int {
	if v.Index >= 0 && v.Index < count {
		return v.Index
	}
	return ip.next()
}
