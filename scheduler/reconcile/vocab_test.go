package reconcile

import (
	"testing"

	"github.com/docketd/docket/scheduler/state"
)

// TestStatusesMirrorState pins the statuses reconcile reads to the state's
// records, which declare them: the scheduler passes an allocation's
// statuses through verbatim and records [Stop.ClientStatus] as it is.
// Reconcile keeps its own names because it is a pure core that must not
// import the store. NodeDraining has no state counterpart: the scheduler
// derives it from a node's drain.
func TestStatusesMirrorState(t *testing.T) {
	pairs := []struct{ name, reconcile, state string }{
		{"DesiredRun", DesiredRun, state.DesiredRun},
		{"DesiredStop", DesiredStop, state.DesiredStop},
		{"ClientPending", ClientPending, state.AllocPending},
		{"ClientRunning", ClientRunning, state.AllocRunning},
		{"ClientComplete", ClientComplete, state.AllocComplete},
		{"ClientFailed", ClientFailed, state.AllocFailed},
		{"ClientLost", ClientLost, state.AllocLost},
		{"NodeReady", NodeReady, state.NodeReady},
		{"NodeDown", NodeDown, state.NodeDown},
	}
	for _, p := range pairs {
		if p.reconcile != p.state {
			t.Errorf("%s: reconcile has %q, state %q", p.name, p.reconcile, p.state)
		}
	}
	// Reconcile's terminal statuses are the state's.
	for _, s := range []string{ClientPending, ClientRunning, ClientComplete, ClientFailed, ClientLost} {
		v := classifyOne(Input{Nodes: testNodes()}, Backoff{}, false, alloc("a", 0, status(s)))
		if v.ended != state.Terminal(s) {
			t.Errorf("status %q: reconcile ended %v, state.Terminal %v", s, v.ended, state.Terminal(s))
		}
	}
}
