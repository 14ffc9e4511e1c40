package placement

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
)

func TestBinPack(t *testing.T) {
	tests := []struct {
		name  string
		nodes []Node
		ask   Ask
		want  string
	}{
		{
			name:  "prefers the fuller node",
			nodes: []Node{mk("a", used(1000, 2048)), mk("b", used(2000, 4096)), mk("c")},
			ask:   Ask{CPU: 500, Memory: 512, Count: 1},
			want:  "b",
		},
		{
			name:  "prefers the node the allocation fills exactly",
			nodes: []Node{mk("a", used(2000, 4096)), mk("b", used(3000, 6144)), mk("c", used(3500, 7168))},
			ask:   Ask{CPU: 500, Memory: 1024, Count: 1},
			want:  "c",
		},
		{
			name: "prefers the node used evenly in both dimensions",
			// Both are half used in total; a is full in CPU only.
			nodes: []Node{mk("a", used(3000, 0)), mk("b", used(1500, 4096))},
			ask:   Ask{CPU: 500, Memory: 1024, Count: 1},
			want:  "b",
		},
		{
			name: "fullness is relative to the node's size",
			// Both have 4 cores and 8 GiB free; a is half used, b empty.
			nodes: []Node{mk("a", size(8000, 16384), used(4000, 8192)), mk("b")},
			ask:   Ask{CPU: 1000, Memory: 2048, Count: 1},
			want:  "a",
		},
		{
			name:  "a large job packs",
			nodes: []Node{mk("a"), mk("b")},
			ask:   Ask{CPU: 1000, Memory: 2048, Count: 8},
			want:  "a,a,a,a,b,b,b,b",
		},
		{
			name:  "a small job spreads its replicas over equal nodes",
			nodes: []Node{mk("a"), mk("b"), mk("c")},
			ask:   Ask{CPU: 1000, Memory: 2048, Count: 3},
			want:  "a,b,c",
		},
		{
			name:  "anti-affinity counts existing allocations",
			nodes: []Node{mk("a"), mk("b")},
			ask:   Ask{CPU: 1000, Memory: 2048, Count: 1, Existing: map[string]int{"a": 1}},
			want:  "b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ask.Job = "j"
			res := place(t, tt.nodes, tt.ask)
			if got := ids(res.Placements); got != tt.want {
				t.Errorf("got placements %s, want %s (scores %+v)", got, tt.want, res.Metrics.Scores)
			}
		})
	}
}

// zones builds perZone identical nodes in each of the zones, named
// <zone>-<k>.
func zones(perZone int, names ...string) []Node {
	var nodes []Node
	for _, z := range names {
		for k := range perZone {
			nodes = append(nodes, mk(fmt.Sprintf("%s-%d", z, k), zone(z)))
		}
	}
	return nodes
}

