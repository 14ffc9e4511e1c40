package scheduler

import (
	"github.com/docketd/docket/scheduler/state"
)

// Why an evaluation was created.
const (
	triggerJobRegister   = "job-register"
	triggerJobDeregister = "job-deregister"
	triggerJobScale      = "job-scale"
	triggerNodeUpdate    = "node-update"
	triggerNodeDrain     = "node-drain"
	triggerAllocFailure  = "alloc-failure"
	triggerAllocStop     = "alloc-stop"
	triggerRetry         = "retry-later"
	triggerPlanConflict  = "plan-conflict"
	triggerQueue         = "queue-scale"
	triggerFunction      = "function-scale"
)

func newEval(job, trigger, node string) *state.Evaluation {
	return &state.Evaluation{ID: newID(), Job: job, TriggeredBy: trigger, NodeID: node, Status: state.EvalPending}
}

// nodeEvals returns one evaluation for every job with unfinished
// allocations on a node.
func nodeEvals(r *state.Reader, nodeID, trigger string) []*state.Evaluation {
	seen := map[string]bool{}
	var evals []*state.Evaluation
	for _, a := range r.Allocs("", nodeID, "") {
		if !a.Holds() || seen[a.Job] || r.Job(a.Job) == nil {
			continue
		}
		seen[a.Job] = true
		evals = append(evals, newEval(a.Job, trigger, nodeID))
	}
	return evals
}

// submit hands committed evaluations to the broker.
func (s *Server) submit(evals ...*state.Evaluation) {
	now := s.now()
	for _, e := range evals {
		if e != nil {
			s.broker.enqueue(e, now)
		}
	}
}
