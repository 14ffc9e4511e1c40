package reconcile

import (
	"testing"
	"time"
)

func TestComputeServiceScaling(t *testing.T) {
	runCases(t, []computeCase{
		{
			name:  "fresh service places indexes 0 to count-1",
			in:    input(service(3), at(0)),
			place: []Placement{newAt(0), newAt(1), newAt(2)},
		},
		{
			name: "steady state does nothing",
			in:   input(service(3), at(0), alloc("a0", 0), alloc("a1", 1), alloc("a2", 2, busy)),
		},
		{
			name:  "scale out places the lowest free indexes",
			in:    input(service(4), at(0), alloc("a0", 0), alloc("a1", 1)),
			place: []Placement{newAt(2), newAt(3)},
		},
		{
			name:  "scale out fills the gap an idle-first scale in left",
			in:    input(service(4), at(0), alloc("a0", 0), alloc("a2", 2), alloc("a5", 5)),
			place: []Placement{newAt(1)},
		},
		{
			name: "scale in stops the highest indexes",
			in:   input(service(2), at(0), alloc("a0", 0), alloc("a1", 1), alloc("a2", 2), alloc("a3", 3)),
			stop: []Stop{stop("a2", StopScaleIn), stop("a3", StopScaleIn)},
		},
		{
			name: "scale in stops idle allocations before busy ones",
			in: input(service(2), at(0),
				alloc("a0", 0, busy), alloc("a1", 1), alloc("a2", 2, busy), alloc("a3", 3, busy)),
			stop: []Stop{stop("a1", StopScaleIn), stop("a3", StopScaleIn)},
		},
		{
			name: "scale in to zero stops everything",
			in:   input(service(0), at(0), alloc("a0", 0, busy), alloc("a1", 1, status(ClientPending))),
			stop: []Stop{stop("a0", StopScaleIn), stop("a1", StopScaleIn)},
		},
		{
			name: "scale in drops a failed allocation before a live one",
			in: input(service(2), at(time.Second),
				alloc("a0", 0), alloc("a1", 1, failed(at(0), 1)), alloc("a2", 2)),
			stop: []Stop{stop("a1", StopScaleIn)},
		},
		{
			name: "scale in prefers allocations on draining nodes",
			in:   input(service(2), at(0), alloc("a0", 0, on(drainer)), alloc("a1", 1), alloc("a2", 2)),
			stop: []Stop{stop("a0", StopScaleIn)},
		},
		{
			name:  "allocations told to stop hold no index",
			in:    input(service(1), at(0), alloc("a0", 0, toStop)),
			place: []Placement{newAt(0)},
		},
		{
			name: "duplicate index stops the newer extra",
			in: input(service(2), at(0),
				alloc("a0", 0), alloc("a1", 1), alloc("a2", 1, status(ClientPending))),
			stop: []Stop{stop("a2", StopDuplicate)},
		},
		{
			name:  "duplicate index makes room for the missing one",
			in:    input(service(3), at(0), alloc("a0", 0), alloc("b1", 1), alloc("a1", 1)),
			place: []Placement{newAt(2)},
			stop:  []Stop{stop("b1", StopDuplicate)},
		},
		{
			name: "duplicate of a live allocation is not replaced when it fails",
			in: input(service(2), at(time.Hour),
				alloc("a0", 0), alloc("a1", 1), alloc("b1", 1, failed(at(0), 1))),
			stop: []Stop{stop("b1", StopDuplicate)},
		},
	})
}

