package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
	"github.com/docketd/docket/specs"
)

// Buckets of the store. Each holds one table's records as JSON, by key.
const (
	bucketJobs        = "jobs"
	bucketJobVersions = "job_versions" // name/version → spec, the history for plan diffs
	bucketNodes       = "nodes"
	bucketAllocs      = "allocs"
	bucketEvals       = "evals"
	bucketMeta        = "state_meta"
	keyIndex          = "index"
)

// Tables, for indexes and event topics.
const (
	TableJobs   = "jobs"
	TableNodes  = "nodes"
	TableAllocs = "allocs"
	TableEvals  = "evals"
)

// Store is the durable copy of the state: [store.DB], or a fault-injecting
// stand-in in tests.
type Store interface {
	Get(bucket, key string) ([]byte, error)
	ForEach(bucket string, fn func(key string, value []byte) error) error
	// Enqueue queues a write set for the next group commit; the channel
	// receives its outcome. Write sets commit in the order enqueued.
	Enqueue(store.WriteSet) <-chan error
	// Commit is Enqueue, waiting for the outcome.
	Commit(store.WriteSet) error
	// Err is nil while commits succeed, or why the latest one failed.
	Err() error
}

var _ Store = (*store.DB)(nil)

// State is the control plane's state. Its methods are safe for concurrent
// use. Lock order: applyMu, then mu, then the store's own lock (a leaf).
type State struct {
	db  Store
	now func() time.Time

	applyMu sync.Mutex // serialises Apply: one command at a time takes its index
	// failed is the error commands are refused with since a commit failed
	// for a storage reason, until a probe commit succeeds (failure.go).
	failed    atomic.Pointer[error]
	reloads   uint64    // guarded by applyMu: how often memory was reloaded from disk
	lastProbe time.Time // guarded by applyMu
	// applied, if set, is called with every entry about to be applied,
	// in order, applyMu held: tests record the entries to replay them.
	applied func(Entry)

	mu           sync.RWMutex // guards everything below
	index        uint64
	jobs         map[string]*Job
	versions     map[string]map[uint64]*specs.Job // every version's spec, for allocations still running an old one
	nodes        map[string]*Node
	allocs       map[string]*Allocation
	evals        map[string]*Evaluation
	allocsByNode map[string]map[string]*Allocation
	allocsByJob  map[string]map[string]*Allocation
	evalsByJob   map[string]map[string]*Evaluation
	usage        map[string]resources // per node: what live allocations hold
	allocCount   map[string]int       // allocations by client status
	sortedNodes  []*Node              // nodes by ID; nil when a node changed
	nodesOnce    sync.Mutex           // guards setting sortedNodes under the read lock
	tableIndex   map[string]uint64
	nodeIndex    map[string]uint64 // a node's allocations last changed
	viewIndex    map[string]uint64 // a node's agent's view of them last changed
	// openIndex is the index the state was loaded at: what changed before
	// is not told apart, so every table, node and job reads as changed
	// then at the latest.
	openIndex uint64
	jobIndex  map[string]uint64 // a job or its allocations last changed
	changed   chan struct{}     // closed and replaced on every commit
	events    eventRing
	acl       aclTables
	topics    topicTables
}

type resources struct{ cpu, memory int64 }

