package placement

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchNodes builds a heterogeneous cluster: five sizes, five classes, ten
// zones, a few ineligible nodes and a third of the nodes partially used. It
// is seeded, so every run sees the same cluster.
func benchNodes(n int) []Node {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := [...]struct{ cpu, memory int64 }{
		{4000, 8192}, {8000, 16384}, {16000, 32768}, {32000, 65536}, {64000, 131072},
	}
	nodes := make([]Node, n)
	for i := range nodes {
		size := sizes[rng.IntN(len(sizes))]
		nd := Node{
			ID:       fmt.Sprintf("%08x-%04x-%04x", rng.Uint32(), rng.Uint32()&0xffff, i),
			Name:     fmt.Sprintf("host-%d", i),
			Class:    fmt.Sprintf("class-%d", rng.IntN(5)),
			OS:       "linux",
			Arch:     "amd64",
			Meta:     map[string]string{"zone": fmt.Sprintf("zone-%d", rng.IntN(10)), "rack": fmt.Sprintf("rack-%d", rng.IntN(100))},
			Eligible: rng.IntN(50) != 0,
			CPU:      size.cpu,
			Memory:   size.memory,
		}
		if rng.IntN(3) == 0 {
			fill := rng.Float64() * 0.9
			nd.UsedCPU = int64(float64(nd.CPU) * fill)
			nd.UsedMemory = int64(float64(nd.Memory) * fill)
		}
		nodes[i] = nd
	}
	return nodes
}

// benchAsk is the control-plane issue's reference job: one class constraint
// over two of the five classes, one zone spread, 100 allocations.
func benchAsk() Ask {
	return Ask{
		Job:         "bench",
		CPU:         500,
		Memory:      1024,
		Count:       100,
		Constraints: []Constraint{{Attribute: "node.class", Operator: OpIn, Value: "class-1,class-2"}},
		Spreads:     []Spread{{Attribute: "node.meta.zone", Weight: 50}},
	}
}

func benchmarkPlace(b *testing.B, s *Snapshot, ask Ask) {
	b.ReportAllocs()
	placed := 0
	for b.Loop() {
		res := s.Place(ask)
		placed += len(res.Placements)
	}
	if placed == 0 {
		b.Fatal("placed nothing")
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(placed), "ns/placement")
}

// BenchmarkPlace measures the control-plane target: 100 placements per call
// on 5,000 nodes with a constraint and a spread.
func BenchmarkPlace(b *testing.B) {
	benchmarkPlace(b, NewSnapshot(benchNodes(5000)), benchAsk())
}

// BenchmarkPlaceExisting is BenchmarkPlace for a job that already runs 2,000
// allocations and has recently failed on 50 nodes.
func BenchmarkPlaceExisting(b *testing.B) {
	nodes := benchNodes(5000)
	ask := benchAsk()
	ask.Existing = make(map[string]int)
	ask.Penalty = make(map[string]bool)
	for i := 0; i < 2000; i++ {
		ask.Existing[nodes[i*7%len(nodes)].ID]++
	}
	for i := 0; i < 50; i++ {
		ask.Penalty[nodes[i*13].ID] = true
	}
	benchmarkPlace(b, NewSnapshot(nodes), ask)
}

// BenchmarkPlaceSpreadByName is the worst case of the grouping: a spread
// over node.name makes every feasible node its own group.
func BenchmarkPlaceSpreadByName(b *testing.B) {
	ask := benchAsk()
	ask.Spreads = []Spread{{Attribute: "node.name", Weight: 50}}
	benchmarkPlace(b, NewSnapshot(benchNodes(5000)), ask)
}

// BenchmarkNewSnapshot measures indexing 5,000 nodes, and reports the heap
// a snapshot keeps per node (its attribute strings are shared with the
// caller's nodes and not counted).
func BenchmarkNewSnapshot(b *testing.B) {
	nodes := benchNodes(5000)
	perNode := float64(retained(func() any { return NewSnapshot(nodes) })) / float64(len(nodes))
	b.ReportAllocs()
	for b.Loop() {
		NewSnapshot(nodes)
	}
	b.ReportMetric(perNode, "B/node")
}

// retained is the heap that one result of build keeps alive, averaged over
// several results to drown the noise of the runtime's own allocations.
func retained(build func() any) int64 {
	const copies = 8
	var before, after runtime.MemStats
	keep := make([]any, copies)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for k := range keep {
		keep[k] = build()
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / copies
}

// BenchmarkPlaceOne is BenchmarkPlace placing one allocation per call: the
// cost of a call is mostly filtering and scoring the nodes, so callers
// should place a job's allocations in one call rather than one by one.
func BenchmarkPlaceOne(b *testing.B) {
	ask := benchAsk()
	ask.Count = 1
	benchmarkPlace(b, NewSnapshot(benchNodes(5000)), ask)
}
