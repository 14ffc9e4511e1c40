package placement

// Place places ask.Count allocations one after another on s, each placement
// seeing the capacity, the spread counts and the anti-affinity that the
// earlier ones of this call produced. It is deterministic: the same
// snapshot and ask give the same result, whatever the order the nodes were
// given in, because ties go to the lowest node ID. It never changes s, so
// any number of calls may share one snapshot at once.
func (s *Snapshot) Place(ask Ask) Result {
	if ask.Count <= 0 {
		return Result{}
	}
	p := newPlacer(s, &ask)
	first, feasibleNodes := p.scan(true)
	p.prepare(feasibleNodes)

	size := min(ask.Count, 1024)
	res := Result{Placements: make([]string, 0, size)}
	scores := make([]Score, 0, size)
	for len(res.Placements) < ask.Count {
		c := p.best()
		if c < 0 {
			break
		}
		sc := p.place(c)
		res.Placements = append(res.Placements, sc.Node)
		scores = append(scores, sc)
	}

	explained := &first
	if res.Failed = ask.Count - len(res.Placements); res.Failed > 0 {
		// Explain what the failed allocation saw, not what the first one
		// did: this call's own placements may be what filled the nodes, or
		// what distinct_hosts now excludes.
		if len(p.placedOn) > 0 {
			p.placed = make([]int32, len(s.ids))
			for _, i := range p.placedOn {
				p.placed[i]++
			}
		}
		last, _ := p.scan(false)
		explained = &last
		res.Reason = p.reason(explained)
	}
	res.Metrics = p.metrics(explained)
	res.Metrics.Scores = scores
	return res
}

// placer is the state of one Place call: the snapshot stays read-only and
// everything a placement changes lives here.
type placer struct {
	s           *Snapshot
	cpu, memory int64
	checks      []check
	// distinct is set when the ask has a distinct_hosts constraint.
	distinct bool
	// problem is the first invalid constraint's explanation; it becomes the
	// failure Reason, since it alone explains why nothing fits.
	problem string

	// existing counts the job's allocations per node before the call; it
	// is nil when the job has none on the snapshot's nodes.
	existing []int32
	// placedOn lists the node of each placement of this call; placed counts
	// them per node, and is only built to explain a failure.
	placedOn []int32
	placed   []int32
	// penalized marks nodes the job failed on recently; nil when none.
	penalized []bool
	// desired is the job's allocation count, existing plus asked, which
	// scales anti-affinity.
	desired float64

	spreads []spreadState
	// cands are the nodes feasible at the start of the call.
	cands  []candidate
	groups []group
	// groupVals holds, for group g, the value id of spread j at
	// g*len(spreads)+j.
	groupVals []int32
}

// candidate is a node that was feasible at the start of the call, with what
// this call has done to it.
type candidate struct {
	node      int32
	group     int32
	count     int32 // the job's allocations on the node, existing and placed
	penalized bool
	freeCPU   int64
	freeMem   int64
	local     float64 // every term of the score but spread
}

// spreadState is one [Spread] during a call.
type spreadState struct {
	// of is the attribute's column; nil when no node has the attribute.
	of     []int32
	factor float64
	// counts holds the job's allocations per value id.
	counts []int32
	// domain is the number of values held by feasible nodes: the values an
	// even spread is over. total is the job's allocations on those values.
	domain int
	total  int32
}

