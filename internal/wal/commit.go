package wal

import (
	"fmt"
	"math"
	"time"
)

// maxSpareBuffer is the largest batch buffer kept for reuse; a buffer grown
// by an unusually large batch is left to the garbage collector.
const maxSpareBuffer = 4 << 20

// Commit is the pending durability of records queued by [Log.Enqueue]. Every
// call whose records went into the same group commit shares one Commit.
type Commit struct {
	done chan struct{}
	err  error // written before done is closed
}

// Wait blocks until the records are durable, or their commit failed. It may
// be called any number of times, from any goroutine.
func (c *Commit) Wait() error {
	<-c.done
	return c.err
}

// doneCommit returns a Commit that has already completed with err.
func doneCommit(err error) *Commit {
	c := &Commit{done: make(chan struct{}), err: err}
	close(c.done)
	return c
}

// batch is one unit of group commit: records bound for one segment, encoded
// back to back, that the writer writes with one pwrite and one fdatasync.
type batch struct {
	seg     uint32
	off     int64 // offset of buf in the segment
	buf     []byte
	records int
	commit  *Commit
}

// Append adds recs to the log as one unit and waits until they are durable.
// It returns the position of each record. The records of one call are
// contiguous, in order, and in the same group commit; the order across calls
// is the order in which they took the log's internal lock.
func (l *Log) Append(recs ...[]byte) ([]Pos, error) {
	c, pos := l.Enqueue(recs...)
	if err := c.Wait(); err != nil {
		return nil, err
	}
	return pos, nil
}

// Enqueue is [Log.Append] in two steps, for callers that must fix the order
// of their records in the log while holding a lock of their own and then wait
// for durability without it: it assigns positions and queues the records for
// the next group commit, and returns at once. The positions must not be used
// for reading before the Commit's Wait has returned nil.
//
// Enqueue with no records returns a Commit that completes when everything
// enqueued before it is durable. Errors (a closed or failed log, a record
// over [MaxRecordSize]) are reported by Wait, with nil positions.
func (l *Log) Enqueue(recs ...[]byte) (*Commit, []Pos) {
	// Checksum outside the lock: it is the only per-byte work besides the
	// copy into the batch.
	var sumsArr [16]uint32
	sums := sumsArr[:0]
	size := int64(0)
	for _, r := range recs {
		if len(r) > MaxRecordSize {
			return doneCommit(fmt.Errorf("%w: record of %d bytes exceeds the %d-byte limit", ErrTooLarge, len(r), MaxRecordSize)), nil
		}
		size += recordHeaderSize + int64(len(r))
		sums = append(sums, payloadChecksum(r))
	}
	if size > math.MaxUint32-segmentHeaderSize {
		return doneCommit(fmt.Errorf("%w: %d bytes in one append exceed the segment offset range", ErrTooLarge, size)), nil
	}
	var pos []Pos
	if len(recs) > 0 {
		pos = make([]Pos, len(recs))
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return doneCommit(l.err), nil
	}
	if l.closing {
		return doneCommit(ErrClosed), nil
	}
	if len(recs) == 0 {
		if l.last == nil {
			return doneCommit(nil), nil
		}
		return l.last, nil
	}
	l.appended = true
	if l.off > segmentHeaderSize && l.off+size > l.opts.SegmentSize {
		l.rollLocked()
	}
	b := l.cur
	if b == nil {
		b = l.newBatchLocked()
	}
	for i, r := range recs {
		pos[i] = Pos{Segment: l.seg, Offset: uint32(l.off)}
		b.buf = appendRecord(b.buf, r, sums[i])
		l.off += recordHeaderSize + int64(len(r))
	}
	b.records += len(recs)
	l.kickLocked()
	return b.commit, pos
}

// Roll closes the active segment and starts a new one, so that everything
// before it can later be dropped with [Log.DropBefore]. It returns once the
// new segment is in place and everything appended before it is durable.
func (l *Log) Roll() error {
	l.mu.Lock()
	if l.err != nil || l.closing {
		err := l.err
		if err == nil {
			err = ErrClosed
		}
		l.mu.Unlock()
		return err
	}
	l.rollLocked()
	// An empty batch for the new segment makes the writer create it even if
	// nothing is appended to it.
	c := l.newBatchLocked().commit
	l.kickLocked()
	l.mu.Unlock()
	return c.Wait()
}