func TestSpread(t *testing.T) {
	tests := []struct {
		name  string
		nodes []Node
		ask   Ask
		attr  string
		want  map[string]int // placements per value of attr
	}{
		{
			name:  "10 over 5 zones gives 2 each",
			nodes: zones(2, "z1", "z2", "z3", "z4", "z5"),
			ask:   Ask{CPU: 500, Memory: 512, Count: 10, Spreads: []Spread{{"node.meta.zone", 50}}},
			attr:  "node.meta.zone",
			want:  map[string]int{"z1": 2, "z2": 2, "z3": 2, "z4": 2, "z5": 2},
		},
		{
			name:  "the highest weight, on equal nodes",
			nodes: zones(3, "z1", "z2", "z3"),
			ask:   Ask{CPU: 500, Memory: 512, Count: 9, Spreads: []Spread{{"node.meta.zone", 100}}},
			attr:  "node.meta.zone",
			want:  map[string]int{"z1": 3, "z2": 3, "z3": 3},
		},
		{
			name:  "without spread the same job packs into one zone",
			nodes: zones(2, "z1", "z2", "z3", "z4", "z5"),
			ask:   Ask{CPU: 500, Memory: 512, Count: 10},
			attr:  "node.meta.zone",
			want:  map[string]int{"z1": 10},
		},
		{
			name:  "existing skew is evened out",
			nodes: zones(2, "z1", "z2", "z3"),
			ask:   Ask{CPU: 500, Memory: 512, Count: 4, Spreads: []Spread{{"node.meta.zone", 50}}, Existing: map[string]int{"z1-0": 3}},
			attr:  "node.meta.zone",
			want:  map[string]int{"z2": 2, "z3": 2},
		},
		{
			name: "spread outweighs bin-pack",
			// z1's nodes are half full, so bin-pack alone would fill them.
			nodes: []Node{mk("z1-0", zone("z1"), used(2000, 4096)), mk("z1-1", zone("z1"), used(2000, 4096)), mk("z2-0", zone("z2")), mk("z2-1", zone("z2"))},
			ask:   Ask{CPU: 500, Memory: 512, Count: 4, Spreads: []Spread{{"node.meta.zone", 50}}},
			attr:  "node.meta.zone",
			want:  map[string]int{"z1": 2, "z2": 2},
		},
		{
			name:  "a low weight yields to bin-pack",
			nodes: []Node{mk("z1-0", zone("z1"), used(2000, 4096)), mk("z1-1", zone("z1"), used(2000, 4096)), mk("z2-0", zone("z2")), mk("z2-1", zone("z2"))},
			ask:   Ask{CPU: 500, Memory: 512, Count: 2, Spreads: []Spread{{"node.meta.zone", 1}}},
			attr:  "node.meta.zone",
			want:  map[string]int{"z1": 2},
		},
		{
			name:  "nodes lacking the attribute come last",
			nodes: []Node{mk("a"), mk("b", zone("z1")), mk("c", zone("z2"))},
			ask:   Ask{CPU: 4000, Memory: 8192, Count: 2, Spreads: []Spread{{"node.meta.zone", 50}}},
			attr:  "node.meta.zone",
			want:  map[string]int{"z1": 1, "z2": 1},
		},
		{
			name:  "nodes lacking the attribute are still used",
			nodes: []Node{mk("a"), mk("b", zone("z1")), mk("c", zone("z2"))},
			ask:   Ask{CPU: 4000, Memory: 8192, Count: 3, Spreads: []Spread{{"node.meta.zone", 50}}},
			attr:  "node.meta.zone",
			want:  map[string]int{"z1": 1, "z2": 1, "<none>": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ask.Job = "j"
			res := place(t, tt.nodes, tt.ask)
			if got := perValue(tt.nodes, res.Placements, tt.attr); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s per %s, want %s (placements %s)", fmtCounts(got), tt.attr, fmtCounts(tt.want), ids(res.Placements))
			}
		})
	}
}

