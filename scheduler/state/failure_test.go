package state

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
)

// faultyStore is a real store whose commits fail while fail says so. It
// calls during, if set, while a commit is under way: what readers see then
// is what a failing or slow disk lets them see.
type faultyStore struct {
	*store.DB

	mu      sync.Mutex // guards everything below
	fail    func(store.WriteSet) error
	during  func()
	lastErr error
	commits int
}

var _ Store = (*faultyStore)(nil)

func (f *faultyStore) set(fail func(store.WriteSet) error, during func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.during = fail, during
}

func (f *faultyStore) Commit(ws store.WriteSet) error {
	f.mu.Lock()
	fail, during := f.fail, f.during
	f.commits++
	f.mu.Unlock()
	if during != nil {
		during()
	}
	var err error
	if fail != nil {
		err = fail(ws)
	}
	if err == nil {
		err = f.DB.Commit(ws)
	}
	f.mu.Lock()
	f.lastErr = err
	f.mu.Unlock()
	return err
}

func (f *faultyStore) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

// diskFull fails every commit as a full disk does.
func diskFull(store.WriteSet) error {
	return errdefs.Storage("state store", fmt.Errorf("write state.db: %w", syscall.ENOSPC))
}

// failing fails a commit that writes a key starting with prefix, as a disk
// too full for it does.
func failing(prefix string) func(store.WriteSet) error {
	return func(ws store.WriteSet) error {
		for _, op := range ws {
			if strings.HasPrefix(op.Key, prefix) {
				return diskFull(ws)
			}
		}
		return nil
	}
}

func openFaulty(t *testing.T) (*State, *faultyStore) {
	t.Helper()
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &faultyStore{DB: db}
	s, err := Open(f, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.check(t) })
	return s, f
}

func fixedNow() time.Time { return time.Unix(1700000000, 0).UTC() }

// dump is every record a reader can see of the state, as JSON.
func dump(t *testing.T, s *State) string {
	t.Helper()
	var b strings.Builder
	s.View(func(r *Reader) {
		fmt.Fprintf(&b, "index %d\n", r.Index())
		for _, j := range r.Jobs() {
			fmt.Fprintf(&b, "job %s\n", jsonOf(t, j))
			for v := uint64(1); v <= j.Version; v++ {
				fmt.Fprintf(&b, "job %s version %d %s\n", j.Name, v, jsonOf(t, r.JobVersion(j.Name, v)))
			}
		}
		for _, n := range r.Nodes() {
			cpu, mem := r.NodeUsage(n.ID)
			fmt.Fprintf(&b, "node %s usage %d/%d\n", jsonOf(t, n), cpu, mem)
		}
		for _, a := range r.Allocs("", "", "") {
			fmt.Fprintf(&b, "alloc %s\n", jsonOf(t, a))
		}
		for _, st := range []string{AllocPending, AllocRunning, AllocComplete, AllocFailed, AllocLost} {
			fmt.Fprintf(&b, "allocs %s %d\n", st, r.AllocCount(st))
		}
		for _, e := range r.Evals("") {
			fmt.Fprintf(&b, "eval %s\n", jsonOf(t, e))
		}
	})
	return b.String()
}

// indexes is what blocking queries wait on. A state loaded afresh reads
// every one as its index, so these are compared only within one State.
func indexes(s *State) string {
	var b strings.Builder
	s.View(func(r *Reader) {
		for _, tb := range []string{TableJobs, TableNodes, TableAllocs, TableEvals} {
			fmt.Fprintf(&b, "table %s %d\n", tb, r.TableIndex(tb))
		}
		for _, j := range []string{"web", "api", "old"} {
			fmt.Fprintf(&b, "job %s %d\n", j, r.JobIndex(j))
		}
		for _, n := range []string{"n1", "n2", "n3"} {
			fmt.Fprintf(&b, "node %s allocs %d view %d\n", n, r.NodeAllocsIndex(n), r.NodeViewIndex(n))
		}
	})
	return b.String()
}

// checkAsOnDisk fails the test unless the state in memory is the state
// loaded afresh from its store.
func checkAsOnDisk(t *testing.T, s *State, f *faultyStore) {
	t.Helper()
	loaded, err := Open(f.DB, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, s), dump(t, loaded); got != want {
		t.Errorf("in memory:\n%s\non disk:\n%s", got, want)
	}
}

