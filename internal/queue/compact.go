package queue

import (
	"fmt"

	"github.com/docketd/docket/internal/errdefs"
)

// compactChunk bounds how many messages one lock hold copies, so that a
// compaction never stalls a queue's senders and receivers for long.
const compactChunk = 512

// Compact reclaims the log's oldest segment when at most half of it is
// still live (or always, with force): it copies the live messages there
// forward, rewrites the queue definitions and the checkpoint, and drops the
// segment. Run calls it every maintenance interval, again and again while
// it drops segments (see compactAll).
func (e *Engine) Compact(force bool) error {
	_, err := e.compact(force)
	return err
}

// maxCompactionsPerRound bounds how many segments one maintenance round
// reclaims, so that the round ends; the next one goes on.
const maxCompactionsPerRound = 256

// compactAll reclaims segments until the oldest is more than half live,
// only the active one is left, or maxCompactionsPerRound are done. One
// segment a round would not keep up with a log that fills more than one
// segment per maintenance interval: it would grow until the disk is full.
func (e *Engine) compactAll() error {
	for range maxCompactionsPerRound {
		dropped, err := e.compact(false)
		if err != nil || !dropped {
			return err
		}
	}
	return nil
}

// compact is Compact, reporting whether it dropped a segment.
func (e *Engine) compact(force bool) (bool, error) {
	e.compactMu.Lock()
	defer e.compactMu.Unlock()
	ids, active := e.log().Segments()
	if len(ids) < 2 || ids[0] == active {
		return false, nil
	}
	head := ids[0]
	e.segMu.Lock()
	live := e.segLive[head]
	e.segMu.Unlock()
	if !force && live > e.cfg.SegmentSize/2 {
		return false, nil
	}
	// The queue definitions that live in the head segment and a checkpoint
	// go to the tail first, so that replay knows the queues before it meets
	// their copied messages. Once this commit is durable, so is everything
	// before it, and the head segment can be read whole.
	if err := e.rewriteDefinitions(head); err != nil {
		return false, err
	}
	// A move (dead-lettering, redrive) can carry a message whose record is
	// in head into a queue this pass has already copied; the moved message
	// keeps pointing at head. So passes repeat until no live byte is left
	// there. Only messages pointing at head can bring another one, so this
	// ends; a few passes are plenty, and the segment stays if not.
	copied := 0
	for pass := 1; ; pass++ {
		for _, q := range e.sortedQueues() {
			n, err := e.copyForward(q, head)
			copied += n
			if err != nil {
				return false, err
			}
			if e.afterCopy != nil {
				e.afterCopy(q)
			}
		}
		e.segMu.Lock()
		left := e.segLive[head]
		e.segMu.Unlock()
		if left == 0 {
			break
		}
		if pass == 4 {
			e.logger.Warn("compaction left messages behind; the segment stays", "segment", head, "live_bytes", left)
			return false, nil
		}
	}
	// Receives that took a position in head before it was copied read it
	// before it goes; see Engine.readMu.
	e.readMu.Lock()
	err := e.log().DropBefore(head + 1)
	e.readMu.Unlock()
	if err != nil {
		return false, fmt.Errorf("%w: drop segment %d: %v", errdefs.ErrInternal, head, err)
	}
	e.segMu.Lock()
	delete(e.segLive, head)
	e.segMu.Unlock()
	e.compactions.Add(1)
	e.logger.Info("compacted log", "segment", head, "live_bytes", live, "messages_copied", copied)
	return true, nil
}

