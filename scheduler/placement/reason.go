package placement

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// metrics reports t, with the constraints' labels.
func (p *placer) metrics(t *tally) Metrics {
	m := Metrics{
		NodesEvaluated:  len(p.s.ids),
		NodesIneligible: t.ineligible,
		NodesExhausted:  t.exhausted,
		NodesFeasible:   t.feasible,
	}
	if len(p.checks) > 0 {
		m.NodesFiltered = make([]ConstraintFiltered, len(p.checks))
		for k := range p.checks {
			m.NodesFiltered[k] = ConstraintFiltered{Constraint: p.checks[k].label, Nodes: t.filtered[k]}
		}
	}
	return m
}

// reason explains, for humans, why no node could take an allocation, given
// the tally of the nodes at that moment. When capacity is the limit on
// every node that passed the constraints, it names the amount asked and the
// largest amount free, which is what an operator needs to decide between
// shrinking the job and growing the cluster; otherwise it lists the
// blockers by how many nodes each stopped, the biggest first.
func (p *placer) reason(t *tally) string {
	n := len(p.s.ids)
	switch {
	case n == 0:
		return "no nodes are registered"
	case t.ineligible == n:
		return fmt.Sprintf("no eligible node: %s not ready, draining or ineligible", nodes(n))
	case p.problem != "":
		return p.problem
	}

	var lead []string
	type blocker struct {
		nodes int
		text  string
	}
	var blockers []blocker
	add := func(count int, format string, args ...any) {
		if count > 0 {
			blockers = append(blockers, blocker{count, nodes(count) + " " + fmt.Sprintf(format, args...)})
		}
	}

	ex := t.exhausted
	// At a failure no node is feasible, so every node that passed the
	// constraints lacked CPU, memory or both.
	if ex.CPU+ex.Memory+ex.Both > 0 {
		allMemory, allCPU := ex.CPU == 0, ex.Memory == 0
		if allMemory {
			ask, free := formatMemory(p.memory, true), formatMemory(max(t.largestMemory, 0), false)
			lead = append(lead, fmt.Sprintf("no node has %s free memory; largest free: %s", ask, free))
		}
		if allCPU {
			ask, free := formatCPU(p.cpu, true), formatCPU(max(t.largestCPU, 0), false)
			lead = append(lead, fmt.Sprintf("no node has %s of free CPU; largest free: %s", ask, free))
		}
		if !allMemory && !allCPU {
			add(ex.Memory, "exhausted on memory")
			add(ex.CPU, "exhausted on CPU")
			add(ex.Both, "exhausted on CPU and memory")
		}
	}
	add(t.ineligible, "ineligible")
	for k := range p.checks {
		if p.checks[k].distinct {
			add(t.filtered[k], "filtered by %s", OpDistinctHosts)
		} else {
			add(t.filtered[k], "filtered by constraint %s", p.checks[k].label)
		}
	}
	slices.SortStableFunc(blockers, func(a, b blocker) int { return b.nodes - a.nodes })
	for _, b := range blockers {
		lead = append(lead, b.text)
	}
	return strings.Join(lead, "; ")
}

// nodes is "1 node" or "n nodes".
func nodes(n int) string {
	if n == 1 {
		return "1 node"
	}
	return strconv.Itoa(n) + " nodes"
}

// formatMemory renders MiB for humans: MiB below a GiB, else GiB or TiB
// with at most one decimal. up rounds an amount asked up and !up rounds an
// amount free down, so an ask never reads as equal to a smaller free amount.
func formatMemory(mib int64, up bool) string {
	switch {
	case mib < 1<<10:
		return strconv.FormatInt(mib, 10) + " MiB"
	case mib < 1<<20:
		return tenths(mib, 1<<10, up) + " GiB"
	default:
		return tenths(mib, 1<<20, up) + " TiB"
	}
}

// formatCPU renders millicores for humans: millicores below a core, else
// cores with at most one decimal, rounded as in [formatMemory].
func formatCPU(millicores int64, up bool) string {
	if millicores < 1000 {
		return strconv.FormatInt(millicores, 10) + " millicores"
	}
	s := tenths(millicores, 1000, up)
	if s == "1" {
		return "1 core"
	}
	return s + " cores"
}

// tenths is v/unit with one decimal, rounded up or down, without a
// trailing ".0".
func tenths(v, unit int64, up bool) string {
	t := v * 10 / unit
	if up && v*10%unit != 0 {
		t++
	}
	if t%10 == 0 {
		return strconv.FormatInt(t/10, 10)
	}
	return strconv.FormatInt(t/10, 10) + "." + strconv.FormatInt(t%10, 10)
}
