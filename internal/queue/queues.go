package queue

import (
	"maps"
	"sort"
	"time"

	"github.com/docketd/docket/internal/errdefs"
)

// Info describes a queue: its settings and current figures.
type Info struct {
	Name       string
	Attributes Attributes
	Tags       map[string]string // a copy; nil when the queue has none
	CreatedAt  time.Time
	ModifiedAt time.Time // when its attributes last changed
	Stats      Stats
}

// Stats are a queue's current figures.
type Stats struct {
	Visible   int           // can be received now
	InFlight  int           // received, not yet deleted, still hidden
	Delayed   int           // sent with a delay that has not passed
	OldestAge time.Duration // age of the oldest message; 0 when empty
	// Groups is, for a FIFO queue, how many message groups hold messages.
	Groups int
	Totals Totals // since the server started
	// LastChange is when the figures last changed.
	LastChange time.Time
}

// Totals count what happened to a queue's messages since the server started.
type Totals struct {
	Sent         uint64
	Received     uint64 // message receives, not receive calls
	Deleted      uint64
	DeadLettered uint64 // moved out of this queue to its dead-letter queue
	Expired      uint64
	Purged       uint64
}

// CreateQueue creates a queue. Creating a queue that exists with identical
// attributes succeeds and reports created false; with other attributes it
// is a conflict. A dead-letter queue must exist first.
func (e *Engine) CreateQueue(name string, a Attributes) (created bool, err error) {
	return e.CreateTaggedQueue(name, a, nil)
}

// CreateTaggedQueue is [Engine.CreateQueue] for a queue created with tags,
// which are durable with its definition. The tags of a queue that exists
// already are left as they are, as SQS does.
func (e *Engine) CreateTaggedQueue(name string, a Attributes, tags map[string]string) (created bool, err error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	return e.createQueue(name, a, tags)
}

func (e *Engine) createQueue(name string, a Attributes, tags map[string]string) (created bool, err error) {
	if err := a.Validate(name); err != nil {
		return false, err
	}
	if err := validateTags(nil, tags); err != nil {
		return false, err
	}
	tags = maps.Clone(tags)
	if len(tags) == 0 {
		tags = nil // as for a queue whose last tag was removed, or replayed
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false, errClosed
	}
	if q := e.byName[name]; q != nil {
		q.mu.Lock()
		same := q.attrs == a
		q.mu.Unlock()
		e.mu.Unlock()
		if same {
			return false, nil
		}
		return false, errdefs.New(errdefs.ErrConflict, "queue_exists",
			"queue %q already exists with different attributes", name)
	}
	if err := e.checkDeadLetterLocked(a); err != nil {
		e.mu.Unlock()
		return false, err
	}
	now := e.now().UnixNano()
	p := queuePut{id: e.nextQueueID, name: name, created: now, modified: now, attrs: a, tags: tags}
	c, pos, err := e.enqueue(p.encode())
	if err != nil {
		e.mu.Unlock()
		return false, err
	}
	e.applyQueuePut(pos[0], p)
	e.mu.Unlock()
	if err := e.commitErr(c.Wait()); err != nil {
		return false, err
	}
	return true, nil
}

func (e *Engine) checkDeadLetterLocked(a Attributes) error {
	if a.DeadLetter == "" {
		return nil
	}
	dlq := e.byName[a.DeadLetter]
	if dlq == nil || IsOutbox(a.DeadLetter) {
		return errdefs.New(errdefs.ErrInvalid, "dead_letter_not_found",
			"dead_letter queue %q does not exist", a.DeadLetter)
	}
	dlq.mu.Lock()
	fifo := dlq.attrs.FIFO
	dlq.mu.Unlock()
	if fifo != a.FIFO {
		return errdefs.New(errdefs.ErrInvalid, "invalid_dead_letter",
			"a FIFO queue's dead_letter queue must be FIFO, and a standard queue's standard: %q", a.DeadLetter)
	}
	return nil
}

// SetAttributes replaces a queue's attributes. Messages already hidden keep
// their times; new sends and receives use the new settings.
func (e *Engine) SetAttributes(name string, a Attributes) error {
	if err := a.Validate(name); err != nil {
		return err
	}
	// The dead-letter queue is checked under e.mu, and the wait for the
	// commit happens under it too, which keeps a concurrent delete of the
	// dead-letter queue from slipping in before the change is durable;
	// attribute changes are rare, so the wait costs nothing that matters.
	return e.redefine(name, func(p *queuePut) error {
		if err := e.checkDeadLetterLocked(a); err != nil {
			return err
		}
		if a.FIFO != p.attrs.FIFO {
			return errdefs.New(errdefs.ErrInvalid, "invalid_attribute", "a queue cannot change between standard and FIFO")
		}
		if p.attrs != a {
			p.modified = e.now().UnixNano()
		}
		p.attrs = a
		return nil
	})
}

