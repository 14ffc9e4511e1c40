package reconcile

import (
	"slices"
	"testing"

	"github.com/docketd/docket/specs"
)

// TestComputeFollowsTheTable reconciles a job of every declared type, and of
// an unknown one, as its kind's plan says: Compute has a branch for every
// plan the table uses, and asks the table rather than the type's name.
func TestComputeFollowsTheTable(t *testing.T) {
	types := append(specs.JobTypes(), "cron")
	for _, typ := range types {
		plan := specs.KindOf(typ).Plan
		t.Run(typ, func(t *testing.T) {
			job := typed(service(2), typ)
			// Index 0 completed, index 1 never placed.
			res := Compute(input(job, at(0), alloc("a0", 0, status(ClientComplete))))
			var indexes []int
			for _, p := range res.Place {
				indexes = append(indexes, p.Index)
			}
			var want []int
			switch plan {
			case specs.PlanCount:
				// A completed allocation is replaced; the missing one placed.
				want = []int{0, 1}
			case specs.PlanCompletion:
				// A completed index is done.
				want = []int{1}
			case specs.PlanPerMessage, specs.PlanNothing:
				// Placed by the driver, or not at all.
			default:
				t.Fatalf("plan %d of %q: Compute has no branch for it", plan, typ)
			}
			if !slices.Equal(indexes, want) {
				t.Errorf("placed indexes: got %v, want %v", indexes, want)
			}
		})
	}
}
