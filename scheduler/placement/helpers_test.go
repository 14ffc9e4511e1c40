package placement

import (
	"fmt"
	"strings"
	"testing"
)

// nodeOpt adjusts a test node built by mk.
type nodeOpt func(*Node)

// mk is an eligible linux/amd64 node of class std with 4 cores and 8 GiB,
// named after its ID.
func mk(id string, opts ...nodeOpt) Node {
	n := Node{ID: id, Name: id, Class: "std", OS: "linux", Arch: "amd64", Eligible: true, CPU: 4000, Memory: 8192}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func size(cpu, memory int64) nodeOpt {
	return func(n *Node) { n.CPU, n.Memory = cpu, memory }
}

func used(cpu, memory int64) nodeOpt {
	return func(n *Node) { n.UsedCPU, n.UsedMemory = cpu, memory }
}

func class(c string) nodeOpt { return func(n *Node) { n.Class = c } }

func notEligible() nodeOpt { return func(n *Node) { n.Eligible = false } }

func meta(kv ...string) nodeOpt {
	return func(n *Node) {
		if n.Meta == nil {
			n.Meta = make(map[string]string)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			n.Meta[kv[i]] = kv[i+1]
		}
	}
}

func zone(z string) nodeOpt { return meta("zone", z) }

// place runs ask on a snapshot of nodes and checks the invariants every
// result must hold, whatever the case asserts on top.
func place(t testing.TB, nodes []Node, ask Ask) Result {
	t.Helper()
	res := NewSnapshot(nodes).Place(ask)
	checkResult(t, nodes, ask, res)
	return res
}

// checkResult checks that res is consistent with itself and never breaks a
// hard rule: every placement is on an eligible node that satisfies the
// constraints and has room for it, counting the earlier placements.
func checkResult(t testing.TB, nodes []Node, ask Ask, res Result) {
	t.Helper()
	want := max(ask.Count, 0)
	if got := len(res.Placements) + res.Failed; got != want {
		t.Errorf("placements %d + failed %d = %d, want Count %d", len(res.Placements), res.Failed, got, want)
	}
	if (res.Failed > 0) != (res.Reason != "") {
		t.Errorf("failed %d with reason %q: a reason must come with failures and only with them", res.Failed, res.Reason)
	}
	if len(res.Metrics.Scores) != len(res.Placements) {
		t.Fatalf("got %d scores, want one per placement (%d)", len(res.Metrics.Scores), len(res.Placements))
	}
	byID := make(map[string]*Node, len(nodes))
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
	}
	placed := make(map[string]int)
	for k, id := range res.Placements {
		if res.Metrics.Scores[k].Node != id {
			t.Errorf("score %d is for node %s, want %s", k, res.Metrics.Scores[k].Node, id)
		}
		n := byID[id]
		if n == nil {
			t.Fatalf("placement %d on unknown node %q", k, id)
		}
		cpu, memory := max(ask.CPU, 0), max(ask.Memory, 0)
		free := *n
		free.UsedCPU += int64(placed[id]) * cpu
		free.UsedMemory += int64(placed[id]) * memory
		if !Fits(&free, cpu, memory) {
			t.Errorf("placement %d over-commits node %s", k, id)
		}
		if !n.Eligible {
			t.Errorf("placement %d on ineligible node %s", k, id)
		}
		for _, c := range ask.Constraints {
			if !refSatisfies(n, c, ask.Existing[id]+placed[id]) {
				t.Errorf("placement %d on node %s breaks constraint %+v", k, id, c)
			}
		}
		placed[id]++
	}
}

// ids renders placements compactly for messages and comparisons.
func ids(placements []string) string {
	return strings.Join(placements, ",")
}

// perValue counts placements per value of a node attribute.
func perValue(nodes []Node, placements []string, attr string) map[string]int {
	byID := make(map[string]*Node, len(nodes))
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
	}
	counts := make(map[string]int)
	for _, id := range placements {
		v, ok := refAttr(byID[id], attr)
		if !ok {
			v = "<none>"
		}
		counts[v]++
	}
	return counts
}

func fmtCounts(m map[string]int) string {
	return fmt.Sprint(m)
}
