package api

import (
	"time"

	"github.com/docketd/docket/specs"
)

// Job is a registered job as GET /v1/jobs/{name} shows it.
type Job struct {
	Name        string     `json:"name"`
	Version     uint64     `json:"version"`
	Spec        *specs.Job `json:"spec"`
	Stopped     bool       `json:"stopped"`
	Count       int        `json:"count"`
	SubmittedAt time.Time  `json:"submitted_at"`
	CreateIndex uint64     `json:"create_index"`
	ModifyIndex uint64     `json:"modify_index"`
}

// JobStatus is a job with its allocation counts and latest evaluation.
type JobStatus struct {
	Job
	// Allocations counts the job's allocations by client status.
	Allocations map[string]int `json:"allocations"`
	// Running is the number of allocations running now.
	Running    int         `json:"running"`
	LatestEval *Evaluation `json:"latest_evaluation,omitempty"`
}

// JobList is the answer to GET /v1/jobs.
type JobList struct {
	Jobs []JobStatus `json:"jobs"`
}

// RegisteredJob is one job of a registration's answer.
type RegisteredJob struct {
	Name       string `json:"name"`
	Version    uint64 `json:"version"`
	Changed    bool   `json:"changed"`
	Evaluation string `json:"evaluation,omitempty"`
}

// RegisterResponse is the answer to POST /v1/jobs.
type RegisterResponse struct {
	Jobs   []RegisteredJob   `json:"jobs"`
	Queues []QueueCreated    `json:"queues"`
	Topics []TopicRegistered `json:"topics,omitempty"`
	Index  uint64            `json:"index"`
}

// TopicRegistered is a job file's topic as registering left it.
type TopicRegistered struct {
	Name          string `json:"name"`
	Created       bool   `json:"created"`
	Subscriptions int    `json:"subscriptions"` // the file's
}

// PlanResponse is the answer to POST /v1/jobs?plan=true: what would change
// and where allocations would go, with nothing changed.
type PlanResponse struct {
	Jobs   []JobPlan     `json:"jobs"`
	Queues []QueueChange `json:"queues"`
	Topics []TopicChange `json:"topics,omitempty"`
}

// TopicChange is what registering would do to one topic of a job file:
// create it, update its subscriptions, or none.
type TopicChange struct {
	Name   string `json:"name"`
	Change string `json:"change"` // create, update, none
	// Subscriptions lists the subscriptions made ("+ queue billing") and
	// changed ("~ queue audit") of the file's; others the topic has stay.
	Subscriptions []string `json:"subscriptions,omitempty"`
}

// QueueChange is what registering would do to one queue.
type QueueChange struct {
	Name   string `json:"name"`
	Change string `json:"change"` // create, none, conflict
	Detail string `json:"detail,omitempty"`
}

// JobPlan is what registering would do to one job.
type JobPlan struct {
	Name    string `json:"name"`
	Change  string `json:"change"` // create, update, none
	Version uint64 `json:"version"`
	// Diff lists the changed fields, "path: old -> new".
	Diff    []string       `json:"diff,omitempty"`
	Place   []PlannedAlloc `json:"place,omitempty"`
	Stop    []PlannedStop  `json:"stop,omitempty"`
	Failed  int            `json:"failed"`
	Blocked string         `json:"blocked_reason,omitempty"`
}

// PlannedAlloc is one allocation a plan would place.
type PlannedAlloc struct {
	Index  int    `json:"index"`
	NodeID string `json:"node_id"`
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// PlannedStop is one allocation a plan would stop.
type PlannedStop struct {
	AllocID string `json:"alloc_id"`
	Reason  string `json:"reason"`
}

// ScaleRequest is the body of POST /v1/jobs/{name}/scale.
type ScaleRequest struct {
	Count int `json:"count"`
}

// JobChangeResponse answers a stop or a scale.
type JobChangeResponse struct {
	Evaluation string `json:"evaluation,omitempty"`
	Index      uint64 `json:"index"`
}

// Evaluation is one run of the scheduler for one job.
type Evaluation struct {
	ID            string    `json:"id"`
	Job           string    `json:"job"`
	TriggeredBy   string    `json:"triggered_by"`
	NodeID        string    `json:"node_id,omitempty"`
	Status        string    `json:"status"`
	Description   string    `json:"description,omitempty"`
	BlockedReason string    `json:"blocked_reason,omitempty"`
	WaitUntil     time.Time `json:"wait_until,omitempty"`
	Placed        int       `json:"placed"`
	Failed        int       `json:"failed"`
	CreatedAt     time.Time `json:"created_at"`
	CreateIndex   uint64    `json:"create_index"`
	ModifyIndex   uint64    `json:"modify_index"`
}
