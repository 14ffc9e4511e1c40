package soak

import (
	"fmt"
	"slices"
	"sync"

	"github.com/docketd/docket/scheduler/api"
)

// ledger records what the server told its clients and checks every message
// the server hands out against it. Messages are known by a key the client
// chose, written into the body, and by the ids the server gave them: a
// message moved to a dead-letter queue gets a new id and keeps its key.
//
// Time in the ledger is its own clock: [ledger.Tick] before a receive is
// sent, and a tick at every acknowledged delete. A receive that began after
// a delete was acknowledged was served after that delete took effect.
type ledger struct {
	seed uint64
	f    *findings

	mu          sync.Mutex
	clock       uint64
	nextKey     uint64
	keys        map[uint64]*keyState
	ids         map[string]*idState
	deadLetter  map[string]string // source queue → its dead-letter queue
	outstanding map[string]int    // per queue: acknowledged sends not yet settled
	stats       LedgerStats
}

// LedgerStats are the ledger's totals.
type LedgerStats struct {
	Sent           int `json:"sent"`            // messages sent, acknowledged or not
	SendsAcked     int `json:"sends_acked"`     // sends acknowledged
	Received       int `json:"received"`        // messages handed out by receives
	DeletesAcked   int `json:"deletes_acked"`   // deletes acknowledged
	DeletesUnknown int `json:"deletes_unknown"` // deletes whose outcome is unknown (no answer)
	DeletesRefused int `json:"deletes_refused"` // deletes refused (an outdated receipt)
	FinalDrained   int `json:"final_drained"`   // messages found by the final drain
}

// keyState is one message as its sender knows it.
type keyState struct {
	queue string
	size  int
	id    string // the id its send was acknowledged with
	acked bool
	// settled: a delete of one of its ids was acknowledged, or sent without
	// an answer; the message may be gone.
	settled bool
	final   bool // the final drain found it
}

// idState is one message id as receivers know it.
type idState struct {
	key        uint64
	counts     []int    // the receive counts it was handed out with
	recordedAt []uint64 // the ledger time each of those was recorded
	// deletedAt is the ledger time of the first acknowledged delete, 0 if
	// none.
	deletedAt uint64
}

func newLedger(seed uint64, f *findings) *ledger {
	return &ledger{seed: seed, f: f, keys: map[uint64]*keyState{}, ids: map[string]*idState{},
		deadLetter: map[string]string{}, outstanding: map[string]int{}}
}

// SetDeadLetter records that messages of source may move to dlq.
func (l *ledger) SetDeadLetter(source, dlq string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deadLetter[source] = dlq
}

// NewMessage chooses a key for a message of size bytes to queue and returns
// it with its body.
func (l *ledger) NewMessage(queue string, size int) (uint64, string) {
	l.mu.Lock()
	l.nextKey++
	key := l.nextKey
	l.keys[key] = &keyState{queue: queue, size: size}
	l.stats.Sent++
	l.mu.Unlock()
	return key, makeBody(l.seed, key, size)
}

// SendAcked records that the send of key was acknowledged with id.
func (l *ledger) SendAcked(key uint64, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys[key]
	if k == nil || k.acked {
		l.f.add(WrongBody, "send of key %x acknowledged twice or never sent (id %s)", key, id)
		return
	}
	if is := l.ids[id]; is != nil && is.key != key {
		l.f.add(WrongBody, "id %s acknowledged for key %x, but it already names key %x", id, key, is.key)
		return
	}
	k.acked, k.id = true, id
	l.idState(id, key)
	// A receiver may have had the message, and even deleted it, before
	// the sender read its answer.
	if !k.settled {
		l.outstanding[k.queue]++
	}
	l.stats.SendsAcked++
}

func (l *ledger) idState(id string, key uint64) *idState {
	is := l.ids[id]
	if is == nil {
		is = &idState{key: key}
		l.ids[id] = is
	}
	return is
}

// Tick returns the ledger's time; take it before sending a receive.
func (l *ledger) Tick() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clock++
	return l.clock
}

