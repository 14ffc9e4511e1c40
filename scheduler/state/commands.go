package state

import (
	"time"

	"github.com/docketd/docket/specs"
)

// Command is one change to the state. Every change is one of the types
// below, applied by [State.Apply] or, stamped, by [State.ApplyEntry], and
// encoded in a log's entries by [EncodeEntry].
//
// A command carries everything its effect depends on besides the state it
// is applied to and its entry's index and time: the IDs of what it
// creates and the times agents reported are the caller's. Applying one
// changes nothing the caller holds and keeps nothing it holds either: the
// state stores copies.
type Command interface{ command() string }

// Entry is a command as a log carries it: stamped with the index it takes
// and the time it was proposed at, so that applying it reads no clock and
// gives the same state wherever and whenever it is applied. [State.Apply]
// stamps the entries of this process's own commands; a replicated log's
// leader will stamp them instead, and its followers apply them with
// [State.ApplyEntry].
type Entry struct {
	Index uint64
	// At is the time the records the command creates or changes record
	// (SubmittedAt, StatusAt, ModifiedAt, an evaluation's CreatedAt...).
	At  time.Time
	Cmd Command
}

// RegisterJob registers a job or a new version of it. A spec equal to the
// current one changes nothing but un-stops a stopped job. Eval, if set, is
// created in the same change.
type RegisterJob struct {
	Spec *specs.Job  `json:"spec"`
	Eval *Evaluation `json:"eval,omitempty"`
}

// StopJob stops a job's allocations; with Purge the job is removed too.
type StopJob struct {
	Name  string      `json:"name"`
	Purge bool        `json:"purge,omitempty"`
	Eval  *Evaluation `json:"eval,omitempty"`
}

// ScaleJob sets a job's desired count.
type ScaleJob struct {
	Name  string      `json:"name"`
	Count int         `json:"count"`
	Eval  *Evaluation `json:"eval,omitempty"`
}

// RegisterNode adds a node or refreshes what it reports of itself; a node
// registering again is ready again. Eligibility and drain are kept.
type RegisterNode struct {
	Node  *Node         `json:"node"`
	Evals []*Evaluation `json:"evals,omitempty"`
}

// SetNodeStatus marks a node ready or down.
type SetNodeStatus struct {
	ID     string        `json:"id"`
	Status string        `json:"status"`
	Evals  []*Evaluation `json:"evals,omitempty"`
}

// SetNodeDrain starts (Drain set) or ends (nil) a node's drain. Ending a
// drain leaves the node ineligible unless Eligible.
type SetNodeDrain struct {
	ID       string        `json:"id"`
	Drain    *Drain        `json:"drain"`
	Eligible bool          `json:"eligible,omitempty"`
	Evals    []*Evaluation `json:"evals,omitempty"`
}

// SetNodeEligibility makes a node eligible for new allocations or not.
type SetNodeEligibility struct {
	ID       string        `json:"id"`
	Eligible bool          `json:"eligible"`
	Evals    []*Evaluation `json:"evals,omitempty"`
}

// SetNodeHealth records the agent's view of its own health.
type SetNodeHealth struct {
	ID      string `json:"id"`
	Healthy bool   `json:"healthy"`
	Reason  string `json:"reason,omitempty"`
}

// ApplyPlan commits a scheduler's decisions for one evaluation: new
// allocations and allocations to stop. Each placement is checked again
// against the node's free capacity at commit time; those that no longer
// fit are rejected and reported, the rest commit.
type ApplyPlan struct {
	EvalID string        `json:"eval_id"`
	Place  []*Allocation `json:"place,omitempty"`
	Stop   []AllocStop   `json:"stop,omitempty"`
	// Evals (the evaluation's outcome, a follow-up) are recorded only if
	// every placement fits, so that an evaluation costs one commit; a plan
	// with rejections leaves them to the re-plan.
	Evals []*Evaluation `json:"evals,omitempty"`
}

// AllocStop asks an allocation to stop. ClientStatus, if set, also records
// a client status (lost, for allocations on a down node).
type AllocStop struct {
	ID           string `json:"id"`
	Reason       string `json:"reason,omitempty"`
	ClientStatus string `json:"client_status,omitempty"`
}

// UpdateAllocs records what agents report of their allocations.
type UpdateAllocs struct {
	Updates []AllocUpdate `json:"updates"`
	Evals   []*Evaluation `json:"evals,omitempty"`
	// Reported says the updates are the nodes' own reports, which their
	// agents need not be told back (NodeViewIndex does not move).
	Reported bool `json:"reported,omitempty"`
}

// AllocUpdate is one allocation's reported status.
type AllocUpdate struct {
	ID           string `json:"id"`
	ClientStatus string `json:"client_status,omitempty"`
	ClientReason string `json:"client_reason,omitempty"`
	// Tasks replaces the allocation's task states unless nil (an empty
	// map is a report of no tasks: not omitted when encoded).
	Tasks map[string]*TaskState `json:"tasks"`
	// At is when the agent saw the status; a failure records it.
	At time.Time `json:"at,omitzero"`
}

// UpsertEvals creates or updates evaluations.
type UpsertEvals struct {
	Evals []*Evaluation `json:"evals"`
}

// SettleDispatch records that the messages of ended dispatch allocations
// were dealt with.
type SettleDispatch struct {
	IDs []string `json:"ids"`
}

// DeleteEvals removes finished evaluations (garbage collection).
type DeleteEvals struct {
	IDs []string `json:"ids"`
}

// DeleteAllocs removes terminal allocations (garbage collection).
type DeleteAllocs struct {
	IDs []string `json:"ids"`
}

func (RegisterJob) command() string        { return "RegisterJob" }
func (StopJob) command() string            { return "StopJob" }
func (ScaleJob) command() string           { return "ScaleJob" }
func (RegisterNode) command() string       { return "RegisterNode" }
func (SetNodeStatus) command() string      { return "SetNodeStatus" }
func (SetNodeDrain) command() string       { return "SetNodeDrain" }
func (SetNodeEligibility) command() string { return "SetNodeEligibility" }
func (SetNodeHealth) command() string      { return "SetNodeHealth" }
func (ApplyPlan) command() string          { return "ApplyPlan" }
func (UpdateAllocs) command() string       { return "UpdateAllocs" }
func (UpsertEvals) command() string        { return "UpsertEvals" }
func (DeleteAllocs) command() string       { return "DeleteAllocs" }
func (SettleDispatch) command() string     { return "SettleDispatch" }
func (DeleteEvals) command() string        { return "DeleteEvals" }

// Result is what applying a command produced.
type Result struct {
	Index uint64
	// Noop reports that the command changed nothing (and took no index).
	Noop bool
	// Job is the job after RegisterJob, ScaleJob or StopJob.
	Job *Job
	// JobChanged reports whether RegisterJob made a new version.
	JobChanged bool
	// Rejected lists the placements of an ApplyPlan that no longer fit,
	// by allocation ID.
	Rejected []string
	// Node is the node after a node command.
	Node *Node
	// Evals are the evaluations the command recorded, in its order, as
	// recorded: with their CreateIndex, ModifyIndex and CreatedAt, which
	// Apply does not write into the command's own. They are shared: do not
	// modify them.
	Evals []*Evaluation
}
