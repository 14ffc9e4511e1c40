package queue

import (
	"fmt"

	"github.com/docketd/docket/internal/wal"
)

// replay rebuilds the index from the log and returns how many records it
// read.
//
// Replay does not depend on a queue's definition coming before the records
// of its messages: compaction rewrites definitions at the log's tail, after
// segments that still hold messages sent long before. A record for a queue
// whose definition has not been read yet is applied to a queue known only
// by its id (see replayQueue); the definition fills in its name and
// settings when it comes. Queue ids are never reused, so such a record can
// belong to no other queue.
func (e *Engine) replay() (int, error) {
	now := e.now().UnixNano()
	n := 0
	e.gone = map[uint32]bool{}
	err := e.log().Replay(func(pos wal.Pos, rec []byte) error {
		n++
		if err := e.replayRecord(pos, rec, now); err != nil {
			return fmt.Errorf("record at %d:%d: %w", pos.Segment, pos.Offset, err)
		}
		return nil
	})
	e.gone = nil
	// A queue that records named but that was never defined can only be one
	// whose definition and deletion were both dropped by compaction, which
	// never happens to a queue with messages left; drop it.
	undefined := 0
	for id, q := range e.byID {
		if !q.defined {
			undefined++
			q.dropAll()
			delete(e.byID, id)
		}
	}
	if undefined > 0 {
		e.logger.Warn("log names queues it never defines; their records are ignored", "queues", undefined)
	}
	return n, err
}

// replayQueue returns the queue a replayed record names: the defined queue,
// one known so far only by its id, or nil for a deleted one.
func (e *Engine) replayQueue(id uint32) *queueState {
	if q := e.byID[id]; q != nil {
		return q
	}
	if e.gone[id] || id == 0 {
		return nil
	}
	q := newQueueState(e, id, "", Attributes{}, 0)
	e.byID[id] = q
	return q
}

// replayRecord decodes one record and applies it with the function the
// live operation used.
func (e *Engine) replayRecord(pos wal.Pos, rec []byte, now int64) error {
	d := dec{b: rec}
	size := uint32(len(rec))
	switch kind := d.byte(); kind {
	case recCheckpoint:
		c := decodeCheckpoint(&d)
		if d.err == nil {
			e.applyCheckpoint(c)
		}
	case recQueuePut:
		p := decodeQueuePut(&d)
		if d.err == nil {
			e.applyQueuePut(pos, p)
		}
	case recQueueDelete:
		id := uint32(d.uvarint())
		if d.err == nil {
			e.gone[id] = true // also when it was never seen
			e.applyQueueDelete(id)
		}
	case recMessage:
		m := decodeMessage(&d)
		if d.err != nil {
			return d.err
		}
		if q := e.replayQueue(m.queue); q != nil {
			e.applyMessage(q, pos, size, &m, now)
		} else {
			e.bumpSeq(m.seq)
		}
	case recDeadLetter:
		from, oldSeq := uint32(d.uvarint()), d.uvarint()
		m := decodeMessage(&d)
		if d.err == nil {
			e.applyDeadLetterCopy(e.replayQueue(from), e.replayQueue(m.queue), oldSeq, pos, size, &m, now)
		}
	case recReceive:
		id, items := decodeReceives(&d)
		if q := e.replayQueue(id); d.err == nil && q != nil {
			e.applyReceives(q, items, now)
		}
	case recVisibility:
		id, seq, at := uint32(d.uvarint()), d.uvarint(), d.varint()
		if q := e.replayQueue(id); d.err == nil && q != nil {
			e.applyVisibility(q, seq, at, now)
		}
	case recDelete:
		id, _, seqs := decodeDeletes(&d)
		if q := e.replayQueue(id); d.err == nil && q != nil {
			e.applyDeletes(q, seqs)
		}
	case recMove:
		ms := decodeMoves(&d)
		if d.err != nil {
			return d.err
		}
		for _, m := range ms {
			if from := e.replayQueue(m.from); from != nil {
				e.applyMove(from, e.replayQueue(m.to), m, now)
			} else {
				e.bumpSeq(m.newSeq)
			}
		}
	case recPurge:
		id, below := uint32(d.uvarint()), d.uvarint()
		if q := e.replayQueue(id); d.err == nil && q != nil {
			e.applyPurge(q, below)
		}
	default:
		return unknownRecord(kind)
	}
	return d.err
}
