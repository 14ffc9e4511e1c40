package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/msgchars"
	"github.com/docketd/docket/internal/wal"
)

// SendInput is one message to send.
type SendInput struct {
	Body       []byte
	Attributes []Attr
	// Delay hides the message for this long; nil takes the queue's delay.
	Delay *time.Duration
	// Group is the message's group: required on a FIFO queue, a tenant on
	// a standard one. DedupID is its deduplication id (FIFO queues only;
	// with content-based deduplication it defaults to the body's hash).
	Group, DedupID string
	// TraceHeader is SQS's AWSTraceHeader system attribute, kept and
	// returned as given.
	TraceHeader string
}

// SendResult is the outcome of one entry of a send: its id, or why it was
// not stored.
type SendResult struct {
	ID string
	// Seq is the message's sequence number, increasing in the order the
	// queue stored its messages (SQS's SequenceNumber on FIFO queues).
	Seq uint64
	// Duplicate is set when a FIFO queue had the deduplication id within
	// its window: ID and Seq are the message stored then.
	Duplicate bool
	Err       error
}

// Message is a received message.
type Message struct {
	ID              string
	Receipt         string
	Body            []byte
	Attributes      []Attr
	ReceiveCount    int
	SentAt          time.Time
	FirstReceivedAt time.Time
	// SourceQueue is, for a message in a dead-letter queue, the queue it
	// was dead-lettered from.
	SourceQueue string
	// Group and DedupID are the message's group and deduplication id, if
	// it has them; Seq its sequence number; TraceHeader its AWSTraceHeader.
	Group, DedupID, TraceHeader string
	Seq                         uint64
}

