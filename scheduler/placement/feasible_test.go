package placement

import (
	"slices"
	"testing"
)

func TestFits(t *testing.T) {
	tests := []struct {
		name        string
		node        Node
		cpu, memory int64
		want        bool
	}{
		{"exact fit", mk("a", size(2000, 4096), used(1000, 1024)), 1000, 3072, true},
		{"one millicore short", mk("a", size(2000, 4096), used(1001, 1024)), 1000, 3072, false},
		{"one MiB short", mk("a", size(2000, 4096), used(1000, 1025)), 1000, 3072, false},
		{"empty ask on a full node", mk("a", size(2000, 4096), used(2000, 4096)), 0, 0, true},
		{"over-committed node", mk("a", size(2000, 4096), used(2500, 0)), 0, 0, false},
		{"ineligible nodes still fit: eligibility is not capacity", mk("a", notEligible()), 100, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fits(&tt.node, tt.cpu, tt.memory); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlaceCapacity(t *testing.T) {
	tests := []struct {
		name       string
		node       Node
		cpu, mem   int64
		wantPlaced int
		wantReason string
	}{
		{
			name: "exact fit", node: mk("a", size(2000, 8192), used(500, 2048)),
			cpu: 1500, mem: 6144, wantPlaced: 1,
		},
		{
			name: "one millicore short", node: mk("a", size(2000, 8192), used(501, 2048)),
			cpu: 1500, mem: 6144,
			wantReason: "no node has 1.5 cores of free CPU; largest free: 1.4 cores",
		},
		{
			name: "one MiB short", node: mk("a", size(2000, 8192), used(500, 2049)),
			cpu: 1500, mem: 6144,
			wantReason: "no node has 6 GiB free memory; largest free: 5.9 GiB",
		},
		{
			name: "short of both", node: mk("a", size(2000, 8192), used(501, 2049)),
			cpu: 1500, mem: 6144,
			wantReason: "no node has 6 GiB free memory; largest free: 5.9 GiB; no node has 1.5 cores of free CPU; largest free: 1.4 cores",
		},
		{
			name: "zero ask fits a full node", node: mk("a", size(2000, 8192), used(2000, 8192)),
			wantPlaced: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := place(t, []Node{tt.node}, Ask{Job: "j", CPU: tt.cpu, Memory: tt.mem, Count: 1})
			if len(res.Placements) != tt.wantPlaced {
				t.Errorf("got %d placements, want %d", len(res.Placements), tt.wantPlaced)
			}
			if res.Reason != tt.wantReason {
				t.Errorf("got reason %q, want %q", res.Reason, tt.wantReason)
			}
		})
	}
}

// constraintNodes covers every way a node can hold an attribute: set, set
// to another value, missing, and meta keys present with an empty value.
func constraintNodes() []Node {
	return []Node{
		mk("a", class("gpu"), zone("eu-1"), meta("disk", "ssd")),
		mk("b", class("cpu"), zone("eu-2"), meta("disk", "")),
		mk("c", class(""), zone("us-1")),
		mk("d", class("gpu"), func(n *Node) { n.OS, n.Arch = "windows", "arm64" }),
		mk("e", class("mem"), zone("eu-1"), func(n *Node) { n.Name = "" }),
	}
}

func TestConstraintOperators(t *testing.T) {
	tests := []struct {
		name        string
		constraints []Constraint
		want        []string // the feasible nodes
	}{
		{"= on class", []Constraint{{"node.class", OpEqual, "gpu"}}, []string{"a", "d"}},
		{"= fails a node lacking the attribute", []Constraint{{"node.class", OpEqual, ""}}, nil},
		{"!= passes a node lacking the attribute", []Constraint{{"node.class", OpNotEqual, "gpu"}}, []string{"b", "c", "e"}},
		{"in", []Constraint{{"node.class", OpIn, "cpu,mem"}}, []string{"b", "e"}},
		{"in trims items", []Constraint{{"node.class", OpIn, " cpu , mem "}}, []string{"b", "e"}},
		{"in fails a node lacking the attribute", []Constraint{{"node.meta.zone", OpIn, "eu-1,eu-2,us-1"}}, []string{"a", "b", "c", "e"}},
		{"not_in passes a node lacking the attribute", []Constraint{{"node.meta.zone", OpNotIn, "eu-1,eu-2"}}, []string{"c", "d"}},
		{"regexp is unanchored", []Constraint{{"node.meta.zone", OpRegexp, "-[12]"}}, []string{"a", "b", "c", "e"}},
		{"regexp anchored", []Constraint{{"node.meta.zone", OpRegexp, "^eu-[0-9]$"}}, []string{"a", "b", "e"}},
		{"regexp fails a node lacking the attribute", []Constraint{{"node.meta.zone", OpRegexp, ".*"}}, []string{"a", "b", "c", "e"}},
		{"meta =", []Constraint{{"node.meta.disk", OpEqual, "ssd"}}, []string{"a"}},
		{"meta present but empty is set", []Constraint{{"node.meta.disk", OpEqual, ""}}, []string{"b"}},
		{"meta != passes nodes without the key", []Constraint{{"node.meta.disk", OpNotEqual, "ssd"}}, []string{"b", "c", "d", "e"}},
		{"attribute no node has: =", []Constraint{{"node.meta.rack", OpEqual, "r1"}}, nil},
		{"attribute no node has: !=", []Constraint{{"node.meta.rack", OpNotEqual, "r1"}}, []string{"a", "b", "c", "d", "e"}},
		{"node.name", []Constraint{{"node.name", OpIn, "a,b,e"}}, []string{"a", "b"}},
		{"node.os", []Constraint{{"node.os", OpEqual, "windows"}}, []string{"d"}},
		{"node.arch", []Constraint{{"node.arch", OpNotEqual, "arm64"}}, []string{"a", "b", "c", "e"}},
		{"constraints combine", []Constraint{{"node.class", OpEqual, "gpu"}, {"node.meta.zone", OpEqual, "eu-1"}}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := constraintNodes()
			// Each node fits exactly one allocation, so the placements are
			// the feasible nodes.
			ask := Ask{Job: "j", CPU: 4000, Memory: 8192, Count: len(nodes), Constraints: tt.constraints}
			res := place(t, nodes, ask)
			got := slices.Sorted(slices.Values(res.Placements))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got feasible %v, want %v", got, tt.want)
			}
			if res.Failed != len(nodes)-len(tt.want) {
				t.Errorf("got %d failed, want %d", res.Failed, len(nodes)-len(tt.want))
			}
		})
	}
}