func TestComputeServiceFailures(t *testing.T) {
	runCases(t, []computeCase{
		{
			name:     "failed allocation waits for its backoff",
			in:       input(service(2), at(3*time.Second), alloc("a0", 0), alloc("a1", 1, failed(at(0), 1))),
			followUp: at(5 * time.Second),
		},
		{
			name:  "failed allocation is replaced when its backoff expires",
			in:    input(service(2), at(5*time.Second), alloc("a0", 0), alloc("a1", 1, failed(at(0), 1))),
			place: []Placement{replace(1, "a1", 2, PlaceReplaceFailed)},
			stop:  []Stop{stop("a1", StopReplaced)},
		},
		{
			name:  "failure count below one counts as the first failure",
			in:    input(service(1), at(5*time.Second), alloc("a0", 0, failed(at(0), 0))),
			place: []Placement{replace(0, "a0", 2, PlaceReplaceFailed)},
			stop:  []Stop{stop("a0", StopReplaced)},
		},
		{
			name:     "backoff doubles per consecutive failure",
			in:       input(service(1), at(19*time.Second), alloc("a0", 0, failed(at(0), 3))),
			followUp: at(20 * time.Second),
		},
		{
			name:  "doubled backoff expires",
			in:    input(service(1), at(20*time.Second), alloc("a0", 0, failed(at(0), 3))),
			place: []Placement{replace(0, "a0", 4, PlaceReplaceFailed)},
			stop:  []Stop{stop("a0", StopReplaced)},
		},
		{
			name:     "backoff is capped at the maximum delay",
			in:       input(service(1), at(time.Minute), alloc("a0", 0, failed(at(0), 30))),
			followUp: at(DefaultMaxDelay),
		},
		{
			name:     "job backoff overrides the default",
			in:       input(restart(service(1), Backoff{Delay: time.Second, MaxDelay: 3 * time.Second}), at(0), alloc("a0", 0, failed(at(0), 5))),
			followUp: at(3 * time.Second),
		},
		{
			name: "earliest backoff sets the follow-up",
			in: input(service(3), at(time.Second),
				alloc("a0", 0), alloc("a1", 1, failed(at(0), 2)), alloc("a2", 2, failed(at(2*time.Second), 1))),
			followUp: at(7 * time.Second),
		},
		{
			name:  "failed allocation of an older version is replaced at once with a fresh count",
			in:    input(version(service(2), 2), at(0), alloc("a0", 0, ver(2)), alloc("a1", 1, failed(at(0), 4))),
			place: []Placement{replace(1, "a1", 0, PlaceReplaceFailed)},
			stop:  []Stop{stop("a1", StopReplaced)},
		},
		{
			name:  "allocation on a down node is lost and replaced at once",
			in:    input(service(2), at(0), alloc("a0", 0), alloc("a1", 1, on(downNode), fails(2))),
			place: []Placement{replace(1, "a1", 2, PlaceReplaceLost)},
			stop:  []Stop{lost("a1")},
		},
		{
			name:  "allocation on an unknown node is lost",
			in:    input(service(1), at(0), alloc("a0", 0, on("gone"))),
			place: []Placement{replace(0, "a0", 0, PlaceReplaceLost)},
			stop:  []Stop{lost("a0")},
		},
		{
			name:  "allocation reported lost is replaced",
			in:    input(service(1), at(0), alloc("a0", 0, status(ClientLost))),
			place: []Placement{replace(0, "a0", 0, PlaceReplaceLost)},
			stop:  []Stop{lost("a0")},
		},
		{
			name: "lost allocation beyond count is not replaced",
			in:   input(service(2), at(0), alloc("a0", 0), alloc("a1", 1), alloc("a2", 2, on(downNode))),
			stop: []Stop{lost("a2")},
		},
		{
			name: "lost duplicate is recorded lost but not replaced",
			in:   input(service(1), at(0), alloc("a0", 0), alloc("b0", 0, on(downNode))),
			stop: []Stop{lost("b0")},
		},
		{
			name:  "completed service allocation is started again",
			in:    input(service(1), at(0), alloc("a0", 0, status(ClientComplete), fails(3))),
			place: []Placement{replace(0, "a0", 0, PlaceReplaceComplete)},
			stop:  []Stop{stop("a0", StopReplaced)},
		},
		{
			name:  "replacement of an out-of-range allocation takes the lowest free index",
			in:    input(service(2), at(time.Hour), alloc("a0", 0), alloc("a3", 3, failed(at(0), 1))),
			place: []Placement{replace(1, "a3", 2, PlaceReplaceFailed)},
			stop:  []Stop{stop("a3", StopReplaced)},
		},
	})
}