// ReceiveOptions tune one receive call.
type ReceiveOptions struct {
	Max int // 1 to 10; 0 means 1
	// Wait is how long to wait for a message when none is visible; nil
	// takes the queue's receive_wait.
	Wait *time.Duration
	// VisibilityTimeout hides the received messages for this long; nil
	// takes the queue's visibility_timeout.
	VisibilityTimeout *time.Duration
	// Owner names who receives (a worker allocation), so the server knows
	// which workers hold messages. Optional.
	Owner string
	// AttemptID (FIFO queues: SQS's ReceiveRequestAttemptId) makes a
	// retried receive return the messages the first attempt took, with
	// the same receipts, while they are still in flight and within
	// DedupWindow.
	AttemptID string
	// OnePerGroup (FIFO queues) takes at most one message of each group,
	// so that a consumer handing each message to its own worker runs one
	// at a time per group (a dispatch job), and groups in parallel.
	OnePerGroup bool
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// checkInput validates one message against the queue's limits.
func checkInput(in SendInput, a Attributes) error {
	if len(in.Attributes) > MaxMessageAttributes {
		return errdefs.New(errdefs.ErrInvalid, "too_many_attributes",
			"a message has at most %d attributes, got %d", MaxMessageAttributes, len(in.Attributes))
	}
	if len(in.Body) == 0 {
		return errdefs.New(errdefs.ErrInvalid, "empty_body", "a message body must not be empty")
	}
	size := int64(len(in.Body))
	seen := make(map[string]bool, len(in.Attributes))
	for _, at := range in.Attributes {
		if !attrNameRE.MatchString(at.Name) || strings.Contains(at.Name, "..") ||
			strings.HasPrefix(at.Name, ".") || strings.HasSuffix(at.Name, ".") {
			return errdefs.New(errdefs.ErrInvalid, "invalid_attribute_name",
				"invalid attribute name %q: use up to 256 letters, digits, '_', '-' or '.'", at.Name)
		}
		if seen[at.Name] {
			return errdefs.New(errdefs.ErrInvalid, "invalid_attribute_name",
				"attribute %q given twice", at.Name)
		}
		seen[at.Name] = true
		if !strings.HasPrefix(at.Type, "Binary") {
			if err := msgchars.Check(at.Value); err != nil {
				return fmt.Errorf("attribute %q: %w", at.Name, err)
			}
		}
		size += int64(len(at.Name) + len(at.Type) + len(at.Value))
	}
	if size > a.MaxMessageSize {
		return errdefs.New(errdefs.ErrTooLarge, "message_too_large",
			"message of %d bytes is over the queue's max_message_size of %d bytes", size, a.MaxMessageSize)
	}
	if err := msgchars.Check(in.Body); err != nil {
		return err
	}
	if in.Delay != nil && (*in.Delay < 0 || *in.Delay > MaxDelay) {
		return errdefs.New(errdefs.ErrInvalid, "invalid_delay",
			"delay %s out of range 0s..15m", *in.Delay)
	}
	return nil
}

func hasDuplicate(results []SendResult) bool {
	for _, r := range results {
		if r.Duplicate {
			return true
		}
	}
	return false
}

func errBatch(n int) error {
	return errdefs.New(errdefs.ErrInvalid, "batch_too_large",
		"a batch holds 1 to %d entries, got %d", MaxBatch, n)
}

// Send stores up to ten messages and returns once they are durable. Each
// entry is stored or reported failed on its own; the error is for what
// failed the whole call (an unknown queue, a batch too large, the disk).
func (e *Engine) Send(queue string, in []SendInput) ([]SendResult, error) {
	return e.send(queue, false, in)
}

func (e *Engine) send(queue string, outbox bool, in []SendInput) ([]SendResult, error) {
	if len(in) == 0 || len(in) > MaxBatch {
		return nil, errBatch(len(in))
	}
	q, err := e.lookup(queue, outbox)
	if err != nil {
		return nil, err
	}
	results := make([]SendResult, len(in))
	recs := make([][]byte, 0, len(in))
	msgs := make([]message, 0, len(in))

	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, queueNotFound(queue)
	}
	now := e.now().UnixNano()
	var batchKeys map[string]uint64 // a FIFO batch's own deduplication keys
	for i, m := range in {
		if err := checkInput(m, q.attrs); err != nil {
			results[i].Err = err
			continue
		}
		dedup, key, d, dup, err := q.deduplicate(m, now)
		if err != nil {
			results[i].Err = err
			continue
		}
		if seq, inBatch := batchKeys[key]; inBatch {
			d, dup = dedupEntry{seq: seq}, true // a batch's own duplicate
		}
		if dup {
			results[i] = SendResult{ID: e.messageID(d.seq), Seq: d.seq, Duplicate: true}
			continue
		}
		delay := q.attrs.Delay
		if m.Delay != nil {
			delay = *m.Delay
		}
		msg := message{
			queue:     q.id,
			seq:       e.nextSeq.Add(1) - 1,
			sentAt:    now,
			visibleAt: now + int64(delay),
			attrs:     joinAttrs(m.Attributes, sysAttrs{group: m.Group, dedup: dedup, trace: m.TraceHeader}),
			body:      m.Body,
		}
		if key != "" {
			if batchKeys == nil {
				batchKeys = map[string]uint64{}
			}
			batchKeys[key] = msg.seq
		}
		recs = append(recs, encodeMessage(&msg))
		msgs = append(msgs, msg)
		results[i].ID, results[i].Seq = e.messageID(msg.seq), msg.seq
	}
	if len(recs) == 0 {
		q.mu.Unlock()
		if hasDuplicate(results) {
			// Only duplicates: their originals may still be on their way
			// to disk (a concurrent send, or one whose commit failed and
			// the engine will roll back). Answer once everything before is
			// durable, or fail with the log.
			if err := e.durable(); err != nil {
				return nil, err
			}
		}
		return results, nil
	}
	c, pos, err := e.enqueue(recs...)
	if err != nil {
		q.mu.Unlock()
		return nil, err
	}
	for i := range msgs {
		e.applyMessage(q, pos[i], uint32(len(recs[i])), &msgs[i], now)
	}
	q.totals.Sent += uint64(len(msgs))
	q.changed(now)
	q.mu.Unlock()

	if err := e.commitErr(c.Wait()); err != nil {
		return nil, err
	}
	return results, nil
}

