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
// the index may by then hold changes whose records never reached disk:
// they were applied when they took their place in the log, and their
// callers were told they failed. So the engine:
//
//   - fails the callers of that commit and every later write at once, with
//     an error of class [errdefs.ErrStorageFull] (a full disk) or
//     [errdefs.ErrStorageFailed], and reports it from [Engine.Err];
//   - rolls the index back at once, without waiting for the disk: Run
//     rebuilds it from the failed log's durable part ([wal.Log.Scan] up to
//     [wal.Log.Durable]) beside the reads, and swaps it in under every
//     queue's lock, so reads (queue lists, attributes, counts, peeks) show
//     only what is on disk;
//   - from Run, retries every recoverInterval until a probe write works,
//     then reopens the log with [wal.Options.TruncateAt] at that durable
//     end, which erases whatever the failed commits left past it (a failed
//     fdatasync leaves it in the page cache, in no known state on disk), so
//     no refused change comes back; proves a write works by appending a
//     checkpoint; and accepts writes again. The index already matches the
//     log, so this step holds the engine's locks only to scan the last
//     segment. Waiters, watchers and counters stay throughout.
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
	if e.cfg.onRecord != nil {
		for i, rec := range recs {
			e.cfg.onRecord(pos[i], rec)
		}
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

// tryRecover runs one recovery step and logs its outcome: the rollback
// first, then, once a probe write works, the reopening.
func (e *Engine) tryRecover() {
	if e.failure() == nil {
		return
	}
	start := time.Now()
	switch rolled, err := e.rollback(); {
	case err != nil:
		if !errors.Is(err, errdefs.ErrClosed) {
			e.logger.Error("queue log failed and its index cannot be rebuilt from disk", "err", err)
		}
		return
	case rolled:
		e.logger.Info("queue index rolled back to what is on disk", "took", time.Since(start))
	}
	if err := probeWrite(e.cfg.Dir); err != nil {
		return
	}
	start = time.Now()
	if err := e.reopen(); err != nil {
		if !errors.Is(err, errdefs.ErrClosed) {
			e.logger.Warn("queue log still failing", "err", err)
		}
		return
	}
	e.logger.Info("queue log recovered; writes accepted again", "took", time.Since(start))
}

// lockAll takes the directory lock and every queue's lock, in the lock
// order, and returns the queues and the function that releases them all.
func (e *Engine) lockAll() ([]*queueState, func()) {
	e.mu.Lock()
	queues := make([]*queueState, 0, len(e.byID))
	for _, q := range e.byID {
		queues = append(queues, q)
	}
	sortByID(queues)
	for _, q := range queues {
		q.mu.Lock()
	}
	return queues, func() {
		for _, q := range queues {
			q.mu.Unlock()
		}
		e.mu.Unlock()
	}
}

// rollback rebuilds the index from the failed log's durable records and
// swaps it in, unless it was already rebuilt; it reports whether it did.
// The replay runs beside reads: while the log is failed nothing changes
// the index (writes are refused, maintenance waits) or the log's durable
// part.
func (e *Engine) rollback() (bool, error) {
	e.compactMu.Lock()
	defer e.compactMu.Unlock()
	if e.rolledBack != (wal.Pos{}) {
		return false, nil
	}
	l := e.log()
	if err := l.Err(); err == nil || errors.Is(err, wal.ErrClosed) {
		// Only a failed log's durable end stays put; a closed one was
		// closed by the engine (Close, or a reopening that failed).
		if e.isClosed() {
			return false, errClosed
		}
		if err == nil {
			return false, errors.New("internal error: the engine failed on a healthy log")
		}
		return false, nil
	}
	end := l.Durable()
	fresh := emptyEngine(e.cfg, l)
	if _, err := fresh.replayFrom(func(fn func(wal.Pos, []byte) error) error { return l.Scan(end, fn) }); err != nil {
		if errors.Is(err, wal.ErrClosed) {
			return false, errClosed
		}
		return false, fmt.Errorf("replay: %w", err)
	}
	queues, unlock := e.lockAll()
	defer unlock()
	if e.closed {
		return false, errClosed
	}
	if err := e.swapIndex(fresh, queues); err != nil {
		return false, err
	}
	e.rolledBack = end
	return true, nil
}

// isClosed reports whether Close has begun.
func (e *Engine) isClosed() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.closed
}

// reopen reopens the failed log, erasing what lies past the durable end
// the index was rolled back to, and accepts writes again once a checkpoint
// is written. It holds every lock of the engine meanwhile: the old log's
// files close under the reads.
func (e *Engine) reopen() error {
	e.compactMu.Lock()
	defer e.compactMu.Unlock()
	e.readMu.Lock()
	defer e.readMu.Unlock()
	queues, unlock := e.lockAll()
	defer unlock()
	if e.closed {
		return errClosed
	}
	end := e.rolledBack
	e.log().Close() // failed: it reports the failure again, nothing else
	opts := e.cfg.walOptions()
	opts.TruncateAt = end
	l, err := wal.Open(opts)
	if err != nil {
		// The index's positions stay valid for the next try, which
		// opens the log again; reads of bodies fail until then.
		return fmt.Errorf("reopen: %w", err)
	}
	if got := l.Durable(); got != end {
		// The log holds less than its durable end promised (damage read
		// back from disk): rebuild the index from what is there.
		e.logger.Error("queue log reopened short of its durable end; rebuilding the index from it",
			"durable", end.String(), "found", got.String())
		fresh := emptyEngine(e.cfg, l)
		if _, err := fresh.replay(); err != nil {
			l.Close()
			return fmt.Errorf("replay: %w", err)
		}
		if err := e.swapIndex(fresh, queues); err != nil {
			l.Close()
			return err
		}
	}
	// A write must work before writes are accepted again.
	if err := e.appendCheckpoint(l, e.counters()); err != nil {
		l.Close()
		return fmt.Errorf("probe write: %w", err)
	}
	e.logp.Store(l)
	e.rolledBack = wal.Pos{}
	e.failed.Store(nil)
	now := e.now().UnixNano()
	for _, q := range e.byID {
		q.changed(now)
	}
	return nil
}

// swapIndex replaces the index with fresh's, rebuilt from the log, keeping
// each queue's identity (receivers and watchers hold it) and what only
// memory has. Sequence counters never go back, so that no id or receipt
// handed out before is used again. The caller holds e.mu and the lock of
// every queue in queues, which are all of e's.
func (e *Engine) swapIndex(fresh *Engine, queues []*queueState) error {
	if fresh.nonce != e.nonce {
		return fmt.Errorf("replay: the log's nonce changed")
	}
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
	e.nextSeq.Store(max(fresh.nextSeq.Load(), e.nextSeq.Load()))
	e.nextQueueID = max(fresh.nextQueueID, e.nextQueueID)
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
	q.modified = f.modified
	// The groups and deduplication ids are the durable records' too: a
	// send whose commit failed is no original. Receive attempts are
	// memory's, and checked against the entries when retried.
	if q.fifo != nil && f.fifo != nil {
		f.fifo.attempts = q.fifo.attempts
	}
	q.fifo = f.fifo
	clear(q.ownerInFlight)
}

// durable waits until everything enqueued so far is on disk. A position
// taken under a queue's lock may belong to a record whose commit is still
// pending (a compaction's copy), and the log must not be read there before.
func (e *Engine) durable() error {
	c, _ := e.log().Enqueue()
	return e.commitErr(c.Wait())
}
