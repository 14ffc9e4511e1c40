package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/autoscale"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// Queue-driven jobs each get a driver: a goroutine that reacts to their
// queue's events. A dispatch job's driver leases messages and creates one
// allocation per message; a queue-scaled service's driver recomputes the
// desired count. Drivers start, restart (on a new version) and stop with
// their jobs; runQueueJobs follows the state's events to keep them so and
// to settle the messages of dispatch allocations that ended.

// driver is one queue-driven job's goroutine.
type driver struct {
	version uint64
	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func (d *driver) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// queueDriven reports whether a job needs a driver: its kind runs one
// allocation per message (a dispatch job), it is scaled on its queue's
// backlog and has a scaling block (a queue-scaled service), or it is a
// function.
func queueDriven(j *state.Job) bool {
	if j == nil || j.Stopped || j.Spec == nil {
		return false
	}
	switch j.Spec.Kind().Scale {
	case specs.ScaleInvocations:
		return j.Spec.Function != nil
	case specs.ScalePerMessage:
		return j.Spec.Queue != ""
	case specs.ScaleBacklog:
		return j.Spec.Queue != "" && j.Spec.Scaling != nil
	}
	return false
}

// runQueueJobs keeps the drivers in step with the jobs and settles ended
// dispatch allocations, until ctx ends.
func (s *Server) runQueueJobs(ctx context.Context) error {
	defer s.stopDrivers()
	var since uint64
	s.state.View(func(rd *state.Reader) { since = rd.Index() })
	s.syncDrivers(ctx)
	s.settleAll()
	accept := func(e state.Event) bool { return e.Topic != "Evaluation" }
	for {
		evs, gap, err := s.state.Events(ctx, since, accept)
		if err != nil {
			return nil
		}
		if gap {
			s.state.View(func(rd *state.Reader) { since = rd.Index() })
			s.syncDrivers(ctx)
			s.settleAll()
			s.kickDrivers("")
			continue
		}
		syncJobs := false
		for _, e := range evs {
			since = e.Index
			switch e.Topic {
			case "Job":
				syncJobs = true
			case "Node":
				s.kickDrivers("") // capacity may have changed
			case "Allocation":
				a, _ := e.Payload.(*state.Allocation)
				if a == nil {
					continue
				}
				s.allocChanged(a)
				if e.Type == "AllocationDeleted" {
					s.startSeen.Delete(a.ID) // whether or not it was settled
				}
			}
		}
		if syncJobs {
			s.syncDrivers(ctx)
		}
	}
}

// allocChanged reacts to one allocation's change.
func (s *Server) allocChanged(a *state.Allocation) {
	// A task's start is in the report that says it runs, or, for a task
	// that ended before the agent reported it running, in its final one.
	if a.Dispatch != nil && !a.Dispatch.Settled && (a.ClientStatus == state.AllocRunning || state.Terminal(a.ClientStatus)) && !a.Dispatch.SentAt.IsZero() {
		started := time.Time{}
		for _, t := range a.Tasks {
			if !t.StartedAt.IsZero() && (started.IsZero() || t.StartedAt.Before(started)) {
				started = t.StartedAt
			}
		}
		if started.IsZero() && a.ClientStatus == state.AllocRunning {
			started = time.Now()
		}
		if !started.IsZero() {
			if _, seen := s.startSeen.LoadOrStore(a.ID, true); !seen {
				s.metrics.messageStart.Observe(started.Sub(a.Dispatch.SentAt).Seconds())
			}
		}
	}
	if !state.Terminal(a.ClientStatus) {
		return
	}
	if a.Dispatch == nil || a.Dispatch.Settled {
		s.startSeen.Delete(a.ID) // no more changes to measure
	}
	s.fns.gone(a.Job, a.ID, nil) // an execution environment ended (if it was one)
	if a.Dispatch != nil && !a.Dispatch.Settled {
		s.settle(a)
	}
	if a.Dispatch == nil {
		var q string
		s.state.View(func(rd *state.Reader) {
			if j := rd.Job(a.Job); j != nil && j.Spec.Queue != "" {
				q = j.Spec.Queue
			}
		})
		if q != "" {
			// A worker that ended gives back its messages at once.
			if n, err := s.queues.ReleaseOwner(q, a.ID); err == nil && n > 0 {
				s.logger.Info("released the messages of an ended worker", "alloc", a.ID, "queue", q, "messages", n)
			}
		}
	}
	s.kickDrivers("") // capacity freed
}

// syncDrivers starts, restarts and stops drivers to match the jobs.
func (s *Server) syncDrivers(ctx context.Context) {
	var jobs []*state.Job
	s.state.View(func(rd *state.Reader) { jobs = rd.Jobs() })
	want := map[string]*state.Job{}
	for _, j := range jobs {
		if queueDriven(j) {
			want[j.Name] = j
		}
	}
	s.driversMu.Lock()
	defer s.driversMu.Unlock()
	for name, d := range s.drivers {
		if j := want[name]; j == nil || j.Version != d.version {
			d.cancel()
			<-d.done
			delete(s.drivers, name)
			if j == nil {
				s.fns.drop(name) // a function stopped: what waits for it fails
			}
		}
	}
	for name, j := range want {
		if s.drivers[name] != nil {
			continue
		}
		dctx, cancel := context.WithCancel(ctx)
		d := &driver{version: j.Version, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
		s.drivers[name] = d
		go func() {
			defer close(d.done)
			switch j.Spec.Kind().Scale {
			case specs.ScalePerMessage:
				s.dispatchLoop(dctx, j, d.kick)
			case specs.ScaleInvocations:
				s.functionLoop(dctx, j, d.kick)
			default:
				s.scaleLoop(dctx, j, d.kick)
			}
		}()
	}
}

// kickDrivers wakes one job's driver, or every driver when job is "".
func (s *Server) kickDrivers(job string) {
	s.driversMu.Lock()
	defer s.driversMu.Unlock()
	for name, d := range s.drivers {
		if job == "" || job == name {
			d.poke()
		}
	}
}

func (s *Server) stopDrivers() {
	s.driversMu.Lock()
	defer s.driversMu.Unlock()
	for name, d := range s.drivers {
		d.cancel()
		<-d.done
		delete(s.drivers, name)
	}
}

// watchQueue subscribes to a queue, waiting for it to exist.
func (s *Server) watchQueue(ctx context.Context, name string, kick <-chan struct{}) (*queue.Watcher, error) {
	for {
		w, err := s.queues.Watch(name)
		if err == nil {
			return w, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-kick:
		case <-time.After(time.Second):
		}
	}
}

// dispatchLoop runs a dispatch job: one allocation per message, at most
// scaling.max at once, woken by the queue's events, by capacity freeing,
// and periodically to extend the visibility of the messages its running
// allocations hold.
func (s *Server) dispatchLoop(ctx context.Context, j *state.Job, kick <-chan struct{}) {
	w, err := s.watchQueue(ctx, j.Spec.Queue, kick)
	if err != nil {
		return
	}
	defer w.Close()
	vt := 30 * time.Second
	if info, err := s.queues.Queue(j.Spec.Queue); err == nil {
		vt = info.Attributes.VisibilityTimeout
	}
	extend := time.NewTicker(max(vt/3, time.Second))
	defer extend.Stop()
	for {
		s.dispatch(ctx, j)
		select {
		case <-ctx.Done():
			return
		case <-w.C:
		case <-kick:
		case <-extend.C:
			s.extendLeases(j, vt)
		}
	}
}

// dispatch leases as many messages as there is room and capacity for, and
// creates their allocations. It finds capacity before it receives, so that
// a full cluster does not burn the messages' receive counts. ctx is the
// job's driver's: it ends when the driver stops.
func (s *Server) dispatch(ctx context.Context, j *state.Job) {
	for ctx.Err() == nil {
		var free, visible int
		var ask placementAsk
		s.state.View(func(rd *state.Reader) {
			running := 0
			allocs := rd.Allocs(j.Name, "", "")
			for _, a := range allocs {
				if a.Live() {
					running++
				}
			}
			free = j.Spec.Scaling.Max - running
			if free <= 0 {
				return
			}
			st, err := s.queues.Stats(j.Spec.Queue)
			if err != nil {
				return
			}
			visible = st.Visible
			if visible == 0 {
				return
			}
			a := s.ask(rd, j, allocs, nil, s.now())
			a.Count = min(free, visible, queue.MaxBatch)
			out := s.snapshot(rd).Place(a)
			ask = placementAsk{cpu: a.CPU, memory: a.Memory, nodes: out.Placements, reason: out.Reason}
		})
		if free <= 0 || visible == 0 {
			return
		}
		if len(ask.nodes) == 0 {
			s.metrics.dispatchBlocked.WithLabelValues(j.Name).Inc()
			return // woken again when capacity changes
		}
		zero := time.Duration(0)
		// On a FIFO queue, one message per group: each runs in its own
		// task, so a group's run one at a time, in order, and groups in
		// parallel.
		msgs, err := s.queues.Receive(ctx, j.Spec.Queue, queue.ReceiveOptions{
			Max: len(ask.nodes), Wait: &zero, Owner: "dispatch:" + j.Name, OnePerGroup: true,
		})
		if err != nil || len(msgs) == 0 {
			return
		}
		place := make([]*state.Allocation, len(msgs))
		for i, m := range msgs {
			place[i] = &state.Allocation{
				ID: newID(), Job: j.Name, JobVersion: j.Version, NodeID: ask.nodes[i],
				CPU: ask.cpu, Memory: ask.memory,
				Dispatch: &state.Dispatch{Queue: j.Spec.Queue, MessageID: m.ID, Receipt: m.Receipt,
					ReceiveCount: m.ReceiveCount, SentAt: m.SentAt},
			}
		}
		res, err := s.state.Apply(state.ApplyPlan{EvalID: "dispatch", Place: place})
		rejected := map[string]bool{}
		for _, id := range res.Rejected {
			rejected[id] = true
		}
		for _, a := range place {
			if err != nil || rejected[a.ID] {
				// Not placed: the message goes back at once.
				s.queues.ChangeVisibility(j.Spec.Queue, a.Dispatch.Receipt, 0)
			}
		}
		if err != nil {
			s.logger.Error("dispatch", "job", j.Name, "err", err)
			return
		}
		s.metrics.dispatched.WithLabelValues(j.Name).Add(float64(len(place) - len(res.Rejected)))
	}
}

type placementAsk struct {
	cpu, memory int64
	nodes       []string
	reason      string
}

// extendLeases keeps the messages of running dispatch allocations hidden,
// so that work longer than the visibility timeout is never handed out
// twice.
func (s *Server) extendLeases(j *state.Job, vt time.Duration) {
	var leases []*state.Dispatch
	s.state.View(func(rd *state.Reader) {
		for _, a := range rd.Allocs(j.Name, "", "") {
			if a.Live() && a.Dispatch != nil {
				leases = append(leases, a.Dispatch)
			}
		}
	})
	for _, d := range leases {
		if err := s.queues.ChangeVisibility(d.Queue, d.Receipt, vt); err != nil && !errors.Is(err, errdefs.ErrOutdated) {
			s.logger.Warn("extend message visibility", "job", j.Name, "message", d.MessageID, "err", err)
		}
	}
}

// settleAll settles every ended dispatch allocation not yet settled: after
// a restart, those whose settling the crash interrupted.
func (s *Server) settleAll() {
	var ended []*state.Allocation
	s.state.View(func(rd *state.Reader) {
		for _, status := range []string{state.AllocComplete, state.AllocFailed, state.AllocLost} {
			for _, a := range rd.Allocs("", "", status) {
				if a.Dispatch != nil && !a.Dispatch.Settled {
					ended = append(ended, a)
				}
			}
		}
	})
	for _, a := range ended {
		s.settle(a)
	}
}

// succeeded reports whether every task of an allocation exited 0 of its
// own accord (not stopped).
func succeeded(a *state.Allocation) bool {
	if a.ClientStatus != state.AllocComplete || len(a.Tasks) == 0 {
		return false
	}
	for _, t := range a.Tasks {
		if t.Failed || t.ExitCode != 0 || t.Reason == "stopped" {
			return false
		}
	}
	return true
}

// settle deals with the message of an ended dispatch allocation: exit 0
// deletes it; a failure makes it visible again after the retry backoff, or
// past max_receives moves it to the dead-letter queue with the failure; a
// stop (the job was stopped) gives it back at once.
func (s *Server) settle(a *state.Allocation) {
	d := a.Dispatch
	var spec *specs.Job
	s.state.View(func(rd *state.Reader) { spec = rd.JobVersion(a.Job, a.JobVersion) })
	var err error
	outcome := "deleted"
	switch {
	case succeeded(a):
		var res []error
		if res, err = s.queues.Delete(d.Queue, []string{d.Receipt}); err == nil && res[0] != nil {
			err = res[0]
		}
	case a.DesiredStatus == state.DesiredStop && a.ClientStatus == state.AllocComplete:
		outcome = "released"
		err = s.queues.ChangeVisibility(d.Queue, d.Receipt, 0)
	default:
		reason, code := failureOf(a)
		outcome, err = s.retryOrDeadLetter(d.Queue, d.Receipt, d.ReceiveCount, spec, []queue.Attr{
			{Name: "docket.failure.reason", Type: "String", Value: []byte(reason)},
			{Name: "docket.failure.exit_code", Type: "Number", Value: []byte(strconv.Itoa(code))},
			{Name: "docket.failure.alloc", Type: "String", Value: []byte(a.ID)},
			{Name: "docket.failure.status", Type: "String", Value: []byte(a.ClientStatus)},
		})
	}
	if err != nil && !errors.Is(err, errdefs.ErrOutdated) && !errors.Is(err, errdefs.ErrNotFound) {
		s.logger.Warn("settle dispatch message", "alloc", a.ID, "message", d.MessageID, "outcome", outcome, "err", err)
		if errors.Is(err, errdefs.ErrClosed) {
			return
		}
	}
	s.metrics.settled.WithLabelValues(a.Job, outcome).Inc()
	if _, err := s.state.Apply(state.SettleDispatch{IDs: []string{a.ID}}); err != nil {
		s.logger.Error("record settled dispatch", "alloc", a.ID, "err", err)
	}
}

// failureOf describes why an allocation failed, for the dead-letter
// attributes.
func failureOf(a *state.Allocation) (string, int) {
	for name, t := range a.Tasks {
		if t.Failed {
			return fmt.Sprintf("task %s: %s", name, t.Reason), t.ExitCode
		}
	}
	if a.ClientReason != "" {
		return a.ClientReason, -1
	}
	return "allocation " + a.ClientStatus, -1
}

// retryBackoff is how long a failed message waits before its next
// delivery: the task's retry delay, doubling with each receive, up to its
// max_delay.
func retryBackoff(spec *specs.Job, receives int) time.Duration {
	delay, maxDelay := 5*time.Second, 5*time.Minute
	if spec != nil && len(spec.Tasks) > 0 {
		delay, maxDelay = spec.Tasks[0].Retry.Delay.Std(), spec.Tasks[0].Retry.MaxDelay.Std()
	}
	d := delay
	for i := 1; i < receives && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay, queue.MaxVisibilityTimeout)
}

// scaleLoop runs a queue-scaled service: on every event of its queue it
// recomputes the desired count, scaling out at once and in after the
// cooldown.
func (s *Server) scaleLoop(ctx context.Context, j *state.Job, kick <-chan struct{}) {
	w, err := s.watchQueue(ctx, j.Spec.Queue, kick)
	if err != nil {
		return
	}
	defer w.Close()
	var lowSince time.Time
	recheck := time.NewTimer(time.Hour)
	defer recheck.Stop()
	for {
		lowSince = s.autoscale(j.Name, lowSince, recheck)
		select {
		case <-ctx.Done():
			return
		case <-w.C:
		case <-kick:
		case <-recheck.C:
		}
	}
}

// autoscale makes one decision for a scaled service and returns the new
// low-backlog start.
func (s *Server) autoscale(name string, lowSince time.Time, recheck *time.Timer) time.Time {
	var j *state.Job
	s.state.View(func(rd *state.Reader) { j = rd.Job(name) })
	if !queueDriven(j) || j.Spec.Scaling == nil {
		return time.Time{}
	}
	st, err := s.queues.Stats(j.Spec.Queue)
	if err != nil {
		return lowSince
	}
	now := s.now()
	d := autoscaleDecide(j, st, lowSince, now)
	if !d.RecheckAt.IsZero() {
		recheck.Reset(d.RecheckAt.Sub(now))
	}
	s.metrics.desired.WithLabelValues(j.Name).Set(float64(d.Desired))
	if d.Desired == j.Count {
		return d.LowSince
	}
	eval := newEval(j.Name, triggerQueue, "")
	if _, err := s.state.Apply(state.ScaleJob{Name: j.Name, Count: d.Desired, Eval: eval}); err != nil {
		s.logger.Error("autoscale", "job", j.Name, "err", err)
		return d.LowSince
	}
	s.submit(eval)
	direction := "out"
	if d.Desired < j.Count {
		direction = "in"
	}
	s.metrics.decisions.WithLabelValues(j.Name, direction).Inc()
	if !st.LastChange.IsZero() {
		s.metrics.reaction.Observe(time.Since(st.LastChange).Seconds())
	}
	s.logger.Info("autoscaled", "job", j.Name, "from", j.Count, "to", d.Desired, "visible", st.Visible, "in_flight", st.InFlight)
	return d.LowSince
}

func autoscaleDecide(j *state.Job, st queue.Stats, lowSince, now time.Time) autoscale.Decision {
	return autoscale.Decide(*j.Spec.Scaling, autoscale.Figures{Visible: st.Visible, InFlight: st.InFlight, Groups: st.Groups}, j.Count, lowSince, now)
}
