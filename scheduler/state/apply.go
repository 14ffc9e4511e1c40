package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/placement"
	"github.com/docketd/docket/specs"
)

// apply is the one function that changes the state: it hands the command
// to the function for its type.
func (tx *applyTx) apply(cmd Command) (Result, error) {
	switch c := cmd.(type) {
	case RegisterJob:
		return tx.registerJob(c)
	case StopJob:
		return tx.stopJob(c)
	case ScaleJob:
		return tx.scaleJob(c)
	case RegisterNode:
		return tx.registerNode(c)
	case SetNodeStatus:
		return tx.setNodeStatus(c)
	case SetNodeDrain:
		return tx.setNodeDrain(c)
	case SetNodeEligibility:
		return tx.setNodeEligibility(c)
	case SetNodeHealth:
		return tx.setNodeHealth(c)
	case ApplyPlan:
		return tx.applyPlan(c)
	case UpdateAllocs:
		return tx.updateAllocs(c)
	case UpsertEvals:
		return tx.upsertEvals(c)
	case SettleDispatch:
		return tx.settleDispatch(c)
	case DeleteEvals:
		return tx.deleteEvals(c)
	case DeleteAllocs:
		return tx.deleteAllocs(c)
	case BootstrapACL:
		return tx.bootstrapACL(c)
	case UpsertACLPolicies:
		return tx.upsertACLPolicies(c)
	case DeleteACLPolicies:
		return tx.deleteACLPolicies(c)
	case UpsertACLTokens:
		return tx.upsertACLTokens(c)
	case DeleteACLTokens:
		return tx.deleteACLTokens(c)
	case UpsertTopic:
		return tx.upsertTopic(c)
	case DeleteTopic:
		return tx.deleteTopic(c)
	case UpsertSubscriptions:
		return tx.upsertSubscriptions(c)
	case DeleteSubscriptions:
		return tx.deleteSubscriptions(c)
	}
	return Result{}, fmt.Errorf("%w: unknown command %T", errdefs.ErrInternal, cmd)
}

func (tx *applyTx) stopJob(c StopJob) (Result, error) {
	s := tx.s
	old := s.jobs[c.Name]
	if old == nil {
		return Result{}, notFound("job_not_found", "job %q does not exist", c.Name)
	}
	j := *old
	j.Stopped = true
	j.ModifyIndex = tx.index
	if !c.Purge {
		tx.setJob(&j, "JobStopped")
		tx.setEvals([]*Evaluation{c.Eval})
		return Result{Job: &j}, nil
	}
	tx.deleteJob(c.Name)
	tx.setEvals([]*Evaluation{c.Eval})
	// Ended allocations go, the others are told to stop: in ID order, so
	// that the events (and the write set) are the same wherever the entry
	// is applied.
	for _, id := range slices.Sorted(maps.Keys(s.allocsByJob[c.Name])) {
		a := s.allocs[id]
		if Terminal(a.ClientStatus) {
			tx.deleteAlloc(id)
		} else if a.DesiredStatus != DesiredStop {
			na := *a
			na.DesiredStatus, na.DesiredReason = DesiredStop, "job purged"
			na.ModifyIndex, na.ModifiedAt = tx.index, tx.at
			tx.setAlloc(&na, "AllocationUpdated")
		}
	}
	return Result{Job: &j}, nil
}

func (tx *applyTx) scaleJob(c ScaleJob) (Result, error) {
	old := tx.s.jobs[c.Name]
	if old == nil {
		return Result{}, notFound("job_not_found", "job %q does not exist", c.Name)
	}
	j := *old
	j.Count = c.Count
	j.ModifyIndex = tx.index
	tx.setJob(&j, "JobScaled")
	tx.setEvals([]*Evaluation{c.Eval})
	return Result{Job: &j}, nil
}

func (tx *applyTx) registerNode(c RegisterNode) (Result, error) {
	if c.Node == nil {
		return Result{}, errdefs.New(errdefs.ErrInvalid, "invalid_node", "a node to register is missing")
	}
	n := cloneNode(c.Node)
	if old := tx.s.nodes[n.ID]; old != nil {
		if old.SecretHash != "" && n.SecretHash != old.SecretHash {
			return Result{}, errdefs.New(errdefs.ErrPermissionDenied, "node_secret_mismatch",
				"node %q is registered with another secret", n.ID)
		}
		n.Eligible, n.Drain = old.Eligible, old.Drain
		n.CreateIndex, n.RegisteredAt = old.CreateIndex, old.RegisteredAt
	} else {
		n.Eligible = true
		n.CreateIndex, n.RegisteredAt = tx.index, tx.at
	}
	n.Status, n.StatusAt = NodeReady, tx.at
	n.ModifyIndex = tx.index
	tx.setNode(n, "NodeRegistered")
	tx.setEvals(c.Evals)
	return Result{Node: n}, nil
}

func (tx *applyTx) setNodeStatus(c SetNodeStatus) (Result, error) {
	return tx.updateNode(c.ID, c.Evals, "NodeStatusChanged", func(n *Node) {
		if n.Status != c.Status {
			n.Status, n.StatusAt = c.Status, tx.at
		}
	})
}

func (tx *applyTx) setNodeDrain(c SetNodeDrain) (Result, error) {
	return tx.updateNode(c.ID, c.Evals, "NodeDrainChanged", func(n *Node) {
		n.Drain = cloneDrain(c.Drain)
		if c.Drain != nil {
			n.Eligible = false
		} else {
			n.Eligible = c.Eligible
		}
	})
}

