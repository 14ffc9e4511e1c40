package queue

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/wal"
)

// A failed commit is a state of the engine, not a crash. The log refuses
// every append once a write or fdatasync has failed (see [wal.Log]), and
// the index may by then hold changes whose records never reached disk. So
// the engine:
//
//   - fails the callers of that commit and every later write at once, with
//     an error of class [errdefs.ErrStorageFull] (a full disk) or
//     [errdefs.ErrStorageFailed], and reports it from [Engine.Err];
//   - keeps serving reads of the index (queue lists, attributes, counts);
//   - from Run, retries recovery every recoverInterval: it stops every
//     operation, reopens the log (which keeps what reached disk and erases
//     a torn tail), proves a write works by appending a checkpoint, and
//     replaces the index with the one rebuilt from the log, so that nothing
//     in memory is ahead of disk. Waiters, watchers and counters stay.
//
// No restart is needed once the cause (say, a full disk) is gone.

// fail records a commit failure and returns the error writes are refused
// with.
func (e *Engine) fail(cause error) error {
	err := error(errdefs.Storage("queue log", cause))
	if e.failed.CompareAndSwap(nil, &err) {
		e.logger.Error("queue log failed; writes are refused until it recovers", "err", cause)
		select {
		case e.recoverNow <- struct{}{}:
		default:
		}
		return err
	}
	return e.failure()
}

// failure returns the error writes are refused with, or nil.
func (e *Engine) failure() error {
	if p := e.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// Err reports the engine's health: nil, or why writes are refused (an
// error of class [errdefs.ErrStorageFull] or [errdefs.ErrStorageFailed]).
func (e *Engine) Err() error { return e.failure() }

// Compactions returns how many compactions have finished since Open.
func (e *Engine) Compactions() uint64 { return e.compactions.Load() }

// enqueue queues recs for the next group commit and returns their
// positions, or fails without queueing anything when the engine refuses
// writes. The caller applies the records only when it returns no error.
func (e *Engine) enqueue(recs ...[]byte) (waiter, []wal.Pos, error) {
	if err := e.failure(); err != nil {
		return nil, nil, err
	}
	c, pos := e.log().Enqueue(recs...)
	if pos == nil && len(recs) > 0 {
		return nil, nil, e.commitErr(c.Wait())
	}
	return c, pos, nil
}

// recoverInterval is how often Run retries recovery while the log is
// failed. Each try first writes a small probe file beside the log, so
// that while the disk is still full a try costs one failed write, not a
// replay of the whole log.
const recoverInterval = 100 * time.Millisecond

// probeWrite writes, syncs and removes a small file in dir: it fails
// while the volume is full or failing.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 64<<10)); err != nil {
		return err
	}
	return f.Sync()
}

// tryRecover runs one recovery attempt and logs its outcome.
func (e *Engine) tryRecover() {
	if e.failure() == nil {
		return
	}
	if err := probeWrite(e.cfg.Dir); err != nil {
		return
	}
	start := time.Now()
	if err := e.recover(); err != nil {
		if !errors.Is(err, errdefs.ErrClosed) {
			e.logger.Warn("queue log still failing", "err", err)
		}
		return
	}
	e.logger.Info("queue log recovered; writes accepted again", "took", time.Since(start))
}

// recover reopens the log and rebuilds the index from it; see the comment
// at the top of this file. It holds every lock of the engine meanwhile.
func (e *Engine) recover() error {
	e.compactMu.Lock()
	defer e.compactMu.Unlock()
	e.readMu.Lock()
	defer e.readMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	queues := make([]*queueState, 0, len(e.byID))
	for _, q := range e.byID {
		queues = append(queues, q)
	}
	sortByID(queues)
	for _, q := range queues {
		q.mu.Lock()
	}
	defer func() {
		for _, q := range queues {
			q.mu.Unlock()
		}
	}()

	e.log().Close() // poisoned: it reports the failure again, nothing else
	l, err := wal.Open(e.cfg.walOptions())
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	fresh := emptyEngine(e.cfg, l)
	if _, err := fresh.replay(); err != nil {
		l.Close()
		return fmt.Errorf("replay: %w", err)
	}
	if fresh.nonce != e.nonce {
		l.Close()
		return fmt.Errorf("replay: the log's nonce changed")
	}
	fresh.nextSeq.Store(max(fresh.nextSeq.Load(), e.nextSeq.Load()))
	fresh.nextQueueID = max(fresh.nextQueueID, e.nextQueueID)
	// A write must work before writes are accepted again.
	if _, err := l.Append(checkpoint{nonce: e.nonce, nextSeq: fresh.nextSeq.Load(), nextQueueID: fresh.nextQueueID}.encode()); err != nil {
		l.Close()
		return fmt.Errorf("probe write: %w", err)
	}

	// Swap in the rebuilt index, keeping each queue's identity (receivers
	// and watchers hold it) and what only memory has.
	now := e.now().UnixNano()
	for _, q := range queues {
		f := fresh.byID[q.id]
		if f == nil { // its creation never reached disk
			delete(e.byID, q.id)
			if e.byName[q.name] == q {
				delete(e.byName, q.name)
			}
			q.deleted = true
			q.stopTimer()
			q.wakeWaiters()
			for w := range q.watchers {
				w.notify()
			}
			continue
		}
		q.takeIndex(f)
		delete(fresh.byID, q.id)
		e.byName[q.name] = q
	}
	var added []*queueState
	for id, f := range fresh.byID { // its deletion never reached disk
		f.e = e
		e.byID[id] = f
		e.byName[f.name] = f
		added = append(added, f)
	}
	e.segMu.Lock()
	e.segLive = fresh.segLive
	e.segMu.Unlock()
	e.nextSeq.Store(fresh.nextSeq.Load())
	e.nextQueueID = fresh.nextQueueID
	e.logp.Store(l)
	e.failed.Store(nil)
	// Wake receivers and watchers, and arm the timers, on the new index.
	// The added queues are reachable only under e.mu, which is held.
	for _, q := range append(queues, added...) {
		if !q.deleted {
			q.changed(now)
		}
	}
	return nil
}

// takeIndex replaces q's durable state with f's, rebuilt from the log.
// Owners are forgotten: the messages they held are in flight still, but
// the index rebuilt from disk does not know who holds them.
func (q *queueState) takeIndex(f *queueState) {
	q.name, q.attrs, q.tags, q.created = f.name, f.attrs, f.tags, f.created
	q.defSegment, q.defined, q.purgedBelow = f.defSegment, f.defined, f.purgedBelow
	q.entries, q.ready, q.pending, q.head, q.tail = f.entries, f.ready, f.pending, f.head, f.tail
	q.inFlight = f.inFlight
	clear(q.ownerInFlight)
}

// durable waits until everything enqueued so far is on disk. A position
// taken under a queue's lock may belong to a record whose commit is still
// pending (a compaction's copy), and the log must not be read there before.
func (e *Engine) durable() error {
	c, _ := e.log().Enqueue()
	return e.commitErr(c.Wait())
}
