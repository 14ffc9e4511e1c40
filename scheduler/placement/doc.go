// Package placement decides where a job's allocations go: which nodes can
// take one allocation (feasibility) and which of those is best (ranking). It
// is a pure decision core: [Snapshot.Place] reads an immutable [Snapshot] of
// the nodes and returns a [Result]; it commits nothing. The scheduler turns
// the result into one state command that checks every node's capacity
// again, so concurrent evaluations that chose from the same snapshot never
// over-commit a node; [Fits] is the capacity test both sides share. The
// constraint operators and node attributes it evaluates are those the job
// language declares ([specs.Operators], [specs.NodeAttributes]); a test
// places on each of them.
//
// # Feasibility
//
// A node is feasible for one allocation when it is eligible, has the free
// CPU and memory the allocation asks for, and satisfies every constraint of
// the [Ask]. Nodes are checked in that order and each infeasible node is
// counted against the first check it failed, so [Metrics] and the failure
// Reason name the blockers that actually mattered.
//
// Constraints do not change within a call, so they are evaluated once per
// distinct attribute value rather than once per node: the [Snapshot] interns
// every attribute into a column of value ids, and a constraint compiles into
// a pass/fail table over those ids. Filtering 5,000 nodes is then a loop of
// array lookups.
//
// # Ranking
//
// A feasible node's score is the sum of four terms:
//
//   - bin-pack, in [0, 1]: how full the node would be after the placement,
//     the fuller the better, so that whole nodes stay free for big asks;
//   - spread, for each [Spread]: a boost in [-1, 1] for nodes whose attribute
//     value holds fewer of the job's allocations than an even share, scaled
//     by the spread's weight (the default weight, 50, weighs as much as
//     bin-packing);
//   - job anti-affinity, in [-1, 0]: the share of the job's allocations
//     already on the node, so that a few replicas land on different nodes
//     while a job of hundreds still packs;
//   - penalty, -1 on nodes where the job failed recently.
//
// The highest score wins; ties go to the lowest node ID, so a placement is a
// function of its input alone.
//
// # Why it is fast without sampling
//
// Nomad bounds the cost of ranking by scoring only a few feasible nodes per
// placement (its LimitIterator), trading quality for time. Place instead
// finds the exact best node. Within one call only two things change after a
// placement: the chosen node (its free capacity and its count of the job's
// allocations) and the spread counts of the chosen node's attribute values.
// So feasible nodes are grouped by their tuple of spread values (a zone
// spread over 10 zones makes 10 groups); within a group every node has the
// same spread score, so each group is a max-heap on the node's own score.
// Choosing a node compares the top of every group; placing updates one node
// and re-sifts one heap. A call costs one pass over the nodes to filter and
// score them, then O(G·S + log N) per allocation for G groups and S spreads.
// Nothing is sampled, so the choice is the best there is, and determinism
// needs no seeded randomness.
//
// Two consequences for callers. The pass over the nodes is most of the cost
// of a call, so a job's allocations should be placed in one call rather than
// one call each. And a spread over an attribute that nearly every node holds
// a different value of, such as node.name, makes every node its own group,
// so each placement compares them all; distinct_hosts and anti-affinity are
// the cheap ways to keep replicas apart.
package placement
