package scheduler

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/docketd/docket/scheduler/state"
)

// broker hands evaluations to the workers: at most one evaluation of a job
// runs at a time, and evaluations of a job that wait behind one coalesce
// into the newest. Evaluations that wait for a time (a backoff) sleep in a
// timer; evaluations that could not place everything wait for capacity as
// blocked ones.
//
// Lock order: mu before the lock of delayed, whose callbacks run without
// it and take mu.
type broker struct {
	mu       sync.Mutex
	pending  map[string]*state.Evaluation // job → the evaluation to run next
	order    []string                     // jobs with a pending evaluation, oldest first
	running  map[string]bool              // jobs being evaluated
	blocked  map[string]*state.Evaluation // job → evaluation waiting for capacity
	delayed  timerSet                     // evaluation ID → its timer
	ready    chan struct{}                // signalled when work may be available
	canceled []*state.Evaluation          // superseded evaluations to record as canceled
	// unblocks counts capacity changes, so that an evaluation planned
	// before one and blocked after it runs again instead of waiting for
	// the next.
	unblocks uint64
}

func newBroker() *broker {
	return &broker{
		pending: map[string]*state.Evaluation{},
		running: map[string]bool{},
		blocked: map[string]*state.Evaluation{},
		ready:   make(chan struct{}, 1),
	}
}

func (b *broker) signal() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// enqueue makes e the job's next evaluation, now or at e.WaitUntil.
func (b *broker) enqueue(e *state.Evaluation, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if wait := e.WaitUntil.Sub(now); wait > 0 {
		if !b.delayed.has(e.ID) {
			b.delayed.after(e.ID, wait, func() { b.enqueue(e, e.WaitUntil) })
		}
		return
	}
	if old := b.pending[e.Job]; old != nil {
		if old.ID != e.ID {
			b.canceled = append(b.canceled, old)
		}
	} else {
		b.order = append(b.order, e.Job)
	}
	b.pending[e.Job] = e
	// A new evaluation supersedes one waiting for capacity.
	if bl := b.blocked[e.Job]; bl != nil && bl.ID != e.ID {
		b.canceled = append(b.canceled, bl)
		delete(b.blocked, e.Job)
	}
	b.signal()
}

// dequeue waits for the oldest pending evaluation of a job that is not
// being evaluated, and marks the job running.
func (b *broker) dequeue(ctx context.Context) (*state.Evaluation, error) {
	for {
		b.mu.Lock()
		for i, job := range b.order {
			if b.running[job] {
				continue
			}
			e := b.pending[job]
			delete(b.pending, job)
			b.order = append(b.order[:i:i], b.order[i+1:]...)
			b.running[job] = true
			if len(b.order) > 0 {
				b.signal() // more work for other workers
			}
			b.mu.Unlock()
			return e, nil
		}
		b.mu.Unlock()
		select {
		case <-b.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// done marks a job's evaluation finished, so its next one may run.
func (b *broker) done(job string) {
	b.mu.Lock()
	delete(b.running, job)
	if b.pending[job] != nil {
		b.signal()
	}
	b.mu.Unlock()
}

// block parks an evaluation until capacity changes.
// seen is capacitySeen from before the evaluation planned: if capacity
// changed since, the evaluation runs again at once instead.
func (b *broker) block(e *state.Evaluation, seen uint64, now time.Time) {
	b.mu.Lock()
	if b.pending[e.Job] != nil {
		b.mu.Unlock()
		return // a newer evaluation will run anyway
	}
	if b.unblocks != seen {
		b.mu.Unlock()
		b.enqueue(e, now)
		return
	}
	defer b.mu.Unlock()
	if old := b.blocked[e.Job]; old != nil && old.ID != e.ID {
		b.canceled = append(b.canceled, old)
	}
	b.blocked[e.Job] = e
}

// unblock re-runs every blocked evaluation: capacity changed.
func (b *broker) unblock(now time.Time) {
	b.mu.Lock()
	b.unblocks++
	evals := make([]*state.Evaluation, 0, len(b.blocked))
	for _, e := range b.blocked {
		evals = append(evals, e)
	}
	b.blocked = map[string]*state.Evaluation{}
	b.mu.Unlock()
	// Oldest first. Evaluation IDs sort by when they were made (newID), so
	// the order needs nothing the state records: the broker's copies carry
	// no CreateIndex, which apply no longer writes into its callers' values.
	sort.Slice(evals, func(i, j int) bool { return evals[i].ID < evals[j].ID })
	for _, e := range evals {
		b.enqueue(e, now)
	}
}

// capacitySeen is the count of capacity changes so far, for block.
func (b *broker) capacitySeen() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unblocks
}

// blockedCount reports how many evaluations wait for capacity.
func (b *broker) blockedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.blocked)
}

// takeCanceled returns the superseded evaluations to record.
func (b *broker) takeCanceled() []*state.Evaluation {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.canceled
	b.canceled = nil
	return c
}

// stop cancels every timer and waits for one firing; no timer starts
// after it. Evaluations still pending stay where they are: they are
// committed, and run again after a restart.
func (b *broker) stop() { b.delayed.stop() }
