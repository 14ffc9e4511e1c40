package queue

import (
	"github.com/docketd/docket/internal/wal"
)

// The functions in this file are the only code that changes the durable
// part of the index (queue definitions, messages and their times, counts
// and positions). A live operation builds its record, enqueues it, and
// applies it with the same function that replay calls for the record read
// back from the log, so the state a restart rebuilds cannot differ from
// the state the engine was in. What only a running engine has — totals,
// owners, waiters, watchers, timers — is changed by the callers around
// them.
//
// Each takes the time now only to decide which heap a message goes in;
// nothing durable depends on it. The callers hold the locks of the queues
// involved (replay holds none: nothing else runs yet).

// applyCheckpoint takes the counters of a checkpoint record; a counter
// never goes back. Live, a checkpoint holds the engine's counters as they
// are (Open's first one also its nonce), so only Open's changes anything.
// e.mu is held (or nothing else runs yet).
func (e *Engine) applyCheckpoint(c checkpoint) {
	if e.nonce == 0 {
		e.nonce = c.nonce
	}
	if c.nextSeq > e.nextSeq.Load() {
		e.nextSeq.Store(c.nextSeq)
	}
	e.nextQueueID = max(e.nextQueueID, c.nextQueueID)
}

// applyQueuePut defines queue p.id, or changes its definition. A queue that
// records have already been applied to before its definition (see
// [Engine.replayQueue]) keeps its messages and gets its name and settings.
// Compaction's copy of a definition changes only where it lives. e.mu is
// held exclusively, and the queue's lock when it exists (or replay runs).
func (e *Engine) applyQueuePut(pos wal.Pos, p queuePut) *queueState {
	q := e.byID[p.id]
	if q == nil {
		q = newQueueState(e, p.id, p.name, p.attrs, p.created)
		e.byID[p.id] = q
	}
	q.name, q.created, q.modified, q.attrs, q.tags = p.name, p.created, p.modified, p.attrs, p.tags
	q.purgedBelow = max(q.purgedBelow, p.purgedBelow)
	q.defSegment = pos.Segment
	q.defined = true
	e.byName[p.name] = q
	e.nextQueueID = max(e.nextQueueID, p.id+1)
	return q
}

// applyQueueDelete removes queue id and its messages. e.mu and the queue's
// lock are held (or replay runs).
func (e *Engine) applyQueueDelete(id uint32) *queueState {
	q := e.byID[id]
	if q == nil {
		return nil
	}
	q.dropAll()
	q.deleted = true
	delete(e.byID, id)
	if e.byName[q.name] == q {
		delete(e.byName, q.name)
	}
	if e.gone != nil {
		e.gone[id] = true
	}
	return q
}

// applyMessage puts a message's whole state into q: a send, or a
// compaction's copy, which supersedes the message's earlier record.
func (e *Engine) applyMessage(q *queueState, pos wal.Pos, size uint32, m *message, now int64) *entry {
	return e.applyMessageAt(q, pos, 0, size, m, now)
}

// applyPublish puts each message of a publish record into its queue (nil
// for a queue that is gone). Each is charged its share of the record's
// size, so that the shares add up to the record once all are gone.
func (e *Engine) applyPublish(queues []*queueState, pos wal.Pos, size uint32, msgs []message, now int64) {
	for i := range msgs {
		if queues[i] == nil {
			e.bumpSeq(msgs[i].seq)
			continue
		}
		e.applyMessageAt(queues[i], pos, uint16(i), publishShare(size, len(msgs), i), &msgs[i], now)
	}
}

// publishShare is message i's share of a publish record of size bytes
// holding n messages: the first takes the remainder.
func publishShare(size uint32, n, i int) uint32 {
	share := size / uint32(n)
	if i == 0 {
		share += size % uint32(n)
	}
	return share
}

// applyMessageAt is applyMessage for the sub-th message of the record at
// pos (a publish record holds several).
func (e *Engine) applyMessageAt(q *queueState, pos wal.Pos, sub uint16, size uint32, m *message, now int64) *entry {
	e.bumpSeq(m.seq)
	if m.seq < q.purgedBelow {
		return nil
	}
	if en := q.entries[m.seq]; en != nil {
		// The same message again: a compaction's copy. The entry stays the
		// same object, since a receive or a move in progress may hold it;
		// one taken out of the heaps for a move stays out.
		e.dropLive(en.pos, en.size)
		inHeap := en.heapIdx >= 0
		if inHeap {
			q.unplace(en)
		}
		en.pos, en.sub, en.size, en.recvCount = pos, sub, size, m.recvCount
		en.sentAt, en.visibleAt, en.firstRecvAt, en.source = m.sentAt, m.visibleAt, m.firstRecvAt, m.source
		if inHeap {
			q.place(en, now)
		}
		e.addLive(pos, size)
		return en
	}
	en := &entry{
		seq: m.seq, pos: pos, sub: sub, size: size, recvCount: m.recvCount,
		sentAt: m.sentAt, visibleAt: m.visibleAt, firstRecvAt: m.firstRecvAt, source: m.source,
	}
	_, sys := splitAttrs(m.attrs)
	if sys.group != "" {
		q.joinGroup(en, sys.group)
	}
	if sys.dedup != "" && m.source == 0 {
		q.remember(dedupKey(q.attrs, sys.group, sys.dedup), dedupEntry{seq: m.seq, sentAt: m.sentAt, pos: pos}, now)
	}
	e.insert(q, en, now)
	e.addLive(pos, size)
	return en
}

