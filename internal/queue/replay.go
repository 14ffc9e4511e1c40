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
	return e.replayFrom(e.log().Replay)
}

// replayFrom is replay over the records scan visits: the whole log, or
// a failed log's durable part ([wal.Log.Scan]).
func (e *Engine) replayFrom(scan func(func(wal.Pos, []byte) error) error) (int, error) {
	now := e.now().UnixNano()
	n := 0
	e.gone = map[uint32]bool{}
	err := scan(func(pos wal.Pos, rec []byte) error {
		n++
		if err := e.replayRecord(pos, rec, now); err != nil {
			return fmt.Errorf("record at %d:%d: %w", pos.Segment, pos.Offset, err)
		}
		return nil
	})
	e.gone = nil
	for _, q := range e.byID {
		sortAges(q)
		q.rebuildOrder()
	}
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
// live operation used: the switch only dispatches on the record's kind.
func (e *Engine) replayRecord(pos wal.Pos, rec []byte, now int64) error {
	d := dec{b: rec}
	size := uint32(len(rec))
	switch kind := d.byte(); kind {
	case recCheckpoint:
		e.replayCheckpoint(&d)
	case recQueuePut:
		e.replayQueuePut(&d, pos)
	case recQueueDelete:
		e.replayQueueDelete(&d)
	case recMessage:
		e.replayMessage(&d, pos, size, now)
	case recPublish:
		e.replayPublish(&d, pos, size, now)
	case recDeadLetter:
		e.replayDeadLetterCopy(&d, pos, size, now)
	case recReceive:
		e.replayReceives(&d, now)
	case recVisibility:
		e.replayVisibility(&d, now)
	case recDelete:
		e.replayDeletes(&d)
	case recMove:
		e.replayMoves(&d, now)
	case recPurge:
		e.replayPurge(&d)
	case recDedup:
		if r := decodeDedup(&d); d.err == nil {
			if q := e.replayQueue(r.queue); q != nil {
				q.remember(r.key, dedupEntry{seq: r.seq, sentAt: r.sentAt, pos: pos}, now)
			}
		}
	default:
		return unknownRecord(kind)
	}
	return d.err
}

// The replay functions below each decode the rest of one kind of record
// from d and apply it; a record that does not decode changes nothing and
// leaves its error in d.err.

func (e *Engine) replayCheckpoint(d *dec) {
	if c := decodeCheckpoint(d); d.err == nil {
		e.applyCheckpoint(c)
	}
}

func (e *Engine) replayQueuePut(d *dec, pos wal.Pos) {
	if p := decodeQueuePut(d); d.err == nil {
		e.applyQueuePut(pos, p)
	}
}

func (e *Engine) replayQueueDelete(d *dec) {
	if id := decodeQueueDelete(d); d.err == nil {
		e.gone[id] = true // also when it was never seen
		e.applyQueueDelete(id)
	}
}

// replayMessage applies a send or a compaction's copy; a message of a
// deleted queue only keeps its sequence number from being used again.
func (e *Engine) replayMessage(d *dec, pos wal.Pos, size uint32, now int64) {
	m := decodeMessage(d)
	if d.err != nil {
		return
	}
	if q := e.replayQueue(m.queue); q != nil {
		e.applyMessage(q, pos, size, &m, now)
	} else {
		e.bumpSeq(m.seq)
	}
}

func (e *Engine) replayPublish(d *dec, pos wal.Pos, size uint32, now int64) {
	msgs := decodePublish(d)
	if d.err != nil {
		return
	}
	queues := make([]*queueState, len(msgs))
	for i := range msgs {
		queues[i] = e.replayQueue(msgs[i].queue)
	}
	e.applyPublish(queues, pos, size, msgs, now)
}

func (e *Engine) replayDeadLetterCopy(d *dec, pos wal.Pos, size uint32, now int64) {
	if from, oldSeq, m := decodeDeadLetterCopy(d); d.err == nil {
		e.applyDeadLetterCopy(e.replayQueue(from), e.replayQueue(m.queue), oldSeq, pos, size, &m, now)
	}
}

func (e *Engine) replayReceives(d *dec, now int64) {
	id, items := decodeReceives(d)
	if d.err != nil {
		return
	}
	if q := e.replayQueue(id); q != nil {
		e.applyReceives(q, items, now)
	}
}

func (e *Engine) replayVisibility(d *dec, now int64) {
	id, seq, at := decodeVisibility(d)
	if d.err != nil {
		return
	}
	if q := e.replayQueue(id); q != nil {
		e.applyVisibility(q, seq, at, now)
	}
}

func (e *Engine) replayDeletes(d *dec) {
	id, _, seqs := decodeDeletes(d)
	if d.err != nil {
		return
	}
	if q := e.replayQueue(id); q != nil {
		e.applyDeletes(q, seqs)
	}
}

// replayMoves applies each move of a record; a move out of a deleted
// queue only keeps its new sequence number from being used again.
func (e *Engine) replayMoves(d *dec, now int64) {
	ms := decodeMoves(d)
	if d.err != nil {
		return
	}
	for _, m := range ms {
		if from := e.replayQueue(m.from); from != nil {
			e.applyMove(from, e.replayQueue(m.to), m, now)
		} else {
			e.bumpSeq(m.newSeq)
		}
	}
}

func (e *Engine) replayPurge(d *dec) {
	id, below := decodePurge(d)
	if d.err != nil {
		return
	}
	if q := e.replayQueue(id); q != nil {
		sortAges(q) // applyPurge walks the age list from its head
		e.applyPurge(q, below)
	}
}

// sortAges puts q's age list back in sequence order when replay has
// appended messages out of order (see [Engine.insert]). The list is then a
// few ascending runs — the messages in the order they were sent, and
// compaction's copies — which it merges, pairwise, until one is left.
func sortAges(q *queueState) {
	var runs []*entry // heads of ascending runs, each ended by nil
	for en := q.head; en != nil; {
		runs = append(runs, en)
		for en.next != nil && en.next.seq > en.seq {
			en = en.next
		}
		en.next, en = nil, en.next
	}
	if len(runs) < 2 {
		return // in order already, and unchanged
	}
	for len(runs) > 1 {
		merged := runs[:0]
		for i := 0; i < len(runs); i += 2 {
			if i+1 == len(runs) {
				merged = append(merged, runs[i])
			} else {
				merged = append(merged, mergeRuns(runs[i], runs[i+1]))
			}
		}
		runs = merged
	}
	var prev *entry
	for en := runs[0]; en != nil; en = en.next {
		en.prev, prev = prev, en
	}
	q.head, q.tail = runs[0], prev
}

// mergeRuns merges two ascending runs linked by next into one.
func mergeRuns(a, b *entry) *entry {
	var head entry
	t := &head
	for a != nil && b != nil {
		if a.seq < b.seq {
			t.next, a = a, a.next
		} else {
			t.next, b = b, b.next
		}
		t = t.next
	}
	if a != nil {
		t.next = a
	} else {
		t.next = b
	}
	return head.next
}