func (tx *applyTx) setNodeEligibility(c SetNodeEligibility) (Result, error) {
	return tx.updateNode(c.ID, c.Evals, "NodeEligibilityChanged", func(n *Node) {
		n.Eligible = c.Eligible
	})
}

func (tx *applyTx) setNodeHealth(c SetNodeHealth) (Result, error) {
	return tx.updateNode(c.ID, nil, "NodeHealthChanged", func(n *Node) {
		n.Healthy, n.HealthReason = c.Healthy, c.Reason
	})
}

func (tx *applyTx) updateAllocs(c UpdateAllocs) (Result, error) {
	s := tx.s
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
					a.FailedAt = tx.at
				}
			}
		}
		if u.ClientReason != "" {
			a.ClientReason = u.ClientReason
		}
		if u.Tasks != nil {
			a.Tasks = cloneTasks(u.Tasks)
		}
		a.ModifyIndex, a.ModifiedAt = tx.index, tx.at
		tx.setAllocReported(&a, "AllocationUpdated", c.Reported)
	}
	tx.setEvals(c.Evals)
	return Result{}, nil
}

func (tx *applyTx) upsertEvals(c UpsertEvals) (Result, error) {
	tx.setEvals(c.Evals)
	return Result{}, nil
}

func (tx *applyTx) settleDispatch(c SettleDispatch) (Result, error) {
	s := tx.s
	for _, id := range c.IDs {
		old := s.allocs[id]
		if old == nil || old.Dispatch == nil || old.Dispatch.Settled {
			continue
		}
		a := *old
		d := *old.Dispatch
		d.Settled = true
		a.Dispatch = &d
		a.ModifyIndex, a.ModifiedAt = tx.index, tx.at
		tx.setAlloc(&a, "AllocationUpdated")
	}
	return Result{}, nil
}

func (tx *applyTx) deleteEvals(c DeleteEvals) (Result, error) {
	for _, id := range c.IDs {
		tx.deleteEval(id)
	}
	return Result{}, nil
}

func (tx *applyTx) deleteAllocs(c DeleteAllocs) (Result, error) {
	for _, id := range c.IDs {
		tx.deleteAlloc(id)
	}
	return Result{}, nil
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
	j := &Job{Name: c.Spec.Name, Spec: cloneSpec(c.Spec), SubmittedAt: tx.at, CreateIndex: tx.index, ModifyIndex: tx.index}
	changed := true
	switch {
	case old == nil:
		j.Version = 1
	case sameSpec(old.Spec, c.Spec):
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
	j.Count = InitialCount(j.Spec, old)
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

// sameSpec reports whether two specs are the same version of a job: equal,
// or equal once encoded. The second is for specs that differ only in what
// the encoding drops (an empty list as against none): the spec a restart
// loads or a log's entry carries is the encoded one, and it must be the
// same version there as in memory here.
func sameSpec(a, b *specs.Job) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// applyPlan commits what fits of a plan: every placement is checked against
// its node's free capacity as it is now, including the plan's own earlier
// placements and the resources its stops free (those it marks lost).
func (tx *applyTx) applyPlan(c ApplyPlan) (Result, error) {
	s := tx.s
	if slices.Contains(c.Place, nil) {
		return Result{}, errdefs.New(errdefs.ErrInvalid, "invalid_plan", "a plan's placement is missing")
	}
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
				a.FailedAt = tx.at
			}
		}
		a.ModifyIndex, a.ModifiedAt = tx.index, tx.at
		tx.setAlloc(&a, "AllocationUpdated")
	}
	var res Result
	for _, p := range c.Place {
		if n := s.nodes[p.NodeID]; n == nil || n.Status != NodeReady || !n.Eligible || !tx.fits(n, p) {
			res.Rejected = append(res.Rejected, p.ID)
			continue
		}
		a := cloneAlloc(p)
		a.EvalID = c.EvalID
		a.DesiredStatus = DesiredRun
		a.ClientStatus = AllocPending
		a.CreateIndex, a.ModifyIndex = tx.index, tx.index
		a.CreatedAt, a.ModifiedAt = tx.at, tx.at
		tx.setAlloc(a, "AllocationPlaced")
	}
	if len(res.Rejected) == 0 {
		tx.setEvals(c.Evals)
	}
	return res, nil
}

// fits reports whether an allocation fits in its node's free capacity as
// it is now, by the test placement chose the node with, so that the two
// cannot disagree.
func (tx *applyTx) fits(n *Node, a *Allocation) bool {
	u := tx.s.usage[a.NodeID]
	return placement.Fits(&placement.Node{CPU: n.CPU, Memory: n.Memory, UsedCPU: u.cpu, UsedMemory: u.memory}, a.CPU, a.Memory)
}

// InitialCount is a job's desired count when it is registered: the spec's
// count, or for a scaled job the autoscaler's current count kept within
// the new bounds.
func InitialCount(spec *specsJob, old *Job) int {
	if f := spec.Function; f != nil {
		// A function: its floor of environments, or as many as the
		// previous version's driver kept.
		n := max(f.Warm.Min, f.Concurrency.Reserved)
		if old != nil && old.Spec != nil && old.Spec.Function != nil && !old.Stopped {
			n = max(n, old.Count)
		}
		return min(n, f.Concurrency.Max)
	}
	if spec.Scaling == nil {
		return spec.Count
	}
	n := spec.Scaling.Min
	if old != nil && old.Spec != nil && old.Spec.Scaling != nil {
		n = old.Count
	}
	return min(max(n, spec.Scaling.Min), spec.Scaling.Max)
}