// Receive takes up to opts.Max visible messages, hiding each for the
// visibility timeout and durably counting the receive. When none is
// visible it waits up to opts.Wait for one, waking the moment one becomes
// visible. A message whose receive count would exceed the queue's
// max_receives is moved to its dead-letter queue instead. Once StopWaits
// (or Close) is called, it waits no more.
func (e *Engine) Receive(ctx context.Context, queue string, opts ReceiveOptions) ([]Message, error) {
	return e.receive(ctx, queue, false, opts)
}

func (e *Engine) receive(ctx context.Context, queue string, outbox bool, opts ReceiveOptions) ([]Message, error) {
	max := opts.Max
	if max == 0 {
		max = 1
	}
	if max < 1 || max > MaxBatch {
		return nil, errdefs.New(errdefs.ErrInvalid, "invalid_max",
			"max must be 1 to %d, got %d", MaxBatch, max)
	}
	if opts.Wait != nil && (*opts.Wait < 0 || *opts.Wait > MaxReceiveWait) {
		return nil, errdefs.New(errdefs.ErrInvalid, "invalid_wait",
			"wait %s out of range 0s..20s", *opts.Wait)
	}
	if opts.VisibilityTimeout != nil && (*opts.VisibilityTimeout < 0 || *opts.VisibilityTimeout > MaxVisibilityTimeout) {
		return nil, errdefs.New(errdefs.ErrInvalid, "invalid_visibility_timeout",
			"visibility timeout %s out of range 0s..12h", *opts.VisibilityTimeout)
	}
	q, err := e.lookup(queue, outbox)
	if err != nil {
		return nil, err
	}
	var deadline time.Time
	for {
		e.readMu.RLock() // until the messages taken are read; see Engine.readMu
		q.mu.Lock()
		if q.deleted {
			q.mu.Unlock()
			e.readMu.RUnlock()
			return nil, queueNotFound(queue)
		}
		if deadline.IsZero() {
			wait := q.attrs.ReceiveWait
			if opts.Wait != nil {
				wait = *opts.Wait
			}
			deadline = time.Now().Add(wait)
		}
		got, toDLQ, c, err := q.take(max, opts)
		ch := q.waiters
		q.mu.Unlock()
		if err != nil {
			e.readMu.RUnlock()
			return nil, err
		}
		if len(got) > 0 {
			err := e.commitErr(c.Wait())
			var msgs []Message
			if err == nil {
				msgs, err = e.readMessages(got)
			}
			e.readMu.RUnlock()
			if len(toDLQ) > 0 {
				// A failed move puts them back; the failure is the
				// engine's state now, and these messages are received.
				e.deadLetter(q, toDLQ)
			}
			return msgs, err
		}
		e.readMu.RUnlock()
		if len(toDLQ) > 0 {
			if err := e.deadLetter(q, toDLQ); err != nil {
				return nil, err
			}
		}
		if len(toDLQ) > 0 {
			continue // those were not for us; look again
		}
		left := time.Until(deadline)
		if left <= 0 || e.waitsStopped.Load() {
			return nil, nil
		}
		t := time.NewTimer(left)
		select {
		case <-ch:
			t.Stop()
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// taken is a message a receive took, with what is needed to read it back,
// copied under its queue's lock.
type taken struct {
	pos         wal.Pos
	sub         uint16
	sentAt      int64
	firstRecvAt int64
	source      uint32
	receipt     receipt
}

// takenOf copies what readMessages needs of en. q.mu is held.
func takenOf(q *queueState, en *entry) taken {
	return taken{pos: en.pos, sub: en.sub, sentAt: en.sentAt, firstRecvAt: en.firstRecvAt, source: en.source,
		receipt: receipt{queue: q.id, seq: en.seq, count: en.recvCount}}
}

// take picks up to max visible messages for a receive and records it; it
// also takes out the messages due for dead-lettering. q.mu is held. When
// the receive cannot be recorded, nothing changes.
func (q *queueState) take(max int, opts ReceiveOptions) (got []taken, toDLQ []*entry, c waiter, err error) {
	now := q.e.now().UnixNano()
	q.advance(now)
	q.settle()
	if got := q.retriedAttempt(opts.AttemptID, now); got != nil {
		return got, nil, committed{}, nil
	}
	if q.ready.len() == 0 {
		return nil, nil, nil, nil
	}
	vt := q.attrs.VisibilityTimeout
	if opts.VisibilityTimeout != nil {
		vt = *opts.VisibilityTimeout
	}
	dlq := q.attrs.DeadLetter != "" && q.attrs.MaxReceives > 0
	var items []received
	var ens []*entry
	takeOne := func(en *entry) bool {
		if dlq && int(en.recvCount) >= q.attrs.MaxReceives {
			en.moving = true
			toDLQ = append(toDLQ, en)
			return false
		}
		first := en.firstRecvAt
		if first == 0 {
			first = now
		}
		ens = append(ens, en)
		items = append(items, received{seq: en.seq, count: en.recvCount + 1, visibleAt: now + int64(vt), firstRecvAt: first})
		return true
	}
	var touched []*group // groups this receive takes from
	for len(ens) < max && q.ready.len() > 0 {
		en := q.ready.top()
		q.unplace(en)
		g := en.grp
		if g == nil {
			takeOne(en)
			continue
		}
		if g.taking == 0 {
			touched = append(touched, g)
		}
		if !q.attrs.FIFO {
			// A tenant of a fair queue: its next visible message competes
			// at once, behind what this receive took from it.
			if takeOne(en) {
				g.taking++
			}
			q.settle()
			continue
		}
		// A FIFO group: its head, then its next visible messages in
		// order; one on its way to the dead-letter queue lets the next
		// one be the head. The group is not settled again until what
		// this receive takes is in flight.
		if takeOne(en) {
			g.taking++
			if opts.OnePerGroup {
				continue
			}
		}
		i, _ := slices.BinarySearchFunc(g.msgs, en.seq, func(e *entry, seq uint64) int { return cmp.Compare(e.seq, seq) })
		for _, next := range g.msgs[i+1:] {
			if len(ens) >= max {
				break
			}
			if next.moving {
				continue
			}
			if !next.parked {
				break // delayed: the group's turn ends
			}
			q.unplace(next)
			if takeOne(next) {
				g.taking++
			}
		}
	}
	untake := func() {
		for _, g := range touched {
			g.taking = 0
			q.markDirty(g)
			q.refair(g)
		}
	}
	if len(ens) > 0 {
		c, _, err = q.e.enqueue(encodeReceives(q.id, items))
		if err != nil {
			untake()
			for _, en := range append(ens, toDLQ...) {
				en.moving = false
				q.place(en, now)
			}
			q.settle()
			return nil, nil, nil, err
		}
		// Applied after the loop so that a zero visibility timeout cannot
		// hand the same message out twice in one call.
		owner := q.ownerID(opts.Owner)
		for _, en := range ens {
			en.owner = owner
		}
		q.e.applyReceives(q, items, now)
		untake()
		got = make([]taken, len(ens))
		for i, en := range ens {
			got[i] = takenOf(q, en)
		}
		q.totals.Received += uint64(len(ens))
		if opts.AttemptID != "" && q.attrs.FIFO {
			q.fifoState().attempts[opts.AttemptID] = &attempt{at: now, items: items}
		}
	} else {
		untake()
	}
	q.changed(now)
	return got, toDLQ, c, nil
}

// waiter is what Enqueue returns: something to wait on for durability.
type waiter interface{ Wait() error }

// readMessages reads the bodies and attributes of received messages back
// from the log. The caller holds e.readMu shared since it took them.
func (e *Engine) readMessages(got []taken) ([]Message, error) {
	out := make([]Message, 0, len(got))
	positions := make([]wal.Pos, len(got))
	for i, t := range got {
		positions[i] = t.pos
	}
	recs, err := e.log().ReadBatch(positions)
	if errors.Is(err, wal.ErrClosed) {
		if f := e.failure(); f != nil {
			return nil, f
		}
		return nil, errClosed
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read messages: %v", errdefs.ErrInternal, err)
	}
	for i, t := range got {
		m, err := decodeMessageRecord(recs[i], t.sub)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d at %v: %v", errdefs.ErrInternal, t.receipt.seq, t.pos, err)
		}
		attrs, sys := splitAttrs(m.attrs)
		msg := Message{
			ID:              e.messageID(t.receipt.seq),
			Receipt:         e.formatReceipt(t.receipt),
			Body:            m.body,
			Attributes:      attrs,
			ReceiveCount:    int(t.receipt.count),
			SentAt:          time.Unix(0, t.sentAt),
			FirstReceivedAt: time.Unix(0, t.firstRecvAt),
			Group:           sys.group,
			DedupID:         sys.dedup,
			TraceHeader:     sys.trace,
			Seq:             t.receipt.seq,
		}
		if t.source != 0 {
			msg.SourceQueue = e.queueName(t.source)
		}
		out = append(out, msg)
	}
	return out, nil
}

func (e *Engine) queueName(id uint32) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if q := e.byID[id]; q != nil {
		return q.name
	}
	return ""
}

// deadLetter moves entries of q, already taken out of its heaps, to q's
// dead-letter queue. Entries deleted meanwhile (by a purge) are skipped.
func (e *Engine) deadLetter(q *queueState, ens []*entry) error {
	q.mu.Lock()
	dlqName := q.attrs.DeadLetter
	q.mu.Unlock()
	var c waiter
	if dlq, err := e.queue(dlqName); err == nil {
		c = e.moveEntries(q, dlq, ens, q.id)
	}
	// Whatever did not move (the dead-letter queue went away) goes back.
	q.putBack(ens)
	if c == nil {
		return nil
	}
	return e.commitErr(c.Wait())
}

// putBack returns entries that were taken out for a move but did not move
// to the queue's heaps, and reports how many did move.
func (q *queueState) putBack(ens []*entry) (moved int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.e.now().UnixNano()
	for _, en := range ens {
		if en.moving && q.entries[en.seq] == en {
			en.moving = false
			q.place(en, now)
		} else {
			moved++
		}
	}
	q.changed(now)
	return moved
}

// failedCommit is a waiter for a write that was refused.
type failedCommit struct{ err error }

func (f failedCommit) Wait() error { return f.err }

// moveEntries moves entries from one queue to another under one record,
// with both queues locked in id order. source is recorded as the origin of
// the moved messages (0 on a redrive). It returns nil when nothing moved,
// and a waiter that fails when the move could not be written (nothing
// moved then either).
func (e *Engine) moveEntries(from, to *queueState, ens []*entry, source uint32) waiter {
	first, second := from, to
	if to.id < from.id {
		first, second = to, from
	}
	first.mu.Lock()
	second.mu.Lock()
	defer first.mu.Unlock()
	defer second.mu.Unlock()
	if to.deleted {
		return nil
	}
	now := e.now().UnixNano()
	moves := make([]move, 0, len(ens))
	moved := make([]*entry, 0, len(ens))
	for _, en := range ens {
		if from.entries[en.seq] != en {
			continue
		}
		moves = append(moves, move{
			from: from.id, to: to.id, oldSeq: en.seq, newSeq: e.nextSeq.Add(1) - 1,
			visibleAt: now, source: source,
		})
		moved = append(moved, en)
	}
	if len(moves) == 0 {
		return nil
	}
	c, _, err := e.enqueue(encodeMoves(moves))
	if err != nil {
		return failedCommit{err}
	}
	for _, m := range moves {
		e.applyMove(from, to, m, now)
	}
	if source != 0 {
		from.totals.DeadLettered += uint64(len(moved))
	}
	to.totals.Sent += uint64(len(moved))
	from.changed(now)
	to.changed(now)
	return c
}

// Delete deletes received messages by their receipts and returns once the
// deletes are durable. Each receipt has its own outcome: nil, or an error
// for a receipt that is malformed, of another queue, or outdated (the
// message was received again since). Deleting a message that is already
// gone succeeds, so a retried delete is harmless.
func (e *Engine) Delete(queue string, receipts []string) ([]error, error) {
	return e.delete(queue, false, receipts)
}

func (e *Engine) delete(queue string, outbox bool, receipts []string) ([]error, error) {
	if len(receipts) == 0 || len(receipts) > MaxBatch {
		return nil, errBatch(len(receipts))
	}
	q, err := e.lookup(queue, outbox)
	if err != nil {
		return nil, err
	}
	results := make([]error, len(receipts))
	seqs := make([]uint64, 0, len(receipts))
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, queueNotFound(queue)
	}
	for i, s := range receipts {
		en, err := q.byReceipt(s)
		if err != nil {
			results[i] = err
			continue
		}
		if en == nil {
			continue // already deleted
		}
		seqs = append(seqs, en.seq)
	}
	if len(seqs) == 0 {
		q.mu.Unlock()
		return results, nil
	}
	now := e.now().UnixNano()
	c, _, err := e.enqueue(encodeDeletes(q.id, reasonDeleted, seqs))
	if err != nil {
		q.mu.Unlock()
		return nil, err
	}
	n := len(q.entries)
	e.applyDeletes(q, seqs)
	q.totals.Deleted += uint64(n - len(q.entries))
	q.changed(now)
	q.mu.Unlock()
	if err := e.commitErr(c.Wait()); err != nil {
		return nil, err
	}
	return results, nil
}

