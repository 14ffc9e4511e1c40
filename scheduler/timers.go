package scheduler

import (
	"sync"
	"time"
)

// timerSet owns a set of named timers, so that none outlives its owner:
// setting a name again replaces its timer, cancel stops one, and stop
// stops them all, waits for the callbacks already running and refuses new
// timers. The server's timers (heartbeats, drain deadlines, evaluation
// backoffs) live in timer sets that [Server.Close] stops before it closes
// the stores, so no callback commits to a closed store.
//
// A callback runs without the set's lock held: it may set or cancel
// timers of its own set.
type timerSet struct {
	mu      sync.Mutex // guards timers and stopped
	timers  map[string]*time.Timer
	stopped bool
	running sync.WaitGroup // callbacks in progress
}

// after runs f once d has passed, unless the set is stopped or name is
// set or cancelled again first. It reports whether it started a timer.
func (ts *timerSet) after(name string, d time.Duration, f func()) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.stopped {
		return false
	}
	if t := ts.timers[name]; t != nil {
		t.Stop()
	}
	if ts.timers == nil {
		ts.timers = map[string]*time.Timer{}
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		ts.mu.Lock()
		current := !ts.stopped && ts.timers[name] == t
		if current {
			delete(ts.timers, name)
			// Under mu, so stop's Wait cannot begin before this Add.
			ts.running.Add(1)
		}
		ts.mu.Unlock()
		if !current {
			return // replaced, cancelled or stopped while it fired
		}
		defer ts.running.Done()
		f()
	})
	ts.timers[name] = t
	return true
}

// has reports whether name's timer is pending.
func (ts *timerSet) has(name string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.timers[name] != nil
}

// cancel stops name's timer, if one is pending.
func (ts *timerSet) cancel(name string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.timers[name]; t != nil {
		t.Stop()
		delete(ts.timers, name)
	}
}

// pending is how many timers have yet to fire.
func (ts *timerSet) pending() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.timers)
}

// stop cancels every timer, refuses new ones and returns once the
// callbacks already running have returned. It must not be called from a
// callback of the set.
func (ts *timerSet) stop() {
	ts.mu.Lock()
	ts.stopped = true
	for name, t := range ts.timers {
		t.Stop()
		delete(ts.timers, name)
	}
	ts.mu.Unlock()
	ts.running.Wait()
}
