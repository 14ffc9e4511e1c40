package queue

import (
	"sync"
	"time"
)

// queueState is one queue's settings and in-memory index. Its mutex guards
// every field but id, which never changes.
type queueState struct {
	e  *Engine
	id uint32

	mu       sync.Mutex
	name     string
	attrs    Attributes
	tags     map[string]string // never changed in place: replaced whole
	created  int64
	modified int64 // when the attributes last changed; the creation before that
	deleted  bool
	defined  bool // its definition has been applied (replay may meet its messages first)

	entries map[uint64]*entry
	ready   entryHeap // visible now, oldest sequence first
	pending entryHeap // hidden (delayed or in flight), soonest visible first
	head    *entry    // oldest message (sequence order)
	tail    *entry

	inFlight    int    // pending entries that have been received
	purgedBelow uint64 // the purge mark: messages below it were purged
	totals      Totals
	lastChange  time.Time
	defSegment  uint32 // the log segment holding the latest queue record
	waiters     chan struct{}
	watchers    map[*Watcher]struct{}
	timer       *time.Timer
	timerAt     int64
	closed      bool // the engine is closed: no timer is armed again
	// owners names the receivers that said who they are (worker
	// allocations), so an entry keeps a small number instead of a string;
	// ownerInFlight counts their in-flight messages.
	owners        map[string]uint32
	ownerNames    []string
	ownerInFlight map[uint32]int
	// fifo holds the queue's message groups and, for a FIFO queue, its
	// deduplication ids and receive attempts; nil until a message has a
	// group (fifo.go).
	fifo *fifoState
}

func newQueueState(e *Engine, id uint32, name string, a Attributes, created int64) *queueState {
	return &queueState{
		e:             e,
		id:            id,
		name:          name,
		attrs:         a,
		created:       created,
		entries:       map[uint64]*entry{},
		ready:         entryHeap{less: byFairness},
		pending:       entryHeap{less: byVisibleAt},
		waiters:       make(chan struct{}),
		watchers:      map[*Watcher]struct{}{},
		owners:        map[string]uint32{},
		ownerNames:    []string{""},
		ownerInFlight: map[uint32]int{},
	}
}

// insert adds a message to the index, visible or hidden by its visibleAt.
func (q *queueState) insert(en *entry, now int64) {
	q.entries[en.seq] = en
	en.heapIdx = -1
	// Keep the age list in sequence order: new messages have the highest
	// sequence, so this is almost always an append.
	at := q.tail
	for at != nil && at.seq > en.seq {
		at = at.prev
	}
	en.prev = at
	if at == nil {
		en.next = q.head
		q.head = en
	} else {
		en.next = at.next
		at.next = en
	}
	if en.next != nil {
		en.next.prev = en
	} else {
		q.tail = en
	}
	q.place(en, now)
}

// place puts an entry that is in no heap into the right one.
func (q *queueState) place(en *entry, now int64) {
	if en.visibleAt <= now {
		en.pending = false
		if g := en.grp; g != nil && (q.attrs.FIFO || g.ready != nil) {
			q.parkVisible(en)
			return
		}
		q.ready.push(en)
		if en.grp != nil {
			en.grp.ready = en
		}
		return
	}
	en.pending = true
	q.pending.push(en)
	if en.recvCount > 0 {
		q.inFlight++
		if en.owner != 0 {
			q.ownerInFlight[en.owner]++
		}
		if g := en.grp; g != nil {
			g.inFlight++
			q.refair(g)
		}
	}
}

// unplace takes an entry out of its heap.
func (q *queueState) unplace(en *entry) {
	if en.parked {
		en.parked = false
		q.fifo.parked--
		return
	}
	if en.heapIdx < 0 {
		return
	}
	if en.pending {
		q.pending.remove(en)
		if en.recvCount > 0 {
			q.inFlight--
			if en.owner != 0 {
				if q.ownerInFlight[en.owner]--; q.ownerInFlight[en.owner] <= 0 {
					delete(q.ownerInFlight, en.owner)
				}
			}
			if g := en.grp; g != nil {
				if g.inFlight--; g.inFlight == 0 {
					q.markDirty(g)
				}
				q.refair(g)
			}
		}
	} else {
		q.ready.remove(en)
		if g := en.grp; g != nil && g.ready == en {
			g.ready = nil
			q.markDirty(g)
		}
	}
}

// remove deletes a message from the index and the live-bytes account.
func (q *queueState) remove(en *entry) {
	q.unplace(en)
	q.leaveGroup(en)
	delete(q.entries, en.seq)
	if en.prev != nil {
		en.prev.next = en.next
	} else {
		q.head = en.next
	}
	if en.next != nil {
		en.next.prev = en.prev
	} else {
		q.tail = en.prev
	}
	en.prev, en.next = nil, nil
	q.e.dropLive(en.pos, en.size)
}

// advance makes every hidden message whose time has come visible, and
// reports whether any did.
func (q *queueState) advance(now int64) bool {
	moved := false
	for {
		en := q.pending.top()
		if en == nil || en.visibleAt > now {
			break
		}
		q.unplace(en)
		en.owner = 0
		q.place(en, now)
		moved = true
	}
	return moved
}

// changed is called after every change of the queue's contents: it wakes
// long-polling receivers if messages are visible, notifies watchers and
// re-arms the timer for the next hidden message.
func (q *queueState) changed(now int64) {
	q.lastChange = time.Unix(0, now)
	q.settle()
	if q.ready.len() > 0 {
		q.wakeWaiters()
	}
	for w := range q.watchers {
		w.notify()
	}
	q.armTimer(now)
}

func (q *queueState) wakeWaiters() {
	close(q.waiters)
	q.waiters = make(chan struct{})
}

// armTimer makes sure a timer fires when the soonest hidden message becomes
// visible, so that receivers and watchers learn of it without polling.
func (q *queueState) armTimer(now int64) {
	top := q.pending.top()
	if top == nil || q.deleted || q.closed {
		q.stopTimer()
		return
	}
	if q.timer != nil && q.timerAt == top.visibleAt {
		return
	}
	q.stopTimer()
	q.timerAt = top.visibleAt
	q.timer = time.AfterFunc(time.Duration(top.visibleAt-now), q.onTimer)
}

func (q *queueState) stopTimer() {
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
		q.timerAt = 0
	}
}

func (q *queueState) onTimer() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.timer = nil
	q.timerAt = 0
	if q.deleted || q.closed {
		return // a timer that fired as its queue went away or Close ran
	}
	now := q.e.now().UnixNano()
	if q.advance(now) {
		q.changed(now)
	} else {
		q.armTimer(now)
	}
}

// ownerID returns the number standing for a receiver's name, assigning one
// the first time; "" is 0.
func (q *queueState) ownerID(name string) uint32 {
	if name == "" {
		return 0
	}
	id, ok := q.owners[name]
	if !ok {
		id = uint32(len(q.ownerNames))
		q.owners[name] = id
		q.ownerNames = append(q.ownerNames, name)
	}
	return id
}