func newPlacer(s *Snapshot, ask *Ask) *placer {
	p := &placer{s: s, cpu: max(ask.CPU, 0), memory: max(ask.Memory, 0)}
	if len(ask.Constraints) > 0 {
		p.checks = make([]check, len(ask.Constraints))
	}
	for k, c := range ask.Constraints {
		chk, problem := s.compile(c)
		p.checks[k] = chk
		p.distinct = p.distinct || chk.distinct
		if p.problem == "" {
			p.problem = problem
		}
	}
	for _, sp := range ask.Spreads {
		st := spreadState{factor: float64(sp.Weight) / spreadUnitWeight}
		if col := s.attrs[sp.Attribute]; col != nil {
			st.of = col.of
			st.counts = make([]int32, len(col.values))
		}
		p.spreads = append(p.spreads, st)
	}

	desired := ask.Count
	if len(ask.Existing) > 0 {
		p.existing = make([]int32, len(s.ids))
	}
	for id, n := range ask.Existing {
		if n <= 0 {
			continue
		}
		desired += n
		i, ok := s.index[id]
		if !ok {
			continue
		}
		p.existing[i] += int32(n)
		for j := range p.spreads {
			if sp := &p.spreads[j]; sp.of != nil && sp.of[i] != missing {
				sp.counts[sp.of[i]] += int32(n)
			}
		}
	}
	p.desired = float64(desired)

	for id, on := range ask.Penalty {
		if i, ok := s.index[id]; ok && on {
			if p.penalized == nil {
				p.penalized = make([]bool, len(s.ids))
			}
			p.penalized[i] = true
		}
	}
	return p
}

// prepare makes the feasible nodes the call's candidates, scores them and
// groups them for ranking.
func (p *placer) prepare(feasibleNodes []int32) {
	// Sized exactly: growing a slice of thousands of candidates by
	// appending costs more than scoring them.
	p.cands = make([]candidate, len(feasibleNodes))
	for k, i := range feasibleNodes {
		c := &p.cands[k]
		c.node = i
		c.count = p.jobCount(int(i))
		c.freeCPU, c.freeMem = p.s.freeCPU[i], p.s.freeMemory[i]
		c.penalized = p.penalized != nil && p.penalized[i]
		p.score(c)
	}
	p.group()
}

// score computes the terms of c's score that do not depend on spread, for
// placing one more allocation on it.
func (p *placer) score(c *candidate) {
	c.local = p.binPackOf(c) + antiAffinityScore(c.count, p.desired) + p.penaltyOf(c)
}

func (p *placer) binPackOf(c *candidate) float64 {
	i := c.node
	return binPackScore(c.freeCPU-p.cpu, p.s.cpu[i], c.freeMem-p.memory, p.s.memory[i])
}

func (p *placer) penaltyOf(c *candidate) float64 {
	if c.penalized {
		return -penaltyScore
	}
	return 0
}

// best returns the candidate with the highest score, ties to the lowest
// node ID, or -1 when no candidate can take another allocation.
func (p *placer) best() int32 {
	p.scoreSpreads()
	best, bestTotal := int32(-1), 0.0
	for g := range p.groups {
		gr := &p.groups[g]
		if len(gr.heap) == 0 {
			continue
		}
		c := gr.heap[0]
		total := gr.spread + p.cands[c].local
		if best < 0 || total > bestTotal || total == bestTotal && p.cands[c].node < p.cands[best].node {
			best, bestTotal = c, total
		}
	}
	return best
}

// place puts one allocation on candidate c and returns its score.
func (p *placer) place(c int32) Score {
	cand := &p.cands[c]
	gr := &p.groups[cand.group]
	sc := Score{
		Node:         p.s.ids[cand.node],
		Total:        gr.spread + cand.local,
		BinPack:      p.binPackOf(cand),
		Spread:       gr.spread,
		AntiAffinity: antiAffinityScore(cand.count, p.desired),
		Penalty:      p.penaltyOf(cand),
	}

	p.placedOn = append(p.placedOn, cand.node)
	cand.freeCPU -= p.cpu
	cand.freeMem -= p.memory
	cand.count++
	vals := p.groupVals[int(cand.group)*len(p.spreads):]
	for j := range p.spreads {
		if v := vals[j]; v != missing {
			p.spreads[j].counts[v]++
			p.spreads[j].total++
		}
	}

	// c is the top of its group's heap, and the only node whose own score
	// changed: drop it if it cannot take another allocation, else let it
	// sink to its new place.
	if p.distinct || !fits(cand.freeCPU, cand.freeMem, p.cpu, p.memory) {
		p.pop(gr)
	} else {
		p.score(cand)
		p.siftDown(gr.heap, 0)
	}
	return sc
}
