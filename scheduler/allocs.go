package scheduler

import (
	"context"
	"strconv"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
)

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func apiAlloc(a *state.Allocation) api.Allocation {
	out := api.Allocation{
		ID: a.ID, Job: a.Job, JobVersion: a.JobVersion, Index: a.Index, NodeID: a.NodeID, EvalID: a.EvalID,
		CPU: a.CPU, Memory: a.Memory, DesiredStatus: a.DesiredStatus, DesiredReason: a.DesiredReason,
		ClientStatus: a.ClientStatus, ClientReason: a.ClientReason, PreviousAlloc: a.PreviousAlloc,
		Failures: a.Failures, FailedAt: a.FailedAt, CreatedAt: a.CreatedAt, ModifiedAt: a.ModifiedAt,
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex,
	}
	if d := a.Dispatch; d != nil {
		out.Dispatch = &api.Dispatch{Queue: d.Queue, MessageID: d.MessageID, Receipt: d.Receipt, ReceiveCount: d.ReceiveCount, Settled: d.Settled}
	}
	if len(a.Tasks) > 0 {
		out.Tasks = make(map[string]*api.TaskState, len(a.Tasks))
		for name, t := range a.Tasks {
			out.Tasks[name] = &api.TaskState{State: t.State, ExitCode: t.ExitCode, Reason: t.Reason, Failed: t.Failed,
				Restarts: t.Restarts, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
		}
	}
	return out
}

var allocStatuses = map[string]bool{
	state.AllocPending: true, state.AllocRunning: true, state.AllocComplete: true,
	state.AllocFailed: true, state.AllocLost: true,
}

// AllocFilter selects allocations by job, node and client status; empty
// fields select all.
type AllocFilter struct {
	Job, Node, Status string
}

// ListAllocs lists the allocations f selects; a blocking query on the
// job's, the node's or the allocations table's index.
func (s *Server) ListAllocs(ctx context.Context, caller Identity, f AllocFilter, q Query) (api.AllocList, uint64, error) {
	job, node, status := f.Job, f.Node, f.Status
	if status != "" && !allocStatuses[status] {
		return api.AllocList{}, 0, errdefs.New(errdefs.ErrInvalid, "invalid_status", "status %q: use pending, running, complete, failed or lost", status)
	}
	idx, err := s.block(ctx, q, func(rd *state.Reader) uint64 {
		switch {
		case job != "":
			return rd.JobIndex(job)
		case node != "":
			return rd.NodeAllocsIndex(node)
		}
		return rd.TableIndex(state.TableAllocs)
	})
	if err != nil {
		return api.AllocList{}, 0, err
	}
	out := api.AllocList{Allocations: []api.Allocation{}}
	s.state.View(func(rd *state.Reader) {
		for _, a := range rd.Allocs(job, node, status) {
			if caller.ACL.Allowed("job", a.Job, "read") {
				out.Allocations = append(out.Allocations, apiAlloc(a))
			}
		}
	})
	return out, idx, nil
}

func allocNotFound(id string) error {
	return errdefs.New(errdefs.ErrNotFound, "allocation_not_found", "allocation %q does not exist", id)
}

// GetAlloc returns one allocation.
func (s *Server) GetAlloc(ctx context.Context, caller Identity, id string) (api.Allocation, error) {
	var out *api.Allocation
	s.state.View(func(rd *state.Reader) {
		if a := rd.Alloc(id); a != nil {
			aa := apiAlloc(a)
			out = &aa
		}
	})
	if out == nil {
		return api.Allocation{}, allocNotFound(id)
	}
	if err := caller.can("job", out.Job, "read"); err != nil {
		return api.Allocation{}, err
	}
	return *out, nil
}

// UpdateAllocStatus records what an agent reports of an allocation. An
// allocation that failed, was lost or finished re-evaluates its job, which
// replaces it (or, for batch jobs, counts it done).
func (s *Server) UpdateAllocStatus(ctx context.Context, caller Identity, id string, in *api.AllocStatusRequest) error {
	if !allocStatuses[in.ClientStatus] {
		return errdefs.New(errdefs.ErrInvalid, "invalid_status", "client_status %q: use pending, running, complete, failed or lost", in.ClientStatus)
	}
	var old *state.Allocation
	var node *state.Node
	s.state.View(func(rd *state.Reader) {
		if old = rd.Alloc(id); old != nil {
			node = rd.Node(old.NodeID)
		}
	})
	if old == nil {
		return allocNotFound(id)
	}
	// Only the agent of the allocation's node may say what became of it.
	if err := caller.can("node", old.NodeID, "write"); err != nil {
		return err
	}
	if err := checkNodeSecret(caller, node, old.NodeID); err != nil {
		return err
	}
	u := state.AllocUpdate{ID: id, ClientStatus: in.ClientStatus, ClientReason: in.ClientReason, At: s.now()}
	if in.Tasks != nil {
		u.Tasks = make(map[string]*state.TaskState, len(in.Tasks))
		for name, t := range in.Tasks {
			if t == nil {
				continue
			}
			u.Tasks[name] = &state.TaskState{State: t.State, ExitCode: t.ExitCode, Reason: t.Reason, Failed: t.Failed,
				Restarts: t.Restarts, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
		}
	}
	var evals []*state.Evaluation
	becameTerminal := state.Terminal(in.ClientStatus) && !state.Terminal(old.ClientStatus)
	// A dispatch allocation's end is settled by its job's driver, which
	// the change wakes; reconciling the job would find nothing to do.
	dispatch := old.Dispatch != nil
	if !dispatch && (becameTerminal || (in.ClientStatus == state.AllocRunning && old.ClientStatus != state.AllocRunning)) {
		// Terminal: replace or count it. Running: a rolling update or a
		// migration may go on with its next batch.
		trigger := triggerAllocFailure
		if in.ClientStatus == state.AllocComplete || in.ClientStatus == state.AllocRunning {
			trigger = triggerAllocStop
		}
		evals = append(evals, newEval(old.Job, trigger, old.NodeID))
	}
	if _, err := s.state.Apply(state.UpdateAllocs{Updates: []state.AllocUpdate{u}, Evals: evals,
		Reported: in.Node != "" && in.Node == old.NodeID}); err != nil {
		return err
	}
	s.submit(evals...)
	if becameTerminal {
		s.broker.unblock(s.now()) // capacity freed
	}
	return nil
}

// AllocLogsNode is the node that holds an allocation's logs, for the
// transport to ask its agent for them over the agent's own channel
// (CheckNodeChannel).
func (s *Server) AllocLogsNode(ctx context.Context, caller Identity, id string) (string, error) {
	var node, job string
	var found bool
	s.state.View(func(rd *state.Reader) {
		if a := rd.Alloc(id); a != nil {
			found, job, node = true, a.Job, a.NodeID
		}
	})
	if !found {
		return "", allocNotFound(id)
	}
	if err := caller.can("job", job, "logs"); err != nil {
		return "", err
	}
	return node, nil
}
