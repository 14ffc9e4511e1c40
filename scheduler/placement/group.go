package placement

// group holds the candidates that share one tuple of spread values, and so
// one spread score: the best of them is simply the best by their own score,
// kept at the top of a heap.
type group struct {
	// heap holds candidate indices, a max-heap by [placer.better].
	heap []int32
	// spread is the group's spread score for the placement being decided.
	spread float64
}

// group sorts the candidates into groups by their spread values and
// heapifies each group. Without spreads all candidates form one group.
func (p *placer) group() {
	ns := len(p.spreads)
	ids := make([]int32, len(p.cands))
	ngroups := 0
	if ns > 0 {
		ngroups = p.assignGroups(ids)
	} else if len(p.cands) > 0 {
		ngroups = 1
	}

	// Lay the groups out in one backing array, in candidate order, which
	// is node ID order.
	p.groups = make([]group, ngroups)
	p.groupVals = make([]int32, ngroups*ns)
	sizes := make([]int, ngroups)
	for c, g := range ids {
		if sizes[g] == 0 {
			node := p.cands[c].node
			for j := range p.spreads {
				p.groupVals[int(g)*ns+j] = valueOf(p.spreads[j].of, node)
			}
		}
		sizes[g]++
	}
	backing := make([]int32, len(ids))
	off := 0
	for g := range p.groups {
		p.groups[g].heap = backing[off : off : off+sizes[g]]
		off += sizes[g]
	}
	for c, g := range ids {
		p.cands[c].group = g
		p.groups[g].heap = append(p.groups[g].heap, int32(c))
	}
	for g := range p.groups {
		h := p.groups[g].heap
		for i := len(h)/2 - 1; i >= 0; i-- {
			p.siftDown(h, i)
		}
	}

	// The domain of an even spread is the values feasible nodes hold:
	// values only infeasible nodes hold could never receive a share.
	for j := range p.spreads {
		sp := &p.spreads[j]
		if sp.of == nil {
			continue
		}
		seen := make([]bool, len(sp.counts))
		for g := range p.groups {
			if v := p.groupVals[g*ns+j]; v != missing && !seen[v] {
				seen[v] = true
				sp.domain++
				sp.total += sp.counts[v]
			}
		}
	}
}

// assignGroups writes each candidate's group id into ids and returns the
// number of groups. The first spread's value id maps to a group directly;
// each further spread refines the groups through a map.
func (p *placer) assignGroups(ids []int32) int {
	first := p.spreads[0]
	n := 1
	if first.of != nil {
		n += len(first.counts)
	}
	dense := make([]int32, n)
	for k := range dense {
		dense[k] = -1
	}
	ngroups := int32(0)
	for c := range p.cands {
		v := valueOf(first.of, p.cands[c].node) + 1 // missing becomes 0
		if dense[v] < 0 {
			dense[v] = ngroups
			ngroups++
		}
		ids[c] = dense[v]
	}
	for j := 1; j < len(p.spreads); j++ {
		of := p.spreads[j].of
		refined := make(map[[2]int32]int32)
		ngroups = 0
		for c := range p.cands {
			key := [2]int32{ids[c], valueOf(of, p.cands[c].node)}
			g, ok := refined[key]
			if !ok {
				g = ngroups
				refined[key] = g
				ngroups++
			}
			ids[c] = g
		}
	}
	return int(ngroups)
}

// valueOf is node's value id in column of, which may be nil.
func valueOf(of []int32, node int32) int32 {
	if of == nil {
		return missing
	}
	return of[node]
}

// scoreSpreads sets every group's spread score for the next placement: the
// weighted boost of each of its values against an even share of the job's
// allocations, counting the one being placed. A value-less group (nodes
// lacking the attribute) gets the lowest boost, -1.
func (p *placer) scoreSpreads() {
	ns := len(p.spreads)
	if ns == 0 {
		return
	}
	for g := range p.groups {
		gr := &p.groups[g]
		if len(gr.heap) == 0 {
			continue
		}
		score := 0.0
		for j := range p.spreads {
			sp := &p.spreads[j]
			v := p.groupVals[g*ns+j]
			if v == missing {
				score -= sp.factor
				continue
			}
			share := float64(sp.total+1) / float64(sp.domain)
			score += sp.factor * spreadBoost(sp.counts[v], share)
		}
		gr.spread = score
	}
}

// better orders candidates within a group: higher score first, then lower
// node ID.
func (p *placer) better(a, b int32) bool {
	ca, cb := &p.cands[a], &p.cands[b]
	if ca.local != cb.local {
		return ca.local > cb.local
	}
	return ca.node < cb.node
}

func (p *placer) siftDown(h []int32, i int) {
	for {
		top, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && p.better(h[l], h[top]) {
			top = l
		}
		if r < len(h) && p.better(h[r], h[top]) {
			top = r
		}
		if top == i {
			return
		}
		h[i], h[top] = h[top], h[i]
		i = top
	}
}

// pop removes the top of gr's heap.
func (p *placer) pop(gr *group) {
	last := len(gr.heap) - 1
	gr.heap[0] = gr.heap[last]
	gr.heap = gr.heap[:last]
	p.siftDown(gr.heap, 0)
}