// checkReadersSee fails the test unless every kind of reader sees the
// state as it was at index: records, indexes, waiters and events.
func checkReadersSee(t *testing.T, s *State, index uint64, records, idx string) {
	t.Helper()
	if got := dump(t, s); got != records {
		t.Errorf("readers see a change that is not on disk:\n%s\nwant\n%s", got, records)
	}
	if got := indexes(s); got != idx {
		t.Errorf("blocking queries see a change that is not on disk:\n%s\nwant\n%s", got, idx)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := s.WaitIndex(ctx, index, func(r *Reader) uint64 { return r.Index() }); err == nil {
		t.Errorf("WaitIndex past %d answered at %d before the change is on disk", index, got)
	}
	if evs, _, _ := s.Events(ctx, index, nil); len(evs) != 0 {
		t.Errorf("events of a change not on disk: %+v", evs)
	}
}

func isStorageFull(err error) bool {
	return errors.Is(err, errdefs.ErrStorageFull) && errdefs.Code(err, "") == "storage_full"
}

// failureFixture is a state with two nodes, two jobs, allocations in
// several states and a pending evaluation.
func failureFixture(t *testing.T) (*State, *faultyStore) {
	s, f := openFaulty(t)
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
	mustApply(t, s, RegisterNode{Node: node("n2", 1000, 1024)})
	mustApply(t, s, RegisterJob{Spec: job("web", 2), Eval: &Evaluation{ID: "e1", Job: "web", Status: EvalPending}})
	mustApply(t, s, ApplyPlan{EvalID: "e1", Place: []*Allocation{
		{ID: "a1", Job: "web", JobVersion: 1, NodeID: "n1", CPU: 100, Memory: 64},
		{ID: "a2", Job: "web", JobVersion: 1, NodeID: "n2", CPU: 100, Memory: 64},
		{ID: "d1", Job: "web", JobVersion: 1, NodeID: "n2", CPU: 100, Memory: 64, Dispatch: &Dispatch{Queue: "q", MessageID: "m1"}},
	}})
	mustApply(t, s, UpdateAllocs{Updates: []AllocUpdate{{ID: "a2", ClientStatus: AllocComplete}}})
	mustApply(t, s, RegisterJob{Spec: job("old", 1)})
	return s, f
}

// TestFailedCommitLeavesMemoryAsOnDisk applies one command of every kind
// to a full disk: each fails with storage_full, readers never see its
// change, not even while it is being written, and the state in memory is
// the state on disk. Once space is freed the same command commits at the
// index the failed one did not take, and readers see it only once it is
// on disk.
func TestFailedCommitLeavesMemoryAsOnDisk(t *testing.T) {
	cmds := []Command{
		RegisterJob{Spec: job("api", 1), Eval: &Evaluation{ID: "e2", Job: "api", Status: EvalPending}},
		RegisterJob{Spec: job("web", 5)}, // a new version
		StopJob{Name: "web", Eval: &Evaluation{ID: "e3", Job: "web", Status: EvalPending}},
		StopJob{Name: "web", Purge: true},
		ScaleJob{Name: "web", Count: 9},
		RegisterNode{Node: node("n3", 500, 512)},
		RegisterNode{Node: node("n1", 2000, 2048)},
		SetNodeStatus{ID: "n1", Status: NodeDown},
		SetNodeDrain{ID: "n1", Drain: &Drain{StartedAt: fixedNow()}},
		SetNodeEligibility{ID: "n2", Eligible: false},
		SetNodeHealth{ID: "n2", Healthy: false, Reason: "disk"},
		ApplyPlan{EvalID: "e1", Place: []*Allocation{{ID: "a3", Job: "web", JobVersion: 1, NodeID: "n1", CPU: 100, Memory: 64}},
			Stop: []AllocStop{{ID: "a1", Reason: "replace", ClientStatus: AllocLost}}},
		UpdateAllocs{Updates: []AllocUpdate{{ID: "a1", ClientStatus: AllocFailed}}},
		UpsertEvals{Evals: []*Evaluation{{ID: "e1", Job: "web", Status: EvalComplete}}},
		SettleDispatch{IDs: []string{"d1"}},
		DeleteEvals{IDs: []string{"e1"}},
		DeleteAllocs{IDs: []string{"a2"}},
	}
	for _, cmd := range cmds {
		name := fmt.Sprintf("%T", cmd)
		if sj, ok := cmd.(StopJob); ok && sj.Purge {
			name += "Purge"
		}
		t.Run(name, func(t *testing.T) {
			s, f := failureFixture(t)
			before, idxBefore, indexBefore := dump(t, s), indexes(s), s.Index()

			f.set(diskFull, func() { checkReadersSee(t, s, indexBefore, before, idxBefore) })
			res, err := s.Apply(cmd)
			if err == nil && res.Noop {
				t.Fatalf("%T changed nothing; the test needs a command that does", cmd)
			}
			if !isStorageFull(err) {
				t.Fatalf("got %+v, %v; want storage_full", res, err)
			}
			if err := s.Err(); !isStorageFull(err) {
				t.Errorf("Err() = %v on a full disk, want storage_full", err)
			}
			if s.Index() != indexBefore {
				t.Errorf("index %d after a failed commit, want %d", s.Index(), indexBefore)
			}
			checkReadersSee(t, s, indexBefore, before, idxBefore)
			checkAsOnDisk(t, s, f)

			// Space is freed: the same command commits at the next
			// index, and readers see it only once it is on disk.
			f.set(nil, func() { checkReadersSee(t, s, indexBefore, before, idxBefore) })
			res, err = s.Apply(cmd)
			if err != nil || res.Noop || res.Index != indexBefore+1 {
				t.Fatalf("after recovering: got %+v, %v; want a change at index %d", res, err, indexBefore+1)
			}
			if err := s.Err(); err != nil {
				t.Errorf("Err() = %v after recovering, want nil", err)
			}
			if dump(t, s) == before {
				t.Errorf("the committed change is not in memory")
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if got, err := s.WaitIndex(ctx, indexBefore, func(r *Reader) uint64 { return r.Index() }); got != indexBefore+1 {
				t.Errorf("WaitIndex past %d after the commit: %d, %v; want %d", indexBefore, got, err, indexBefore+1)
			}
			if evs, _, _ := s.Events(ctx, indexBefore, nil); len(evs) > 0 && evs[0].Index != indexBefore+1 {
				t.Errorf("events after the commit: %+v", evs)
			}
			checkAsOnDisk(t, s, f)
		})
	}
}

// TestLaterCommandBuildsOnCommittedState: what a command decides after a
// failed one does not depend on the failed one's change.
func TestLaterCommandBuildsOnCommittedState(t *testing.T) {
	s, f := openFaulty(t)
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
	mustApply(t, s, RegisterJob{Spec: job("web", 1)})
	index := s.Index()

	f.set(diskFull, nil)
	if _, err := s.Apply(RegisterJob{Spec: job("api", 1)}); !isStorageFull(err) {
		t.Fatalf("register on a full disk: got %v, want storage_full", err)
	}
	place := ApplyPlan{EvalID: "e", Place: []*Allocation{{ID: "a1", Job: "web", JobVersion: 1, NodeID: "n1", CPU: 600, Memory: 64}}}
	if _, err := s.Apply(place); !isStorageFull(err) {
		t.Fatalf("plan on a full disk: got %v, want storage_full", err)
	}

	f.set(nil, nil)
	if _, err := s.Apply(ScaleJob{Name: "api", Count: 3}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("scaling a job whose registration failed: got %v, want not found", err)
	}
	res := mustApply(t, s, RegisterJob{Spec: job("api", 1)})
	if !res.JobChanged || res.Job.Version != 1 || res.Index != index+1 {
		t.Errorf("registering again: got version %d at index %d (changed %v), want version 1 at %d", res.Job.Version, res.Index, res.JobChanged, index+1)
	}
	// 600 of 1000 millicores: it fits, the failed plan holds nothing.
	res = mustApply(t, s, ApplyPlan{EvalID: "e", Place: []*Allocation{{ID: "a2", Job: "web", JobVersion: 1, NodeID: "n1", CPU: 600, Memory: 64}}})
	if len(res.Rejected) != 0 || res.Index != index+2 {
		t.Errorf("placing after a failed plan: got %v rejected at index %d, want none at %d", res.Rejected, res.Index, index+2)
	}
	checkAsOnDisk(t, s, f)
}

// TestFailedCommitWakesNoWaiter: neither a blocking query nor the event
// stream is answered by a change that did not reach the disk, not even
// when a later change elsewhere wakes them.
func TestFailedCommitWakesNoWaiter(t *testing.T) {
	s, f := openFaulty(t)
	mustApply(t, s, RegisterJob{Spec: job("web", 1)})
	var since uint64
	s.View(func(r *Reader) { since = r.JobIndex("web") })
	s.mu.RLock()
	changed := s.changed
	s.mu.RUnlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	woke := make(chan uint64, 1)
	go func() {
		idx, err := s.WaitIndex(ctx, since, func(r *Reader) uint64 { return r.JobIndex("web") })
		if err != nil {
			t.Error(err)
		}
		woke <- idx
	}()
	events := make(chan []Event, 1)
	go func() {
		evs, _, err := s.Events(ctx, since, func(e Event) bool { return e.Topic == "Job" })
		if err != nil {
			t.Error(err)
		}
		events <- evs
	}()

	f.set(diskFull, nil)
	if _, err := s.Apply(ScaleJob{Name: "web", Count: 4}); !isStorageFull(err) {
		t.Fatalf("got %v, want storage_full", err)
	}
	select {
	case <-changed:
		t.Errorf("a failed commit woke blocking queries")
	default:
	}
	f.set(nil, nil)
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)}) // wakes everyone; nothing for web
	res := mustApply(t, s, ScaleJob{Name: "web", Count: 5})
	if idx := <-woke; idx != res.Index {
		t.Errorf("waiter on the job woke at index %d, want %d (the committed scale)", idx, res.Index)
	}
	evs := <-events
	if len(evs) != 1 || evs[0].Index != res.Index || evs[0].Type != "JobScaled" || evs[0].Payload.(*Job).Count != 5 {
		t.Errorf("job events after %d: %+v; want only the committed scale at %d", since, evs, res.Index)
	}
}

