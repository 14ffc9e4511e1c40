package reconcile

import (
	"slices"
	"testing"
	"time"
)

// computeCase is one row of the table tests: an input and the decisions
// Compute must make for it.
type computeCase struct {
	name     string
	in       Input
	place    []Placement
	stop     []Stop
	followUp time.Time
}

func runCases(t *testing.T, cases []computeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Compute(tc.in)
			want := Result{Place: tc.place, Stop: tc.stop, FollowUpAt: tc.followUp}
			if !slices.Equal(got.Place, want.Place) || !slices.Equal(got.Stop, want.Stop) || !got.FollowUpAt.Equal(want.FollowUpAt) {
				t.Errorf("got:%s\nwant:%s", describe(got), describe(want))
			}
			// Compute must not depend on the order of its input.
			rev := tc.in
			rev.Allocs = slices.Clone(tc.in.Allocs)
			slices.Reverse(rev.Allocs)
			if again := Compute(rev); !slices.Equal(again.Place, got.Place) || !slices.Equal(again.Stop, got.Stop) {
				t.Errorf("with allocations reversed got:%s\nwant:%s", describe(again), describe(got))
			}
		})
	}
}

func TestComputeStoppedJob(t *testing.T) {
	runCases(t, []computeCase{
		{
			name: "stopped service stops every live allocation and records lost ones",
			in: input(stopped(service(4)), at(0),
				alloc("a0", 0),
				alloc("a1", 1, status(ClientPending)),
				alloc("a2", 2, failed(at(0), 1)),
				alloc("a3", 3, on(downNode)),
			),
			stop: []Stop{
				stop("a0", StopJobStopped),
				stop("a1", StopJobStopped),
				{AllocID: "a3", Reason: StopJobStopped, ClientStatus: ClientLost},
			},
		},
		{
			name: "stopped batch job keeps its completed indexes",
			in: input(stopped(batch(2)), at(0),
				alloc("a0", 0, status(ClientComplete)),
				alloc("a1", 1),
			),
			stop: []Stop{stop("a1", StopJobStopped)},
		},
		{
			name: "stopped dispatch job stops its per-message allocations",
			in: input(stopped(dispatch()), at(0),
				alloc("m1", 0),
				alloc("m2", 0, on(drainer)),
			),
			stop: []Stop{stop("m1", StopJobStopped), stop("m2", StopJobStopped)},
		},
		{
			name: "stopped job ignores allocations already told to stop",
			in:   input(stopped(service(1)), at(0), alloc("a0", 0, toStop)),
		},
	})
}

func TestComputeDispatch(t *testing.T) {
	runCases(t, []computeCase{
		{
			name: "dispatch job places nothing and leaves ended allocations",
			in: input(dispatch(), at(0),
				alloc("m1", 0),
				alloc("m2", 0, failed(at(0), 1)),
				alloc("m3", 0, status(ClientComplete)),
			),
		},
		{
			name: "dispatch allocation on a down node is lost and not replaced",
			in: input(dispatch(), at(0),
				alloc("m1", 0),
				alloc("m2", 0, on(downNode)),
			),
			stop: []Stop{lost("m2")},
		},
		{
			name: "dispatch allocation on a draining node finishes its message",
			in:   input(dispatch(), at(0), alloc("m1", 0, on(drainer))),
		},
		{
			name: "unknown job type places nothing",
			in:   input(typed(service(3), "system"), at(0), alloc("a0", 0, on(downNode))),
			stop: []Stop{lost("a0")},
		},
	})
}

func TestComputeCounts(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want Counts
	}{
		{
			name: "fresh service",
			in:   input(service(2), at(0)),
			want: Counts{Place: 2},
		},
		{
			name: "service mid-update with a failure waiting and a lost allocation",
			in: input(version(service(4), 2), at(0),
				alloc("a0", 0, ver(2)),
				alloc("a1", 1, ver(2), status(ClientPending)),
				alloc("a2", 2, ver(2), failed(at(0), 1)),
				alloc("a3", 3, on(downNode)),
				alloc("a4", 4, on(drainer)),
			),
			// Five holders for four indexes: the lost a3 costs nothing to
			// drop, so it is the one scaled in. a4 keeps its out-of-range
			// index, waiting to move and update until a1 runs.
			want: Counts{Running: 2, Pending: 1, Delayed: 1, Outdated: 1, Migrating: 1, Lost: 1, Stop: 1},
		},
		{
			name: "service waiting to update and migrate",
			in: input(version(service(3), 2), at(0),
				alloc("a0", 0, ver(2), status(ClientPending)),
				alloc("a1", 1),
				alloc("a2", 2, on(drainer)),
			),
			want: Counts{Running: 2, Pending: 1, Outdated: 2, Migrating: 1},
		},
		{
			name: "batch half done",
			in: input(batch(4), at(0),
				alloc("a0", 0, status(ClientComplete)),
				alloc("a1", 1, status(ClientComplete)),
				alloc("a2", 2),
				alloc("a9", 9, status(ClientComplete)),
			),
			want: Counts{Running: 1, Complete: 2, Place: 1},
		},
		{
			name: "stopped job",
			in: input(stopped(service(2)), at(0),
				alloc("a0", 0),
				alloc("a1", 1, failed(at(0), 1)),
			),
			want: Counts{Stop: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compute(tt.in).Desired; got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBackoffAfter(t *testing.T) {
	tests := []struct {
		backoff  Backoff
		failures int
		want     time.Duration
	}{
		{Backoff{}, 1, DefaultDelay},
		{Backoff{}, 2, 2 * DefaultDelay},
		{Backoff{}, 4, 8 * DefaultDelay},
		{Backoff{}, 7, DefaultMaxDelay},
		{Backoff{}, 1000, DefaultMaxDelay},
		{Backoff{Delay: time.Second}, 3, 4 * time.Second},
		{Backoff{Delay: time.Minute, MaxDelay: time.Second}, 3, time.Minute},
		{Backoff{Delay: time.Second, MaxDelay: 10 * time.Second}, 5, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.backoff.withDefaults().after(tt.failures); got != tt.want {
			t.Errorf("%+v after %d failures: got %s, want %s", tt.backoff, tt.failures, got, tt.want)
		}
	}
}
