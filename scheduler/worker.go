package scheduler

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/placement"
	"github.com/docketd/docket/scheduler/reconcile"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// maxPlanAttempts bounds how often one evaluation re-plans after its plan
// lost a race for capacity with another evaluation's.
const maxPlanAttempts = 5

// failurePenaltyWindow is how long a node where a job's allocation failed
// is ranked lower for that job.
const failurePenaltyWindow = 10 * time.Minute

// jobPlan is what one evaluation decided: the allocations to place and to
// stop, what could not be placed and why, and when to look again.
type jobPlan struct {
	job        *state.Job
	place      []*state.Allocation
	stop       []state.AllocStop
	failed     int
	reason     string
	followUpAt time.Time
	desired    reconcile.Result
}

// runWorker evaluates jobs until ctx ends.
func (s *Server) runWorker(ctx context.Context) error {
	for {
		e, err := s.broker.dequeue(ctx)
		if err != nil {
			return nil
		}
		s.evaluate(e)
		s.broker.done(e.Job)
	}
}

// evaluate runs one evaluation: reconcile the job, place what it needs,
// commit the plan (re-planning what lost a race), and record the outcome —
// in the same commit as the plan when nothing lost a race.
func (s *Server) evaluate(e *state.Evaluation) {
	start := time.Now()
	capacity := s.broker.capacitySeen() // before planning: see block
	placed := 0
	var evals []*state.Evaluation
	var done state.Evaluation
	var err error
	recorded, conflicted := false, false
	for attempt := 0; attempt < maxPlanAttempts; attempt++ {
		conflicted = false
		var p jobPlan
		s.state.View(func(rd *state.Reader) { p = s.computePlan(rd, e.Job, rd.Job(e.Job), s.now()) })
		done, evals = s.outcome(e, p, placed+len(p.place), nil)
		if len(p.place) == 0 && len(p.stop) == 0 {
			break
		}
		var res state.Result
		if s.planHook != nil {
			s.planHook(true)
		}
		res, err = s.state.Apply(state.ApplyPlan{EvalID: e.ID, Place: p.place, Stop: p.stop, Evals: evals})
		if s.planHook != nil {
			s.planHook(false)
		}
		if err != nil {
			done, evals = s.outcome(e, p, placed, err)
			break
		}
		placed += len(p.place) - len(res.Rejected)
		if len(res.Rejected) == 0 {
			recorded = true
			break
		}
		s.metrics.planConflicts.Inc()
		conflicted = true
	}
	if conflicted {
		// Every attempt lost a race for capacity: what is left is
		// placed by a follow-up evaluation, not left behind by one
		// recorded as complete.
		done.Description = fmt.Sprintf("placed %d; the rest lost %d races for capacity and is left to a follow-up evaluation", placed, maxPlanAttempts)
		evals[0].Description = done.Description
		evals = append(evals, newEval(e.Job, triggerPlanConflict, ""))
	}
	took := time.Since(start)
	s.metrics.evalDuration.Observe(took.Seconds())
	if s.cfg.EvalObserver != nil {
		s.cfg.EvalObserver(took)
	}
	if !recorded {
		if _, err := s.state.Apply(state.UpsertEvals{Evals: evals}); err != nil {
			s.logger.Error("record evaluation", "eval", e.ID, "err", err)
			return
		}
	}
	s.metrics.evaluations.WithLabelValues(done.Status).Inc()
	if done.Status == state.EvalBlocked {
		s.broker.block(&done, capacity, s.now())
	}
	for _, f := range evals[1:] {
		if f.Status == state.EvalPending {
			s.submit(f)
		}
	}
}

// outcome is what an evaluation records when its plan commits: its own
// status, a follow-up evaluation for a backoff, and the evaluations it
// superseded.
func (s *Server) outcome(e *state.Evaluation, p jobPlan, placed int, err error) (state.Evaluation, []*state.Evaluation) {
	done := *e
	done.Placed, done.Failed = placed, p.failed
	switch {
	case err != nil:
		done.Status, done.Description = state.EvalFailed, err.Error()
		s.logger.Error("evaluation failed", "eval", e.ID, "job", e.Job, "err", err)
	case p.failed > 0:
		done.Status, done.BlockedReason = state.EvalBlocked, p.reason
		done.Description = fmt.Sprintf("%d allocations could not be placed", p.failed)
	default:
		done.Status = state.EvalComplete
	}
	evals := []*state.Evaluation{&done}
	if !p.followUpAt.IsZero() {
		follow := newEval(e.Job, triggerRetry, "")
		follow.WaitUntil = p.followUpAt
		evals = append(evals, follow)
	}
	return done, append(evals, s.canceledEvals()...)
}

