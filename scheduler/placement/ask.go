package placement

// The constraint operators, with the meaning the job language gives them.
const (
	// OpEqual requires the attribute to be set and equal to the value.
	OpEqual = "="
	// OpNotEqual requires the attribute to differ from the value; a node
	// lacking the attribute passes.
	OpNotEqual = "!="
	// OpIn requires the attribute to be set and to be one of the
	// comma-separated values.
	OpIn = "in"
	// OpNotIn requires the attribute to be none of the comma-separated
	// values; a node lacking the attribute passes.
	OpNotIn = "not_in"
	// OpRegexp requires the attribute to be set and to contain a match of
	// the regular expression (unanchored, Go RE2 syntax).
	OpRegexp = "regexp"
	// OpDistinctHosts allows at most one allocation of the job per node. It
	// takes neither attribute nor value.
	OpDistinctHosts = "distinct_hosts"
)

// The attributes a constraint or a spread may name. Meta attributes are
// metaPrefix followed by the key.
const (
	attrName   = "node.name"
	attrClass  = "node.class"
	attrOS     = "node.os"
	attrArch   = "node.arch"
	metaPrefix = "node.meta."
)

// Constraint restricts the nodes a job's allocations may be placed on.
type Constraint struct {
	// Attribute is node.name, node.class, node.os, node.arch or
	// node.meta.<key>; it is empty for [OpDistinctHosts].
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
