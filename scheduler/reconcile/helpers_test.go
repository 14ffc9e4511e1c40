package reconcile

import (
	"fmt"
	"time"

	"github.com/docketd/docket/specs"
)

// at returns the test epoch plus d, so that times in tables read as offsets.
func at(d time.Duration) time.Time {
	return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(d)
}

// The nodes every table input has.
const (
	ready1   = "n1"
	ready2   = "n2"
	downNode = "down"
	drainer  = "drain"
)

func testNodes() map[string]Node {
	return map[string]Node{
		ready1:   {ID: ready1, Status: NodeReady},
		ready2:   {ID: ready2, Status: NodeReady},
		downNode: {ID: downNode, Status: NodeDown},
		drainer:  {ID: drainer, Status: NodeDraining},
	}
}

func service(count int) Job {
	return Job{Name: "web", Type: specs.JobService, Version: 1, Count: count, MaxParallel: 1}
}

func batch(count int) Job {
	return Job{Name: "etl", Type: specs.JobBatch, Version: 1, Count: count, MaxParallel: 1}
}

func dispatch() Job {
	return Job{Name: "thumbs", Type: specs.JobDispatch, Version: 1, MaxParallel: 1}
}

// job modifiers read like the sentence they stand for: version(service(3), 2).
func version(j Job, v uint64) Job  { j.Version = v; return j }
func parallel(j Job, n int) Job    { j.MaxParallel = n; return j }
func stopped(j Job) Job            { j.Stopped = true; return j }
func restart(j Job, b Backoff) Job { j.Restart = b; return j }
func typed(j Job, typ string) Job  { j.Type = typ; return j }

// alloc returns a running allocation of version 1 on ready1, changed by opts.
func alloc(id string, index int, opts ...func(*Alloc)) Alloc {
	a := Alloc{ID: id, Index: index, NodeID: ready1, JobVersion: 1, DesiredStatus: DesiredRun, ClientStatus: ClientRunning}
	for _, o := range opts {
		o(&a)
	}
	return a
}

func status(s string) func(*Alloc) { return func(a *Alloc) { a.ClientStatus = s } }
func on(node string) func(*Alloc)  { return func(a *Alloc) { a.NodeID = node } }
func ver(v uint64) func(*Alloc)    { return func(a *Alloc) { a.JobVersion = v } }
func busy(a *Alloc)                { a.Busy = true }
func toStop(a *Alloc)              { a.DesiredStatus = DesiredStop }
func fails(n int) func(*Alloc)     { return func(a *Alloc) { a.Failures = n } }

// failed marks the allocation failed at t, its failures-th consecutive
// failure.
func failed(t time.Time, failures int) func(*Alloc) {
	return func(a *Alloc) {
		a.ClientStatus = ClientFailed
		a.FailedAt = t
		a.Failures = failures
	}
}

func input(job Job, now time.Time, allocs ...Alloc) Input {
	return Input{Job: job, Allocs: allocs, Nodes: testNodes(), Now: now}
}

func newAt(index int) Placement { return Placement{Index: index, Reason: PlaceNew} }

func replace(index int, prev string, failures int, reason string) Placement {
	return Placement{Index: index, PreviousAlloc: prev, Failures: failures, Reason: reason}
}

func stop(id, reason string) Stop { return Stop{AllocID: id, Reason: reason} }

func lost(id string) Stop { return Stop{AllocID: id, Reason: StopLost, ClientStatus: ClientLost} }

// describe renders a result's decisions one per line, for failure messages.
func describe(r Result) string {
	s := ""
	for _, p := range r.Place {
		s += fmt.Sprintf("\n  place %+v", p)
	}
	for _, st := range r.Stop {
		s += fmt.Sprintf("\n  stop  %+v", st)
	}
	if !r.FollowUpAt.IsZero() {
		s += fmt.Sprintf("\n  follow up at %s", r.FollowUpAt.Format(time.TimeOnly))
	}
	if s == "" {
		return " nothing"
	}
	return s
}
