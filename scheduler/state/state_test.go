package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
	"github.com/docketd/docket/specs"
)

func openState(t *testing.T, dir string) *State {
	t.Helper()
	db, err := store.Open(store.Options{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.check(t) })
	return s
}

// check verifies the state's derived indexes against its records: every
// node's usage is the sum of its unfinished allocations and never exceeds
// its capacity.
func (s *State) check(t *testing.T) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	sums := map[string]resources{}
	for _, a := range s.allocs {
		if s.allocsByNode[a.NodeID][a.ID] != a || s.allocsByJob[a.Job][a.ID] != a {
			t.Errorf("allocation %s missing from its indexes", a.ID)
		}
		if a.Holds() {
			u := sums[a.NodeID]
			u.cpu += a.CPU
			u.memory += a.Memory
			sums[a.NodeID] = u
		}
	}
	for id, u := range s.usage {
		if u != sums[id] {
			t.Errorf("node %s usage %+v, want %+v", id, u, sums[id])
		}
		if n := s.nodes[id]; n != nil && (u.cpu > n.CPU || u.memory > n.Memory) {
			t.Errorf("node %s over-committed: %+v of %d/%d", id, u, n.CPU, n.Memory)
		}
	}
}

func job(name string, count int) *specs.Job {
	return &specs.Job{Name: name, Type: specs.JobService, Count: count, Priority: 50,
		Tasks: []*specs.Task{{Name: "t", Image: "img", Resources: specs.Resources{CPU: 100, Memory: 64}}}}
}

func node(id string, cpu, mem int64) *Node {
	return &Node{ID: id, Name: id, OS: "linux", Arch: "amd64", CPU: cpu, Memory: mem, Healthy: true}
}

func mustApply(t *testing.T, s *State, cmd Command) Result {
	t.Helper()
	res, err := s.Apply(cmd)
	if err != nil {
		t.Fatalf("Apply(%T): %v", cmd, err)
	}
	return res
}

func TestRegisterJobVersions(t *testing.T) {
	s := openState(t, t.TempDir())
	r1 := mustApply(t, s, RegisterJob{Spec: job("web", 2), Eval: &Evaluation{ID: "e1", Job: "web", Status: EvalPending}})
	if !r1.JobChanged || r1.Job.Version != 1 || r1.Job.Count != 2 {
		t.Fatalf("first register: got %+v", r1)
	}
	r2 := mustApply(t, s, RegisterJob{Spec: job("web", 2)})
	if r2.JobChanged || r2.Job.Version != 1 || r2.Index != r1.Index {
		t.Fatalf("same spec again: got changed=%v version=%d index=%d, want unchanged at %d", r2.JobChanged, r2.Job.Version, r2.Index, r1.Index)
	}
	r3 := mustApply(t, s, RegisterJob{Spec: job("web", 3)})
	if !r3.JobChanged || r3.Job.Version != 2 || r3.Index <= r1.Index {
		t.Fatalf("changed spec: got %+v", r3)
	}
	mustApply(t, s, StopJob{Name: "web"})
	s.View(func(r *Reader) {
		if j := r.Job("web"); !j.Stopped {
			t.Errorf("job not stopped")
		}
		if e := r.Eval("e1"); e == nil || e.CreateIndex != r1.Index {
			t.Errorf("evaluation e1: got %+v, want created at %d", e, r1.Index)
		}
	})
	r4 := mustApply(t, s, RegisterJob{Spec: job("web", 3)})
	if r4.Job.Stopped || r4.Job.Version != 2 {
		t.Fatalf("re-registering a stopped job: got %+v, want running at version 2", r4.Job)
	}
	if _, err := s.Apply(ScaleJob{Name: "nope", Count: 1}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("scale unknown job: got %v, want not found", err)
	}
}

