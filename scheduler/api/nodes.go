package api

import "time"

// Node is a host running the agent.
type Node struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Class        string            `json:"class,omitempty"`
	OS           string            `json:"os"`
	Arch         string            `json:"arch"`
	Kernel       string            `json:"kernel,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
	Address      string            `json:"address,omitempty"`
	CPU          int64             `json:"cpu"`
	Memory       int64             `json:"memory"`
	Status       string            `json:"status"`
	Eligible     bool              `json:"eligible"`
	Drain        *Drain            `json:"drain,omitempty"`
	Healthy      bool              `json:"healthy"`
	HealthReason string            `json:"health_reason,omitempty"`
	TTL          time.Duration     `json:"ttl"`
	StatusAt     time.Time         `json:"status_at"`
	RegisteredAt time.Time         `json:"registered_at"`
	CreateIndex  uint64            `json:"create_index"`
	ModifyIndex  uint64            `json:"modify_index"`
}

// Drain is a node's drain in progress.
type Drain struct {
	StartedAt time.Time `json:"started_at"`
	Deadline  time.Time `json:"deadline,omitempty"`
}

// NodeStatus is a node with what its allocations reserve and, from its
// latest heartbeat, what is measured in use.
type NodeStatus struct {
	Node
	UsedCPU     int64      `json:"used_cpu"`
	UsedMemory  int64      `json:"used_memory"`
	Allocations int        `json:"allocations"`
	Measured    *NodeUsage `json:"measured,omitempty"`
}

// NodeList is the answer to GET /v1/nodes.
type NodeList struct {
	Nodes []NodeStatus `json:"nodes"`
}

// RegisterNodeRequest is the body of POST /v1/nodes: what an agent knows of
// its host. ID is the agent's own stable id.
type RegisterNodeRequest struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Class   string            `json:"class,omitempty"`
	OS      string            `json:"os"`
	Arch    string            `json:"arch"`
	Kernel  string            `json:"kernel,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Address string            `json:"address,omitempty"`
	CPU     int64             `json:"cpu"`
	Memory  int64             `json:"memory"`
}

// RegisterNodeResponse tells the agent how often to heartbeat.
type RegisterNodeResponse struct {
	Node              Node          `json:"node"`
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	// NodeSecret is the secret the server issued the node, when it issued
	// one (a new node): the agent keeps it and presents it on every call
	// for the node (NodeSecretHeader). Only this answer carries it.
	NodeSecret string `json:"node_secret,omitempty"`
}

// HeartbeatRequest is the body of PUT /v1/nodes/{id}/heartbeat.
type HeartbeatRequest struct {
	Healthy      bool   `json:"healthy"`
	HealthReason string `json:"health_reason,omitempty"`
	// Usage is the node's measured resource use, for operators.
	UsedCPU    int64 `json:"used_cpu,omitempty"`
	UsedMemory int64 `json:"used_memory,omitempty"`
	// Tasks is the measured use of each running task.
	Tasks []TaskUsage `json:"tasks,omitempty"`
}

// TaskUsage is what one running task uses, as its agent measured it.
type TaskUsage struct {
	AllocID     string  `json:"alloc_id"`
	Task        string  `json:"task"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	MemoryBytes uint64  `json:"memory_bytes"`
}

// NodeUsage is a node's measured use from its latest heartbeat.
type NodeUsage struct {
	At     time.Time   `json:"at"`
	CPU    int64       `json:"cpu"`    // millicores in use on the host
	Memory int64       `json:"memory"` // MiB in use on the host
	Tasks  []TaskUsage `json:"tasks,omitempty"`
}

// HeartbeatResponse tells the agent when to heartbeat next.
type HeartbeatResponse struct {
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	// Reregister asks the agent to register again (the server lost it).
	Reregister bool `json:"reregister,omitempty"`
}

// DrainRequest is the body of POST /v1/nodes/{id}/drain.
type DrainRequest struct {
	Enable bool `json:"enable"`
	// Deadline is how long allocations may take to migrate before they are
	// stopped outright; 0 waits for them.
	Deadline string `json:"deadline,omitempty"`
	// MarkEligible, when a drain is disabled, makes the node eligible again.
	MarkEligible bool `json:"mark_eligible,omitempty"`
}

// EligibilityRequest is the body of POST /v1/nodes/{id}/eligibility.
type EligibilityRequest struct {
	Eligible bool `json:"eligible"`
}

// LogRequest is a client's request for a task's logs, which the server
// hands to the agent of the allocation's node on the agent's own channel
// (GET /v1/nodes/{id}/log-requests); the agent answers it with the logs
// (POST /v1/nodes/{id}/log-requests/{request}). The server never
// connects to an agent.
type LogRequest struct {
	ID    string `json:"id"`
	Alloc string `json:"alloc"`
	// Query is the client's query: task, stream, tail, follow.
	Query string `json:"query,omitempty"`
}

// LogRequests is the answer of GET /v1/nodes/{id}/log-requests: the
// requests waiting for the node, none when the wait ran out.
type LogRequests struct {
	Requests []LogRequest `json:"requests"`
}

// LogStatusHeader carries the status of an agent's answer to a log
// request (the status its client gets); the body is the client's body.
const LogStatusHeader = "X-Docket-Log-Status"
