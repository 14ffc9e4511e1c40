package queue

import (
	"context"
	"slices"
	"strings"
	"time"
)

// OutboxPrefix begins the name of an outbox: a queue the server keeps for
// itself — the deliveries waiting for one HTTP endpoint subscribed to a
// topic — that the queue API neither lists nor reaches. An outbox is
// durable like any queue and takes part in a publish's single record, so
// a publish is in every matching queue and outbox or in none.
const OutboxPrefix = "~"

// IsOutbox reports whether name is an outbox's.
func IsOutbox(name string) bool { return strings.HasPrefix(name, OutboxPrefix) }

// Outbox is the handle of one outbox. Its methods are those of the queue
// of the same name; they fail with queue_not_found once it is deleted.
type Outbox struct {
	e    *Engine
	name string
}

// CreateOutbox creates the outbox OutboxPrefix+id (or finds it with the
// same attributes) and returns its handle; id follows the rules of a
// queue's name.
func (e *Engine) CreateOutbox(id string, a Attributes) (*Outbox, error) {
	if err := ValidateName(id); err != nil {
		return nil, err
	}
	name := OutboxPrefix + id
	if err := a.Validate(name); err != nil {
		return nil, err
	}
	if _, err := e.createQueue(name, a, nil); err != nil {
		return nil, err
	}
	return e.Outbox(id), nil
}

// Outbox returns the handle of the outbox OutboxPrefix+id, which need not
// exist.
func (e *Engine) Outbox(id string) *Outbox { return &Outbox{e: e, name: OutboxPrefix + id} }

// Outboxes lists the ids of every outbox, sorted.
func (e *Engine) Outboxes() []string {
	e.mu.RLock()
	var out []string
	for name := range e.byName {
		if IsOutbox(name) {
			out = append(out, strings.TrimPrefix(name, OutboxPrefix))
		}
	}
	e.mu.RUnlock()
	slices.Sort(out)
	return out
}

// Name is the outbox's queue name (OutboxPrefix and its id).
func (o *Outbox) Name() string { return o.name }

// Delete deletes the outbox and what it holds.
func (o *Outbox) Delete() error { return o.e.deleteQueue(o.name, true) }

// Send is [Engine.Send] to the outbox.
func (o *Outbox) Send(in []SendInput) ([]SendResult, error) { return o.e.send(o.name, true, in) }

// Receive is [Engine.Receive] from the outbox.
func (o *Outbox) Receive(ctx context.Context, opts ReceiveOptions) ([]Message, error) {
	return o.e.receive(ctx, o.name, true, opts)
}

// Settle is [Engine.Delete] of the outbox's messages: they were delivered
// or given up.
func (o *Outbox) Settle(receipts []string) ([]error, error) {
	return o.e.delete(o.name, true, receipts)
}

// Retry is [Engine.ChangeVisibility] of a message of the outbox: it is
// tried again after d.
func (o *Outbox) Retry(receipt string, d time.Duration) error {
	return o.e.changeVisibility(o.name, true, receipt, d)
}

// DeadLetter moves a received message of the outbox to the queue dlq with
// attrs added, in one record, as [Engine.DeadLetter] does.
func (o *Outbox) DeadLetter(receipt, dlq string, attrs []Attr) error {
	return o.e.deadLetterTo(o.name, true, dlq, receipt, attrs)
}

// Stats returns the outbox's figures.
func (o *Outbox) Stats() (Stats, error) {
	q, err := o.e.lookup(o.name, true)
	if err != nil {
		return Stats{}, err
	}
	return q.info(o.e.now()).Stats, nil
}
