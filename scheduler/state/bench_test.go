package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/docketd/docket/internal/store"
)

// memStore is a store whose commits succeed at once and keep nothing, so
// that a benchmark measures applying a command, not the disk.
type memStore struct{}

var _ Store = memStore{}

func (memStore) Get(string, string) ([]byte, error)               { return nil, nil }
func (memStore) ForEach(string, func(string, []byte) error) error { return nil }
func (memStore) Commit(store.WriteSet) error                      { return nil }
func (memStore) Err() error                                       { return nil }

func (memStore) Enqueue(store.WriteSet) <-chan error {
	done := make(chan error, 1)
	done <- nil
	return done
}

// benchState is a state on memStore with nodes nodes of ample capacity.
func benchState(b *testing.B, nodes int) *State {
	b.Helper()
	s, err := Open(memStore{}, fixedNow)
	if err != nil {
		b.Fatal(err)
	}
	for i := range nodes {
		if _, err := s.Apply(RegisterNode{Node: node(fmt.Sprintf("n%04d", i), 1<<40, 1<<40)}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func benchApply(b *testing.B, s *State, cmd Command) Result {
	res, err := s.Apply(cmd)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkApply measures applying commands in memory, the encoding of the
// records they write included: the scheduler's hot path is ApplyPlan with
// a job's worth of placements and the agents' status reports.
func BenchmarkApply(b *testing.B) {
	b.Run("ApplyPlan100", func(b *testing.B) {
		s := benchState(b, 1000)
		ids := make([]string, 100)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			p := ApplyPlan{EvalID: "e", Evals: []*Evaluation{{ID: "e", Job: "web", Status: EvalComplete}}}
			for k := range ids {
				ids[k] = fmt.Sprintf("a%d-%d", i, k)
				p.Place = append(p.Place, &Allocation{ID: ids[k], Job: "web", JobVersion: 1,
					NodeID: fmt.Sprintf("n%04d", (i*100+k)%1000), CPU: 100, Memory: 64})
			}
			b.StartTimer()
			if res := benchApply(b, s, p); len(res.Rejected) > 0 {
				b.Fatalf("rejected %v", res.Rejected)
			}
			b.StopTimer()
			benchApply(b, s, DeleteAllocs{IDs: ids})
			b.StartTimer()
		}
	})
	b.Run("UpdateAllocs", func(b *testing.B) {
		s := benchState(b, 1)
		benchApply(b, s, ApplyPlan{Place: []*Allocation{{ID: "a1", Job: "web", NodeID: "n0000", CPU: 1, Memory: 1}}})
		status := []string{AllocRunning, AllocPending}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			st := status[i%2]
			benchApply(b, s, UpdateAllocs{Reported: true, Updates: []AllocUpdate{{ID: "a1", ClientStatus: st,
				Tasks: map[string]*TaskState{"t": {State: st}}, At: fixedNow()}}})
		}
	})
	b.Run("RegisterJob", func(b *testing.B) {
		s := benchState(b, 0)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			benchApply(b, s, RegisterJob{Spec: job("web", 1+i%2), Eval: &Evaluation{ID: fmt.Sprintf("e%d", i), Job: "web",
				TriggeredBy: "job-register", Status: EvalPending, CreatedAt: fixedNow().Add(time.Duration(i))}})
		}
	})
}
