package state

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
)

// applyTx is one command being applied: the records it replaced (to undo
// them if the command fails half-way), the write set for the store, and
// what it touched.
type applyTx struct {
	s      *State
	index  uint64
	now    time.Time
	ws     store.WriteSet
	undo   []func()
	tables map[string]bool
	nodes  map[string]bool
	views  map[string]bool // nodes whose agent's view changed
	jobs   map[string]bool
	events []Event
}

func (tx *applyTx) touch(table string) {
	if tx.tables == nil {
		tx.tables = map[string]bool{}
	}
	tx.tables[table] = true
}

func (tx *applyTx) touchNode(id string) {
	tx.touchNodeAllocs(id, true)
}

// touchNodeAllocs records a change to a node's allocations; view says
// whether the node's agent's view of them changed too (see NodeViewIndex).
func (tx *applyTx) touchNodeAllocs(id string, view bool) {
	if tx.nodes == nil {
		tx.nodes, tx.views = map[string]bool{}, map[string]bool{}
	}
	tx.nodes[id] = true
	if view {
		tx.views[id] = true
	}
}

func (tx *applyTx) touchJob(name string) {
	if tx.jobs == nil {
		tx.jobs = map[string]bool{}
	}
	tx.jobs[name] = true
}

func (tx *applyTx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
}

func (tx *applyTx) put(bucket, key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Records are plain data; failing to encode one is a bug.
		panic(fmt.Sprintf("state: encode %s/%s: %v", bucket, key, err))
	}
	tx.ws.Put(bucket, key, b)
}

func (tx *applyTx) event(topic, typ, key string, payload any) {
	tx.events = append(tx.events, Event{Topic: topic, Type: typ, Key: key, Index: tx.index, Payload: payload})
}

func (tx *applyTx) setJob(j *Job, eventType string) {
	s := tx.s
	old := s.jobs[j.Name]
	s.jobs[j.Name] = j
	tx.undo = append(tx.undo, func() {
		if old == nil {
			delete(s.jobs, j.Name)
		} else {
			s.jobs[j.Name] = old
		}
	})
	tx.put(bucketJobs, j.Name, j)
	tx.touch(TableJobs)
	tx.touchJob(j.Name)
	tx.event("Job", eventType, j.Name, j)
}

func (tx *applyTx) deleteJob(name string) {
	s := tx.s
	old := s.jobs[name]
	if old == nil {
		return
	}
	delete(s.jobs, name)
	tx.undo = append(tx.undo, func() { s.jobs[name] = old })
	tx.ws.Delete(bucketJobs, name)
	tx.touch(TableJobs)
	tx.touchJob(name)
	tx.event("Job", "JobPurged", name, old)
}

func (tx *applyTx) setNode(n *Node, eventType string) {
	s := tx.s
	old := s.nodes[n.ID]
	s.nodes[n.ID] = n
	s.sortedNodes = nil
	tx.undo = append(tx.undo, func() {
		s.sortedNodes = nil
		if old == nil {
			delete(s.nodes, n.ID)
		} else {
			s.nodes[n.ID] = old
		}
	})
	tx.put(bucketNodes, n.ID, n)
	tx.touch(TableNodes)
	tx.touchNode(n.ID)
	tx.event("Node", eventType, n.ID, n)
}

func (tx *applyTx) setAlloc(a *Allocation, eventType string) {
	tx.setAllocReported(a, eventType, false)
}

