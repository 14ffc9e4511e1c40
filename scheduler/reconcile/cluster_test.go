package reconcile

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/docketd/docket/specs"
)

// cluster is a recording fake of the scheduler around Compute: it keeps the
// state store's allocations and nodes, applies every result the way the
// scheduler commits it, and plays the agents' part when a test says so. It
// checks the result of every round before applying it.
type cluster struct {
	tb     testing.TB
	job    Job
	allocs []Alloc
	nodes  map[string]Node
	now    time.Time
	nextID int
	nextN  int
	rounds int
}

func newCluster(tb testing.TB, job Job, readyNodes int) *cluster {
	c := &cluster{tb: tb, job: job, nodes: make(map[string]Node), now: at(0)}
	for range readyNodes {
		c.addNode()
	}
	return c
}

func (c *cluster) addNode() string {
	c.nextN++
	id := fmt.Sprintf("node%02d", c.nextN)
	c.nodes[id] = Node{ID: id, Status: NodeReady}
	return id
}

func (c *cluster) input() Input {
	return Input{Job: c.job, Allocs: slices.Clone(c.allocs), Nodes: maps.Clone(c.nodes), Now: c.now}
}

// step runs Compute, checks its result and applies it.
func (c *cluster) step() Result {
	c.tb.Helper()
	c.rounds++
	r := Compute(c.input())
	c.checkResult(r)
	c.apply(r)
	c.checkState()
	return r
}

// apply commits r: stopped allocations end at once (the agent is quick),
// those marked lost are recorded lost, and each placement becomes a pending
// allocation of the current version on the ready node with the fewest live
// allocations.
func (c *cluster) apply(r Result) {
	for _, s := range r.Stop {
		a := c.find(s.AllocID)
		a.DesiredStatus = DesiredStop
		switch {
		case s.ClientStatus != "":
			a.ClientStatus = s.ClientStatus
			a.FailedAt = c.now
		case a.ClientStatus == ClientPending || a.ClientStatus == ClientRunning:
			a.ClientStatus = ClientComplete
		}
	}
	for _, p := range r.Place {
		c.nextID++
		c.allocs = append(c.allocs, Alloc{
			ID:            fmt.Sprintf("a%04d", c.nextID),
			Index:         p.Index,
			NodeID:        c.emptiestReadyNode(),
			JobVersion:    c.job.Version,
			DesiredStatus: DesiredRun,
			ClientStatus:  ClientPending,
			Failures:      p.Failures,
		})
	}
}

func (c *cluster) find(id string) *Alloc {
	for i := range c.allocs {
		if c.allocs[i].ID == id {
			return &c.allocs[i]
		}
	}
	c.tb.Fatalf("result names allocation %s, which does not exist", id)
	return nil
}

func (c *cluster) emptiestReadyNode() string {
	load := make(map[string]int)
	for _, a := range c.live() {
		load[a.NodeID]++
	}
	var ready []string
	for id, n := range c.nodes {
		if n.Status == NodeReady {
			ready = append(ready, id)
		}
	}
	if len(ready) == 0 {
		c.tb.Fatal("no ready node to place on")
	}
	slices.SortFunc(ready, func(a, b string) int { return cmp.Or(cmp.Compare(load[a], load[b]), cmp.Compare(a, b)) })
	return ready[0]
}

// live returns the allocations that should run and have not ended.
func (c *cluster) live() []*Alloc {
	var out []*Alloc
	for i := range c.allocs {
		a := &c.allocs[i]
		if a.DesiredStatus == DesiredRun && (a.ClientStatus == ClientPending || a.ClientStatus == ClientRunning) {
			out = append(out, a)
		}
	}
	return out
}

// waiting returns the failed allocations that should run: those waiting
// for their backoff.
func (c *cluster) waiting() []*Alloc {
	var out []*Alloc
	for i := range c.allocs {
		a := &c.allocs[i]
		if a.DesiredStatus == DesiredRun && a.ClientStatus == ClientFailed {
			out = append(out, a)
		}
	}
	return out
}

func (c *cluster) countStatus(status string) int {
	n := 0
	for _, a := range c.live() {
		if a.ClientStatus == status {
			n++
		}
	}
	return n
}

// runPending plays the agents: every pending allocation starts.
func (c *cluster) runPending() {
	for _, a := range c.live() {
		a.ClientStatus = ClientRunning
	}
}

