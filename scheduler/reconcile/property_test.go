package reconcile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/docketd/docket/specs"
)

// chaos plays random events on a cluster: allocations fail, finish or turn
// busy, nodes go down or drain, the job changes version or count, time
// passes. The cluster checks every round; after the chaos the job must
// settle.
type chaos struct {
	c   *cluster
	rng *rand.Rand
}

func (ch *chaos) event() string {
	c, rng := ch.c, ch.rng
	pick := func(as []*Alloc) *Alloc {
		if len(as) == 0 {
			return nil
		}
		return as[rng.IntN(len(as))]
	}
	switch rng.IntN(9) {
	case 0:
		if a := pick(c.live()); a != nil {
			a.ClientStatus = ClientFailed
			a.FailedAt = c.now
			return "fail " + a.ID
		}
	case 1:
		if a := pick(c.live()); a != nil && c.job.Type == specs.JobBatch && a.ClientStatus == ClientRunning {
			a.ClientStatus = ClientComplete
			return "complete " + a.ID
		}
	case 2:
		return ch.taintNode(NodeDown)
	case 3:
		return ch.taintNode(NodeDraining)
	case 4:
		for _, a := range c.live() {
			if rng.IntN(2) == 0 {
				a.ClientStatus = ClientRunning
			}
		}
		return "start some pending"
	case 5:
		c.job.Version++
		return fmt.Sprintf("version %d", c.job.Version)
	case 6:
		c.job.Count = rng.IntN(7)
		return fmt.Sprintf("count %d", c.job.Count)
	case 7:
		d := time.Duration(rng.IntN(400)) * time.Second
		c.now = c.now.Add(d)
		return "wait " + d.String()
	case 8:
		if a := pick(c.live()); a != nil {
			a.Busy = !a.Busy
			return "toggle busy " + a.ID
		}
	}
	return "nothing"
}

// taintNode sets a ready node's status and adds a fresh node, so there is
// always somewhere to place.
func (ch *chaos) taintNode(status string) string {
	var ready []string
	for id, n := range ch.c.nodes {
		if n.Status == NodeReady {
			ready = append(ready, id)
		}
	}
	slices.Sort(ready)
	id := ready[ch.rng.IntN(len(ready))]
	ch.c.nodes[id] = Node{ID: id, Status: status}
	ch.c.addNode()
	return status + " " + id
}

// settle lets the agents start everything and time pass beyond any backoff
// until Compute has nothing left to do.
func (ch *chaos) settle() {
	c := ch.c
	batch := c.job.Type == specs.JobBatch
	for range 200 {
		c.runPending()
		if batch {
			for _, a := range c.live() {
				a.ClientStatus = ClientComplete
			}
		}
		c.now = c.now.Add(DefaultMaxDelay + time.Second)
		r := c.step()
		idle := len(r.Place)+len(r.Stop) == 0 && r.FollowUpAt.IsZero()
		if idle && (batch && len(c.live()) == 0 || !batch && c.countStatus(ClientPending) == 0) {
			return
		}
	}
	c.tb.Fatal("job did not settle in 200 rounds")
}

// runChaos runs job on three nodes through 60 steps of random events and
// lets it settle; the events are logged if the test fails.
func runChaos(t *testing.T, rng *rand.Rand, job Job) *cluster {
	ch := &chaos{c: newCluster(t, job, 3), rng: rng}
	var log []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("events: %v", log)
		}
	})
	for range 60 {
		for range 1 + rng.IntN(2) {
			log = append(log, ch.event())
		}
		ch.c.step()
	}
	ch.settle()
	return ch.c
}

func TestPropertyServiceConverges(t *testing.T) {
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			c := runChaos(t, rng, parallel(service(1+rng.IntN(5)), 1+rng.IntN(3)))
			live := c.live()
			if len(live) != c.job.Count {
				t.Fatalf("got %d live, want %d", len(live), c.job.Count)
			}
			indexes := make(map[int]bool)
			for _, a := range live {
				if a.JobVersion != c.job.Version || a.ClientStatus != ClientRunning || c.nodes[a.NodeID].Status != NodeReady || indexes[a.Index] {
					t.Errorf("settled allocation %+v on %s node, want running version %d on a ready node with a unique index",
						*a, c.nodes[a.NodeID].Status, c.job.Version)
				}
				indexes[a.Index] = true
			}
		})
	}
}

func TestPropertyBatchCompletes(t *testing.T) {
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			c := runChaos(t, rng, parallel(batch(1+rng.IntN(5)), 1+rng.IntN(3)))
			if n := len(c.live()); n != 0 {
				t.Errorf("got %d live after settling, want 0", n)
			}
			done := c.doneIndexes()
			for i := range c.job.Count {
				if !done[i] {
					t.Errorf("index %d of %d never completed", i, c.job.Count)
				}
			}
		})
	}
}
