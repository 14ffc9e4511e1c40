package reconcile

import "time"

// Reasons of a [Placement].
const (
	PlaceNew             = "new"
	PlaceReplaceFailed   = "replace failed"
	PlaceReplaceLost     = "replace lost"
	PlaceReplaceComplete = "replace complete"
	PlaceMigrate         = "migrate"
	PlaceUpdate          = "update"
	PlaceBatchRetry      = "batch retry"
)

// Reasons of a [Stop].
const (
	StopScaleIn    = "scale in"
	StopJobStopped = "job stopped"
	StopUpdate     = "update"
	StopDraining   = "node draining"
	StopLost       = "lost"
	StopDuplicate  = "duplicate index"
	// StopReplaced records that a failed or completed allocation has been
	// replaced; the allocation has already ended, so only its desired status
	// changes.
	StopReplaced = "replaced"
)

// Result is what the scheduler commits for one evaluation of a job: the
// stops and placements as one state command, then a delayed evaluation at
// FollowUpAt if it is set. A placement and the stop of its PreviousAlloc go
// together; see the package documentation.
type Result struct {
	// Place lists the allocations to create, sorted by index then previous
	// allocation. Placement picks their nodes.
	Place []Placement
	// Stop lists the allocations whose desired status becomes stop, sorted
	// by index then ID.
	Stop []Stop
	// FollowUpAt is zero, or when Compute must run again because a backoff
	// expires; the scheduler creates a delayed evaluation for it.
	FollowUpAt time.Time
	// Desired summarises the job for status output.
	Desired Counts
}

// Placement is one allocation to create, with the current job version.
type Placement struct {
	Index int
	// PreviousAlloc is the allocation this one replaces, or "" for a new one.
	PreviousAlloc string
	// Failures is the count the new allocation stores as [Alloc.Failures]:
	// zero for a fresh allocation, one more than the failed allocation's
	// count for a failure replacement, and the previous count for a
	// migration, an update or a lost replacement.
	Failures int
	// Reason is one of the Place* constants.
	Reason string
}

// Stop is one allocation to stop.
type Stop struct {
	AllocID string
	// Reason is one of the Stop* constants.
	Reason string
	// ClientStatus is [ClientLost] for an allocation on a down node, which
	// the scheduler records as lost because no agent will report on it, and
	// "" otherwise.
	ClientStatus string
}

// Counts summarise a job after the result is applied.
type Counts struct {
	// Running and Pending count the live allocations the result keeps.
	Running int
	Pending int
	// Complete counts a batch job's indexes below Count that are done.
	Complete int
	// Delayed counts failed allocations waiting for their backoff.
	Delayed int
	// Outdated counts kept live service allocations of an older version
	// that a rolling update has yet to replace.
	Outdated int
	// Migrating counts kept live allocations on draining nodes that have
	// yet to move.
	Migrating int
	// Lost counts the allocations this result marks lost.
	Lost int
	// Place and Stop count the result's placements and stops.
	Place int
	Stop  int
}
