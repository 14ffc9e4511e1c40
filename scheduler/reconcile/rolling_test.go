package reconcile

import (
	"fmt"
	"testing"
)

// TestRollingUpdate rolls a running service to a new version round by
// round, the agents starting every placement between rounds, and checks the
// update's budget throughout.
func TestRollingUpdate(t *testing.T) {
	tests := []struct {
		count, maxParallel int
		wantRounds         int // rounds that stop something
	}{
		{count: 5, maxParallel: 1, wantRounds: 5},
		{count: 5, maxParallel: 2, wantRounds: 3},
		{count: 4, maxParallel: 4, wantRounds: 1},
		{count: 3, maxParallel: 10, wantRounds: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("count %d max_parallel %d", tt.count, tt.maxParallel), func(t *testing.T) {
			c := newCluster(t, parallel(service(tt.count), tt.maxParallel), 3)
			c.step()
			c.runPending()
			if r := c.step(); len(r.Place)+len(r.Stop) != 0 {
				t.Fatalf("steady state before the update got:%s", describe(r))
			}

			c.job.Version = 2
			disruptive := 0
			for round := 0; ; round++ {
				if round > 3*tt.count {
					t.Fatalf("update did not finish in %d rounds", round)
				}
				r := c.step()
				if len(r.Place)+len(r.Stop) == 0 {
					break
				}
				disruptive++
				if got := len(r.Stop); got > tt.maxParallel {
					t.Fatalf("round %d: got %d allocations stopped, want at most %d", round, got, tt.maxParallel)
				}
				if got, floor := c.countStatus(ClientRunning), tt.count-tt.maxParallel; got < floor {
					t.Fatalf("round %d: got %d running, want at least %d", round, got, floor)
				}
				// Before the agents start the new allocations, Compute
				// must wait for them.
				if r := c.step(); len(r.Place)+len(r.Stop) != 0 {
					t.Fatalf("round %d: got%s while the batch is pending, want nothing", round, describe(r))
				}
				c.runPending()
			}
			if disruptive != tt.wantRounds {
				t.Errorf("got %d update rounds, want %d", disruptive, tt.wantRounds)
			}
			for _, a := range c.live() {
				if a.JobVersion != 2 || a.ClientStatus != ClientRunning {
					t.Errorf("after the update got %+v, want version 2 running", *a)
				}
			}
		})
	}
}

// TestDrain drains the node every allocation of a service is on and checks
// that they move max_parallel at a time, never below count-max_parallel
// running.
func TestDrain(t *testing.T) {
	for _, maxParallel := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("max_parallel %d", maxParallel), func(t *testing.T) {
			const count = 5
			c := newCluster(t, parallel(service(count), maxParallel), 1)
			c.step()
			c.runPending()
			var draining string
			for id := range c.nodes {
				draining = id
			}
			c.nodes[draining] = Node{ID: draining, Status: NodeDraining}
			c.addNode()

			for round := 0; ; round++ {
				if round > 2*count {
					t.Fatalf("drain did not finish in %d rounds", round)
				}
				r := c.step()
				if len(r.Place)+len(r.Stop) == 0 {
					break
				}
				for _, p := range r.Place {
					if p.Reason != PlaceMigrate {
						t.Fatalf("round %d: got placement %+v, want only migrations", round, p)
					}
				}
				if got := len(r.Stop); got > maxParallel {
					t.Fatalf("round %d: got %d stopped, want at most %d", round, got, maxParallel)
				}
				if got, floor := c.countStatus(ClientRunning), count-maxParallel; got < floor {
					t.Fatalf("round %d: got %d running, want at least %d", round, got, floor)
				}
				c.runPending()
			}
			for _, a := range c.live() {
				if a.NodeID == draining {
					t.Errorf("after the drain %s is still on the draining node", a.ID)
				}
			}
			if got := len(c.live()); got != count {
				t.Errorf("after the drain got %d live, want %d", got, count)
			}
		})
	}
}

// TestBatchRuns runs a batch job with failures to completion.
func TestBatchRuns(t *testing.T) {
	c := newCluster(t, batch(4), 2)
	c.step()
	c.runPending()
	// Index 1 fails twice, the others complete.
	for range 2 {
		for _, a := range c.live() {
			if a.Index == 1 {
				a.ClientStatus = ClientFailed
				a.FailedAt = c.now
			}
		}
		r := c.step()
		if r.FollowUpAt.IsZero() || len(r.Place) != 0 {
			t.Fatalf("after a failure got:%s, want a follow-up only", describe(r))
		}
		c.now = r.FollowUpAt
		r = c.step()
		if len(r.Place) != 1 || r.Place[0].Reason != PlaceBatchRetry {
			t.Fatalf("when the backoff expires got:%s, want one retry", describe(r))
		}
		c.runPending()
	}
	for _, a := range c.live() {
		a.ClientStatus = ClientComplete
		if a.Index == 1 && a.Failures != 3 {
			t.Errorf("third attempt of index 1 carries %d failures, want 3", a.Failures)
		}
	}
	r := c.step()
	if len(r.Place)+len(r.Stop) != 0 || !r.FollowUpAt.IsZero() {
		t.Errorf("finished batch job got:%s, want nothing", describe(r))
	}
	if got := r.Desired.Complete; got != 4 {
		t.Errorf("got %d complete, want 4", got)
	}
}
