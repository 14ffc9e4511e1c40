package placement

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// This file holds a reference placer: the documented semantics written as
// plainly as possible, scanning every node with string comparisons for
// every placement. Place must choose exactly what it chooses; only the
// speed differs.

// refAttr is a node attribute, and whether the node has it.
func refAttr(n *Node, attr string) (string, bool) {
	switch attr {
	case "node.name":
		return n.Name, n.Name != ""
	case "node.class":
		return n.Class, n.Class != ""
	case "node.os":
		return n.OS, n.OS != ""
	case "node.arch":
		return n.Arch, n.Arch != ""
	}
	if key, ok := strings.CutPrefix(attr, "node.meta."); ok {
		v, ok := n.Meta[key]
		return v, ok
	}
	return "", false
}

// refSatisfies reports whether n, holding jobCount allocations of the job,
// satisfies c.
func refSatisfies(n *Node, c Constraint, jobCount int) bool {
	if c.Operator == OpDistinctHosts {
		return jobCount == 0
	}
	v, ok := refAttr(n, c.Attribute)
	in := func() bool {
		for _, item := range strings.Split(c.Value, ",") {
			if strings.TrimSpace(item) == v {
				return true
			}
		}
		return false
	}
	switch c.Operator {
	case OpEqual:
		return ok && v == c.Value
	case OpNotEqual:
		return !ok || v != c.Value
	case OpIn:
		return ok && in()
	case OpNotIn:
		return !ok || !in()
	case OpRegexp:
		re, err := regexp.Compile(c.Value)
		return err == nil && ok && re.MatchString(v)
	}
	return false
}

// refPlace is Place by exhaustive search.
func refPlace(nodes []Node, ask Ask) (placements []string, failed int) {
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	cpu, memory := max(ask.CPU, 0), max(ask.Memory, 0)
	count := make(map[string]int)
	desired := ask.Count
	known := make(map[string]bool)
	for i := range sorted {
		known[sorted[i].ID] = true
	}
	for id, n := range ask.Existing {
		if n > 0 {
			desired += n
			if known[id] {
				count[id] += n
			}
		}
	}
	placed := make(map[string]int)
	feasible := func(n *Node) bool {
		if !n.Eligible {
			return false
		}
		for _, c := range ask.Constraints {
			if !refSatisfies(n, c, count[n.ID]) {
				return false
			}
		}
		return n.CPU-n.UsedCPU-int64(placed[n.ID])*cpu >= cpu && n.Memory-n.UsedMemory-int64(placed[n.ID])*memory >= memory
	}

	// Spread counts per value, over the values feasible nodes hold at the
	// start.
	type spreadRef struct {
		counts map[string]int
		domain map[string]bool
	}
	spreads := make([]spreadRef, len(ask.Spreads))
	for j, sp := range ask.Spreads {
		spreads[j] = spreadRef{counts: make(map[string]int), domain: make(map[string]bool)}
		for i := range sorted {
			n := &sorted[i]
			v, ok := refAttr(n, sp.Attribute)
			if !ok {
				continue
			}
			spreads[j].counts[v] += count[n.ID]
			if feasible(n) {
				spreads[j].domain[v] = true
			}
		}
	}

	for range ask.Count {
		var best *Node
		bestTotal := 0.0
		for i := range sorted {
			n := &sorted[i]
			if !feasible(n) {
				continue
			}
			spread := 0.0
			for j, sp := range ask.Spreads {
				factor := float64(sp.Weight) / spreadUnitWeight
				v, ok := refAttr(n, sp.Attribute)
				if !ok {
					spread -= factor
					continue
				}
				total := 0
				for d := range spreads[j].domain {
					total += spreads[j].counts[d]
				}
				share := float64(total+1) / float64(len(spreads[j].domain))
				spread += factor * spreadBoost(int32(spreads[j].counts[v]), share)
			}
			free := func(capacity, used, each int64) int64 { return capacity - used - int64(placed[n.ID])*each - each }
			local := binPackScore(free(n.CPU, n.UsedCPU, cpu), n.CPU, free(n.Memory, n.UsedMemory, memory), n.Memory)
			local += antiAffinityScore(int32(count[n.ID]), float64(desired))
			if ask.Penalty[n.ID] {
				local -= penaltyScore
			}
			if total := spread + local; best == nil || total > bestTotal {
				best, bestTotal = n, total
			}
		}
		if best == nil {
			return placements, ask.Count - len(placements)
		}
		placements = append(placements, best.ID)
		placed[best.ID]++
		count[best.ID]++
		for j, sp := range ask.Spreads {
			if v, ok := refAttr(best, sp.Attribute); ok {
				spreads[j].counts[v]++
			}
		}
	}
	return placements, 0
}