// Received checks a message that a receive from queue, begun at ledger
// time start, handed out. final marks the final drain.
func (l *ledger) Received(queue string, m api.Message, start uint64, final bool) {
	key, err := checkBody(l.seed, m.Body)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Received++
	if err != nil {
		l.f.add(WrongBody, "message %s in %s (key %x): %v", m.ID, queue, key, err)
		return
	}
	k := l.keys[key]
	if k == nil {
		l.f.add(WrongBody, "message %s in %s carries key %x, which nobody sent", m.ID, queue, key)
		return
	}
	if queue != k.queue && (queue != l.deadLetter[k.queue] || m.SourceQueue != k.queue) {
		l.f.add(WrongBody, "message %s (key %x, sent to %s) received from %s with source queue %q",
			m.ID, key, k.queue, queue, m.SourceQueue)
	}
	is := l.ids[m.ID]
	if is != nil && is.key != key {
		l.f.add(WrongBody, "message %s carries key %x, but it was acknowledged for key %x", m.ID, key, is.key)
		return
	}
	is = l.idState(m.ID, key)
	// Every receive counts: a count handed out before, or one not above
	// that of a receive answered before this one began, means the server
	// forgot a receive it had answered.
	for i, c := range is.counts {
		if c == m.ReceiveCount || c > m.ReceiveCount && is.recordedAt[i] < start {
			l.f.add(Duplicate, "message %s (key %x, %s) handed out with receive count %d after count %d (counts so far %v)",
				m.ID, key, queue, m.ReceiveCount, c, is.counts)
			break
		}
	}
	l.clock++
	is.counts = append(is.counts, m.ReceiveCount)
	is.recordedAt = append(is.recordedAt, l.clock)
	if is.deletedAt != 0 && start > is.deletedAt {
		l.f.add(Resurrected, "message %s (key %x, %s) handed out with receive count %d after its delete was acknowledged",
			m.ID, key, queue, m.ReceiveCount)
	}
	if final {
		k.final = true
		l.stats.FinalDrained++
	}
}

// DeleteOutcome is what came of a delete.
type DeleteOutcome int

// The outcomes of a delete.
const (
	// DeleteAcked: the server acknowledged the delete.
	DeleteAcked DeleteOutcome = iota
	// DeleteRefused: the server refused this receipt (it was outdated);
	// the message is still there.
	DeleteRefused
	// DeleteUnknown: no answer came (the server died, or the request
	// failed as a whole); the delete may or may not have happened.
	DeleteUnknown
)

// Deleted records the outcome of deleting the message id.
func (l *ledger) Deleted(id string, o DeleteOutcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	is := l.ids[id]
	if is == nil {
		l.f.add(Harness, "delete of id %s, which no receive handed out", id)
		return
	}
	switch o {
	case DeleteAcked:
		l.stats.DeletesAcked++
		l.clock++
		if is.deletedAt == 0 {
			is.deletedAt = l.clock
		}
	case DeleteRefused:
		l.stats.DeletesRefused++
		return
	case DeleteUnknown:
		l.stats.DeletesUnknown++
	}
	if k := l.keys[is.key]; k != nil && !k.settled {
		k.settled = true
		if k.acked {
			l.outstanding[k.queue]--
		}
	}
}

// Outstanding returns how many acknowledged sends to queue are not settled
// yet: the messages that queue (or its dead-letter queue) must hold.
func (l *ledger) Outstanding(queue string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.outstanding[queue]
}

// MustHold returns how many messages the server must hold in all queues:
// acknowledged sends with no delete attempted. Call it while no client
// runs.
func (l *ledger) MustHold() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.outstanding {
		n += c
	}
	return n
}

// Settle ends the run: after the final drain, every acknowledged send must
// have been settled by a delete or found by the drain. It records the rest
// as lost and returns how many there were.
func (l *ledger) Settle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lost []uint64
	for key, k := range l.keys {
		if k.acked && !k.settled && !k.final {
			lost = append(lost, key)
		}
	}
	slices.Sort(lost)
	for _, key := range lost {
		k := l.keys[key]
		is := l.ids[k.id]
		l.f.add(Lost, "message %s (key %x, %s, %d bytes) acknowledged, never deleted, not found by the final drain; handed out with counts %v",
			k.id, key, k.queue, k.size, is.counts)
	}
	return len(lost)
}

// Stats returns the ledger's totals.
func (l *ledger) Stats() LedgerStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

func (s LedgerStats) String() string {
	return fmt.Sprintf("%d sent, %d acknowledged, %d received, %d deletes acknowledged", s.Sent, s.SendsAcked, s.Received, s.DeletesAcked)
}