// setAllocReported is setAlloc, for a change that is the node's own report
// when reported: the node's agent knows it, so its view does not change.
// Neither does it for a change to an allocation that was and stays
// terminal, which the view leaves out.
func (tx *applyTx) setAllocReported(a *Allocation, eventType string, reported bool) {
	s := tx.s
	old := s.allocs[a.ID]
	view := !reported && (old == nil || !Terminal(old.ClientStatus) || !Terminal(a.ClientStatus))
	s.putAlloc(a)
	tx.undo = append(tx.undo, func() {
		s.dropAlloc(a)
		if old != nil {
			s.putAlloc(old)
		}
	})
	tx.put(bucketAllocs, a.ID, a)
	tx.touch(TableAllocs)
	tx.touchNodeAllocs(a.NodeID, view)
	if old != nil && old.NodeID != a.NodeID {
		tx.touchNode(old.NodeID)
	}
	tx.touchJob(a.Job)
	tx.event("Allocation", eventType, a.ID, a)
}

func (tx *applyTx) deleteAlloc(id string) {
	s := tx.s
	old := s.allocs[id]
	if old == nil {
		return
	}
	s.dropAlloc(old)
	tx.undo = append(tx.undo, func() { s.putAlloc(old) })
	tx.ws.Delete(bucketAllocs, id)
	tx.touch(TableAllocs)
	tx.touchNodeAllocs(old.NodeID, !Terminal(old.ClientStatus))
	tx.touchJob(old.Job)
	tx.event("Allocation", "AllocationDeleted", id, old)
}

func (tx *applyTx) setEval(e *Evaluation) {
	s := tx.s
	old := s.evals[e.ID]
	if old == nil {
		e.CreateIndex = tx.index
	} else {
		e.CreateIndex = old.CreateIndex
	}
	e.ModifyIndex = tx.index
	if e.CreatedAt.IsZero() {
		e.CreatedAt = tx.now
	}
	s.putEval(e)
	tx.undo = append(tx.undo, func() {
		s.dropEval(e)
		if old != nil {
			s.putEval(old)
		}
	})
	tx.put(bucketEvals, e.ID, e)
	tx.touch(TableEvals)
	tx.touchJob(e.Job)
	tx.event("Evaluation", "EvaluationUpdated", e.ID, e)
}

func (tx *applyTx) setEvals(evals []*Evaluation) {
	for _, e := range evals {
		if e != nil {
			tx.setEval(e)
		}
	}
}

func notFound(code, format string, args ...any) error {
	return errdefs.New(errdefs.ErrNotFound, code, format, args...)
}

