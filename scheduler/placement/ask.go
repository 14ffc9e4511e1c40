package placement

import "github.com/docketd/docket/specs"

// The constraint operators, as the job language declares them (see
// [specs.OpEqual] and the others for their meanings); [Snapshot.Place]
// evaluates each of [specs.Operators].
const (
	OpEqual         = specs.OpEqual
	OpNotEqual      = specs.OpNotEqual
	OpIn            = specs.OpIn
	OpNotIn         = specs.OpNotIn
	OpRegexp        = specs.OpRegexp
	OpDistinctHosts = specs.OpDistinctHosts
)

// Constraint restricts the nodes a job's allocations may be placed on.
type Constraint struct {
	// Attribute is one of [specs.NodeAttributes] (node.name, node.class,
	// node.os, node.arch) or node.meta.<key>; it is empty for
	// [OpDistinctHosts].
	Attribute string
	// Operator is one of the Op constants.
	Operator string
	// Value is compared with the attribute: a comma-separated list for
	// [OpIn] and [OpNotIn] (items are trimmed of spaces), a regular
	// expression for [OpRegexp].
	Value string
}

// Spread asks placement to even out a job's allocations over the values of
// a node attribute.
type Spread struct {
	// Attribute is a node attribute, as in [Constraint].
	Attribute string
	// Weight, from 1 to 100, is how much the spread counts against
	// bin-packing: at the default 50 a fully uneven spread weighs as much
	// as the difference between an empty and a full node.
	Weight int
}

// Ask is one request to place allocations of a job.
type Ask struct {
	// Job names the job, for the caller's records: placement does not
	// depend on it.
	Job string
	// CPU and Memory are one allocation's total, in millicores and MiB.
	// Negative values count as zero.
	CPU, Memory int64
	// Count is how many allocations to place in this call.
	Count       int
	Constraints []Constraint
	Spreads     []Spread
	// Existing maps node IDs to the job's allocations already on that node
	// (not terminal). They count for distinct_hosts, for spread and for
	// job anti-affinity. Entries for nodes not in the snapshot count only
	// toward the job's size, which scales anti-affinity.
	Existing map[string]int
	// Penalty holds the IDs of nodes where the job failed recently. They
	// stay feasible but rank lower, so a failing node is retried only when
	// nothing comparable is left.
	Penalty map[string]bool
}
