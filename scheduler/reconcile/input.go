package reconcile

import "time"

// Allocation desired statuses. Only an allocation whose desired status is
// [DesiredStop] is left out of reconciliation; any other value is read as
// [DesiredRun]. They and the client and node statuses below are the state
// records' (scheduler/state), repeated so that this pure core does not
// import the store; a test pins them equal.
const (
	DesiredRun  = "run"
	DesiredStop = "stop"
)

// Allocation client statuses, as the agent reports them. Complete, failed
// and lost are terminal. An unknown status is read as pending: the
// allocation is live but not known to run.
const (
	ClientPending  = "pending"
	ClientRunning  = "running"
	ClientComplete = "complete"
	ClientFailed   = "failed"
	ClientLost     = "lost"
)

// Node statuses. A status other than down or draining is read as ready.
const (
	NodeReady    = "ready"
	NodeDown     = "down"
	NodeDraining = "draining"
)

// The replacement backoff used when [Job.Restart] leaves a field zero.
const (
	DefaultDelay    = 5 * time.Second
	DefaultMaxDelay = 5 * time.Minute
)

// Input is the snapshot [Compute] reconciles: one job, every allocation the
// state store holds for it, the nodes those allocations are on, and the
// time, which is passed in so that the result depends on nothing else.
type Input struct {
	Job    Job
	Allocs []Alloc
	// Nodes holds at least the nodes of the allocations. An allocation whose
	// node is missing is treated as being on a down node, so allocations of
	// a node that was removed are replaced rather than forgotten.
	Nodes map[string]Node
	Now   time.Time
}

// Job is the desired state of one job, reduced to what reconciliation needs.
type Job struct {
	Name string
	// Type is a job type; Compute reconciles the job as its kind's Plan
	// says ([specs.KindOf]). For a type of no known plan Compute places
	// nothing and only handles lost allocations and a stopped job.
	Type string
	// Version is bumped whenever the job's definition changes; allocations
	// of a lower version are out of date.
	Version uint64
	// Count is the number of allocations wanted: a service's count or the
	// autoscaler's desired count, or a batch job's count.
	Count int
	// MaxParallel is update.max_parallel: how many allocations a rolling
	// update or a drain may stop at a time. Values below 1 are read as 1.
	MaxParallel int
	// Stopped means the job was stopped: every allocation stops.
	Stopped bool
	// Restart is the backoff before a failed allocation is replaced.
	Restart Backoff
}

// Backoff is an exponential delay: Delay for the first failure, doubling per
// consecutive failure up to MaxDelay. A zero field takes [DefaultDelay] or
// [DefaultMaxDelay].
type Backoff struct {
	Delay, MaxDelay time.Duration
}

// Alloc is one allocation of the job, as the state store records it.
type Alloc struct {
	ID string
	// Index is the name index: 3 for job[3].
	Index      int
	NodeID     string
	JobVersion uint64
	// DesiredStatus is [DesiredRun] or [DesiredStop].
	DesiredStatus string
	// ClientStatus is [ClientPending], [ClientRunning], [ClientComplete],
	// [ClientFailed] or [ClientLost].
	ClientStatus string
	// FailedAt is when the allocation failed or was lost; the backoff of its
	// replacement counts from it. A zero FailedAt means long ago.
	FailedAt time.Time
	// Failures is the consecutive failures of this name index up to and
	// including this allocation, as carried by [Placement.Failures]. A failed
	// allocation with a count below 1 counts as one failure.
	Failures int
	// Busy means the allocation holds in-flight queue messages, so stopping
	// it would interrupt work: scaling in stops idle allocations first.
	Busy bool
}

// Node is the status of a node that allocations are on.
type Node struct {
	ID string
	// Status is [NodeReady], [NodeDown] or [NodeDraining]. A down node's
	// allocations are lost; a draining node's allocations are migrated.
	Status string
}
