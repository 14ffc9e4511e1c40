package queue

import (
	"maps"
	"slices"

	"github.com/docketd/docket/internal/errdefs"
)

// InFlightByOwner returns how many in-flight messages each named receiver
// holds: the server stops idle workers first when it scales a service in.
func (e *Engine) InFlightByOwner(queue string) (map[string]int, error) {
	q, err := e.queue(queue)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.advance(e.now().UnixNano()) {
		q.changed(e.now().UnixNano())
	}
	out := make(map[string]int, len(q.ownerInFlight))
	for id, n := range q.ownerInFlight {
		out[q.ownerNames[id]] = n
	}
	return out, nil
}

// ReleaseOwner makes every message a receiver holds visible at once: the
// receiver (a worker) stopped or died, and its messages should not wait
// out their visibility timeout. It returns how many it released.
func (e *Engine) ReleaseOwner(queue, owner string) (int, error) {
	q, err := e.queue(queue)
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	// What the owner holds depends on the clock only, not on whether the
	// timers of messages whose timeout ran out have fired yet.
	now := e.now().UnixNano()
	if q.advance(now) {
		q.changed(now)
	}
	id, ok := q.owners[owner]
	if !ok || q.ownerInFlight[id] == 0 {
		q.mu.Unlock()
		return 0, nil
	}
	var held []uint64
	for _, en := range q.pending.items {
		if en.owner == id && en.recvCount > 0 {
			held = append(held, en.seq)
		}
	}
	slices.Sort(held) // the heap's order depends on its history
	recs := make([][]byte, 0, len(held))
	for _, seq := range held {
		recs = append(recs, encodeVisibility(q.id, seq, now))
	}
	c, _, err := e.enqueue(recs...)
	if err != nil {
		q.mu.Unlock()
		return 0, err
	}
	for _, seq := range held {
		e.applyVisibility(q, seq, now, now)
	}
	q.changed(now)
	q.mu.Unlock()
	return len(held), e.commitErr(c.Wait())
}

// Peek returns the message a receipt names, without changing it: the
// dispatcher hands the body of a message it leased to the task that
// processes it. The receipt must be current.
func (e *Engine) Peek(queue, receiptHandle string) (Message, error) {
	q, err := e.queue(queue)
	if err != nil {
		return Message{}, err
	}
	e.readMu.RLock()
	defer e.readMu.RUnlock()
	q.mu.Lock()
	en, err := q.byReceipt(receiptHandle)
	if err == nil && en == nil {
		err = errdefs.New(errdefs.ErrNotFound, "message_not_found", "the message was deleted")
	}
	if err != nil {
		q.mu.Unlock()
		return Message{}, err
	}
	t := takenOf(q, en)
	q.mu.Unlock()
	if err := e.durable(); err != nil {
		return Message{}, err
	}
	msgs, err := e.readMessages([]taken{t})
	if err != nil {
		return Message{}, err
	}
	return msgs[0], nil
}

// DeadLetter moves a received message to the queue's dead-letter queue at
// once, with attrs added to its attributes (why it failed, say). A queue
// without a dead-letter queue, or a receipt that is not current, is an
// error.
func (e *Engine) DeadLetter(queue, receiptHandle string, attrs []Attr) error {
	return e.deadLetterTo(queue, false, "", receiptHandle, attrs)
}

// deadLetterTo is DeadLetter to the queue dlqName, or the queue's own
// dead-letter queue when dlqName is "".
func (e *Engine) deadLetterTo(queue string, outbox bool, dlqName, receiptHandle string, attrs []Attr) error {
	q, err := e.lookup(queue, outbox)
	if err != nil {
		return err
	}
	e.readMu.RLock()
	q.mu.Lock()
	if dlqName == "" {
		dlqName = q.attrs.DeadLetter
	}
	en, err := q.byReceipt(receiptHandle)
	if err == nil && en == nil {
		err = errdefs.New(errdefs.ErrNotFound, "message_not_found", "the message was deleted")
	}
	if err == nil && dlqName == "" {
		err = errdefs.New(errdefs.ErrInvalid, "no_dead_letter", "queue %q has no dead_letter queue", queue)
	}
	if err != nil {
		q.mu.Unlock()
		e.readMu.RUnlock()
		return err
	}
	// Take it out so nobody receives it while its body is read.
	q.unplace(en)
	en.moving = true
	t := takenOf(q, en)
	q.changed(e.now().UnixNano())
	q.mu.Unlock()

	err = e.durable()
	var msgs []Message
	if err == nil {
		msgs, err = e.readMessages([]taken{t})
	}
	e.readMu.RUnlock()
	if err == nil {
		err = e.copyToDeadLetter(q, dlqName, en, msgs[0], attrs)
	}
	if err != nil {
		q.putBack([]*entry{en})
	}
	return err
}

// copyToDeadLetter writes the message, with its extra attributes, into the
// dead-letter queue as one move record: the old message leaves its queue in
// the same record, so a crash keeps either both or neither.
func (e *Engine) copyToDeadLetter(q *queueState, dlqName string, en *entry, m Message, extra []Attr) error {
	dlq, err := e.queue(dlqName)
	if err != nil {
		return err
	}
	merged := make(map[string]Attr, len(m.Attributes)+len(extra))
	for _, a := range m.Attributes {
		merged[a.Name] = a
	}
	for _, a := range extra {
		merged[a.Name] = a
	}
	attrs := make([]Attr, 0, len(merged))
	for _, k := range sortedKeys(merged) {
		attrs = append(attrs, merged[k])
	}
	attrs = joinAttrs(attrs, sysAttrs{group: m.Group, dedup: m.DedupID, trace: m.TraceHeader}) // a FIFO message stays in its group
	first, second := q, dlq
	if dlq.id < q.id {
		first, second = dlq, q
	}
	first.mu.Lock()
	second.mu.Lock()
	defer first.mu.Unlock()
	defer second.mu.Unlock()
	if q.entries[en.seq] != en || dlq.deleted {
		return errdefs.New(errdefs.ErrConflict, "message_gone", "the message left the queue meanwhile")
	}
	now := e.now().UnixNano()
	msg := message{queue: dlq.id, seq: e.nextSeq.Add(1) - 1, sentAt: en.sentAt, visibleAt: now,
		source: q.id, attrs: attrs, body: m.Body}
	rec := encodeDeadLetterCopy(q.id, en.seq, &msg)
	c, pos, err := e.enqueue(rec)
	if err != nil {
		return err
	}
	e.applyDeadLetterCopy(q, dlq, en.seq, pos[0], uint32(len(rec)), &msg, now)
	q.totals.DeadLettered++
	dlq.totals.Sent++
	q.changed(now)
	dlq.changed(now)
	return e.commitErr(c.Wait())
}

func sortedKeys(m map[string]Attr) []string {
	return slices.Sorted(maps.Keys(m))
}
