package state

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
)

// A failed commit is a state, as in the queue engine. Apply changes memory
// before its commit completes (the next command is decided on it, and
// commands of concurrent callers share a commit), so when a commit fails,
// memory holds a change the disk does not, and perhaps later commands
// decided on it. So the state:
//
//   - reloads every record from the store once the commits enqueued before
//     the failure are done, so that memory is again what is on disk; the
//     index does not go back, and every table, node and job reads as
//     changed at a new index, which wakes blocking queries to read again;
//   - for a storage failure (a full or failing disk), refuses commands at
//     once with that error, changing nothing, until a probe commit works:
//     the next command tries one at once (so that a write set too large
//     for what is left of the disk fails alone), and while probes fail,
//     one every probeInterval; [State.Err] reports the failure meanwhile.
//
// A reader may see a command's change while its commit is in progress;
// what a failed commit leaves is taken back before any later command is
// applied.

// probeInterval is how often a command tries a probe commit while the
// state refuses commands.
const probeInterval = 100 * time.Millisecond

// refusal returns the error a command is refused with while the state is
// failed, after trying a probe commit when one is due. applyMu is held.
func (s *State) refusal() error {
	p := s.failed.Load()
	if p == nil {
		return nil
	}
	if now := time.Now(); now.Sub(s.lastProbe) >= probeInterval {
		s.lastProbe = now
		var ws store.WriteSet
		s.mu.RLock()
		idx := s.index
		s.mu.RUnlock()
		b, _ := json.Marshal(idx)
		ws.Put(bucketMeta, keyIndex, b)
		if err := s.db.Commit(ws); err == nil {
			s.failed.Store(nil)
			return nil
		}
	}
	return *p
}

// afterFailedCommit reloads memory from disk after a commit failed, unless
// a reload since the command was applied (reloads is the count then)
// already took it back; a storage failure also makes the state refuse
// commands until a probe commit works.
func (s *State) afterFailedCommit(reloads uint64, cause error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if errors.Is(cause, errdefs.ErrStorageFull) || errors.Is(cause, errdefs.ErrStorageFailed) {
		err := cause
		s.failed.CompareAndSwap(nil, &err)
		// The next command probes at once: a write set too large for
		// what is left of the disk fails alone, and small ones go on.
		s.lastProbe = time.Time{}
	}
	if s.reloads != reloads || errors.Is(cause, errdefs.ErrClosed) {
		return
	}
	// Commits are made in order: once this one is done, so is every one
	// enqueued before it, and no other can start while applyMu is held.
	<-s.db.Enqueue(nil)
	fresh, err := Open(s.db, s.now)
	if err != nil {
		return // the store cannot be read: the next failure tries again
	}
	s.reloads++
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs, s.versions, s.nodes = fresh.jobs, fresh.versions, fresh.nodes
	s.allocs, s.evals = fresh.allocs, fresh.evals
	s.allocsByNode, s.allocsByJob, s.evalsByJob = fresh.allocsByNode, fresh.allocsByJob, fresh.evalsByJob
	s.usage, s.allocCount, s.sortedNodes = fresh.usage, fresh.allocCount, nil
	s.acl = fresh.acl
	s.topics = fresh.topics
	s.index = max(s.index, fresh.index) + 1
	s.openIndex = s.index
	for t := range s.tableIndex {
		s.tableIndex[t] = s.index
	}
	close(s.changed)
	s.changed = make(chan struct{})
}