// Open loads the state from db.
func Open(db Store, now func() time.Time) (*State, error) {
	if now == nil {
		now = time.Now
	}
	s := &State{
		db:           db,
		now:          now,
		jobs:         map[string]*Job{},
		versions:     map[string]map[uint64]*specs.Job{},
		nodes:        map[string]*Node{},
		allocs:       map[string]*Allocation{},
		evals:        map[string]*Evaluation{},
		allocsByNode: map[string]map[string]*Allocation{},
		allocsByJob:  map[string]map[string]*Allocation{},
		evalsByJob:   map[string]map[string]*Evaluation{},
		usage:        map[string]resources{},
		allocCount:   map[string]int{},
		tableIndex:   map[string]uint64{},
		nodeIndex:    map[string]uint64{},
		viewIndex:    map[string]uint64{},
		jobIndex:     map[string]uint64{},
		changed:      make(chan struct{}),
		events:       newEventRing(8192),
		acl:          newACLTables(),
		topics:       newTopicTables(),
	}
	if v, err := db.Get(bucketMeta, keyIndex); err != nil {
		return nil, err
	} else if v != nil {
		if err := json.Unmarshal(v, &s.index); err != nil {
			return nil, fmt.Errorf("state: index: %w", err)
		}
	}
	s.openIndex = s.index
	load := func(bucket string, fn func([]byte) error) error {
		return db.ForEach(bucket, func(key string, v []byte) error {
			if err := fn(v); err != nil {
				return fmt.Errorf("state: %s/%s: %w", bucket, key, err)
			}
			return nil
		})
	}
	err := db.ForEach(bucketJobVersions, func(key string, v []byte) error {
		var spec specs.Job
		if err := json.Unmarshal(v, &spec); err != nil {
			return fmt.Errorf("state: %s/%s: %w", bucketJobVersions, key, err)
		}
		var version uint64
		if i := strings.LastIndexByte(key, '/'); i > 0 {
			version, _ = strconv.ParseUint(key[i+1:], 10, 64)
		}
		s.putVersion(&spec, version)
		return nil
	})
	if err == nil {
		err = load(bucketJobs, func(v []byte) error {
			var j Job
			if err := json.Unmarshal(v, &j); err != nil {
				return err
			}
			s.jobs[j.Name] = &j
			return nil
		})
	}
	if err == nil {
		err = load(bucketNodes, func(v []byte) error {
			var n Node
			if err := json.Unmarshal(v, &n); err != nil {
				return err
			}
			s.nodes[n.ID] = &n
			return nil
		})
	}
	if err == nil {
		err = load(bucketAllocs, func(v []byte) error {
			var a Allocation
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			s.putAlloc(&a)
			return nil
		})
	}
	if err == nil {
		err = load(bucketEvals, func(v []byte) error {
			var e Evaluation
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			s.putEval(&e)
			return nil
		})
	}
	if err == nil {
		err = s.loadACL(db)
	}
	if err == nil {
		err = s.loadTopics(db)
	}
	if err != nil {
		return nil, err
	}
	for _, t := range []string{TableJobs, TableNodes, TableAllocs, TableEvals, TableACL, TableTopics} {
		s.tableIndex[t] = s.index
	}
	return s, nil
}

// Index is the index of the latest change.
func (s *State) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

// putAlloc indexes an allocation, replacing any earlier record of it, and
// keeps its node's usage. mu is held.
func (s *State) putAlloc(a *Allocation) {
	if old := s.allocs[a.ID]; old != nil {
		s.dropAlloc(old)
	}
	s.allocs[a.ID] = a
	if s.allocsByNode[a.NodeID] == nil {
		s.allocsByNode[a.NodeID] = map[string]*Allocation{}
	}
	s.allocsByNode[a.NodeID][a.ID] = a
	if s.allocsByJob[a.Job] == nil {
		s.allocsByJob[a.Job] = map[string]*Allocation{}
	}
	s.allocsByJob[a.Job][a.ID] = a
	s.allocCount[a.ClientStatus]++
	if a.Holds() {
		u := s.usage[a.NodeID]
		u.cpu += a.CPU
		u.memory += a.Memory
		s.usage[a.NodeID] = u
	}
}

func (s *State) dropAlloc(a *Allocation) {
	delete(s.allocs, a.ID)
	if m := s.allocsByNode[a.NodeID]; m != nil {
		delete(m, a.ID)
		if len(m) == 0 {
			delete(s.allocsByNode, a.NodeID)
		}
	}
	if m := s.allocsByJob[a.Job]; m != nil {
		delete(m, a.ID)
		if len(m) == 0 {
			delete(s.allocsByJob, a.Job)
		}
	}
	s.allocCount[a.ClientStatus]--
	if a.Holds() {
		u := s.usage[a.NodeID]
		u.cpu -= a.CPU
		u.memory -= a.Memory
		s.usage[a.NodeID] = u
	}
}

func (s *State) putVersion(spec *specs.Job, version uint64) {
	if s.versions[spec.Name] == nil {
		s.versions[spec.Name] = map[uint64]*specs.Job{}
	}
	s.versions[spec.Name][version] = spec
}

// putEval indexes an evaluation, replacing any earlier record of it (which
// may name another job). mu is held.
func (s *State) putEval(e *Evaluation) {
	if old := s.evals[e.ID]; old != nil {
		s.dropEval(old)
	}
	if s.evalsByJob[e.Job] == nil {
		s.evalsByJob[e.Job] = map[string]*Evaluation{}
	}
	s.evals[e.ID] = e
	s.evalsByJob[e.Job][e.ID] = e
}

func (s *State) dropEval(e *Evaluation) {
	delete(s.evals, e.ID)
	if m := s.evalsByJob[e.Job]; m != nil {
		delete(m, e.ID)
		if len(m) == 0 {
			delete(s.evalsByJob, e.Job)
		}
	}
}