// rollLocked moves the append position to the start of the next segment.
func (l *Log) rollLocked() {
	if l.cur != nil {
		l.queue = append(l.queue, l.cur)
		l.cur = nil
	}
	l.seg++
	l.off = segmentHeaderSize
}

func (l *Log) newBatchLocked() *batch {
	b := &batch{seg: l.seg, off: l.off, commit: &Commit{done: make(chan struct{})}}
	if n := len(l.spare); n > 0 {
		b.buf, l.spare = l.spare[n-1][:0], l.spare[:n-1]
	}
	l.cur, l.last = b, b.commit
	return b
}

func (l *Log) kickLocked() {
	select {
	case l.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// run is the writer goroutine. It takes every pending batch at once, so
// while it is in fdatasync the callers that arrive meanwhile collect into the
// next batch, and commits them in order.
func (l *Log) run() {
	defer close(l.done)
	for {
		l.mu.Lock()
		for l.cur == nil && len(l.queue) == 0 {
			if l.closing || l.err != nil {
				l.mu.Unlock()
				return
			}
			l.mu.Unlock()
			<-l.kick
			l.mu.Lock()
		}
		batches := append(l.taken[:0], l.queue...)
		if l.cur != nil {
			batches = append(batches, l.cur)
			l.cur = nil
		}
		clear(l.queue)
		l.queue = l.queue[:0]
		l.mu.Unlock()

		for i, b := range batches {
			if err := l.commit(b); err != nil {
				l.poison(err, batches[i:])
				return
			}
		}
		l.mu.Lock()
		for _, b := range batches {
			if cap(b.buf) <= maxSpareBuffer && len(l.spare) < 4 {
				l.spare = append(l.spare, b.buf[:0])
			}
		}
		l.mu.Unlock()
		clear(batches)
		l.taken = batches[:0]
	}
}

// commit makes one batch durable and releases its callers.
func (l *Log) commit(b *batch) error {
	if b.seg != l.active.id {
		if err := l.roll(b.seg); err != nil {
			return err
		}
	}
	var d time.Duration
	if len(b.buf) > 0 {
		a := l.active
		if b.off != a.end.Load() {
			return fmt.Errorf("wal: internal error: batch at %d:%d, segment ends at %d", b.seg, b.off, a.end.Load())
		}
		var start time.Time
		if l.opts.OnCommit != nil {
			start = time.Now()
		}
		if err := l.writeFull(a, b.buf, b.off); err != nil {
			return err
		}
		if err := l.sync(a); err != nil {
			return err
		}
		if l.opts.OnCommit != nil {
			d = time.Since(start)
		}
		end := b.off + int64(len(b.buf))
		a.end.Store(end)
		if grow := end - a.fileSize.Load(); grow > 0 {
			a.fileSize.Store(end)
			l.size.Add(grow)
		}
	}
	if l.opts.OnCommit != nil && b.records > 0 {
		l.opts.OnCommit(b.records, len(b.buf), d)
	}
	close(b.commit.done)
	return nil
}

// roll finishes the active segment and makes segment id the active one.
func (l *Log) roll(id uint32) error {
	old := l.active
	if id != old.id+1 {
		return fmt.Errorf("wal: internal error: roll from segment %d to %d", old.id, id)
	}
	s, err := l.newSegment(id)
	if err != nil {
		return err
	}
	l.segMu.Lock()
	l.segs = append(l.segs, s)
	l.active = s
	l.segMu.Unlock()
	// Give back the unused preallocated tail of the old segment.
	if old.fileSize.Load() > old.end.Load() {
		if l.prep != nil {
			l.prep.trimLater(old)
		} else {
			l.trim(old) // left by an earlier run with preallocation
		}
	}
	l.log.Debug("rolled to new segment", "segment", id, "previous_bytes", old.end.Load())
	return nil
}

// poison records a failed write or fdatasync and fails the batches that it
// left uncommitted and every later append. Retrying is not safe: after a
// failed fdatasync the kernel may have dropped the dirty pages and forgotten
// the error, so a second fdatasync could succeed without the data.
func (l *Log) poison(err error, batches []*batch) {
	err = fmt.Errorf("wal: log failed, appends refused until it is reopened: %w", err)
	l.log.Error("write-ahead log failed", "err", err)
	l.mu.Lock()
	l.err = err
	batches = append(batches, l.queue...)
	if l.cur != nil {
		batches = append(batches, l.cur)
	}
	l.queue, l.cur = nil, nil
	l.mu.Unlock()
	for _, b := range batches {
		b.commit.err = err
		close(b.commit.done)
	}
}