func TestPlanRechecksCapacity(t *testing.T) {
	s := openState(t, t.TempDir())
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
	mustApply(t, s, RegisterJob{Spec: job("web", 3)})
	alloc := func(id string, cpu int64) *Allocation {
		return &Allocation{ID: id, Job: "web", JobVersion: 1, NodeID: "n1", CPU: cpu, Memory: 256}
	}
	res := mustApply(t, s, ApplyPlan{EvalID: "e", Place: []*Allocation{alloc("a1", 600), alloc("a2", 600), alloc("a3", 300)}})
	if fmt.Sprint(res.Rejected) != "[a2]" {
		t.Fatalf("got rejected %v, want [a2] (600+600 > 1000)", res.Rejected)
	}
	s.View(func(r *Reader) {
		if cpu, mem := r.NodeUsage("n1"); cpu != 900 || mem != 512 {
			t.Errorf("usage %d/%d, want 900/512", cpu, mem)
		}
		if a := r.Alloc("a1"); a.ClientStatus != AllocPending || a.DesiredStatus != DesiredRun || a.EvalID != "e" {
			t.Errorf("placed allocation %+v", a)
		}
	})
	// A stop alone does not free the node; the client finishing does.
	mustApply(t, s, ApplyPlan{Stop: []AllocStop{{ID: "a1", Reason: "scale in"}}})
	if res := mustApply(t, s, ApplyPlan{Place: []*Allocation{alloc("a4", 600)}}); len(res.Rejected) != 1 {
		t.Fatalf("placement onto resources a stopping allocation still holds: got %v rejected, want 1", res.Rejected)
	}
	mustApply(t, s, UpdateAllocs{Updates: []AllocUpdate{{ID: "a1", ClientStatus: AllocComplete}}})
	if res := mustApply(t, s, ApplyPlan{Place: []*Allocation{alloc("a5", 600)}}); len(res.Rejected) != 0 {
		t.Fatalf("placement after the stop finished: got %v rejected", res.Rejected)
	}
	// An ineligible or down node takes nothing.
	mustApply(t, s, SetNodeEligibility{ID: "n1", Eligible: false})
	if res := mustApply(t, s, ApplyPlan{Place: []*Allocation{alloc("a6", 1)}}); len(res.Rejected) != 1 {
		t.Fatalf("placement on an ineligible node: got %v rejected, want 1", res.Rejected)
	}
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(store.Options{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
	mustApply(t, s, RegisterJob{Spec: job("web", 1), Eval: &Evaluation{ID: "e1", Job: "web", Status: EvalPending}})
	mustApply(t, s, ApplyPlan{EvalID: "e1", Place: []*Allocation{{ID: "a1", Job: "web", JobVersion: 1, NodeID: "n1", CPU: 100, Memory: 64}}})
	mustApply(t, s, UpdateAllocs{Updates: []AllocUpdate{{ID: "a1", ClientStatus: AllocRunning, Tasks: map[string]*TaskState{"t": {State: "running"}}}}})
	mustApply(t, s, SetNodeDrain{ID: "n1", Drain: &Drain{StartedAt: time.Unix(100, 0).UTC()}})
	var before struct {
		idx    uint64
		jobs   []*Job
		nodes  []*Node
		allocs []*Allocation
		evals  []*Evaluation
	}
	s.View(func(r *Reader) {
		before.idx, before.jobs, before.nodes, before.allocs, before.evals = r.Index(), r.Jobs(), r.Nodes(), r.Allocs("", "", ""), r.Evals("")
	})
	db.Close()
	s2 := openState(t, dir)
	s2.View(func(r *Reader) {
		if r.Index() != before.idx {
			t.Errorf("index %d after restart, want %d", r.Index(), before.idx)
		}
		for name, pair := range map[string][2]any{
			"jobs":   {r.Jobs(), before.jobs},
			"nodes":  {r.Nodes(), before.nodes},
			"allocs": {r.Allocs("", "", ""), before.allocs},
			"evals":  {r.Evals(""), before.evals},
		} {
			if fmt.Sprintf("%+v", jsonOf(t, pair[0])) != fmt.Sprintf("%+v", jsonOf(t, pair[1])) {
				t.Errorf("%s after restart:\n got %s\nwant %s", name, jsonOf(t, pair[0]), jsonOf(t, pair[1]))
			}
		}
		if cpu, _ := r.NodeUsage("n1"); cpu != 100 {
			t.Errorf("usage after restart %d, want 100", cpu)
		}
		// What changed before the restart reads as changed at the loaded
		// index, so that a blocking query from before it is answered and
		// the next one waits (instead of an agent polling from 0).
		for name, idx := range map[string]uint64{"node view": r.NodeViewIndex("n1"), "node allocations": r.NodeAllocsIndex("n1"),
			"job": r.JobIndex("web"), "allocations table": r.TableIndex(TableAllocs), "unknown node": r.NodeViewIndex("n9")} {
			if idx != before.idx {
				t.Errorf("%s index %d after restart, want the loaded index %d", name, idx, before.idx)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if idx, err := s2.WaitIndex(ctx, before.idx-1, func(r *Reader) uint64 { return r.NodeViewIndex("n1") }); err != nil || idx != before.idx {
		t.Errorf("waiting from before the restart: %d, %v; want %d at once", idx, err, before.idx)
	}
	if _, err := s2.WaitIndex(ctx, before.idx, func(r *Reader) uint64 { return r.NodeViewIndex("n1") }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting from the loaded index with nothing new: %v, want deadline exceeded", err)
	}
}

// A report that was sent before an allocation's final one and arrives
// after it changes nothing: the final report stands.
func TestReportAfterEndIgnored(t *testing.T) {
	s := openState(t, t.TempDir())
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
	mustApply(t, s, ApplyPlan{Place: []*Allocation{{ID: "a1", Job: "web", NodeID: "n1", CPU: 1, Memory: 1}}})
	final := map[string]*TaskState{"t": {State: "dead", ExitCode: 3, Failed: true}}
	mustApply(t, s, UpdateAllocs{Reported: true, Updates: []AllocUpdate{{ID: "a1", ClientStatus: AllocFailed, ClientReason: "task t failed", Tasks: final}}})
	res := mustApply(t, s, UpdateAllocs{Reported: true, Updates: []AllocUpdate{{ID: "a1", ClientStatus: AllocRunning, ClientReason: "stale",
		Tasks: map[string]*TaskState{"t": {State: "running"}}}}})
	if !res.Noop {
		t.Errorf("the late report was a change at index %d", res.Index)
	}
	s.View(func(r *Reader) {
		a := r.Alloc("a1")
		if a.ClientStatus != AllocFailed || a.ClientReason != "task t failed" || a.Tasks["t"].State != "dead" || a.Tasks["t"].ExitCode != 3 {
			t.Errorf("after a late report: %s (%s), task %+v; want the final report", a.ClientStatus, a.ClientReason, a.Tasks["t"])
		}
	})
}

// TestConcurrentPlansNeverOvercommit applies many plans at once, each
// placing on the same few nodes, and checks after every commit that no node
// holds more than its capacity.
func TestConcurrentPlansNeverOvercommit(t *testing.T) {
	s := openState(t, t.TempDir())
	for i := 0; i < 3; i++ {
		mustApply(t, s, RegisterNode{Node: node(fmt.Sprintf("n%d", i), 2000, 2048)})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	placed := 0
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				var p ApplyPlan
				for k := 0; k < 3; k++ {
					p.Place = append(p.Place, &Allocation{ID: fmt.Sprintf("w%d-%d-%d", w, i, k), Job: "j",
						NodeID: fmt.Sprintf("n%d", (w+i+k)%3), CPU: 150, Memory: 100})
				}
				res, err := s.Apply(p)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				placed += len(p.Place) - len(res.Rejected)
				mu.Unlock()
				s.check(t)
			}
		}()
	}
	wg.Wait()
	// 2000 millicores / 150 per allocation = 13 per node.
	if placed != 39 {
		t.Fatalf("placed %d allocations, want exactly 39 (13 per node)", placed)
	}
}

func TestWaitIndexWakesOnChange(t *testing.T) {
	s := openState(t, t.TempDir())
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
	var since uint64
	s.View(func(r *Reader) { since = r.NodeAllocsIndex("n1") })
	got := make(chan uint64, 1)
	go func() {
		idx, err := s.WaitIndex(context.Background(), since, func(r *Reader) uint64 { return r.NodeAllocsIndex("n1") })
		if err != nil {
			t.Error(err)
		}
		got <- idx
	}()
	mustApply(t, s, RegisterJob{Spec: job("other", 1)}) // another table: no wake-up for n1
	res := mustApply(t, s, ApplyPlan{Place: []*Allocation{{ID: "a1", Job: "web", NodeID: "n1", CPU: 1, Memory: 1}}})
	if idx := <-got; idx != res.Index {
		t.Fatalf("woke at index %d, want %d (the plan for n1)", idx, res.Index)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.WaitIndex(ctx, res.Index, func(r *Reader) uint64 { return r.NodeAllocsIndex("n1") }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting with nothing to come: got %v, want deadline exceeded", err)
	}
	evs, gap, err := s.Events(context.Background(), 0, func(e Event) bool { return e.Topic == "Allocation" })
	if err != nil || gap || len(evs) != 1 || evs[0].Key != "a1" || evs[0].Type != "AllocationPlaced" {
		t.Fatalf("events: %+v gap=%v err=%v", evs, gap, err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// NodeViewIndex moves for what a node's agent must learn (a new or
// stopped allocation, one the server marks lost) and stays put for the
// agent's own reports and for ended allocations; NodeAllocsIndex moves for
// all of them.
func TestNodeViewIndex(t *testing.T) {
	s := openState(t, t.TempDir())
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
	indexes := func() (view, allocs uint64) {
		s.View(func(r *Reader) { view, allocs = r.NodeViewIndex("n1"), r.NodeAllocsIndex("n1") })
		return
	}
	place := func(id string) Result {
		return mustApply(t, s, ApplyPlan{Place: []*Allocation{{ID: id, Job: "web", NodeID: "n1", CPU: 1, Memory: 1}}})
	}
	steps := []struct {
		name     string
		apply    func() Result
		viewMove bool
	}{
		{"placed", func() Result { return place("a1") }, true},
		{"reported running", func() Result {
			return mustApply(t, s, UpdateAllocs{Reported: true, Updates: []AllocUpdate{{ID: "a1", ClientStatus: AllocRunning}}})
		}, false},
		{"marked lost by the server", func() Result {
			return mustApply(t, s, UpdateAllocs{Updates: []AllocUpdate{{ID: "a1", ClientStatus: AllocLost}}})
		}, true},
		{"dispatch placed", func() Result {
			return mustApply(t, s, ApplyPlan{Place: []*Allocation{{ID: "d1", Job: "fn", NodeID: "n1", CPU: 1, Memory: 1,
				Dispatch: &Dispatch{Queue: "in", MessageID: "m1"}}}})
		}, true},
		{"dispatch reported complete", func() Result {
			return mustApply(t, s, UpdateAllocs{Reported: true, Updates: []AllocUpdate{{ID: "d1", ClientStatus: AllocComplete}}})
		}, false},
		{"dispatch settled after its end", func() Result { return mustApply(t, s, SettleDispatch{IDs: []string{"d1"}}) }, false},
		{"ended one deleted", func() Result { return mustApply(t, s, DeleteAllocs{IDs: []string{"a1"}}) }, false},
		{"another placed", func() Result { return place("a2") }, true},
		{"reported complete", func() Result {
			return mustApply(t, s, UpdateAllocs{Reported: true, Updates: []AllocUpdate{{ID: "a2", ClientStatus: AllocComplete}}})
		}, false},
	}
	for _, st := range steps {
		view0, _ := indexes()
		res := st.apply()
		view, allocs := indexes()
		if allocs != res.Index {
			t.Errorf("%s: NodeAllocsIndex %d, want %d", st.name, allocs, res.Index)
		}
		if moved := view != view0; moved != st.viewMove {
			t.Errorf("%s: NodeViewIndex moved %v (%d → %d), want %v", st.name, moved, view0, view, st.viewMove)
		}
	}
}

// TestCommitErrKeepsStorageClass: a command whose write fails on a full or
// failing disk reports that class (the API answers 507 storage_full or 503
// storage_failed), not an internal error; anything else the store refuses
// is internal.
func TestCommitErrKeepsStorageClass(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  error
	}{
		{errdefs.Storage("state store", fmt.Errorf("write: %w", syscall.ENOSPC)), errdefs.ErrStorageFull},
		{errdefs.Storage("state store", errors.New("input/output error")), errdefs.ErrStorageFailed},
		{errors.New("bucket not found"), errdefs.ErrInternal},
	} {
		if err := commitErr(7, tc.cause); !errors.Is(err, tc.want) {
			t.Errorf("commitErr(%v): got %v, want class %v", tc.cause, err, tc.want)
		}
	}
}

// A placement that fills its node exactly fits; one unit more of CPU or
// memory does not (the test is placement.Fits, as when it was chosen).
func TestPlanFitsAtTheBoundary(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cpu, memory int64
		fits        bool
	}{
		{"exactly the rest", 400, 512, true},
		{"one millicore more", 401, 512, false},
		{"one MiB more", 400, 513, false},
		{"nothing", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openState(t, t.TempDir())
			mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
			mustApply(t, s, ApplyPlan{Place: []*Allocation{{ID: "a1", Job: "web", NodeID: "n1", CPU: 600, Memory: 512}}})
			res := mustApply(t, s, ApplyPlan{Place: []*Allocation{{ID: "a2", Job: "web", NodeID: "n1", CPU: tc.cpu, Memory: tc.memory}}})
			if fits := len(res.Rejected) == 0; fits != tc.fits {
				t.Errorf("%d/%d on a node with 400/512 free: fits %v, want %v", tc.cpu, tc.memory, fits, tc.fits)
			}
		})
	}
}

// An evaluation recorded again under another job leaves its first job's
// list (as a restart, which indexes only the latest record, has it).
func TestEvaluationMovedToAnotherJob(t *testing.T) {
	s := openState(t, t.TempDir())
	mustApply(t, s, UpsertEvals{Evals: []*Evaluation{{ID: "e1", Job: "a", Status: EvalPending}}})
	mustApply(t, s, UpsertEvals{Evals: []*Evaluation{{ID: "e1", Job: "b", Status: EvalPending}}})
	s.View(func(r *Reader) {
		if got := r.Evals("a"); len(got) != 0 {
			t.Errorf("job a's evaluations: %s, want none", jsonOf(t, got))
		}
		if got := r.Evals("b"); len(got) != 1 {
			t.Errorf("job b's evaluations: %s, want e1", jsonOf(t, got))
		}
	})
	mustApply(t, s, DeleteEvals{IDs: []string{"e1"}})
	s.View(func(r *Reader) {
		if got := r.Evals(""); len(got) != 0 {
			t.Errorf("after deleting e1: %s, want none", jsonOf(t, got))
		}
	})
}
