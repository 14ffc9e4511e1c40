package state

import (
	"context"

	"github.com/docketd/docket/specs"
)

type specsJob = specs.Job

// Event is one change to a record, for blocking consumers and the event
// stream.
type Event struct {
	Topic   string `json:"topic"` // Job, Node, Allocation, Evaluation
	Type    string `json:"type"`  // e.g. JobRegistered, AllocationUpdated
	Key     string `json:"key"`
	Index   uint64 `json:"index"`
	Payload any    `json:"payload"`
}

// eventRing keeps the latest events so that a subscriber can resume from an
// index it has seen.
type eventRing struct {
	buf  []Event
	next int
	full bool
}

func newEventRing(n int) eventRing { return eventRing{buf: make([]Event, n)} }

func (r *eventRing) add(e Event) {
	r.buf[r.next] = e
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// since returns the events with an index above idx, oldest first, and
// whether events after idx were already dropped from the ring.
func (r *eventRing) since(idx uint64) (out []Event, gap bool) {
	n, start := r.next, 0
	if r.full {
		n, start = len(r.buf), r.next
	}
	for i := 0; i < n; i++ {
		e := r.buf[(start+i)%len(r.buf)]
		if i == 0 && r.full && e.Index > idx+1 && idx > 0 {
			gap = true
		}
		if e.Index > idx {
			out = append(out, e)
		}
	}
	return out, gap
}

// Events returns the events after index since whose topic filter accepts,
// waiting until there is at least one or ctx ends. gap reports that some
// events after since are no longer kept; the caller should re-read the
// state.
func (s *State) Events(ctx context.Context, since uint64, accept func(Event) bool) (events []Event, gap bool, err error) {
	for {
		s.mu.RLock()
		all, g := s.events.since(since)
		ch := s.changed
		s.mu.RUnlock()
		for _, e := range all {
			if accept == nil || accept(e) {
				events = append(events, e)
			}
		}
		if len(events) > 0 || g {
			return events, g, nil
		}
		if len(all) > 0 {
			since = all[len(all)-1].Index
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}