// canceledEvals returns the evaluations the broker superseded, marked
// canceled, for the next evaluation update to record.
func (s *Server) canceledEvals() []*state.Evaluation {
	var out []*state.Evaluation
	for _, e := range s.broker.takeCanceled() {
		c := *e
		c.Status, c.Description = state.EvalCanceled, "superseded by a newer evaluation"
		out = append(out, &c)
	}
	return out
}

// nodeStatus is a node's status as reconcile sees it.
func reconcileNodeStatus(n *state.Node) string {
	switch {
	case n == nil || n.Status == state.NodeDown:
		return reconcile.NodeDown
	case n.Drain != nil:
		return reconcile.NodeDraining
	}
	return reconcile.NodeReady
}

// computePlan decides, on a consistent view, what job name needs to be
// as j says (nil: the job is gone, stop what is left). Planning a job file
// passes the job as it would be registered.
func (s *Server) computePlan(rd *state.Reader, name string, j *state.Job, now time.Time) jobPlan {
	allocs := rd.Allocs(name, "", "")
	in := reconcile.Input{Nodes: map[string]reconcile.Node{}, Now: now}
	if j == nil {
		// Purged: stop whatever is left.
		in.Job = reconcile.Job{Name: name, Type: specs.JobService, Stopped: true, MaxParallel: 1}
	} else {
		in.Job = reconcile.Job{
			Name: j.Name, Type: j.Spec.Type, Version: j.Version, Count: j.Count,
			MaxParallel: max(j.Spec.Update.MaxParallel, 1), Stopped: j.Stopped,
			Restart: restartBackoff(j.Spec),
		}
	}
	var busy map[string]int
	if j != nil && j.Spec.QueueWorkers() {
		busy, _ = s.queues.InFlightByOwner(j.Spec.Queue)
	}
	var expired map[string]bool // a function's environments idle too long
	if j != nil && j.Spec.Function != nil {
		expired = s.fnExpired(j)
	}
	for _, a := range allocs {
		in.Allocs = append(in.Allocs, reconcile.Alloc{
			ID: a.ID, Index: a.Index, NodeID: a.NodeID, JobVersion: a.JobVersion,
			DesiredStatus: a.DesiredStatus, ClientStatus: a.ClientStatus,
			FailedAt: a.FailedAt, Failures: a.Failures, Busy: busy[a.ID] > 0 || expired != nil && !expired[a.ID],
		})
		if _, ok := in.Nodes[a.NodeID]; !ok {
			in.Nodes[a.NodeID] = reconcile.Node{ID: a.NodeID, Status: reconcileNodeStatus(rd.Node(a.NodeID))}
		}
	}
	res := reconcile.Compute(in)
	p := jobPlan{job: j, followUpAt: res.FollowUpAt, desired: res}
	stopping := map[string]bool{}
	for _, st := range res.Stop {
		stopping[st.AllocID] = true
	}
	var unplaced map[string]bool // allocations whose replacement found no node
	if j != nil && len(res.Place) > 0 {
		ask := s.ask(rd, j, allocs, stopping, now)
		ask.Count = len(res.Place)
		out := s.snapshot(rd).Place(ask)
		for i, pl := range res.Place {
			if i >= len(out.Placements) {
				if pl.PreviousAlloc != "" {
					if unplaced == nil {
						unplaced = map[string]bool{}
					}
					unplaced[pl.PreviousAlloc] = true
				}
				continue
			}
			p.place = append(p.place, &state.Allocation{
				ID: newID(), Job: j.Name, JobVersion: j.Version, Index: pl.Index, NodeID: out.Placements[i],
				CPU: ask.CPU, Memory: ask.Memory, PreviousAlloc: pl.PreviousAlloc, Failures: pl.Failures,
			})
		}
		p.failed, p.reason = out.Failed, out.Reason
	}
	for _, st := range res.Stop {
		// A replacement's stop commits only with its placement: an update
		// or a migration that found no node keeps the old allocation
		// running. Allocations found lost are recorded lost regardless.
		if unplaced[st.AllocID] && st.ClientStatus == "" {
			continue
		}
		p.stop = append(p.stop, state.AllocStop{ID: st.AllocID, Reason: st.Reason, ClientStatus: st.ClientStatus})
	}
	return p
}

