package placement

// Node is what placement needs to know of one node. The scheduler builds it
// from the node record and the allocations placed on the node.
type Node struct {
	// ID is the node's unique identifier. Ties between equally good nodes
	// go to the lowest ID.
	ID string
	// Name, Class, OS and Arch are the attributes node.name, node.class,
	// node.os and node.arch. An empty value means the node lacks the
	// attribute.
	Name, Class, OS, Arch string
	// Meta holds the attributes node.meta.<key>. A key that is present
	// counts as set, even with an empty value.
	Meta map[string]string
	// Eligible is true when the node is ready, eligible for scheduling and
	// not draining: only eligible nodes receive new allocations.
	Eligible bool
	// CPU and Memory are the node's allocatable capacity, in millicores
	// and MiB.
	CPU, Memory int64
	// UsedCPU and UsedMemory are what the allocations already placed on the
	// node, and not terminal, reserve.
	UsedCPU, UsedMemory int64
}

// Fits reports whether one allocation of cpu millicores and memory MiB fits
// in n's free capacity. It checks capacity only, not eligibility or
// constraints: it is the test the state store repeats when it commits a
// placement, so that two evaluations placing on the same snapshot cannot
// together over-commit a node.
func Fits(n *Node, cpu, memory int64) bool {
	return fits(n.CPU-n.UsedCPU, n.Memory-n.UsedMemory, cpu, memory)
}

// fits is [Fits] on free amounts; Place uses it on its own running tally of
// free capacity so that both agree exactly.
func fits(freeCPU, freeMemory, cpu, memory int64) bool {
	return freeCPU >= cpu && freeMemory >= memory
}
