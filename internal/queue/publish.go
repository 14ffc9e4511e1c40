package queue

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/wal"
)

// MaxPublishTargets bounds the queues one publish delivers to.
const MaxPublishTargets = 4096

// PublishTarget is one queue a publish delivers to, and the message it
// gets there (a topic's subscriptions each shape their own: raw, or in
// an envelope).
type PublishTarget struct {
	Queue   string
	Message SendInput
}

// Publish stores one message in each target queue with a single record,
// and returns once it is durable: after any crash, every one of them is
// in its queue or none is. It returns the messages' ids, in the order of
// targets. A target may be an outbox. On a FIFO queue a target's message
// has its group and deduplication id, and one the queue has seen within
// DedupWindow is not stored again: its id is the first message's. A
// target that fails its queue's limits, or a queue that does
// not exist, fails the whole publish and stores nothing.
func (e *Engine) Publish(targets []PublishTarget) ([]string, error) {
	if len(targets) == 0 || len(targets) > MaxPublishTargets {
		return nil, errdefs.New(errdefs.ErrInvalid, "too_many_targets",
			"a publish delivers to 1 to %d queues, got %d", MaxPublishTargets, len(targets))
	}
	queues := make([]*queueState, len(targets))
	for i, t := range targets {
		q, err := e.lookup(t.Queue, IsOutbox(t.Queue))
		if err != nil {
			return nil, err
		}
		queues[i] = q
	}
	// Every queue's lock, each once, in id order: publishes to
	// overlapping queues cannot deadlock.
	locked := slices.Clone(queues)
	slices.SortFunc(locked, func(a, b *queueState) int { return cmp.Compare(a.id, b.id) })
	locked = slices.Compact(locked)
	for _, q := range locked {
		q.mu.Lock()
	}
	unlock := func() {
		for _, q := range locked {
			q.mu.Unlock()
		}
	}
	for i, q := range queues {
		if q.deleted {
			unlock()
			return nil, queueNotFound(targets[i].Queue)
		}
		if err := checkInput(targets[i].Message, q.attrs); err != nil {
			unlock()
			return nil, fmt.Errorf("queue %s: %w", q.name, err)
		}
	}
	now := e.now().UnixNano()
	msgs := make([]message, 0, len(targets))
	stored := make([]*queueState, 0, len(targets))
	ids := make([]string, len(targets))
	for i, t := range targets {
		q := queues[i]
		// A FIFO queue takes the message with its group and deduplication
		// id; one it has seen within the window it does not store again.
		dedup, _, d, dup, err := q.deduplicate(t.Message, now)
		if err != nil {
			unlock()
			return nil, fmt.Errorf("queue %s: %w", q.name, err)
		}
		if dup {
			ids[i] = e.messageID(d.seq)
			continue
		}
		delay := q.attrs.Delay
		if t.Message.Delay != nil {
			delay = *t.Message.Delay
		}
		m := message{queue: q.id, seq: e.nextSeq.Add(1) - 1, sentAt: now, visibleAt: now + int64(delay),
			attrs: joinAttrs(t.Message.Attributes, sysAttrs{group: t.Message.Group, dedup: dedup, trace: t.Message.TraceHeader}),
			body:  t.Message.Body}
		msgs = append(msgs, m)
		stored = append(stored, q)
		ids[i] = e.messageID(m.seq)
	}
	if len(msgs) == 0 {
		// A duplicate everywhere: answer once the originals are durable.
		unlock()
		if err := e.durable(); err != nil {
			return nil, err
		}
		return ids, nil
	}
	queues = stored
	rec := encodePublish(msgs)
	if len(rec) > wal.MaxRecordSize {
		unlock()
		return nil, errdefs.New(errdefs.ErrTooLarge, "publish_too_large",
			"a publish to %d queues of these messages takes %d bytes, over the %d a publish may hold", len(targets), len(rec), wal.MaxRecordSize)
	}
	c, pos, err := e.enqueue(rec)
	if err != nil {
		unlock()
		return nil, err
	}
	e.applyPublish(queues, pos[0], uint32(len(rec)), msgs, now)
	for _, q := range queues {
		q.totals.Sent++
	}
	for _, q := range locked {
		q.changed(now)
	}
	unlock()
	if err := e.commitErr(c.Wait()); err != nil {
		return nil, err
	}
	return ids, nil
}
