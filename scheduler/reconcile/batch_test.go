package reconcile

import (
	"testing"
	"time"
)

func TestComputeBatch(t *testing.T) {
	runCases(t, []computeCase{
		{
			name:  "fresh batch job places every index",
			in:    input(batch(3), at(0)),
			place: []Placement{newAt(0), newAt(1), newAt(2)},
		},
		{
			name: "completed indexes are never run again",
			in: input(batch(3), at(0),
				alloc("a0", 0, status(ClientComplete)), alloc("a1", 1), alloc("a2", 2, status(ClientComplete))),
		},
		{
			name: "finished batch job does nothing",
			in: input(batch(2), at(0),
				alloc("a0", 0, status(ClientComplete)), alloc("a1", 1, status(ClientComplete))),
		},
		{
			name:     "batch failure waits for its backoff",
			in:       input(batch(2), at(time.Second), alloc("a0", 0, status(ClientComplete)), alloc("a1", 1, failed(at(0), 1))),
			followUp: at(5 * time.Second),
		},
		{
			name:  "batch failure is retried when its backoff expires",
			in:    input(batch(2), at(5*time.Second), alloc("a0", 0, status(ClientComplete)), alloc("a1", 1, failed(at(0), 1))),
			place: []Placement{replace(1, "a1", 2, PlaceBatchRetry)},
			stop:  []Stop{stop("a1", StopReplaced)},
		},
		{
			name:     "batch retry backoff doubles",
			in:       input(batch(1), at(5*time.Second), alloc("a0", 0, failed(at(0), 2))),
			followUp: at(10 * time.Second),
		},
		{
			name:  "lost batch allocation is replaced at once",
			in:    input(batch(2), at(0), alloc("a0", 0), alloc("a1", 1, on(downNode), fails(1))),
			place: []Placement{replace(1, "a1", 1, PlaceReplaceLost)},
			stop:  []Stop{lost("a1")},
		},
		{
			name: "completed allocation on a down node stays done",
			in:   input(batch(1), at(0), alloc("a0", 0, status(ClientComplete), on(downNode))),
		},
		{
			name: "new version runs only the indexes not yet complete",
			in: input(version(batch(3), 2), at(0),
				alloc("a0", 0, status(ClientComplete)),
				alloc("a1", 1, failed(at(0), 3)),
				alloc("a2", 2),
			),
			place: []Placement{replace(1, "a1", 0, PlaceBatchRetry)},
			stop:  []Stop{stop("a1", StopReplaced)},
		},
		{
			name: "batch never runs more than count",
			in:   input(batch(2), at(0), alloc("a0", 0), alloc("a1", 1, busy), alloc("a2", 2, status(ClientPending))),
			stop: []Stop{stop("a2", StopScaleIn)},
		},
		{
			name: "lowering count leaves completed indexes alone",
			in:   input(batch(1), at(0), alloc("a0", 0), alloc("a1", 1, status(ClientComplete))),
		},
		{
			name: "allocation of a completed index is a duplicate",
			in:   input(batch(1), at(0), alloc("a0", 0, status(ClientComplete)), alloc("b0", 0)),
			stop: []Stop{stop("b0", StopDuplicate)},
		},
		{
			name:  "duplicate batch index keeps the running allocation",
			in:    input(batch(2), at(0), alloc("b0", 0, status(ClientPending)), alloc("a0", 0)),
			place: []Placement{newAt(1)},
			stop:  []Stop{stop("b0", StopDuplicate)},
		},
		{
			name:  "completion told to stop does not count",
			in:    input(batch(1), at(0), alloc("a0", 0, status(ClientComplete), toStop)),
			place: []Placement{newAt(0)},
		},
		{
			name:  "batch drain migrates max_parallel allocations at a time",
			in:    input(batch(2), at(0), alloc("a0", 0, on(drainer)), alloc("a1", 1, on(drainer))),
			place: []Placement{replace(0, "a0", 0, PlaceMigrate)},
			stop:  []Stop{stop("a0", StopDraining)},
		},
		{
			name:  "batch drain waits for placements to run",
			in:    input(batch(2), at(0), alloc("a0", 0, on(drainer))),
			place: []Placement{newAt(1)},
		},
	})
}