func TestSpreadWeights(t *testing.T) {
	// One allocation already runs on w, in zone z1 and rack r1. x is in
	// the other zone but the same rack, y in the same zone but the other
	// rack: the heavier spread decides.
	nodes := []Node{
		mk("w", meta("zone", "z1", "rack", "r1")),
		mk("x", meta("zone", "z2", "rack", "r1")),
		mk("y", meta("zone", "z1", "rack", "r2")),
	}
	tests := []struct {
		name       string
		zone, rack int
		want       string
	}{
		{"zone weighs more", 80, 20, "x"},
		{"rack weighs more", 20, 80, "y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ask := Ask{
				Job: "j", CPU: 500, Memory: 512, Count: 1,
				Spreads:  []Spread{{"node.meta.zone", tt.zone}, {"node.meta.rack", tt.rack}},
				Existing: map[string]int{"w": 1},
			}
			res := place(t, nodes, ask)
			if got := ids(res.Placements); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPenalty(t *testing.T) {
	tests := []struct {
		name    string
		nodes   []Node
		penalty map[string]bool
		want    string
	}{
		{
			name:    "avoided when an equal node exists",
			nodes:   []Node{mk("a"), mk("b")},
			penalty: map[string]bool{"a": true},
			want:    "b",
		},
		{
			name:    "avoided even when it packs better",
			nodes:   []Node{mk("a", used(3000, 6144)), mk("b")},
			penalty: map[string]bool{"a": true},
			want:    "b",
		},
		{
			name:    "used when it is the only node",
			nodes:   []Node{mk("a"), mk("b", notEligible())},
			penalty: map[string]bool{"a": true},
			want:    "a",
		},
		{
			name:    "false entries do not penalize",
			nodes:   []Node{mk("a"), mk("b")},
			penalty: map[string]bool{"a": false},
			want:    "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := place(t, tt.nodes, Ask{Job: "j", CPU: 500, Memory: 512, Count: 1, Penalty: tt.penalty})
			if got := ids(res.Placements); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPartialPlacement(t *testing.T) {
	// Room for two on a, one on b, none on c; the class constraint removes
	// d.
	nodes := []Node{
		mk("a", used(0, 4096)),
		mk("b", used(0, 6144)),
		mk("c", used(0, 7168)),
		mk("d", class("gpu")),
	}
	ask := Ask{
		Job: "j", CPU: 500, Memory: 2048, Count: 5,
		Constraints: []Constraint{{"node.class", OpEqual, "std"}},
	}
	res := place(t, nodes, ask)
	if got, want := ids(res.Placements), "b,a,a"; got != want {
		t.Errorf("got placements %s, want %s", got, want)
	}
	if res.Failed != 2 {
		t.Errorf("got %d failed, want 2", res.Failed)
	}
	want := "no node has 2 GiB free memory; largest free: 1 GiB; 1 node filtered by constraint node.class = std"
	if res.Reason != want {
		t.Errorf("got reason %q, want %q", res.Reason, want)
	}
	wantMetrics := Metrics{
		NodesEvaluated: 4,
		NodesFiltered:  []ConstraintFiltered{{"node.class = std", 1}},
		NodesExhausted: Exhausted{Memory: 3},
	}
	got := res.Metrics
	got.Scores = nil
	if !reflect.DeepEqual(got, wantMetrics) {
		t.Errorf("got metrics %+v, want %+v", got, wantMetrics)
	}
}

func TestMetricsOnSuccess(t *testing.T) {
	nodes := []Node{
		mk("a", used(2000, 4096), zone("z1")),
		mk("b", zone("z2")),
		mk("c", used(4000, 0), zone("z1")),
		mk("d", notEligible()),
		mk("e", class("gpu")),
	}
	ask := Ask{
		Job: "j", CPU: 1000, Memory: 1024, Count: 1,
		Constraints: []Constraint{{"node.class", OpEqual, "std"}},
		Spreads:     []Spread{{"node.meta.zone", 50}},
		Penalty:     map[string]bool{"a": true},
	}
	res := place(t, nodes, ask)
	want := Metrics{
		NodesEvaluated:  5,
		NodesIneligible: 1,
		NodesFiltered:   []ConstraintFiltered{{"node.class = std", 1}},
		NodesExhausted:  Exhausted{CPU: 1},
		NodesFeasible:   2,
		// a would pack better but is penalized.
		Scores: []Score{{
			Node:    "b",
			Total:   1 + binPackScore(3000, 4000, 7168, 8192),
			BinPack: binPackScore(3000, 4000, 7168, 8192),
			Spread:  1,
		}},
	}
	if !reflect.DeepEqual(res.Metrics, want) {
		t.Errorf("got metrics %+v, want %+v", res.Metrics, want)
	}
}

func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for k := range 50 {
		nodes, ask := randomCase(rng)
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			s := NewSnapshot(nodes)
			first := s.Place(ask)
			if again := s.Place(ask); !reflect.DeepEqual(again, first) {
				t.Errorf("second call on the same snapshot: got %+v, want %+v", again, first)
			}
			shuffled := slices.Clone(nodes)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if other := NewSnapshot(shuffled).Place(ask); !reflect.DeepEqual(other, first) {
				t.Errorf("shuffled nodes: got %+v, want %+v", other, first)
			}
		})
	}
}

// TestConcurrentPlace shares one snapshot between goroutines, as the
// scheduler's workers do; run with -race it proves Place only reads it.
func TestConcurrentPlace(t *testing.T) {
	nodes := benchNodes(500)
	s := NewSnapshot(nodes)
	ask := benchAsk()
	want := s.Place(ask)
	var wg sync.WaitGroup
	results := make([]Result, 8)
	for g := range results {
		wg.Go(func() { results[g] = s.Place(ask) })
	}
	wg.Wait()
	for g, got := range results {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("goroutine %d: got %s, want %s", g, ids(got.Placements), ids(want.Placements))
		}
	}
}

func TestPlaceNothing(t *testing.T) {
	for _, count := range []int{0, -1} {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			res := NewSnapshot([]Node{mk("a")}).Place(Ask{Job: "j", Count: count})
			if !reflect.DeepEqual(res, Result{}) {
				t.Errorf("got %+v, want an empty result", res)
			}
		})
	}
}