// rewriteDefinitions appends the definition of every queue whose latest
// definition record is in segment head or before, in id order, and a
// checkpoint, and applies them as replay will: each definition then lives
// at its new position. e.mu is held exclusively only until they are
// applied, which changes the directory; the wait for the commit is
// without it.
func (e *Engine) rewriteDefinitions(head uint32) error {
	e.mu.Lock()
	var defs []queuePut
	var recs [][]byte
	type dedupCopy struct {
		q   *queueState
		key string
		seq uint64
	}
	var dedups []dedupCopy
	var dedupRecs [][]byte
	for _, q := range e.sortedQueuesLocked() {
		q.mu.Lock()
		if q.defSegment <= head {
			p := q.definition()
			defs = append(defs, p)
			recs = append(recs, p.encode())
		}
		// The deduplication ids still in their window whose record goes
		// with head are remembered in new records.
		if q.fifo != nil {
			now := e.now().UnixNano()
			q.forgetExpired(now)
			for key, d := range q.fifo.dedup {
				if d.pos.Segment <= head {
					dedups = append(dedups, dedupCopy{q, key, d.seq})
					dedupRecs = append(dedupRecs, dedupRecord{queue: q.id, key: key, seq: d.seq, sentAt: d.sentAt}.encode())
				}
			}
		}
		q.mu.Unlock()
	}
	recs = append(recs, dedupRecs...)
	cp := e.counters()
	recs = append(recs, cp.encode())
	c, pos, err := e.enqueue(recs...)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	for i, p := range defs {
		q := e.byID[p.id]
		q.mu.Lock()
		e.applyQueuePut(pos[i], p)
		q.mu.Unlock()
	}
	for i, dc := range dedups {
		dc.q.mu.Lock()
		if d, ok := dc.q.fifo.dedup[dc.key]; ok && d.seq == dc.seq {
			d.pos = pos[len(defs)+i]
			dc.q.fifo.dedup[dc.key] = d
		}
		dc.q.mu.Unlock()
	}
	e.applyCheckpoint(cp)
	e.mu.Unlock()
	return e.commitErr(c.Wait())
}

// copyForward rewrites every message of q whose record is in segment seg
// at the log's tail, with its current state: a message record that replay
// applies as it is applied here.
func (e *Engine) copyForward(q *queueState, seg uint32) (int, error) {
	copied := 0
	var last *entry // the last message copied by the previous chunk
	for {
		q.mu.Lock()
		if q.deleted {
			q.mu.Unlock()
			return copied, nil
		}
		var recs [][]byte
		var msgs []message
		en := q.head
		if last != nil {
			if q.entries[last.seq] == last {
				en = last.next
			} else {
				// It left the queue meanwhile; messages already copied
				// are skipped by their segment.
				for en != nil && en.seq <= last.seq {
					en = en.next
				}
			}
		}
		for ; en != nil && len(msgs) < compactChunk; en = en.next {
			if en.pos.Segment != seg {
				continue
			}
			rec, err := e.log().Read(en.pos)
			if err != nil {
				q.mu.Unlock()
				return copied, fmt.Errorf("%w: compact: read message %d: %v", errdefs.ErrInternal, en.seq, err)
			}
			m, err := decodeMessageRecord(rec, en.sub)
			if err != nil {
				q.mu.Unlock()
				return copied, fmt.Errorf("%w: compact: message %d: %v", errdefs.ErrInternal, en.seq, err)
			}
			m.queue, m.seq, m.sentAt, m.visibleAt = q.id, en.seq, en.sentAt, en.visibleAt
			m.firstRecvAt, m.recvCount, m.source = en.firstRecvAt, en.recvCount, en.source
			recs = append(recs, encodeMessage(&m))
			msgs = append(msgs, m)
			last = en
		}
		if len(msgs) == 0 {
			q.mu.Unlock()
			return copied, nil
		}
		c, pos, err := e.enqueue(recs...)
		if err != nil {
			q.mu.Unlock()
			return copied, err
		}
		now := e.now().UnixNano()
		for i := range msgs {
			e.applyMessage(q, pos[i], uint32(len(recs[i])), &msgs[i], now)
		}
		q.mu.Unlock()
		if err := e.commitErr(c.Wait()); err != nil {
			return copied, err
		}
		copied += len(msgs)
	}
}