// Apply applies one command: it stamps it with the next index and the
// state's clock, applies that entry as [State.ApplyEntry] does, and returns
// once the change is durable. A command that is refused (an unknown job,
// say) changes nothing and takes no index.
func (s *State) Apply(cmd Command) (Result, error) {
	s.applyMu.Lock()
	if err := s.refusal(); err != nil {
		s.applyMu.Unlock()
		return Result{}, err
	}
	// The monotonic reading goes: it is no part of what an entry records.
	return s.applyLocked(Entry{Index: s.index + 1, At: s.now().Round(0), Cmd: cmd})
}

// ApplyEntry applies a stamped entry, such as one read from a log: the
// same entries applied in the same order to the same state give the same
// state, whatever the clock says. e.Index must be past the state's index,
// which becomes e.Index if the command changes anything (a command that
// changes nothing or is refused takes no index, so indexes may skip); an
// entry at or before the state's index is refused as already applied, with
// [errdefs.ErrOutdated]. Like Apply, it returns once the change is durable.
func (s *State) ApplyEntry(e Entry) (Result, error) {
	s.applyMu.Lock()
	if err := s.refusal(); err != nil {
		s.applyMu.Unlock()
		return Result{}, err
	}
	if e.Index <= s.index {
		index := s.index
		s.applyMu.Unlock()
		return Result{}, errdefs.New(errdefs.ErrOutdated, "entry_applied", "entry %d: the state is at index %d", e.Index, index)
	}
	return s.applyLocked(e)
}