// restartBackoff is how long a failed service allocation waits before it
// is replaced: the task's restart delay, doubling to five minutes.
func restartBackoff(spec *specs.Job) reconcile.Backoff {
	var d time.Duration
	for _, t := range spec.Tasks {
		d = max(d, t.Restart.Delay.Std())
	}
	return reconcile.Backoff{Delay: d, MaxDelay: 5 * time.Minute}
}

// ask describes one allocation of j for placement.
func (s *Server) ask(rd *state.Reader, j *state.Job, allocs []*state.Allocation, stopping map[string]bool, now time.Time) placement.Ask {
	ask := placement.Ask{Job: j.Name, Existing: map[string]int{}, Penalty: map[string]bool{}}
	for _, t := range j.Spec.Tasks {
		ask.CPU += int64(t.Resources.CPU)
		ask.Memory += int64(t.Resources.Memory)
	}
	for _, c := range j.Spec.Constraints {
		ask.Constraints = append(ask.Constraints, placement.Constraint{Attribute: c.Attribute, Operator: c.Operator, Value: c.Value})
	}
	for _, sp := range j.Spec.Spreads {
		ask.Spreads = append(ask.Spreads, placement.Spread{Attribute: sp.Attribute, Weight: sp.Weight})
	}
	for _, a := range allocs {
		if a.Live() && !stopping[a.ID] {
			ask.Existing[a.NodeID]++
		}
		if a.ClientStatus == state.AllocFailed && now.Sub(a.FailedAt) < failurePenaltyWindow {
			ask.Penalty[a.NodeID] = true
		}
	}
	return ask
}

// snapshot returns the placement view of the nodes as they are now. The
// attribute index is rebuilt only when nodes change; when only allocations
// changed, the last one is reused with fresh usage figures.
func (s *Server) snapshot(rd *state.Reader) *placement.Snapshot {
	nodesIdx, allocsIdx := rd.TableIndex(state.TableNodes), rd.TableIndex(state.TableAllocs)
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if s.snap != nil && s.snapKey == [2]uint64{nodesIdx, allocsIdx} {
		return s.snap
	}
	if s.snapBase == nil || s.snapKey[0] != nodesIdx {
		nodes := rd.Nodes()
		pn := make([]placement.Node, 0, len(nodes))
		for _, n := range nodes {
			pn = append(pn, placement.Node{
				ID: n.ID, Name: n.Name, Class: n.Class, OS: n.OS, Arch: n.Arch, Meta: n.Meta,
				Eligible: n.Status == state.NodeReady && n.Eligible && n.Drain == nil && n.Healthy,
				CPU:      n.CPU, Memory: n.Memory,
			})
		}
		s.snapBase = placement.NewSnapshot(pn)
	}
	s.snap, s.snapKey = s.snapBase.WithUsage(rd.NodeUsage), [2]uint64{nodesIdx, allocsIdx}
	return s.snap
}

// planFile computes what registering f would do, changing nothing.
func (s *Server) planFile(f *specs.File, queues []api.QueueChange) api.PlanResponse {
	out := api.PlanResponse{Queues: queues, Jobs: []api.JobPlan{}}
	now := s.now()
	s.state.View(func(rd *state.Reader) {
		for _, spec := range f.Jobs {
			jp := api.JobPlan{Name: spec.Name}
			old := rd.Job(spec.Name)
			next := &state.Job{Name: spec.Name, Spec: spec, Version: 1}
			switch {
			case old == nil:
				jp.Change = "create"
			case reflect.DeepEqual(old.Spec, spec) && !old.Stopped:
				jp.Change, next.Version = "none", old.Version
			default:
				jp.Change, next.Version = "update", old.Version+1
				jp.Diff = specDiff(old.Spec, spec)
			}
			jp.Version = next.Version
			next.Count = state.InitialCount(spec, old)
			p := s.computePlan(rd, spec.Name, next, now)
			for _, a := range p.place {
				name := a.NodeID
				if n := rd.Node(a.NodeID); n != nil {
					name = n.Name
				}
				jp.Place = append(jp.Place, api.PlannedAlloc{Index: a.Index, NodeID: a.NodeID, Node: name, Reason: placeReason(p, a)})
			}
			for _, st := range p.stop {
				jp.Stop = append(jp.Stop, api.PlannedStop{AllocID: st.ID, Reason: st.Reason})
			}
			jp.Failed, jp.Blocked = p.failed, p.reason
			out.Jobs = append(out.Jobs, jp)
		}
	})
	return out
}

func placeReason(p jobPlan, a *state.Allocation) string {
	for _, pl := range p.desired.Place {
		if pl.Index == a.Index {
			return pl.Reason
		}
	}
	return ""
}