// apply is the one function that changes the state.
func (tx *applyTx) apply(cmd Command) (Result, error) {
	s := tx.s
	switch c := cmd.(type) {
	case RegisterJob:
		return tx.registerJob(c)

	case StopJob:
		old := s.jobs[c.Name]
		if old == nil {
			return Result{}, notFound("job_not_found", "job %q does not exist", c.Name)
		}
		j := *old
		j.Stopped = true
		j.ModifyIndex = tx.index
		if c.Purge {
			tx.deleteJob(c.Name)
			for _, a := range s.allocsByJob[c.Name] {
				if Terminal(a.ClientStatus) {
					defer tx.deleteAlloc(a.ID)
				} else if a.DesiredStatus != DesiredStop {
					na := *a
					na.DesiredStatus, na.DesiredReason = DesiredStop, "job purged"
					na.ModifyIndex, na.ModifiedAt = tx.index, tx.now
					defer tx.setAlloc(&na, "AllocationUpdated")
				}
			}
		} else {
			tx.setJob(&j, "JobStopped")
		}
		tx.setEvals([]*Evaluation{c.Eval})
		return Result{Job: &j}, nil

	case ScaleJob:
		old := s.jobs[c.Name]
		if old == nil {
			return Result{}, notFound("job_not_found", "job %q does not exist", c.Name)
		}
		j := *old
		j.Count = c.Count
		j.ModifyIndex = tx.index
		tx.setJob(&j, "JobScaled")
		tx.setEvals([]*Evaluation{c.Eval})
		return Result{Job: &j}, nil

	case RegisterNode:
		n := *c.Node
		if old := s.nodes[n.ID]; old != nil {
			n.Eligible, n.Drain = old.Eligible, old.Drain
			n.CreateIndex, n.RegisteredAt = old.CreateIndex, old.RegisteredAt
		} else {
			n.Eligible = true
			n.CreateIndex, n.RegisteredAt = tx.index, tx.now
		}
		n.Status, n.StatusAt = NodeReady, tx.now
		n.ModifyIndex = tx.index
		tx.setNode(&n, "NodeRegistered")
		tx.setEvals(c.Evals)
		return Result{Node: &n}, nil

	case SetNodeStatus:
		return tx.updateNode(c.ID, c.Evals, "NodeStatusChanged", func(n *Node) {
			if n.Status != c.Status {
				n.Status, n.StatusAt = c.Status, tx.now
			}
		})

	case SetNodeDrain:
		return tx.updateNode(c.ID, c.Evals, "NodeDrainChanged", func(n *Node) {
			n.Drain = c.Drain
			if c.Drain != nil {
				n.Eligible = false
			} else {
				n.Eligible = c.Eligible
			}
		})

	case SetNodeEligibility:
		return tx.updateNode(c.ID, c.Evals, "NodeEligibilityChanged", func(n *Node) {
			n.Eligible = c.Eligible
		})

	case SetNodeHealth:
		return tx.updateNode(c.ID, nil, "NodeHealthChanged", func(n *Node) {
			n.Healthy, n.HealthReason = c.Healthy, c.Reason
		})

	case ApplyPlan:
		return tx.applyPlan(c)

	case UpdateAllocs:
		for _, u := range c.Updates {
			old := s.allocs[u.ID]
			if old == nil {
				continue // garbage-collected meanwhile; nothing to record
			}
			if Terminal(old.ClientStatus) {
				// Ended: its final report is in, and a report sent
				// before it and delivered after must not undo it.
				continue
			}
			a := *old
			if u.ClientStatus != "" {
				a.ClientStatus = u.ClientStatus
				if (u.ClientStatus == AllocFailed || u.ClientStatus == AllocLost) && a.FailedAt.IsZero() {
					a.FailedAt = u.At
					if a.FailedAt.IsZero() {
						a.FailedAt = tx.now
					}
				}
			}
			if u.ClientReason != "" {
				a.ClientReason = u.ClientReason
			}
			if u.Tasks != nil {
				a.Tasks = u.Tasks
			}
			a.ModifyIndex, a.ModifiedAt = tx.index, tx.now
			tx.setAllocReported(&a, "AllocationUpdated", c.Reported)
		}
		tx.setEvals(c.Evals)
		return Result{}, nil

	case UpsertEvals:
		tx.setEvals(c.Evals)
		return Result{}, nil

	case SettleDispatch:
		for _, id := range c.IDs {
			old := s.allocs[id]
			if old == nil || old.Dispatch == nil || old.Dispatch.Settled {
				continue
			}
			a := *old
			d := *old.Dispatch
			d.Settled = true
			a.Dispatch = &d
			a.ModifyIndex, a.ModifiedAt = tx.index, tx.now
			tx.setAlloc(&a, "AllocationUpdated")
		}
		return Result{}, nil

	case DeleteEvals:
		for _, id := range c.IDs {
			if e := s.evals[id]; e != nil {
				s.dropEval(e)
				tx.undo = append(tx.undo, func() { s.putEval(e) })
				tx.ws.Delete(bucketEvals, id)
				tx.touch(TableEvals)
			}
		}
		return Result{}, nil

	case DeleteAllocs:
		for _, id := range c.IDs {
			tx.deleteAlloc(id)
		}
		return Result{}, nil
	}
	return Result{}, fmt.Errorf("%w: unknown command %T", errdefs.ErrInternal, cmd)
}

func (tx *applyTx) updateNode(id string, evals []*Evaluation, eventType string, change func(*Node)) (Result, error) {
	old := tx.s.nodes[id]
	if old == nil {
		return Result{}, notFound("node_not_found", "node %q does not exist", id)
	}
	n := *old
	change(&n)
	n.ModifyIndex = tx.index
	tx.setNode(&n, eventType)
	tx.setEvals(evals)
	return Result{Node: &n}, nil
}