// checkResult checks what holds of every result: it is sorted, it stops an
// existing allocation at most once and never one already told to stop,
// every replaced allocation is stopped in the same result, and no two
// allocations that run afterwards share an index.
func (c *cluster) checkResult(r Result) {
	c.tb.Helper()
	stopped := make(map[string]bool)
	for _, s := range r.Stop {
		a := c.find(s.AllocID)
		if stopped[s.AllocID] {
			c.tb.Fatalf("round %d: %s stopped twice:%s", c.rounds, s.AllocID, describe(r))
		}
		if a.DesiredStatus == DesiredStop {
			c.tb.Fatalf("round %d: %s stopped again:%s", c.rounds, s.AllocID, describe(r))
		}
		stopped[s.AllocID] = true
	}
	if !slices.IsSortedFunc(r.Place, func(a, b Placement) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.PreviousAlloc, b.PreviousAlloc))
	}) {
		c.tb.Fatalf("round %d: placements not sorted:%s", c.rounds, describe(r))
	}
	if !slices.IsSortedFunc(r.Stop, func(a, b Stop) int {
		return cmp.Or(cmp.Compare(c.find(a.AllocID).Index, c.find(b.AllocID).Index), cmp.Compare(a.AllocID, b.AllocID))
	}) {
		c.tb.Fatalf("round %d: stops not sorted:%s", c.rounds, describe(r))
	}
	c.checkDisruptions(r)
	used := make(map[int]string)
	for _, a := range c.live() {
		if !stopped[a.ID] {
			used[a.Index] = a.ID
		}
	}
	for _, a := range c.waiting() {
		if !stopped[a.ID] {
			used[a.Index] = a.ID
		}
	}
	for _, p := range r.Place {
		if p.PreviousAlloc != "" && !stopped[p.PreviousAlloc] {
			c.tb.Fatalf("round %d: placement replaces %s without stopping it:%s", c.rounds, p.PreviousAlloc, describe(r))
		}
		if holder, ok := used[p.Index]; ok {
			c.tb.Fatalf("round %d: placement at index %d already held by %s:%s", c.rounds, p.Index, holder, describe(r))
		}
		used[p.Index] = "placement"
	}
}

// checkState checks what holds after every applied result: a service has
// exactly Count allocations live or waiting for their backoff, with unique
// indexes; a batch job has at most Count live, none on an index already
// done; nothing is left live on a down node.
func (c *cluster) checkState() {
	c.tb.Helper()
	held := append(c.live(), c.waiting()...)
	indexes := make(map[int]bool)
	for _, a := range held {
		if indexes[a.Index] {
			c.tb.Fatalf("round %d: index %d held twice", c.rounds, a.Index)
		}
		indexes[a.Index] = true
	}
	for _, a := range c.live() {
		if c.nodes[a.NodeID].Status == NodeDown {
			c.tb.Fatalf("round %d: %s still live on down node %s", c.rounds, a.ID, a.NodeID)
		}
	}
	if c.job.Stopped {
		if n := len(c.live()); n != 0 {
			c.tb.Fatalf("round %d: stopped job has %d live allocations", c.rounds, n)
		}
		return
	}
	switch c.job.Type {
	case specs.JobService:
		if len(held) != c.job.Count {
			c.tb.Fatalf("round %d: got %d allocations live or waiting, want %d", c.rounds, len(held), c.job.Count)
		}
	case specs.JobBatch:
		done := c.doneIndexes()
		for _, a := range held {
			if a.Index < 0 || a.Index >= c.job.Count || done[a.Index] {
				c.tb.Fatalf("round %d: %s holds index %d of count %d (done: %v)", c.rounds, a.ID, a.Index, c.job.Count, done)
			}
		}
	}
}

func (c *cluster) doneIndexes() map[int]bool {
	done := make(map[int]bool)
	for _, a := range c.allocs {
		if a.DesiredStatus == DesiredRun && a.ClientStatus == ClientComplete {
			done[a.Index] = true
		}
	}
	return done
}

// checkDisruptions checks the budget of voluntary disruptions: at most
// MaxParallel per result, and only when nothing else is placed and nothing
// of the current version that the result keeps is pending or failed.
func (c *cluster) checkDisruptions(r Result) {
	c.tb.Helper()
	disruptions := 0
	for _, s := range r.Stop {
		if s.Reason == StopUpdate || s.Reason == StopDraining {
			disruptions++
		}
	}
	if disruptions == 0 {
		return
	}
	if disruptions > max(c.job.MaxParallel, 1) {
		c.tb.Fatalf("round %d: got %d disruptions, want at most %d:%s", c.rounds, disruptions, c.job.MaxParallel, describe(r))
	}
	for _, p := range r.Place {
		if p.Reason != PlaceUpdate && p.Reason != PlaceMigrate {
			c.tb.Fatalf("round %d: disruptions alongside a %q placement:%s", c.rounds, p.Reason, describe(r))
		}
	}
	stopped := make(map[string]bool)
	for _, s := range r.Stop {
		stopped[s.AllocID] = true
	}
	for _, a := range append(c.live(), c.waiting()...) {
		if !stopped[a.ID] && a.JobVersion >= c.job.Version && a.ClientStatus != ClientRunning {
			c.tb.Fatalf("round %d: disruptions while %s is %s:%s", c.rounds, a.ID, a.ClientStatus, describe(r))
		}
	}
}
