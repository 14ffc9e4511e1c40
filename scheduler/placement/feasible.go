package placement

// This file decides feasibility: which nodes can take one allocation, and
// for those that cannot, which check stopped them.

// jobCount is the job's allocations on node i.
func (p *placer) jobCount(i int) int32 {
	var n int32
	if p.existing != nil {
		n += p.existing[i]
	}
	if p.placed != nil {
		n += p.placed[i]
	}
	return n
}

// free is node i's free capacity, less what this call placed on it.
func (p *placer) free(i int) (cpu, memory int64) {
	cpu, memory = p.s.freeCPU[i], p.s.freeMemory[i]
	if p.placed != nil {
		cpu -= int64(p.placed[i]) * p.cpu
		memory -= int64(p.placed[i]) * p.memory
	}
	return cpu, memory
}

// verdict is the outcome of checking one node for one allocation.
type verdict uint8

const (
	feasible verdict = iota
	ineligible
	filtered
	shortCPU
	shortMemory
	shortBoth
)

// judge checks node i in the order Metrics documents. For a filtered node
// it also returns the index of the constraint that filtered it.
func (p *placer) judge(i int) (verdict, int) {
	if !p.s.eligible[i] {
		return ineligible, 0
	}
	jc := p.jobCount(i)
	for k := range p.checks {
		if !p.checks[k].passes(i, jc) {
			return filtered, k
		}
	}
	cpu, memory := p.free(i)
	switch lackCPU, lackMemory := cpu < p.cpu, memory < p.memory; {
	case lackCPU && lackMemory:
		return shortBoth, 0
	case lackCPU:
		return shortCPU, 0
	case lackMemory:
		return shortMemory, 0
	}
	return feasible, 0
}

// tally is what judging every node found.
type tally struct {
	ineligible int
	filtered   []int
	exhausted  Exhausted
	feasible   int
	// largestCPU and largestMemory are the most free CPU and memory among
	// nodes that passed eligibility and every constraint.
	largestCPU, largestMemory int64
}

// scan judges every node. With collect it returns the feasible ones, in
// node order, for ranking; without, it also finds the largest free amounts,
// which only a failure's Reason needs.
func (p *placer) scan(collect bool) (tally, []int32) {
	t := tally{filtered: make([]int, len(p.checks))}
	var feasibleNodes []int32
	if collect {
		feasibleNodes = make([]int32, 0, len(p.s.ids))
	}
	first := true
	for i := range p.s.ids {
		v, k := p.judge(i)
		switch v {
		case ineligible:
			t.ineligible++
			continue
		case filtered:
			t.filtered[k]++
			continue
		case shortCPU:
			t.exhausted.CPU++
		case shortMemory:
			t.exhausted.Memory++
		case shortBoth:
			t.exhausted.Both++
		case feasible:
			t.feasible++
		}
		if collect {
			if v == feasible {
				feasibleNodes = append(feasibleNodes, int32(i))
			}
			continue
		}
		cpu, memory := p.free(i)
		if first || cpu > t.largestCPU {
			t.largestCPU = cpu
		}
		if first || memory > t.largestMemory {
			t.largestMemory = memory
		}
		first = false
	}
	return t, feasibleNodes
}