func TestComputeServiceDisruptions(t *testing.T) {
	v1 := func(n int) []Alloc {
		var as []Alloc
		for i := range n {
			as = append(as, alloc("a"+string(rune('0'+i)), i))
		}
		return as
	}
	runCases(t, []computeCase{
		{
			name:  "rolling update replaces one allocation at a time",
			in:    input(version(service(3), 2), at(0), v1(3)...),
			place: []Placement{replace(0, "a0", 0, PlaceUpdate)},
			stop:  []Stop{stop("a0", StopUpdate)},
		},
		{
			name:  "rolling update replaces max_parallel allocations at a time",
			in:    input(parallel(version(service(3), 2), 2), at(0), v1(3)...),
			place: []Placement{replace(0, "a0", 0, PlaceUpdate), replace(1, "a1", 0, PlaceUpdate)},
			stop:  []Stop{stop("a0", StopUpdate), stop("a1", StopUpdate)},
		},
		{
			name:  "max_parallel below one is read as one",
			in:    input(parallel(version(service(2), 2), 0), at(0), v1(2)...),
			place: []Placement{replace(0, "a0", 0, PlaceUpdate)},
			stop:  []Stop{stop("a0", StopUpdate)},
		},
		{
			name:  "rolling update carries the failure count",
			in:    input(version(service(1), 2), at(0), alloc("a0", 0, fails(2))),
			place: []Placement{replace(0, "a0", 2, PlaceUpdate)},
			stop:  []Stop{stop("a0", StopUpdate)},
		},
		{
			name: "rolling update waits while a new allocation is pending",
			in: input(version(service(3), 2), at(0),
				alloc("a0", 0, ver(2), status(ClientPending)), alloc("a1", 1), alloc("a2", 2)),
		},
		{
			name: "rolling update halts while a new allocation is failing",
			in: input(version(service(3), 2), at(0),
				alloc("a0", 0, ver(2), failed(at(0), 1)), alloc("a1", 1), alloc("a2", 2)),
			followUp: at(5 * time.Second),
		},
		{
			name: "rolling update replaces idle allocations first",
			in: input(version(service(3), 2), at(0),
				alloc("a0", 0, busy), alloc("a1", 1), alloc("a2", 2, busy)),
			place: []Placement{replace(1, "a1", 0, PlaceUpdate)},
			stop:  []Stop{stop("a1", StopUpdate)},
		},
		{
			name:  "rolling update waits for a scale out to run",
			in:    input(version(service(4), 2), at(0), v1(3)...),
			place: []Placement{newAt(3)},
		},
		{
			name: "drain migrates max_parallel allocations at a time",
			in: input(service(3), at(0),
				alloc("a0", 0, on(drainer), fails(1)), alloc("a1", 1, on(drainer)), alloc("a2", 2, on(drainer))),
			place: []Placement{replace(0, "a0", 1, PlaceMigrate)},
			stop:  []Stop{stop("a0", StopDraining)},
		},
		{
			name: "drain waits while a migrated allocation is pending",
			in: input(service(3), at(0),
				alloc("a0", 0, status(ClientPending)), alloc("a1", 1, on(drainer)), alloc("a2", 2, on(drainer))),
		},
		{
			name: "drain and update share max_parallel, draining first",
			in: input(parallel(version(service(3), 2), 2), at(0),
				alloc("a0", 0), alloc("a1", 1, ver(2), on(drainer)), alloc("a2", 2)),
			place: []Placement{replace(0, "a0", 0, PlaceUpdate), replace(1, "a1", 0, PlaceMigrate)},
			stop:  []Stop{stop("a0", StopUpdate), stop("a1", StopDraining)},
		},
		{
			name:  "outdated allocation on a draining node is migrated once",
			in:    input(version(service(1), 2), at(0), alloc("a0", 0, on(drainer))),
			place: []Placement{replace(0, "a0", 0, PlaceMigrate)},
			stop:  []Stop{stop("a0", StopDraining)},
		},
		{
			name:  "rolling update waits while a lost allocation is replaced",
			in:    input(version(service(2), 2), at(0), alloc("a0", 0), alloc("a1", 1, on(downNode))),
			place: []Placement{replace(1, "a1", 0, PlaceReplaceLost)},
			stop:  []Stop{lost("a1")},
		},
	})
}
