package placement

// Result is the outcome of one [Snapshot.Place] call.
type Result struct {
	// Placements holds the chosen node ID for each allocation placed, in
	// order; its length is at most the ask's Count.
	Placements []string
	// Failed is how many allocations could not be placed. Allocations of
	// one ask are identical and capacity only shrinks within a call, so
	// once one fails every later one would too: they are the tail of the
	// Count.
	Failed int
	// Reason, when Failed > 0, says for humans why the first failed
	// allocation fit nowhere, naming the biggest blockers.
	Reason string
	// Metrics explains the decision, for job plan and for debugging.
	Metrics Metrics
}

// Metrics counts how the nodes fared. The node counts describe the nodes as
// the first allocation of the call saw them or, when an allocation failed,
// as the first failed allocation saw them, so they always explain Reason.
// Every node is counted once, against the first check it failed, in the
// order eligibility, constraints (in the ask's order), capacity.
type Metrics struct {
	// NodesEvaluated is the number of nodes in the snapshot.
	NodesEvaluated int
	// NodesIneligible counts nodes not ready, draining or ineligible.
	NodesIneligible int
	// NodesFiltered has one entry per constraint of the ask, in order.
	NodesFiltered []ConstraintFiltered
	// NodesExhausted counts nodes that passed every constraint but lacked
	// capacity.
	NodesExhausted Exhausted
	// NodesFeasible counts nodes that could take the allocation.
	NodesFeasible int
	// Scores has the score of the chosen node for each placement, in the
	// order of Placements.
	Scores []Score
}

// ConstraintFiltered is how many nodes one constraint was the first to
// reject.
type ConstraintFiltered struct {
	// Constraint is the constraint as text, such as "node.class = gpu" or
	// "distinct_hosts".
	Constraint string
	Nodes      int
}

// Exhausted counts the nodes that lacked capacity, by the dimension they
// lacked.
type Exhausted struct {
	// CPU counts nodes short of CPU only, Memory nodes short of memory
	// only, Both nodes short of both.
	CPU, Memory, Both int
}

// Score is the chosen node's score for one placement, with its terms; Total
// is their sum.
type Score struct {
	Node         string
	Total        float64
	BinPack      float64
	Spread       float64
	AntiAffinity float64
	Penalty      float64
}
