package state

import (
	"time"

	"github.com/docketd/docket/specs"
)

// Job is a registered job: its definition at its current version and what
// the control plane wants of it.
type Job struct {
	Name    string     `json:"name"`
	Version uint64     `json:"version"`
	Spec    *specs.Job `json:"spec"`
	// Stopped jobs keep their record until purged; their allocations stop.
	Stopped bool `json:"stopped"`
	// Count is the desired number of allocations: the spec's count, the
	// operator's scale, or the autoscaler's decision for scaled jobs.
	Count       int       `json:"count"`
	SubmittedAt time.Time `json:"submitted_at,omitzero"`
	CreateIndex uint64    `json:"create_index"`
	ModifyIndex uint64    `json:"modify_index"`
}

// Node statuses.
const (
	NodeReady = "ready"
	NodeDown  = "down"
)

// Node is a host running the agent.
type Node struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Class   string            `json:"class,omitempty"`
	OS      string            `json:"os"`
	Arch    string            `json:"arch"`
	Kernel  string            `json:"kernel,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Address string            `json:"address,omitempty"` // the agent's HTTP address
	// SecretHash is the hex SHA-256 of the node's secret, which its agent
	// presents on every call for the node; a node registered again must
	// present it.
	SecretHash string `json:"secret_hash,omitempty"`
	// CPU (millicores) and Memory (MiB) the node offers to allocations,
	// after what the operator reserved.
	CPU    int64  `json:"cpu"`
	Memory int64  `json:"memory"`
	Status string `json:"status"`
	// Eligible nodes take new allocations; draining makes a node ineligible.
	Eligible bool   `json:"eligible"`
	Drain    *Drain `json:"drain,omitempty"`
	// Healthy is the agent's own verdict (e.g. containerd reachable).
	Healthy      bool          `json:"healthy"`
	HealthReason string        `json:"health_reason,omitempty"`
	TTL          time.Duration `json:"ttl"`
	// StatusAt is when Status last changed.
	StatusAt     time.Time `json:"status_at,omitzero"`
	RegisteredAt time.Time `json:"registered_at,omitzero"`
	CreateIndex  uint64    `json:"create_index"`
	ModifyIndex  uint64    `json:"modify_index"`
}

// Drain is a node's drain in progress.
type Drain struct {
	StartedAt time.Time `json:"started_at,omitzero"`
	// Deadline, if set, is when remaining allocations are stopped outright.
	Deadline time.Time `json:"deadline,omitzero"`
}

// Allocation desired and client statuses.
const (
	DesiredRun  = "run"
	DesiredStop = "stop"

	AllocPending  = "pending"
	AllocRunning  = "running"
	AllocComplete = "complete"
	AllocFailed   = "failed"
	AllocLost     = "lost"
)

// Terminal reports whether a client status is final.
func Terminal(clientStatus string) bool {
	switch clientStatus {
	case AllocComplete, AllocFailed, AllocLost:
		return true
	}
	return false
}

// Allocation is one instance of a job placed on one node.
type Allocation struct {
	ID         string `json:"id"`
	Job        string `json:"job"`
	JobVersion uint64 `json:"job_version"`
	// Index is the instance's name index: job[3].
	Index  int    `json:"index"`
	NodeID string `json:"node_id"`
	EvalID string `json:"eval_id"`
	// CPU and Memory are what the allocation reserves on its node.
	CPU           int64                 `json:"cpu"`
	Memory        int64                 `json:"memory"`
	DesiredStatus string                `json:"desired_status"`
	DesiredReason string                `json:"desired_reason,omitempty"`
	ClientStatus  string                `json:"client_status"`
	ClientReason  string                `json:"client_reason,omitempty"`
	Tasks         map[string]*TaskState `json:"tasks,omitempty"`
	PreviousAlloc string                `json:"previous_alloc,omitempty"`
	// Dispatch is the message a dispatch job's allocation processes.
	Dispatch *Dispatch `json:"dispatch,omitempty"`
	// Failures counts consecutive failures of this name index, for backoff.
	Failures    int       `json:"failures,omitempty"`
	FailedAt    time.Time `json:"failed_at,omitzero"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	ModifiedAt  time.Time `json:"modified_at,omitzero"`
	CreateIndex uint64    `json:"create_index"`
	ModifyIndex uint64    `json:"modify_index"`
}

// Live reports whether the allocation holds its node's resources: it should
// run and has not finished.
func (a *Allocation) Live() bool {
	return a.DesiredStatus == DesiredRun && !Terminal(a.ClientStatus)
}

// Holds reports whether the allocation still occupies resources on its
// node: it has not finished, whatever is desired of it.
func (a *Allocation) Holds() bool { return !Terminal(a.ClientStatus) }

// TaskState is what an agent reports of one task of an allocation.
type TaskState struct {
	State      string    `json:"state"` // pending, running, dead
	ExitCode   int       `json:"exit_code"`
	Reason     string    `json:"reason,omitempty"`
	Failed     bool      `json:"failed"`
	Restarts   int       `json:"restarts"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Evaluation statuses.
const (
	EvalPending  = "pending"
	EvalComplete = "complete"
	EvalBlocked  = "blocked"
	EvalFailed   = "failed"
	EvalCanceled = "canceled"
)

// Evaluation is one run of the scheduler for one job.
type Evaluation struct {
	ID          string `json:"id"`
	Job         string `json:"job"`
	TriggeredBy string `json:"triggered_by"`
	NodeID      string `json:"node_id,omitempty"`
	Status      string `json:"status"`
	// Description says why it ended as it did; BlockedReason why
	// placements could not be made.
	Description   string    `json:"description,omitempty"`
	BlockedReason string    `json:"blocked_reason,omitempty"`
	WaitUntil     time.Time `json:"wait_until,omitzero"`
	Placed        int       `json:"placed"`
	Failed        int       `json:"failed"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
	CreateIndex   uint64    `json:"create_index"`
	ModifyIndex   uint64    `json:"modify_index"`
}

// Dispatch is the queue message a dispatch allocation was created for.
type Dispatch struct {
	Queue        string `json:"queue"`
	MessageID    string `json:"message_id"`
	Receipt      string `json:"receipt"`
	ReceiveCount int    `json:"receive_count"`
	// SentAt is when the message was sent, for the message-to-start
	// latency.
	SentAt time.Time `json:"sent_at,omitzero"`
	// Settled is set once the message was dealt with after the allocation
	// ended: deleted, made visible again for a retry, or dead-lettered.
	Settled bool `json:"settled,omitempty"`
}
