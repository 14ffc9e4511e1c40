package placement

import (
	"slices"
	"strings"

	"github.com/docketd/docket/specs"
)

// Snapshot is an immutable, pre-indexed view of the nodes, built once per
// state version and shared by many [Snapshot.Place] calls, concurrently if
// need be: Place only reads it.
//
// Nodes are held as columns, sorted by ID so that a node's index orders it
// for tie-breaks, and every attribute is interned: a column maps each node
// to a small value id, so constraints are decided once per distinct value
// and spreads count allocations per value id instead of per string.
type Snapshot struct {
	ids      []string
	index    map[string]int32
	eligible []bool
	// cpu and memory are the allocatable capacity; freeCPU and freeMemory
	// what the allocations already placed leave of it.
	cpu, memory         []int64
	freeCPU, freeMemory []int64
	// attrs maps an attribute name (node.class, node.meta.zone…) to its
	// column. An attribute no node has has no column.
	attrs map[string]*column
}

// column is one attribute interned over all nodes of a [Snapshot].
type column struct {
	// values holds the distinct values; a value's id is its index.
	values []string
	// of holds each node's value id, or -1 when the node lacks the
	// attribute.
	of []int32
}

// missing is the value id of a node that lacks an attribute.
const missing = -1

// NewSnapshot indexes nodes. It copies what it needs, so the caller may
// reuse or change nodes (and their Meta maps) afterwards. Node IDs must be
// unique.
func NewSnapshot(nodes []Node) *Snapshot {
	n := len(nodes)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := strings.Compare(nodes[a].ID, nodes[b].ID); c != 0 {
			return c
		}
		return a - b
	})

	s := &Snapshot{
		ids:        make([]string, n),
		index:      make(map[string]int32, n),
		eligible:   make([]bool, n),
		cpu:        make([]int64, n),
		memory:     make([]int64, n),
		freeCPU:    make([]int64, n),
		freeMemory: make([]int64, n),
	}
	fixed := [...]*columnBuilder{newColumnBuilder(n), newColumnBuilder(n), newColumnBuilder(n), newColumnBuilder(n)}
	meta := make(map[string]*columnBuilder)
	for i, j := range order {
		nd := &nodes[j]
		s.ids[i] = nd.ID
		s.index[nd.ID] = int32(i)
		s.eligible[i] = nd.Eligible
		s.cpu[i], s.memory[i] = nd.CPU, nd.Memory
		s.freeCPU[i], s.freeMemory[i] = nd.CPU-nd.UsedCPU, nd.Memory-nd.UsedMemory
		for k, v := range [...]string{nd.Name, nd.Class, nd.OS, nd.Arch} {
			if v != "" {
				fixed[k].set(i, v)
			}
		}
		for k, v := range nd.Meta {
			b := meta[k]
			if b == nil {
				b = newColumnBuilder(n)
				meta[k] = b
			}
			b.set(i, v)
		}
	}

	s.attrs = make(map[string]*column, len(fixed)+len(meta))
	for k, name := range [...]string{specs.AttrNodeName, specs.AttrNodeClass, specs.AttrNodeOS, specs.AttrNodeArch} {
		if len(fixed[k].col.values) > 0 {
			s.attrs[name] = fixed[k].done()
		}
	}
	for k, b := range meta {
		s.attrs[specs.NodeMetaPrefix+k] = b.done()
	}
	return s
}

// validAttribute reports whether attr names a node attribute: one of
// [specs.NodeAttributes], or [specs.NodeMetaPrefix] and any key (the job
// language allows fewer keys; placement evaluates whatever a node's meta
// holds).
func validAttribute(attr string) bool {
	switch attr {
	case specs.AttrNodeName, specs.AttrNodeClass, specs.AttrNodeOS, specs.AttrNodeArch:
		return true
	}
	return strings.HasPrefix(attr, specs.NodeMetaPrefix) && len(attr) > len(specs.NodeMetaPrefix)
}

// columnBuilder interns one attribute while a [Snapshot] is built; the
// lookup map is dropped with the builder.
type columnBuilder struct {
	col    *column
	lookup map[string]int32
	// last and lastID remember the previous value set: attributes such as
	// node.os are mostly one value, and a string compare is cheaper than a
	// map lookup.
	last   string
	lastID int32
}

func newColumnBuilder(n int) *columnBuilder {
	of := make([]int32, n)
	for i := range of {
		of[i] = missing
	}
	return &columnBuilder{col: &column{of: of}, lookup: make(map[string]int32)}
}

// done returns the finished column, its values trimmed to size: a snapshot
// lives as long as its state version and there may be several.
func (b *columnBuilder) done() *column {
	b.col.values = slices.Clone(b.col.values)
	return b.col
}

func (b *columnBuilder) set(node int, value string) {
	if len(b.col.values) > 0 && value == b.last {
		b.col.of[node] = b.lastID
		return
	}
	id, ok := b.lookup[value]
	if !ok {
		id = int32(len(b.col.values))
		b.col.values = append(b.col.values, value)
		b.lookup[value] = id
	}
	b.col.of[node] = id
	b.last, b.lastID = value, id
}

// WithUsage returns a snapshot of the same nodes with the capacity their
// allocations use now, as used reports it by node ID. It shares everything
// but the free-capacity columns with s, so the scheduler can follow
// allocations coming and going at the cost of one pass over the nodes,
// and rebuild the attribute index only when nodes change.
func (s *Snapshot) WithUsage(used func(id string) (cpu, memory int64)) *Snapshot {
	out := *s
	out.freeCPU = make([]int64, len(s.ids))
	out.freeMemory = make([]int64, len(s.ids))
	for i, id := range s.ids {
		c, m := used(id)
		out.freeCPU[i], out.freeMemory[i] = s.cpu[i]-c, s.memory[i]-m
	}
	return &out
}
