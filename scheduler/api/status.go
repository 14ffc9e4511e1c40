package api

// The statuses the API carries. The server's records declare them
// (scheduler/state); they are repeated here because this package is the
// wire contract the Go client, the CLI and the agent build on, and must
// not depend on the server's store. A test pins every one of them to the
// state's.

// Node statuses ([Node].Status).
const (
	NodeReady = "ready"
	NodeDown  = "down"
)

// Allocation desired statuses ([Allocation].DesiredStatus): the server's
// wish.
const (
	DesiredRun  = "run"
	DesiredStop = "stop"
)

// Allocation client statuses ([Allocation].ClientStatus): what the agent
// reports. Complete, failed and lost are terminal ([Terminal]).
const (
	AllocPending  = "pending"
	AllocRunning  = "running"
	AllocComplete = "complete"
	AllocFailed   = "failed"
	AllocLost     = "lost"
)

// Terminal reports whether a client status is final: the allocation has
// ended and will not run again.
func Terminal(clientStatus string) bool {
	switch clientStatus {
	case AllocComplete, AllocFailed, AllocLost:
		return true
	}
	return false
}

// Evaluation statuses ([Evaluation].Status).
const (
	EvalPending  = "pending"
	EvalComplete = "complete"
	EvalBlocked  = "blocked"
	EvalFailed   = "failed"
	EvalCanceled = "canceled"
)

// Task states ([TaskState].State), as the agent reports them. The agent is
// their source; the server stores and shows them without reading them.
const (
	TaskPending = "pending"
	TaskRunning = "running"
	// TaskRestarting is a task that exited and waits for its restart delay.
	TaskRestarting = "restarting"
	TaskDead       = "dead"
)