// TestConcurrentCommandsWithFailures applies commands of many callers at
// once, some of which cannot be written: only those fail, every other one
// commits at an index of its own, and memory ends as the disk.
func TestConcurrentCommandsWithFailures(t *testing.T) {
	s, f := openFaulty(t)
	f.set(failing("huge"), nil)
	const callers, each = 8, 6
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		taken = map[uint64]string{}
	)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("job-%d-%d", c, i)
				if i%3 == 1 {
					name = fmt.Sprintf("huge-%d-%d", c, i)
				}
				res, err := s.Apply(RegisterJob{Spec: job(name, 1)})
				switch {
				case strings.HasPrefix(name, "huge"):
					if !isStorageFull(err) {
						t.Errorf("%s: got %+v, %v; want storage_full", name, res, err)
					}
					continue
				case err != nil:
					t.Errorf("%s: %v", name, err)
					continue
				}
				mu.Lock()
				if prev, ok := taken[res.Index]; ok {
					t.Errorf("%s and %s both got index %d", name, prev, res.Index)
				}
				taken[res.Index] = name
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	want := callers * each * 2 / 3
	if len(taken) != want || s.Index() != uint64(want) {
		t.Errorf("%d commands committed, index %d; want %d and %d", len(taken), s.Index(), want, want)
	}
	s.View(func(r *Reader) {
		for _, j := range r.Jobs() {
			if strings.HasPrefix(j.Name, "huge") {
				t.Errorf("job %s is in memory though its commit failed", j.Name)
			}
		}
	})
	checkAsOnDisk(t, s, f)
}