// byReceipt finds the message a receipt names. It returns nil, nil for a
// message that no longer exists. q.mu is held.
func (q *queueState) byReceipt(s string) (*entry, error) {
	r, err := q.e.parseReceipt(s)
	if err != nil {
		return nil, err
	}
	if r.queue != q.id {
		return nil, errdefs.New(errdefs.ErrInvalid, "invalid_receipt",
			"receipt is for another queue than %q", q.name)
	}
	en := q.entries[r.seq]
	if en == nil {
		if r.seq >= q.e.nextSeq.Load() {
			return nil, errInvalidReceipt(s)
		}
		return nil, nil
	}
	if en.recvCount != r.count || en.moving {
		return nil, errdefs.New(errdefs.ErrOutdated, "receipt_outdated",
			"receipt is outdated: the message was received again since")
	}
	return en, nil
}

// ChangeVisibility hides a received message for timeout from now; 0 makes
// it visible at once. The message must still be in flight.
func (e *Engine) ChangeVisibility(queue, receiptHandle string, timeout time.Duration) error {
	return e.changeVisibility(queue, false, receiptHandle, timeout)
}

func (e *Engine) changeVisibility(queue string, outbox bool, receiptHandle string, timeout time.Duration) error {
	if timeout < 0 || timeout > MaxVisibilityTimeout {
		return errdefs.New(errdefs.ErrInvalid, "invalid_visibility_timeout",
			"visibility timeout %s out of range 0s..12h", timeout)
	}
	q, err := e.lookup(queue, outbox)
	if err != nil {
		return err
	}
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return queueNotFound(queue)
	}
	// A message whose timeout has run out is not in flight, whether or
	// not its timer has fired yet: the outcome depends on the clock only.
	now := e.now().UnixNano()
	if q.advance(now) {
		q.changed(now)
	}
	en, err := q.byReceipt(receiptHandle)
	if err == nil && (en == nil || !en.pending) {
		err = errdefs.New(errdefs.ErrOutdated, "message_not_in_flight",
			"the message is not in flight: it was deleted or its visibility timeout ran out")
	}
	if err != nil {
		q.mu.Unlock()
		return err
	}
	c, _, err := e.enqueue(encodeVisibility(q.id, en.seq, now+int64(timeout)))
	if err != nil {
		q.mu.Unlock()
		return err
	}
	e.applyVisibility(q, en.seq, now+int64(timeout), now)
	q.changed(now)
	q.mu.Unlock()
	return e.commitErr(c.Wait())
}