// randomCase is a small random cluster and ask, with few distinct sizes so
// that ties, and so the tie-break, are common.
func randomCase(rng *rand.Rand) ([]Node, Ask) {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	nodes := make([]Node, 1+rng.IntN(40))
	for i := range nodes {
		n := Node{
			ID:       fmt.Sprintf("n%03d", rng.IntN(1000)*1000+i),
			Name:     fmt.Sprintf("host-%d", i),
			Class:    pick("a", "b", "c", ""),
			OS:       "linux",
			Arch:     pick("amd64", "arm64"),
			Eligible: rng.IntN(10) != 0,
			CPU:      int64(2000 * (1 + rng.IntN(3))),
			Memory:   int64(4096 * (1 + rng.IntN(3))),
		}
		n.Meta = map[string]string{}
		if rng.IntN(8) != 0 {
			n.Meta["zone"] = pick("z1", "z2", "z3", "z4")
		}
		n.Meta["rack"] = pick("r1", "r2", "r3")
		if rng.IntN(2) == 0 {
			n.UsedCPU = int64(500 * rng.IntN(4))
			n.UsedMemory = int64(1024 * rng.IntN(4))
		}
		nodes[i] = n
	}

	ask := Ask{
		Job:    "random",
		CPU:    int64(500 * rng.IntN(4)),
		Memory: int64(512 * rng.IntN(5)),
		Count:  1 + rng.IntN(30),
	}
	constraints := []Constraint{
		{Attribute: "node.class", Operator: OpIn, Value: "a, b"},
		{Attribute: "node.class", Operator: OpNotEqual, Value: "c"},
		{Attribute: "node.arch", Operator: OpEqual, Value: "amd64"},
		{Attribute: "node.meta.zone", Operator: OpNotIn, Value: "z4"},
		{Attribute: "node.name", Operator: OpRegexp, Value: "[0-7]$"},
		{Operator: OpDistinctHosts},
	}
	for range rng.IntN(3) {
		ask.Constraints = append(ask.Constraints, constraints[rng.IntN(len(constraints))])
	}
	spreads := []string{"node.meta.zone", "node.meta.rack", "node.class", "node.meta.none"}
	for _, k := range rng.Perm(len(spreads))[:rng.IntN(3)] {
		ask.Spreads = append(ask.Spreads, Spread{Attribute: spreads[k], Weight: 1 + rng.IntN(100)})
	}
	if rng.IntN(2) == 0 {
		ask.Existing = map[string]int{"gone": 3}
		for range rng.IntN(10) {
			ask.Existing[nodes[rng.IntN(len(nodes))].ID] += 1 + rng.IntN(2)
		}
	}
	if rng.IntN(2) == 0 {
		ask.Penalty = map[string]bool{nodes[rng.IntN(len(nodes))].ID: true, "gone": true}
	}
	return nodes, ask
}

func TestPlaceMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for k := range 2000 {
		nodes, ask := randomCase(rng)
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			res := place(t, nodes, ask)
			want, wantFailed := refPlace(nodes, ask)
			if !reflect.DeepEqual(res.Placements, want) && !(len(res.Placements) == 0 && len(want) == 0) {
				t.Errorf("got placements %s, want %s (ask %+v)", ids(res.Placements), ids(want), ask)
			}
			if res.Failed != wantFailed {
				t.Errorf("got %d failed, want %d", res.Failed, wantFailed)
			}
		})
	}
}