// TestRedoThatDiffersIsInternal: if the second pass of a command does not
// make the change its first pass committed (a bug), Apply says so with an
// internal error, publishes nothing, and does not use the index again.
func TestRedoThatDiffersIsInternal(t *testing.T) {
	s, f := openFaulty(t)
	mustApply(t, s, RegisterJob{Spec: job("web", 1)})
	index := s.Index()
	s.mu.RLock()
	changed := s.changed
	s.mu.RUnlock()
	// Something changes the records behind Apply's back while it commits.
	f.set(nil, func() {
		s.mu.Lock()
		delete(s.jobs, "web")
		s.mu.Unlock()
	})
	res, err := s.Apply(ScaleJob{Name: "web", Count: 3})
	if !errors.Is(err, errdefs.ErrInternal) {
		t.Fatalf("got %+v, %v; want an internal error", res, err)
	}
	if s.Index() != index+1 {
		t.Errorf("index %d, want %d: the disk took it", s.Index(), index+1)
	}
	select {
	case <-changed:
		t.Errorf("a command whose redo failed woke blocking queries")
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if evs, _, _ := s.Events(ctx, index, nil); len(evs) != 0 {
		t.Errorf("events of a command whose redo failed: %+v", evs)
	}
	f.set(nil, nil)
	if res := mustApply(t, s, RegisterJob{Spec: job("api", 1)}); res.Index != index+2 {
		t.Errorf("next command at index %d, want %d", res.Index, index+2)
	}
}
