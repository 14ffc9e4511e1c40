package placement

import (
	"reflect"
	"testing"
)

func TestSnapshotColumns(t *testing.T) {
	s := NewSnapshot([]Node{
		mk("c", class("gpu"), meta("disk", "")),
		mk("a", class("gpu"), zone("z1")),
		mk("b", class(""), zone("z2")),
	})
	tests := []struct {
		attr   string
		values []string
		of     []int32
	}{
		// Nodes are in ID order: a, b, c.
		{"node.class", []string{"gpu"}, []int32{0, missing, 0}},
		{"node.meta.zone", []string{"z1", "z2"}, []int32{0, 1, missing}},
		{"node.meta.disk", []string{""}, []int32{missing, missing, 0}},
		{"node.name", []string{"a", "b", "c"}, []int32{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.attr, func(t *testing.T) {
			col := s.attrs[tt.attr]
			if col == nil {
				t.Fatalf("got no column, want values %v", tt.values)
			}
			if !reflect.DeepEqual(col.values, tt.values) || !reflect.DeepEqual(col.of, tt.of) {
				t.Errorf("got values %v ids %v, want %v %v", col.values, col.of, tt.values, tt.of)
			}
		})
	}
	if got := s.ids; !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("got ids %v, want them sorted", got)
	}
}

// TestSnapshotIsACopy changes the nodes after indexing them: the snapshot
// must not see it, since many evaluations share it.
func TestSnapshotIsACopy(t *testing.T) {
	nodes := []Node{mk("a", zone("z1")), mk("b", zone("z2"))}
	s := NewSnapshot(nodes)
	nodes[0].Meta["zone"] = "z2"
	nodes[0].UsedCPU = 4000
	nodes[1].Eligible = false
	res := s.Place(Ask{Job: "j", CPU: 100, Memory: 100, Count: 1, Constraints: []Constraint{{"node.meta.zone", OpEqual, "z1"}}})
	if got, want := ids(res.Placements), "a"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestWithUsageSharesNodesAndReplacesUsage(t *testing.T) {
	nodes := []Node{
		{ID: "a", Eligible: true, CPU: 1000, Memory: 1000, UsedCPU: 900, UsedMemory: 900},
		{ID: "b", Eligible: true, CPU: 1000, Memory: 1000},
	}
	base := NewSnapshot(nodes)
	ask := Ask{Job: "j", CPU: 500, Memory: 500, Count: 1}
	if got := base.Place(ask).Placements; len(got) != 1 || got[0] != "b" {
		t.Fatalf("base snapshot: got %v, want [b] (a is nearly full)", got)
	}
	used := map[string][2]int64{"b": {1000, 1000}}
	next := base.WithUsage(func(id string) (int64, int64) { u := used[id]; return u[0], u[1] })
	if got := next.Place(ask).Placements; len(got) != 1 || got[0] != "a" {
		t.Fatalf("after usage moved: got %v, want [a] (b is full, a empty)", got)
	}
	if got := base.Place(ask).Placements; got[0] != "b" {
		t.Fatalf("WithUsage changed the base snapshot: got %v", got)
	}
}
