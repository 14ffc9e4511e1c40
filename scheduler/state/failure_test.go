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
	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/internal/store"
)

// faultyStore is a real store whose commits fail while fail says so, as a
// full disk fails them: the write set is not written.
type faultyStore struct {
	*store.DB

	mu      sync.Mutex // guards everything below
	fail    func(store.WriteSet) error
	commits int
}

var _ Store = (*faultyStore)(nil)

func (f *faultyStore) set(fail func(store.WriteSet) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

func (f *faultyStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commits
}

func (f *faultyStore) Enqueue(ws store.WriteSet) <-chan error {
	f.mu.Lock()
	fail := f.fail
	f.commits++
	f.mu.Unlock()
	if fail != nil {
		if err := fail(ws); err != nil {
			// Keep the store's order: fail once what came before is done.
			done := make(chan error, 1)
			barrier := f.DB.Enqueue(nil)
			go func() { <-barrier; done <- err }()
			return done
		}
	}
	return f.DB.Enqueue(ws)
}

func (f *faultyStore) Commit(ws store.WriteSet) error { return <-f.Enqueue(ws) }

// diskFull fails every commit as a full disk does.
func diskFull(store.WriteSet) error {
	return errdefs.Storage("state store", fmt.Errorf("write state.db: %w", syscall.ENOSPC))
}

// failing fails a commit that writes a key starting with prefix, as a disk
// too full for it (and not for smaller ones) does.
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
		fmt.Fprintf(&b, "acl bootstrapped at %d\n", r.ACLBootstrapIndex())
		for _, p := range r.ACLPolicies() {
			fmt.Fprintf(&b, "policy %s\n", jsonOf(t, p))
		}
		for _, tok := range r.ACLTokens() {
			found := r.ACLTokenBySecret(tok.SecretHash) == tok && (tok.AWSKeyID == "" || r.ACLTokenByAWSKey(tok.AWSKeyID) == tok)
			fmt.Fprintf(&b, "token %s found by secret and key %v\n", jsonOf(t, tok), found)
		}
		for _, tp := range r.Topics() {
			fmt.Fprintf(&b, "topic %s\n", jsonOf(t, tp))
			for _, sub := range r.TopicSubscriptions(tp.Name) {
				fmt.Fprintf(&b, "  subscription %s (by id: %v)\n", jsonOf(t, sub), r.Subscription(sub.ID) == sub)
			}
		}
		fmt.Fprintf(&b, "%d subscriptions\n", len(r.Subscriptions()))
	})
	return b.String()
}

// checkAsOnDisk fails the test unless the records in memory are the ones
// loaded afresh from the store.
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
	mustApply(t, s, UpsertACLPolicies{Policies: []*ACLPolicy{{Name: "p", Rules: `job "*" { capabilities = ["read"] }`}}})
	mustApply(t, s, UpsertACLTokens{Tokens: []*ACLToken{{AccessorID: "t1", SecretHash: "h1", Type: TokenClient, Policies: []string{"p"}}}})
	mustApply(t, s, UpsertTopic{Topic: &Topic{Name: "orders"}})
	mustApply(t, s, UpsertSubscriptions{Subscriptions: []*Subscription{{ID: "s1", Topic: "orders", Protocol: ProtocolSQS, Endpoint: "q"}}})
	return s, f
}

// TestFailedCommitLeavesMemoryAsOnDisk applies one command of every kind
// to a full disk: each fails with storage_full and leaves memory as the
// disk has it, with blocking queries woken to read it again; while the
// disk stays full, commands are refused at once without changing anything;
// once space is freed the same command commits and memory is the disk's.
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
		BootstrapACL{Token: &ACLToken{AccessorID: "t0", SecretHash: "h0", Type: TokenManagement}},
		UpsertACLPolicies{Policies: []*ACLPolicy{{Name: "p2", Rules: `queue "*" { capabilities = ["read"] }`}}},
		DeleteACLPolicies{Names: []string{"p"}},
		UpsertACLTokens{Tokens: []*ACLToken{{AccessorID: "t2", SecretHash: "h2", Type: TokenClient, AWSKeyID: "AKID2", AWSSecret: "s"}}},
		DeleteACLTokens{AccessorIDs: []string{"t1"}},
		UpsertTopic{Topic: &Topic{Name: "events", Tags: map[string]string{"a": "b"}}},
		UpsertSubscriptions{Subscriptions: []*Subscription{{ID: "s2", Topic: "orders", Protocol: ProtocolHTTP, Endpoint: "http://h/"}}},
		DeleteSubscriptions{IDs: []string{"s1"}},
		DeleteTopic{Name: "orders"},
	}
	for _, cmd := range cmds {
		name := fmt.Sprintf("%T", cmd)
		if sj, ok := cmd.(StopJob); ok && sj.Purge {
			name += "Purge"
		}
		t.Run(name, func(t *testing.T) {
			s, f := failureFixture(t)
			before, indexBefore := dump(t, s), s.Index()

			f.set(diskFull)
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
			if got := dump(t, s); got != before {
				t.Errorf("after a failed commit, memory is not what it was:\n%s\nwant\n%s", got, before)
			}
			checkAsOnDisk(t, s, f)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if got, _ := s.WaitIndex(ctx, indexBefore, func(r *Reader) uint64 { return r.TableIndex(TableAllocs) }); got <= indexBefore {
				t.Errorf("blocking queries past %d not woken by the rollback (index %d)", indexBefore, got)
			}

			// The disk is still full: refused at once, nothing changes.
			commits := f.count()
			if _, err := s.Apply(cmd); !isStorageFull(err) {
				t.Fatalf("again on a full disk: got %v, want storage_full", err)
			}
			if _, err := s.Apply(cmd); !isStorageFull(err) {
				t.Fatalf("again on a full disk: got %v, want storage_full", err)
			}
			if n := f.count() - commits; n > 1 {
				t.Errorf("two refused commands tried %d commits, want at most one probe", n)
			}
			checkAsOnDisk(t, s, f)

			// Space is freed: the command commits, within a probe
			// interval.
			f.set(nil)
			polltest.WaitFor(t, 5*time.Second, func() error {
				res, err = s.Apply(cmd)
				return err
			})
			if res.Noop || res.Index <= indexBefore {
				t.Fatalf("after recovering: got %+v; want a change after index %d", res, indexBefore)
			}
			if err := s.Err(); err != nil {
				t.Errorf("Err() = %v after recovering, want nil", err)
			}
			if dump(t, s) == before {
				t.Errorf("the committed change is not in memory")
			}
			checkAsOnDisk(t, s, f)
		})
	}
}

// TestConcurrentCommandsWithFailures applies commands of many callers at
// once, some of which cannot be written (too large for what is left of
// the disk): only those fail, every other one commits at an index of its
// own, and memory ends as the disk.
func TestConcurrentCommandsWithFailures(t *testing.T) {
	s, f := openFaulty(t)
	f.set(failing("huge"))
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
	if want := callers * each * 2 / 3; len(taken) != want {
		t.Errorf("%d commands committed, want %d", len(taken), want)
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