func (tx *applyTx) registerJob(c RegisterJob) (Result, error) {
	if c.Spec == nil || c.Spec.Name == "" {
		return Result{}, errdefs.New(errdefs.ErrInvalid, "invalid_job", "a job needs a name")
	}
	old := tx.s.jobs[c.Spec.Name]
	j := &Job{Name: c.Spec.Name, Spec: c.Spec, SubmittedAt: tx.now, CreateIndex: tx.index, ModifyIndex: tx.index}
	changed := true
	switch {
	case old == nil:
		j.Version = 1
	case reflect.DeepEqual(old.Spec, c.Spec):
		changed = false
		if !old.Stopped {
			return Result{Job: old, JobChanged: false}, nil
		}
		j.Version = old.Version
	default:
		j.Version = old.Version + 1
	}
	if old != nil {
		j.CreateIndex = old.CreateIndex
	}
	j.Count = InitialCount(c.Spec, old)
	tx.setJob(j, "JobRegistered")
	if changed {
		tx.put(bucketJobVersions, fmt.Sprintf("%s/%020d", j.Name, j.Version), j.Spec)
		s := tx.s
		prev := s.versions[j.Name][j.Version]
		s.putVersion(j.Spec, j.Version)
		tx.undo = append(tx.undo, func() {
			if prev == nil {
				delete(s.versions[j.Name], j.Version)
			} else {
				s.versions[j.Name][j.Version] = prev
			}
		})
	}
	tx.setEvals([]*Evaluation{c.Eval})
	return Result{Job: j, JobChanged: changed}, nil
}

// applyPlan commits what fits of a plan: every placement is checked against
// its node's free capacity as it is now, including the plan's own earlier
// placements and the resources its stops free.
func (tx *applyTx) applyPlan(c ApplyPlan) (Result, error) {
	s := tx.s
	for _, st := range c.Stop {
		old := s.allocs[st.ID]
		if old == nil {
			continue
		}
		a := *old
		a.DesiredStatus, a.DesiredReason = DesiredStop, st.Reason
		if st.ClientStatus != "" && !Terminal(a.ClientStatus) {
			a.ClientStatus = st.ClientStatus
			if st.ClientStatus == AllocLost {
				a.FailedAt = tx.now
			}
		}
		a.ModifyIndex, a.ModifiedAt = tx.index, tx.now
		tx.setAlloc(&a, "AllocationUpdated")
	}
	var res Result
	for _, p := range c.Place {
		n := s.nodes[p.NodeID]
		u := s.usage[p.NodeID]
		if n == nil || n.Status != NodeReady || !n.Eligible || u.cpu+p.CPU > n.CPU || u.memory+p.Memory > n.Memory {
			res.Rejected = append(res.Rejected, p.ID)
			continue
		}
		a := *p
		a.EvalID = c.EvalID
		a.DesiredStatus = DesiredRun
		a.ClientStatus = AllocPending
		a.CreateIndex, a.ModifyIndex = tx.index, tx.index
		a.CreatedAt, a.ModifiedAt = tx.now, tx.now
		tx.setAlloc(&a, "AllocationPlaced")
	}
	if len(res.Rejected) == 0 {
		tx.setEvals(c.Evals)
	}
	return res, nil
}

// InitialCount is a job's desired count when it is registered: the spec's
// count, or for a scaled job the autoscaler's current count kept within
// the new bounds.
func InitialCount(spec *specsJob, old *Job) int {
	if spec.Scaling == nil {
		return spec.Count
	}
	n := spec.Scaling.Min
	if old != nil && old.Spec != nil && old.Spec.Scaling != nil {
		n = old.Count
	}
	return min(max(n, spec.Scaling.Min), spec.Scaling.Max)
}