// applyLocked applies e, applyMu held; it releases applyMu.
func (s *State) applyLocked(e Entry) (Result, error) {
	if s.applied != nil {
		s.applied(e)
	}
	reloads := s.reloads
	s.mu.Lock()
	tx := &applyTx{s: s, index: e.Index, at: e.At}
	res, err := tx.apply(e.Cmd)
	if err != nil {
		tx.rollback()
		s.mu.Unlock()
		s.applyMu.Unlock()
		return Result{}, err
	}
	if len(tx.ws) == 0 {
		// Nothing changed: no index, no commit.
		res.Index, res.Noop = s.index, true
		s.mu.Unlock()
		s.applyMu.Unlock()
		return res, nil
	}
	s.index = tx.index
	res.Index, res.Evals = tx.index, tx.evals
	for t := range tx.tables {
		s.tableIndex[t] = tx.index
	}
	for n := range tx.nodes {
		s.nodeIndex[n] = tx.index
	}
	for n := range tx.views {
		s.viewIndex[n] = tx.index
	}
	for j := range tx.jobs {
		s.jobIndex[j] = tx.index
	}
	idx, _ := json.Marshal(tx.index)
	tx.ws.Put(bucketMeta, keyIndex, idx)
	done := s.db.Enqueue(tx.ws)
	for _, ev := range tx.events {
		s.events.add(ev)
	}
	s.mu.Unlock()
	s.applyMu.Unlock()
	if err := <-done; err != nil {
		s.afterFailedCommit(reloads, err)
		return Result{}, commitErr(tx.index, err)
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return res, nil
}

// WaitIndex blocks until the index fn reports (read under the state's
// lock) is past since, or ctx ends; it returns that index. fn is called
// again after every change.
func (s *State) WaitIndex(ctx context.Context, since uint64, fn func(r *Reader) uint64) (uint64, error) {
	for {
		s.mu.RLock()
		idx := fn(&Reader{s: s})
		ch := s.changed
		s.mu.RUnlock()
		if idx > since {
			return idx, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return idx, ctx.Err()
		}
	}
}

// View calls fn with a consistent read view of the state. Records it
// returns are shared and must not be modified.
func (s *State) View(fn func(r *Reader)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(&Reader{s: s})
}

// Reader reads the state under the lock View or WaitIndex holds.
type Reader struct{ s *State }

// Index is the latest change's index.
func (r *Reader) Index() uint64 { return r.s.index }

// TableIndex is the index of the latest change to a table.
func (r *Reader) TableIndex(table string) uint64 { return r.since(r.s.tableIndex[table]) }

// since is index, or the index the state was loaded at when that is later:
// a blocking query that waits from an index of before a restart is
// answered at once, and the one after it waits.
func (r *Reader) since(index uint64) uint64 { return max(index, r.s.openIndex) }

// NodeAllocsIndex is the index of the latest change to a node's
// allocations (or the node itself).
func (r *Reader) NodeAllocsIndex(node string) uint64 { return r.since(r.s.nodeIndex[node]) }

// NodeViewIndex is the index of the latest change to what a node's agent
// runs: its live allocations, their jobs and desired states, and the node
// itself. It stays put for what the agent reported itself and for changes
// to ended allocations, so that an agent waiting on it is not woken by its
// own reports.
func (r *Reader) NodeViewIndex(node string) uint64 { return r.since(r.s.viewIndex[node]) }

// JobIndex is the index of the latest change to a job or its allocations.
func (r *Reader) JobIndex(job string) uint64 { return r.since(r.s.jobIndex[job]) }

// Job returns a job by name, or nil.
func (r *Reader) Job(name string) *Job { return r.s.jobs[name] }

// JobVersion returns the spec of one version of a job, or nil.
func (r *Reader) JobVersion(name string, version uint64) *specs.Job {
	return r.s.versions[name][version]
}

// Jobs returns every job, by name.
func (r *Reader) Jobs() []*Job {
	out := make([]*Job, 0, len(r.s.jobs))
	for _, j := range r.s.jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Node returns a node by ID, or nil.
func (r *Reader) Node(id string) *Node { return r.s.nodes[id] }

// Nodes returns every node, by ID. The slice is shared: do not modify it.
func (r *Reader) Nodes() []*Node {
	r.s.nodesOnce.Lock()
	cached := r.s.sortedNodes
	r.s.nodesOnce.Unlock()
	if cached != nil {
		return cached
	}
	out := make([]*Node, 0, len(r.s.nodes))
	for _, n := range r.s.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	// Readers share the sorted list until a node changes; the first
	// reader after a change builds it. Writers hold the lock exclusively,
	// so building it under a read lock races only with other readers, who
	// build the same list: keep whichever lands.
	r.s.nodesOnce.Lock()
	if r.s.sortedNodes == nil {
		r.s.sortedNodes = out
	}
	r.s.nodesOnce.Unlock()
	return out
}

// AllocCount returns how many allocations have a client status.
func (r *Reader) AllocCount(clientStatus string) int { return r.s.allocCount[clientStatus] }

// NodeUsage returns the CPU and memory the node's unfinished allocations
// hold.
func (r *Reader) NodeUsage(id string) (cpu, memory int64) {
	u := r.s.usage[id]
	return u.cpu, u.memory
}

// Alloc returns an allocation by ID, or nil.
func (r *Reader) Alloc(id string) *Allocation { return r.s.allocs[id] }

// Allocs returns allocations matching every non-empty filter, ordered by
// job, index and ID.
func (r *Reader) Allocs(job, node, clientStatus string) []*Allocation {
	var src map[string]*Allocation
	switch {
	case job != "":
		src = r.s.allocsByJob[job]
	case node != "":
		src = r.s.allocsByNode[node]
	default:
		src = r.s.allocs
	}
	out := make([]*Allocation, 0, len(src))
	for _, a := range src {
		if (job == "" || a.Job == job) && (node == "" || a.NodeID == node) &&
			(clientStatus == "" || a.ClientStatus == clientStatus) {
			out = append(out, a)
		}
	}
	sortAllocs(out)
	return out
}

func sortAllocs(as []*Allocation) {
	slices.SortFunc(as, func(a, b *Allocation) int {
		if c := strings.Compare(a.Job, b.Job); c != 0 {
			return c
		}
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Eval returns an evaluation by ID, or nil.
func (r *Reader) Eval(id string) *Evaluation { return r.s.evals[id] }

// Evals returns a job's evaluations (every evaluation when job is empty),
// oldest first.
func (r *Reader) Evals(job string) []*Evaluation {
	src := r.s.evals
	if job != "" {
		src = r.s.evalsByJob[job]
	}
	out := make([]*Evaluation, 0, len(src))
	for _, e := range src {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreateIndex < out[j].CreateIndex || (out[i].CreateIndex == out[j].CreateIndex && out[i].ID < out[j].ID)
	})
	return out
}

// Err reports the health of the state's store: nil, or why its latest
// commit failed (of class [errdefs.ErrStorageFull] or
// [errdefs.ErrStorageFailed]). It turns nil again by itself once a commit
// succeeds.
func (s *State) Err() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return s.db.Err()
}

// commitErr is the error of a command whose write failed: the store's own,
// class kept, for a storage failure or a closed store, so that the API
// answers 507 storage_full, 503 storage_failed or 503 for a server shutting
// down; an internal error otherwise (a write set the store refuses is a
// bug).
func commitErr(index uint64, err error) error {
	if errors.Is(err, errdefs.ErrStorageFull) || errors.Is(err, errdefs.ErrStorageFailed) || errors.Is(err, errdefs.ErrClosed) {
		return fmt.Errorf("state: commit index %d: %w", index, err)
	}
	return fmt.Errorf("%w: state: commit index %d: %v", errdefs.ErrInternal, index, err)
}
