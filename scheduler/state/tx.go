package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
)

// applyTx is one entry being applied: its index and time, the records it
// replaced (to undo them if the command fails half-way), the write set for
// the store, and what it touched. at is the only time apply knows: it
// reads no clock.
type applyTx struct {
	s      *State
	index  uint64
	at     time.Time
	ws     store.WriteSet
	undo   []func()
	tables map[string]bool
	nodes  map[string]bool
	views  map[string]bool // nodes whose agent's view changed
	jobs   map[string]bool
	events []Event
	evals  []*Evaluation // the evaluations recorded, for Result.Evals
}

func (tx *applyTx) touch(table string) {
	if tx.tables == nil {
		tx.tables = map[string]bool{}
	}
	tx.tables[table] = true
}

func (tx *applyTx) touchNode(id string) {
	tx.touchNodeAllocs(id, true)
}

// touchNodeAllocs records a change to a node's allocations; view says
// whether the node's agent's view of them changed too (see NodeViewIndex).
func (tx *applyTx) touchNodeAllocs(id string, view bool) {
	if tx.nodes == nil {
		tx.nodes, tx.views = map[string]bool{}, map[string]bool{}
	}
	tx.nodes[id] = true
	if view {
		tx.views[id] = true
	}
}

func (tx *applyTx) touchJob(name string) {
	if tx.jobs == nil {
		tx.jobs = map[string]bool{}
	}
	tx.jobs[name] = true
}

func (tx *applyTx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
}

func (tx *applyTx) put(bucket, key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Records are plain data; failing to encode one is a bug.
		panic(fmt.Sprintf("state: encode %s/%s: %v", bucket, key, err))
	}
	tx.ws.Put(bucket, key, b)
}

func (tx *applyTx) event(topic, typ, key string, payload any) {
	tx.events = append(tx.events, Event{Topic: topic, Type: typ, Key: key, Index: tx.index, Payload: payload})
}

func (tx *applyTx) setJob(j *Job, eventType string) {
	s := tx.s
	old := s.jobs[j.Name]
	s.jobs[j.Name] = j
	tx.undo = append(tx.undo, func() {
		if old == nil {
			delete(s.jobs, j.Name)
		} else {
			s.jobs[j.Name] = old
		}
	})
	tx.put(bucketJobs, j.Name, j)
	tx.touch(TableJobs)
	tx.touchJob(j.Name)
	tx.event("Job", eventType, j.Name, j)
}

func (tx *applyTx) deleteJob(name string) {
	s := tx.s
	old := s.jobs[name]
	if old == nil {
		return
	}
	delete(s.jobs, name)
	tx.undo = append(tx.undo, func() { s.jobs[name] = old })
	tx.ws.Delete(bucketJobs, name)
	tx.touch(TableJobs)
	tx.touchJob(name)
	tx.event("Job", "JobPurged", name, old)
}

func (tx *applyTx) setNode(n *Node, eventType string) {
	s := tx.s
	old := s.nodes[n.ID]
	s.nodes[n.ID] = n
	s.sortedNodes = nil
	tx.undo = append(tx.undo, func() {
		s.sortedNodes = nil
		if old == nil {
			delete(s.nodes, n.ID)
		} else {
			s.nodes[n.ID] = old
		}
	})
	tx.put(bucketNodes, n.ID, n)
	tx.touch(TableNodes)
	tx.touchNode(n.ID)
	tx.event("Node", eventType, n.ID, n)
}

func (tx *applyTx) setAlloc(a *Allocation, eventType string) {
	tx.setAllocReported(a, eventType, false)
}

// setAllocReported is setAlloc, for a change that is the node's own report
// when reported: the node's agent knows it, so its view does not change.
// Neither does it for a change to an allocation that was and stays
// terminal, which the view leaves out.
func (tx *applyTx) setAllocReported(a *Allocation, eventType string, reported bool) {
	s := tx.s
	old := s.allocs[a.ID]
	view := !reported && (old == nil || !Terminal(old.ClientStatus) || !Terminal(a.ClientStatus))
	s.putAlloc(a)
	tx.undo = append(tx.undo, func() {
		s.dropAlloc(a)
		if old != nil {
			s.putAlloc(old)
		}
	})
	tx.put(bucketAllocs, a.ID, a)
	tx.touch(TableAllocs)
	tx.touchNodeAllocs(a.NodeID, view)
	if old != nil && old.NodeID != a.NodeID {
		tx.touchNode(old.NodeID)
	}
	tx.touchJob(a.Job)
	tx.event("Allocation", eventType, a.ID, a)
}

func (tx *applyTx) deleteAlloc(id string) {
	s := tx.s
	old := s.allocs[id]
	if old == nil {
		return
	}
	s.dropAlloc(old)
	tx.undo = append(tx.undo, func() { s.putAlloc(old) })
	tx.ws.Delete(bucketAllocs, id)
	tx.touch(TableAllocs)
	tx.touchNodeAllocs(old.NodeID, !Terminal(old.ClientStatus))
	tx.touchJob(old.Job)
	tx.event("Allocation", "AllocationDeleted", id, old)
}

// setEval records a copy of an evaluation of a command. Its creation (index
// and, unless the command sets it, time) is the first record's.
func (tx *applyTx) setEval(ce *Evaluation) {
	s := tx.s
	e := cloneEval(ce)
	old := s.evals[e.ID]
	if old == nil {
		e.CreateIndex = tx.index
	} else {
		e.CreateIndex = old.CreateIndex
	}
	e.ModifyIndex = tx.index
	if e.CreatedAt.IsZero() {
		if old != nil {
			e.CreatedAt = old.CreatedAt
		} else {
			e.CreatedAt = tx.at
		}
	}
	s.putEval(e)
	tx.evals = append(tx.evals, e)
	tx.undo = append(tx.undo, func() {
		s.dropEval(e)
		if old != nil {
			s.putEval(old)
		}
	})
	tx.put(bucketEvals, e.ID, e)
	tx.touch(TableEvals)
	tx.touchJob(e.Job)
	tx.event("Evaluation", "EvaluationUpdated", e.ID, e)
}

func (tx *applyTx) deleteEval(id string) {
	s := tx.s
	e := s.evals[id]
	if e == nil {
		return
	}
	s.dropEval(e)
	tx.undo = append(tx.undo, func() { s.putEval(e) })
	tx.ws.Delete(bucketEvals, id)
	tx.touch(TableEvals)
}

func (tx *applyTx) setEvals(evals []*Evaluation) {
	for _, e := range evals {
		if e != nil {
			tx.setEval(e)
		}
	}
}

func notFound(code, format string, args ...any) error {
	return errdefs.New(errdefs.ErrNotFound, code, format, args...)
}
