package scheduler

import (
	"context"
	"time"

	"github.com/docketd/docket/scheduler/state"
)

// What the external tests (package scheduler_test, which drive the server
// through its HTTP API) reach inside the server for.

// Collect runs one garbage collection with the given cutoff.
func (s *Server) Collect(cutoff time.Time) (int, error) { return s.collect(cutoff) }

// ParseSlots is the channel of the server's job-file parse slots.
func (s *Server) ParseSlots() chan struct{} { return s.jobParses }

// DrainTimer reports whether a node has a drain-deadline timer.
func (s *Server) DrainTimer(node string) bool { return s.drains.has(node) }

// DrainTimers is how many drain-deadline timers are pending.
func (s *Server) DrainTimers() int { return s.drains.pending() }

// PendingTimers counts the server's pending timers by owner.
func (s *Server) PendingTimers() (heartbeats, drains, backoffs int) {
	return s.hb.timers.pending(), s.drains.pending(), s.broker.delayed.pending()
}

// EnqueueDelayed hands the broker an evaluation of job to run at at.
func (s *Server) EnqueueDelayed(job string, at time.Time) {
	e := newEval(job, triggerJobRegister, "")
	e.WaitUntil = at
	s.broker.enqueue(e, time.Now())
}

// StartTimers does what a request still in progress might after Run
// returned: renew a node's heartbeat, schedule its drain deadline and
// delay an evaluation of job.
func (s *Server) StartTimers(node, job string) {
	s.hb.reset(node)
	s.scheduleDrainDeadline(node, time.Now())
	s.EnqueueDelayed(job, time.Now().Add(time.Hour))
}

// Dispatch runs one dispatch round of job j on ctx.
func (s *Server) Dispatch(ctx context.Context, j *state.Job) { s.dispatch(ctx, j) }

// MaxPlanAttempts is how many times an evaluation plans before it leaves
// a follow-up.
const MaxPlanAttempts = maxPlanAttempts

// SetPlanHook sets the hook run before (true) and after (false) each plan
// commit of an evaluation.
func (s *Server) SetPlanHook(f func(before bool)) { s.planHook = f }
