package api

import "time"

// Allocation is one instance of a job placed on one node.
type Allocation struct {
	ID            string                `json:"id"`
	Job           string                `json:"job"`
	JobVersion    uint64                `json:"job_version"`
	Index         int                   `json:"index"`
	NodeID        string                `json:"node_id"`
	EvalID        string                `json:"eval_id"`
	CPU           int64                 `json:"cpu"`
	Memory        int64                 `json:"memory"`
	DesiredStatus string                `json:"desired_status"`
	DesiredReason string                `json:"desired_reason,omitempty"`
	ClientStatus  string                `json:"client_status"`
	ClientReason  string                `json:"client_reason,omitempty"`
	Tasks         map[string]*TaskState `json:"tasks,omitempty"`
	PreviousAlloc string                `json:"previous_alloc,omitempty"`
	Dispatch      *Dispatch             `json:"dispatch,omitempty"`
	Failures      int                   `json:"failures,omitempty"`
	FailedAt      time.Time             `json:"failed_at,omitempty"`
	CreatedAt     time.Time             `json:"created_at"`
	ModifiedAt    time.Time             `json:"modified_at"`
	CreateIndex   uint64                `json:"create_index"`
	ModifyIndex   uint64                `json:"modify_index"`
}

// TaskState is what an agent reports of one task.
type TaskState struct {
	State      string    `json:"state"`
	ExitCode   int       `json:"exit_code"`
	Reason     string    `json:"reason,omitempty"`
	Failed     bool      `json:"failed"`
	Restarts   int       `json:"restarts"`
	StartedAt  time.Time `json:"started_at,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitempty"`
}

// AllocList is the answer to GET /v1/allocations.
type AllocList struct {
	Allocations []Allocation `json:"allocations"`
}

// NodeAllocations is the answer to the agents' blocking query
// GET /v1/nodes/{id}/allocations: every allocation on the node with the
// job definition each runs.
type NodeAllocations struct {
	Allocations []NodeAllocation `json:"allocations"`
	Index       uint64           `json:"index"`
}

// NodeAllocation is an allocation with what the agent needs to run it.
type NodeAllocation struct {
	Allocation
	// Job is the job version the allocation runs (sent as job_definition:
	// the allocation's own "job" is its name).
	Job *Job `json:"job_definition,omitempty"`
	// Message is the queue message a dispatch allocation processes, with
	// its body, while the allocation runs.
	Message *DispatchMessage `json:"message,omitempty"`
	// QueueToken identifies a queue worker on the queue API (DOCKET_TOKEN).
	QueueToken string `json:"queue_token,omitempty"`
	// SQS is the access key a queue worker uses on the SQS-compatible
	// endpoint (AWS_ACCESS_KEY_ID and friends), scoped to its job's queue.
	SQS *SQSCredentials `json:"sqs,omitempty"`
	// Function is set for an execution environment of a function.
	Function *FunctionEnv `json:"function,omitempty"`
}

// SQSCredentials are what an AWS SDK in a task needs to reach its queue.
type SQSCredentials struct {
	Region          string `json:"region"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// Dispatch is the queue message a dispatch allocation was created for.
type Dispatch struct {
	Queue        string `json:"queue"`
	MessageID    string `json:"message_id"`
	Receipt      string `json:"receipt"`
	ReceiveCount int    `json:"receive_count"`
	Settled      bool   `json:"settled,omitempty"`
}

// DispatchMessage is a dispatch allocation's message as its task gets it.
type DispatchMessage struct {
	ID           string            `json:"id"`
	Queue        string            `json:"queue"`
	ReceiveCount int               `json:"receive_count"`
	Body         string            `json:"body"`
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// AllocStatusRequest is the body of PUT /v1/allocations/{id}/status.
type AllocStatusRequest struct {
	ClientStatus string                `json:"client_status"`
	ClientReason string                `json:"client_reason,omitempty"`
	Tasks        map[string]*TaskState `json:"tasks,omitempty"`
	// Node is the reporting agent's node. When it is the allocation's, the
	// report is the node's own and its agent is not woken by it; a report
	// from anyone else is news to the agent.
	Node string `json:"node,omitempty"`
}
