package placement

import "math"

// The scoring constants.
const (
	// penaltyScore is subtracted from nodes where the job failed recently.
	// It is as large as the whole bin-pack range, so a penalized node loses
	// to any node that is comparable on spread and anti-affinity, and still
	// wins when it is the only choice.
	penaltyScore = 1.0
	// spreadUnitWeight is the spread weight at which a spread's full range
	// weighs as much as bin-packing's: the job language's default weight.
	spreadUnitWeight = 50.0
)

// binPackScore scores a node by how full it would be once the allocation is
// placed: 0 for a node left empty, 1 for a node left exactly full, so the
// fullest node that still fits wins and whole nodes stay free for large
// allocations. Free fractions of CPU and memory each enter as 10^free, as in
// Nomad's ScoreFitBinPack. The curve is convex, which does two things: for
// the same total of free fractions a node used evenly in both dimensions
// scores higher (half full in both: 0.76; full CPU and empty memory: 0.5),
// so neither resource is stranded; and scores of nearly full nodes sit close
// together, so among them spread and anti-affinity decide more easily.
func binPackScore(freeCPU, capCPU, freeMemory, capMemory int64) float64 {
	sum := pow10(freeFraction(freeCPU, capCPU)) + pow10(freeFraction(freeMemory, capMemory))
	// sum runs from 2 (both full) to 20 (both empty).
	return min(max((20-sum)/18, 0), 1)
}

// freeFraction is free/capacity clamped to [0, 1]; a node without capacity
// in a dimension counts as full in it.
func freeFraction(free, capacity int64) float64 {
	if capacity <= 0 {
		return 0
	}
	return min(max(float64(free)/float64(capacity), 0), 1)
}

// pow10Steps is the resolution of pow10Table.
const pow10Steps = 1024

// pow10Table holds 10^(k/pow10Steps) for k in [0, pow10Steps]. It is
// computed once and only ever read: a constant table in all but syntax.
var pow10Table = func() (t [pow10Steps + 1]float64) {
	for k := range t {
		t[k] = math.Exp(float64(k) / pow10Steps * math.Ln10)
	}
	return t
}()

// pow10 is 10^x for x in [0, 1], interpolated linearly in pow10Table. It
// runs twice for every feasible node of every call, where math.Exp would
// be the largest cost of a placement; the interpolation is within 1e-5 of
// the exact value, far below any score difference that matters, and is
// monotonic, so a fuller node never scores lower.
func pow10(x float64) float64 {
	y := x * pow10Steps
	k := int(y)
	if k >= pow10Steps {
		return pow10Table[pow10Steps]
	}
	lo := pow10Table[k]
	return lo + (pow10Table[k+1]-lo)*(y-float64(k))
}

// spreadBoost scores an attribute value holding count of the job's
// allocations when an even spread would give each value share: 1 for an
// empty value, 0 at exactly the share, down to -1 for a value holding twice
// the share or more. share already counts the allocation being placed, so
// the first allocation over five empty zones sees every zone at +1, and the
// sixth, with one in each, sees every zone equal: spread then leaves the
// choice to bin-packing.
func spreadBoost(count int32, share float64) float64 {
	return min(max((share-float64(count))/share, -1), 1)
}

// antiAffinityScore is minus the fraction of the job's allocations already
// on the node. Like Nomad's job anti-affinity it is relative to the job's
// size: the second replica of a three-replica job loses a third of a point
// on a node holding the first, enough to outweigh most bin-pack
// differences, while a job of three hundred packs nearly as tightly as if
// the term were absent.
func antiAffinityScore(onNode int32, desired float64) float64 {
	if onNode == 0 {
		return 0
	}
	return -float64(onNode) / desired
}