// Purge deletes every message the queue holds now.
func (e *Engine) Purge(queue string) (int, error) {
	q, err := e.queue(queue)
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return 0, queueNotFound(queue)
	}
	below := e.nextSeq.Load()
	c, _, err := e.enqueue(encodePurge(q.id, below))
	if err != nil {
		q.mu.Unlock()
		return 0, err
	}
	n := len(q.entries)
	e.applyPurge(q, below)
	q.totals.Purged += uint64(n)
	q.changed(e.now().UnixNano())
	q.mu.Unlock()
	return n, e.commitErr(c.Wait())
}

// Redrive moves up to max visible messages (all when max <= 0) of a
// dead-letter queue back to the queues they came from, where they start
// over with a receive count of zero. Messages whose source queue is gone
// stay.
func (e *Engine) Redrive(dlq string, max int) (int, error) {
	q, err := e.queue(dlq)
	if err != nil {
		return 0, err
	}
	// Take the visible messages out, grouped by source queue.
	q.mu.Lock()
	now := e.now().UnixNano()
	q.advance(now)
	bySource := map[uint32][]*entry{}
	var skipped []*entry
	n := 0
	for q.ready.len() > 0 && (max <= 0 || n < max) {
		en := q.ready.top()
		q.ready.remove(en)
		if en.source == 0 {
			skipped = append(skipped, en)
			continue
		}
		en.moving = true
		bySource[en.source] = append(bySource[en.source], en)
		n++
	}
	for _, en := range skipped {
		q.place(en, now)
	}
	q.mu.Unlock()

	moved := 0
	var firstErr error
	// Source by source in id order: the same calls write the same records.
	for _, src := range slices.Sorted(maps.Keys(bySource)) {
		e.mu.RLock()
		to := e.byID[src]
		e.mu.RUnlock()
		for ens := range slices.Chunk(bySource[src], maxMovesPerRecord) {
			var c waiter
			if to != nil {
				c = e.moveEntries(q, to, ens, 0)
			}
			// Whatever did not move (its source is gone) goes back.
			moved += q.putBack(ens)
			if c != nil {
				if err := e.commitErr(c.Wait()); err != nil && firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	return moved, firstErr
}

// maxMovesPerRecord bounds the moves one record holds, well below what
// replay takes in one (decodeMoves): a redrive of a large dead-letter
// queue writes several records.
const maxMovesPerRecord = 4096

// expire deletes the messages that have outlived their queue's retention.
func (e *Engine) expire() error {
	for _, q := range e.sortedQueues() {
		q.mu.Lock()
		if q.deleted {
			q.mu.Unlock()
			continue
		}
		now := e.now().UnixNano()
		limit := now - int64(q.attrs.Retention)
		var seqs []uint64
		for en := q.head; en != nil && len(seqs) < 100000; {
			next := en.next
			if en.sentAt <= limit && !en.moving {
				seqs = append(seqs, en.seq)
			} else if en.sentAt > limit {
				// The list is in sequence order, which is send order but
				// for messages moved here from another queue; those are
				// few, so stop at the first young message.
				break
			}
			en = next
		}
		if len(seqs) == 0 {
			q.mu.Unlock()
			continue
		}
		c, _, err := e.enqueue(encodeDeletes(q.id, reasonExpired, seqs))
		if err != nil {
			q.mu.Unlock()
			return err
		}
		e.applyDeletes(q, seqs)
		q.totals.Expired += uint64(len(seqs))
		q.changed(now)
		q.mu.Unlock()
		if err := e.commitErr(c.Wait()); err != nil {
			return err
		}
	}
	return nil
}
