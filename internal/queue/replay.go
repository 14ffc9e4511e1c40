package queue

import (
	"fmt"

	"github.com/docketd/docket/internal/wal"
)

// replay rebuilds the index from the log and returns how many records it
// read.
func (e *Engine) replay() (int, error) {
	now := e.now().UnixNano()
	n := 0
	err := e.log.Replay(func(pos wal.Pos, rec []byte) error {
		n++
		if err := e.apply(pos, rec, now); err != nil {
			return fmt.Errorf("record at %d:%d: %w", pos.Segment, pos.Offset, err)
		}
		return nil
	})
	return n, err
}

func (e *Engine) bumpSeq(seq uint64) {
	if seq >= e.nextSeq.Load() {
		e.nextSeq.Store(seq + 1)
	}
}

// apply replays one record. Records about queues or messages that no
// longer exist are skipped: compaction drops the segments that held them
// once it has copied forward what was still alive.
func (e *Engine) apply(pos wal.Pos, rec []byte, now int64) error {
	d := dec{b: rec}
	switch kind := d.byte(); kind {
	case recCheckpoint:
		c := decodeCheckpoint(&d)
		if d.err != nil {
			return d.err
		}
		if e.nonce == 0 {
			e.nonce = c.nonce
		}
		if c.nextSeq > e.nextSeq.Load() {
			e.nextSeq.Store(c.nextSeq)
		}
		e.nextQueueID = max(e.nextQueueID, c.nextQueueID)
	case recQueuePut:
		p := decodeQueuePut(&d)
		if d.err != nil {
			return d.err
		}
		q := e.byID[p.id]
		if q == nil {
			q = newQueueState(e, p.id, p.name, p.attrs, p.created)
			e.byID[p.id] = q
			e.byName[p.name] = q
		}
		q.attrs = p.attrs
		q.tags = p.tags
		q.defSegment = pos.Segment
		e.nextQueueID = max(e.nextQueueID, p.id+1)
	case recQueueDelete:
		id := uint32(d.uvarint())
		if d.err != nil {
			return d.err
		}
		if q := e.byID[id]; q != nil {
			q.dropAll()
			q.deleted = true
			delete(e.byID, id)
			delete(e.byName, q.name)
		}
	case recMessage:
		m := decodeMessage(&d)
		if d.err != nil {
			return d.err
		}
		e.bumpSeq(m.seq)
		q := e.byID[m.queue]
		if q == nil || m.seq < q.purgedBelow {
			return nil
		}
		if old := q.entries[m.seq]; old != nil {
			q.remove(old) // a compaction copy supersedes the earlier record
		}
		en := &entry{
			seq: m.seq, pos: pos, size: uint32(len(rec)), recvCount: m.recvCount,
			sentAt: m.sentAt, visibleAt: m.visibleAt, firstRecvAt: m.firstRecvAt, source: m.source,
		}
		q.insert(en, now)
		e.addLive(pos, en.size)
	case recDeadLetter:
		from, oldSeq := uint32(d.uvarint()), d.uvarint()
		m := decodeMessage(&d)
		if d.err != nil {
			return d.err
		}
		e.bumpSeq(m.seq)
		if q := e.byID[from]; q != nil {
			if en := q.entries[oldSeq]; en != nil {
				q.remove(en)
			}
		}
		if q := e.byID[m.queue]; q != nil {
			q.insert(&entry{seq: m.seq, pos: pos, size: uint32(len(rec)), sentAt: m.sentAt,
				visibleAt: m.visibleAt, source: m.source}, now)
			e.addLive(pos, uint32(len(rec)))
		}
	case recReceive:
		id, items := decodeReceives(&d)
		if d.err != nil {
			return d.err
		}
		q := e.byID[id]
		if q == nil {
			return nil
		}
		for _, it := range items {
			if en := q.entries[it.seq]; en != nil {
				q.unplace(en)
				en.recvCount = it.count
				en.visibleAt = it.visibleAt
				en.firstRecvAt = it.firstRecvAt
				q.place(en, now)
			}
		}
	case recVisibility:
		id, seq, at := uint32(d.uvarint()), d.uvarint(), d.varint()
		if d.err != nil {
			return d.err
		}
		if q := e.byID[id]; q != nil {
			if en := q.entries[seq]; en != nil {
				q.unplace(en)
				en.visibleAt = at
				q.place(en, now)
			}
		}
	case recDelete:
		id, _, seqs := decodeDeletes(&d)
		if d.err != nil {
			return d.err
		}
		if q := e.byID[id]; q != nil {
			for _, seq := range seqs {
				if en := q.entries[seq]; en != nil {
					q.remove(en)
				}
			}
		}
	case recMove:
		ms := decodeMoves(&d)
		if d.err != nil {
			return d.err
		}
		for _, m := range ms {
			e.bumpSeq(m.newSeq)
			from, to := e.byID[m.from], e.byID[m.to]
			if from == nil {
				continue
			}
			en := from.entries[m.oldSeq]
			if en == nil {
				continue
			}
			from.remove(en)
			if to == nil {
				continue
			}
			to.insert(&entry{
				seq: m.newSeq, pos: en.pos, size: en.size, sentAt: en.sentAt,
				visibleAt: m.visibleAt, source: m.source,
			}, now)
			e.addLive(en.pos, en.size)
		}
	case recPurge:
		id, below := uint32(d.uvarint()), d.uvarint()
		if d.err != nil {
			return d.err
		}
		if q := e.byID[id]; q != nil {
			q.purgeBelow(below)
		}
	default:
		return unknownRecord(kind)
	}
	return d.err
}
