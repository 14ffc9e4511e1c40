package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/polltest"
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
	commits []int // the number of puts and deletes of each commit tried
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
	f.commits = append(f.commits, len(ws))
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

// failing fails a commit that writes key, as a disk too full for it does.
func failing(key string) func(store.WriteSet) error {
	return func(ws store.WriteSet) error {
		for _, op := range ws {
			if op.Key == key {
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

// dump is everything a reader can see of the state, as JSON.
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

func isStorageFull(err error) bool {
	return errors.Is(err, errdefs.ErrStorageFull) && errdefs.Code(err, "") == "storage_full"
}

// TestFailedCommitLeavesMemoryAsOnDisk applies one command of every kind
// to a full disk: each fails with storage_full, readers never see its
// change, not even while it is being written, and the state in memory is
// the state on disk.
func TestFailedCommitLeavesMemoryAsOnDisk(t *testing.T) {
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
	before := dump(t, s)
	indexBefore := s.Index()

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
		t.Run(fmt.Sprintf("%T", cmd), func(t *testing.T) {
			f.set(diskFull, func() {
				if got := dump(t, s); got != before {
					t.Errorf("readers see a change that is not on disk yet:\n%s\nwant\n%s", got, before)
				}
			})
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
			if evs, _ := s.events.since(indexBefore); len(evs) != 0 {
				t.Errorf("events of a failed commit: %+v", evs)
			}
			if got := dump(t, s); got != before {
				t.Errorf("after a failed commit:\n%s\nwant as before it:\n%s", got, before)
			}
			checkAsOnDisk(t, s, f)
		})
	}

	// Space is freed: the same commands go through, and the state is
	// healthy again.
	f.set(nil, nil)
	res := mustApply(t, s, cmds[0])
	if res.Index != indexBefore+1 {
		t.Errorf("index %d after recovering, want %d", res.Index, indexBefore+1)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v after recovering, want nil", err)
	}
	checkAsOnDisk(t, s, f)
}

// TestOneFailedCommandDoesNotFailItsGroup queues commands of concurrent
// callers into one commit, one of whose write sets cannot be written: it
// alone fails, a command that depended on it is decided again without it,
// and the rest commit.
func TestOneFailedCommandDoesNotFailItsGroup(t *testing.T) {
	s, f := openFaulty(t)
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})

	// Hold the next commit until every command below is queued, so that
	// they share the commit after it.
	const others = 6
	release := make(chan struct{})
	var once sync.Once
	f.set(failing("huge"), func() { once.Do(func() { <-release }) })
	first := make(chan error, 1)
	go func() {
		_, err := s.Apply(RegisterJob{Spec: job("first", 1)})
		first <- err
	}()
	polltest.WaitFor(t, 10*time.Second, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.commits) < 2 {
			return errors.New("the first commit has not started")
		}
		return nil
	})

	type outcome struct {
		name string
		res  Result
		err  error
	}
	outcomes := make(chan outcome, others+2)
	apply := func(name string, cmd Command) {
		res, err := s.Apply(cmd)
		outcomes <- outcome{name, res, err}
	}
	go apply("huge", RegisterJob{Spec: job("huge", 1)})
	polltest.WaitFor(t, 10*time.Second, queued(s, 1))
	go apply("scale huge", ScaleJob{Name: "huge", Count: 3}) // decided on top of "huge"
	polltest.WaitFor(t, 10*time.Second, queued(s, 2))
	for i := range others {
		go apply(fmt.Sprintf("job%d", i), RegisterJob{Spec: job(fmt.Sprintf("job%d", i), 1)})
	}
	polltest.WaitFor(t, 10*time.Second, queued(s, others+2))
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}

	indexes := map[uint64]string{}
	for range others + 2 {
		o := <-outcomes
		switch o.name {
		case "huge":
			if !isStorageFull(o.err) {
				t.Errorf("huge: got %v, want storage_full", o.err)
			}
		case "scale huge":
			if !errors.Is(o.err, errdefs.ErrNotFound) {
				t.Errorf("scaling a job whose registration failed: got %+v, %v; want not found", o.res, o.err)
			}
		default:
			if o.err != nil {
				t.Errorf("%s: got %v, want nil", o.name, o.err)
				continue
			}
			if prev, ok := indexes[o.res.Index]; ok {
				t.Errorf("%s and %s both got index %d", o.name, prev, o.res.Index)
			}
			indexes[o.res.Index] = o.name
		}
	}
	s.View(func(r *Reader) {
		if len(r.Jobs()) != others+1 {
			t.Errorf("got %d jobs, want %d", len(r.Jobs()), others+1)
		}
		if r.Job("huge") != nil {
			t.Errorf("job huge is in memory though its commit failed")
		}
		if r.Index() != uint64(2+others) {
			t.Errorf("index %d, want %d: one per committed command", r.Index(), 2+others)
		}
	})
	f.mu.Lock()
	commits := fmt.Sprint(f.commits)
	f.mu.Unlock()
	// The node, "first", the group of all eight (failed), then each alone
	// but the scale, which is refused before it writes.
	if n := strings.Count(commits, " ") + 1; n != 3+1+others {
		t.Errorf("got commits of %s ops, want %d commits", commits, 3+1+others)
	}
	checkAsOnDisk(t, s, f)
}

// queued reports whether n commands wait to be applied.
func queued(s *State, n int) func() error {
	return func() error {
		s.queueMu.Lock()
		defer s.queueMu.Unlock()
		if len(s.queue) < n {
			return fmt.Errorf("%d commands queued, want %d", len(s.queue), n)
		}
		return nil
	}
}

// TestFailedCommitWakesNoWaiter: a blocking query is not answered by a
// change that did not reach the disk.
func TestFailedCommitWakesNoWaiter(t *testing.T) {
	s, f := openFaulty(t)
	mustApply(t, s, RegisterJob{Spec: job("web", 1)})
	s.mu.RLock()
	changed := s.changed
	s.mu.RUnlock()
	f.set(diskFull, nil)
	if _, err := s.Apply(ScaleJob{Name: "web", Count: 4}); !isStorageFull(err) {
		t.Fatalf("got %v, want storage_full", err)
	}
	select {
	case <-changed:
		t.Errorf("a failed commit woke blocking queries")
	default:
	}
}