// applyReceives records a receive: each message's new count and the time
// it stays hidden until. The live path has already taken the entries out
// of the ready heap and set their owner.
func (e *Engine) applyReceives(q *queueState, items []received, now int64) {
	for _, it := range items {
		en := q.entries[it.seq]
		if en == nil {
			continue
		}
		q.unplace(en)
		en.recvCount, en.visibleAt, en.firstRecvAt = it.count, it.visibleAt, it.firstRecvAt
		q.place(en, now)
	}
}

// applyVisibility hides a message until at, or shows it when at has come;
// a visible message has no owner.
func (e *Engine) applyVisibility(q *queueState, seq uint64, at, now int64) *entry {
	en := q.entries[seq]
	if en == nil {
		return nil
	}
	q.unplace(en)
	en.visibleAt = at
	if at <= now {
		en.owner = 0
	}
	q.place(en, now)
	return en
}

// applyDeletes removes messages of q.
func (e *Engine) applyDeletes(q *queueState, seqs []uint64) {
	for _, seq := range seqs {
		if en := q.entries[seq]; en != nil {
			q.remove(en)
		}
	}
}

// applyPurge removes every message of q below a sequence number, and
// marks q purged below it: replay then ignores a message record below the
// mark. The mark is kept in the queue's definition too, for compaction
// drops the purge record.
func (e *Engine) applyPurge(q *queueState, below uint64) {
	for en := q.head; en != nil && en.seq < below; {
		next := en.next
		q.remove(en)
		en = next
	}
	if below > q.purgedBelow {
		q.purgedBelow = below
	}
}

// applyMove moves one message to another queue under a new sequence; the
// moved message keeps pointing at its record. to may be nil (the queue is
// gone): the message then only leaves from. It returns the old and the new
// entry, nil when the message was not in from.
func (e *Engine) applyMove(from, to *queueState, m move, now int64) (old, moved *entry) {
	e.bumpSeq(m.newSeq)
	old = from.entries[m.oldSeq]
	if old == nil {
		return nil, nil
	}
	var groupName string
	if old.grp != nil {
		groupName = old.grp.name
	}
	from.remove(old)
	if to == nil {
		return old, nil
	}
	moved = &entry{
		seq: m.newSeq, pos: old.pos, sub: old.sub, size: old.size, sentAt: old.sentAt,
		visibleAt: m.visibleAt, source: m.source,
	}
	if groupName != "" {
		to.joinGroup(moved, groupName)
	}
	e.insert(to, moved, now)
	e.addLive(moved.pos, moved.size)
	return old, moved
}

// applyDeadLetterCopy takes message oldSeq out of from and puts m, a new
// record with the message and its added attributes, into to.
func (e *Engine) applyDeadLetterCopy(from, to *queueState, oldSeq uint64, pos wal.Pos, size uint32, m *message, now int64) {
	e.bumpSeq(m.seq)
	if from != nil {
		if en := from.entries[oldSeq]; en != nil {
			from.remove(en)
		}
	}
	if to != nil {
		en := &entry{seq: m.seq, pos: pos, size: size, sentAt: m.sentAt, visibleAt: m.visibleAt, source: m.source}
		if _, sys := splitAttrs(m.attrs); sys.group != "" {
			to.joinGroup(en, sys.group)
		}
		e.insert(to, en, now)
		e.addLive(pos, size)
	}
}

// insert adds a new message to q. Live, a new message has the highest
// sequence so far, and [queueState.insert] finds its place in the age list
// at the tail. Replay also meets compaction's copies of old messages after
// newer ones, and walking back from the tail to each one's place made a
// restart quadratic in the backlog: 1,000,000 queued messages took more
// than eight minutes. Replay therefore appends such a message at the tail
// and sorts the list once it needs the order (see [sortAges]).
func (e *Engine) insert(q *queueState, en *entry, now int64) {
	if e.gone == nil || q.tail == nil || q.tail.seq < en.seq {
		q.insert(en, now)
		return
	}
	q.entries[en.seq] = en
	en.heapIdx = -1
	en.prev, en.next = q.tail, nil
	q.tail.next = en
	q.tail = en
	q.place(en, now)
}

func (e *Engine) bumpSeq(seq uint64) {
	if seq >= e.nextSeq.Load() {
		e.nextSeq.Store(seq + 1)
	}
}