func TestInvalidConstraint(t *testing.T) {
	tests := []struct {
		name       string
		constraint Constraint
		want       string
	}{
		{
			"bad regexp", Constraint{"node.name", OpRegexp, "web-(["},
			"invalid constraint node.name regexp web-([: error parsing regexp: missing closing ]: `[`",
		},
		{
			"unknown operator", Constraint{"node.class", "~", "gpu"},
			`invalid constraint node.class ~ gpu: unknown operator "~"`,
		},
		{
			"unknown attribute", Constraint{"node.datacenter", OpEqual, "dc1"},
			`invalid constraint node.datacenter = dc1: unknown attribute "node.datacenter"`,
		},
		{
			"empty meta key", Constraint{"node.meta.", OpEqual, "x"},
			`invalid constraint node.meta. = x: unknown attribute "node.meta."`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := constraintNodes()
			res := place(t, nodes, Ask{Job: "j", CPU: 100, Memory: 100, Count: 2, Constraints: []Constraint{tt.constraint}})
			if len(res.Placements) != 0 {
				t.Errorf("got placements %v, want none: an invalid constraint matches no node", res.Placements)
			}
			if res.Reason != tt.want {
				t.Errorf("got reason %q, want %q", res.Reason, tt.want)
			}
			if got := res.Metrics.NodesFiltered[0].Nodes; got != len(nodes) {
				t.Errorf("got %d nodes filtered by the constraint, want all %d", got, len(nodes))
			}
		})
	}
}

func TestDistinctHosts(t *testing.T) {
	distinct := []Constraint{{Operator: OpDistinctHosts}}
	tests := []struct {
		name       string
		count      int
		existing   map[string]int
		want       []string
		wantReason string
	}{
		{name: "one per node within a call", count: 3, want: []string{"a", "b", "c"}},
		{
			name: "existing allocations exclude their nodes", count: 2, existing: map[string]int{"a": 1, "c": 2},
			// The reason describes the failed allocation, after b took one.
			want: []string{"b"}, wantReason: "3 nodes filtered by distinct_hosts",
		},
		{
			name: "more allocations than nodes", count: 4,
			want: []string{"a", "b", "c"}, wantReason: "3 nodes filtered by distinct_hosts",
		},
		{name: "existing on an unknown node is ignored", count: 3, existing: map[string]int{"gone": 1}, want: []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := []Node{mk("a"), mk("b"), mk("c")}
			ask := Ask{Job: "j", CPU: 100, Memory: 128, Count: tt.count, Constraints: distinct, Existing: tt.existing}
			res := place(t, nodes, ask)
			if got := slices.Sorted(slices.Values(res.Placements)); !slices.Equal(got, tt.want) {
				t.Errorf("got placements %v, want %v", got, tt.want)
			}
			if res.Reason != tt.wantReason {
				t.Errorf("got reason %q, want %q", res.Reason, tt.wantReason)
			}
		})
	}
}

func TestIneligibleNodesAreSkipped(t *testing.T) {
	tests := []struct {
		name       string
		nodes      []Node
		want       string
		wantReason string
	}{
		{
			name: "the fullest node is ineligible",
			// c would be the bin-pack choice.
			nodes: []Node{mk("a"), mk("b", used(2000, 4096)), mk("c", used(3000, 6144), notEligible())},
			want:  "b",
		},
		{
			name:       "no eligible node",
			nodes:      []Node{mk("a", notEligible()), mk("b", notEligible())},
			wantReason: "no eligible node: 2 nodes not ready, draining or ineligible",
		},
		{name: "no node at all", wantReason: "no nodes are registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := place(t, tt.nodes, Ask{Job: "j", CPU: 500, Memory: 512, Count: 1})
			if got := ids(res.Placements); got != tt.want {
				t.Errorf("got placements %q, want %q", got, tt.want)
			}
			if res.Reason != tt.wantReason {
				t.Errorf("got reason %q, want %q", res.Reason, tt.wantReason)
			}
		})
	}
}