// TagQueue adds tags to a queue, replacing the values of keys it has.
func (e *Engine) TagQueue(name string, tags map[string]string) error {
	return e.redefine(name, func(p *queuePut) error {
		if err := validateTags(p.tags, tags); err != nil {
			return err
		}
		next := maps.Clone(p.tags)
		if next == nil {
			next = make(map[string]string, len(tags))
		}
		maps.Copy(next, tags)
		p.tags = next
		return nil
	})
}

// UntagQueue removes the tags with the given keys; keys it does not have
// are ignored.
func (e *Engine) UntagQueue(name string, keys []string) error {
	return e.redefine(name, func(p *queuePut) error {
		next := maps.Clone(p.tags)
		for _, k := range keys {
			delete(next, k)
		}
		if len(next) == 0 {
			next = nil
		}
		p.tags = next
		return nil
	})
}

// redefine changes a queue's definition: change edits a copy of it, under
// e.mu and the queue's lock, and the new definition is written and
// applied; nothing changes when change fails. It returns once the
// definition is durable.
func (e *Engine) redefine(name string, change func(p *queuePut) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	q := e.byName[name]
	if q == nil || IsOutbox(name) {
		return queueNotFound(name)
	}
	q.mu.Lock()
	p := q.definition()
	if err := change(&p); err != nil {
		q.mu.Unlock()
		return err
	}
	c, pos, err := e.enqueue(p.encode())
	if err != nil {
		q.mu.Unlock()
		return err
	}
	e.applyQueuePut(pos[0], p)
	q.mu.Unlock()
	return e.commitErr(c.Wait())
}

// definition returns q's definition as its record holds it. q.mu is held.
func (q *queueState) definition() queuePut {
	return queuePut{id: q.id, name: q.name, created: q.created, modified: q.modified, attrs: q.attrs, tags: q.tags, purgedBelow: q.purgedBelow}
}

// DeleteQueue removes a queue and its messages. A queue that is another
// queue's dead-letter target cannot be deleted.
func (e *Engine) DeleteQueue(name string) error { return e.deleteQueue(name, false) }

func (e *Engine) deleteQueue(name string, outbox bool) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return errClosed
	}
	q := e.byName[name]
	if q == nil || IsOutbox(name) != outbox {
		e.mu.Unlock()
		return queueNotFound(name)
	}
	var sources []string
	for _, other := range e.byName {
		if other == q {
			continue
		}
		other.mu.Lock()
		if other.attrs.DeadLetter == name {
			sources = append(sources, other.name)
		}
		other.mu.Unlock()
	}
	if len(sources) > 0 {
		e.mu.Unlock()
		sort.Strings(sources)
		return errdefs.New(errdefs.ErrConflict, "queue_in_use",
			"queue %q is the dead_letter of %q", name, sources)
	}
	q.mu.Lock()
	c, _, err := e.enqueue(encodeQueueDelete(q.id))
	if err != nil {
		q.mu.Unlock()
		e.mu.Unlock()
		return err
	}
	e.applyQueueDelete(q.id)
	q.stopTimer()
	q.wakeWaiters()
	for w := range q.watchers {
		w.notify()
	}
	q.mu.Unlock()
	e.mu.Unlock()
	return e.commitErr(c.Wait())
}

// dropAll removes every message from the index.
func (q *queueState) dropAll() {
	for en := q.head; en != nil; {
		next := en.next
		q.remove(en)
		en = next
	}
}

// Queue describes one queue.
func (e *Engine) Queue(name string) (Info, error) {
	q, err := e.queue(name)
	if err != nil {
		return Info{}, err
	}
	return q.info(e.now()), nil
}

// Queues describes every queue, by name.
func (e *Engine) Queues() []Info {
	now := e.now()
	qs := e.sortedQueues()
	out := make([]Info, 0, len(qs))
	for _, q := range qs {
		if in := q.info(now); !IsOutbox(in.Name) {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Stats returns a queue's current figures.
func (e *Engine) Stats(name string) (Stats, error) {
	q, err := e.queue(name)
	if err != nil {
		return Stats{}, err
	}
	return q.info(e.now()).Stats, nil
}

func (q *queueState) info(now time.Time) Info {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.advance(now.UnixNano()) {
		q.changed(now.UnixNano())
	}
	visible, groups := q.ready.len(), 0
	if q.fifo != nil {
		visible += q.fifo.parked
		if q.attrs.FIFO {
			groups = len(q.fifo.groups)
		}
	}
	s := Stats{
		Visible:    visible,
		Groups:     groups,
		InFlight:   q.inFlight,
		Delayed:    q.pending.len() - q.inFlight,
		Totals:     q.totals,
		LastChange: q.lastChange,
	}
	if q.head != nil {
		if age := now.UnixNano() - q.head.sentAt; age > 0 {
			s.OldestAge = time.Duration(age)
		}
	}
	modified := q.modified
	if modified == 0 {
		modified = q.created
	}
	return Info{Name: q.name, Attributes: q.attrs, Tags: maps.Clone(q.tags), CreatedAt: time.Unix(0, q.created),
		ModifiedAt: time.Unix(0, modified), Stats: s}
}
