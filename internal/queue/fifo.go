package queue

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/wal"
)

// FIFO queues and message groups.
//
// A message may carry a message group: on a FIFO queue it must. The group
// and the deduplication id travel in the message's record as attributes
// with reserved names (attrGroup, attrDedup), which no sender can use, so
// every record that carries a message — sends, publishes, compaction's
// copies, dead-letter copies — carries them, and moves keep them by
// pointing at the same record.
//
// In memory each queue keeps its groups (fifoState.groups): a group's
// messages in sequence order and how many are in flight. On a FIFO queue
// the ready heap holds at most one message per group, the oldest, and only
// while none of the group is in flight; the group's other visible messages
// are parked. A receive takes the oldest group head, then that group's
// next parked messages in order, then the next group's, so groups are
// independent and a group's messages come in order, one batch at a time.
// A group unblocks when its in-flight messages are deleted, dead-lettered
// or visible again; settle then promotes its new head.
//
// Deduplication: a FIFO queue remembers each deduplication id (scoped to
// the queue, or to its group with DedupPerGroup) for DedupWindow after the
// send, by the sequence of the message it stored; a send within the
// window answers with that message's id and stores nothing. The table is
// rebuilt on replay from the message records and from recDedup records,
// which compaction writes for ids still in their window whose record is
// in the segment it drops, so the window survives restarts and
// compaction. A remembered id costs its key, a map entry and a slot in
// the expiry order: about 100 bytes and the key's length.

// DedupWindow is how long a FIFO queue remembers a deduplication id.
const DedupWindow = 5 * time.Minute

// MaxGroupIDLength bounds message group and deduplication ids, as SQS.
const MaxGroupIDLength = 128

// Reserved attribute names that hold a message's group and deduplication
// id in its record; senders' attribute names cannot start with a NUL.
const (
	attrGroup = "\x00group"
	attrDedup = "\x00dedup"
	attrTrace = "\x00trace"
)

// group is one message group of a queue.
type group struct {
	name     string
	msgs     []*entry // in the queue, in sequence order
	inFlight int      // received and hidden
	taking   int      // taken by the receive in progress, not yet in flight
	ready    *entry   // the group's message in the ready heap, if any
	dirty    bool     // in fifoState.dirty
}

// Fair queues: on a standard queue, a message group names a tenant. The
// ready heap holds one visible message per group, the group's oldest
// visible one, and orders by the group's messages in flight (and those
// the receive in progress took), then by age: a receive serves the
// tenants with the least in flight first, so a tenant that holds many
// messages in flight, or floods the queue, waits behind the others' next
// message instead of delaying it; its messages keep their order among
// themselves and are never dropped. Messages without a group count as
// nothing in flight.

// byFairness orders the ready heap: least in flight first, then oldest.
func byFairness(a, b *entry) bool {
	if fa, fb := a.fairKey(), b.fairKey(); fa != fb {
		return fa < fb
	}
	return a.seq < b.seq
}

func (en *entry) fairKey() int {
	if en.grp == nil {
		return 0
	}
	return en.grp.inFlight + en.grp.taking
}

// refair puts a standard queue's group head back in its place after the
// group's count changed. (A FIFO group's head is in the heap only with
// nothing in flight: its key is then 0.)
func (q *queueState) refair(g *group) {
	if g.ready != nil && g.ready.heapIdx >= 0 && !g.ready.pending {
		q.ready.fix(g.ready)
	}
}

// head is the group's oldest message not on its way out.
func (g *group) head() *entry {
	for _, en := range g.msgs {
		if !en.moving {
			return en
		}
	}
	return nil
}

// oldestParked is the group's oldest visible message not in the heap.
func (g *group) oldestParked() *entry {
	for _, en := range g.msgs {
		if en.parked {
			return en
		}
	}
	return nil
}

type fifoState struct {
	groups map[string]*group
	dirty  []*group // groups whose head may need promoting
	parked int      // visible messages not in the ready heap
	dedup  map[string]dedupEntry
	// dedupOrder lists the keys in the order they were remembered, for
	// expiry; a key remembered again is listed again.
	dedupOrder []string
	attempts   map[string]*attempt
}

type dedupEntry struct {
	seq    uint64
	sentAt int64
	pos    wal.Pos // the record that remembers it
}

// attempt is a receive made with a ReceiveRequestAttemptId: retried within
// DedupWindow while its messages are still in flight, it returns them
// again.
type attempt struct {
	at    int64
	items []received
}

func newFIFOState() *fifoState {
	return &fifoState{groups: map[string]*group{}, dedup: map[string]dedupEntry{}, attempts: map[string]*attempt{}}
}

// fifo returns q's group state, making it on first use.
func (q *queueState) fifoState() *fifoState {
	if q.fifo == nil {
		q.fifo = newFIFOState()
	}
	return q.fifo
}

// joinGroup adds en to its group, keeping sequence order.
func (q *queueState) joinGroup(en *entry, name string) {
	f := q.fifoState()
	g := f.groups[name]
	if g == nil {
		g = &group{name: name}
		f.groups[name] = g
	}
	en.grp = g
	if n := len(g.msgs); n == 0 || g.msgs[n-1].seq < en.seq {
		g.msgs = append(g.msgs, en)
	} else {
		i, _ := slices.BinarySearchFunc(g.msgs, en.seq, func(e *entry, seq uint64) int { return cmp.Compare(e.seq, seq) })
		g.msgs = slices.Insert(g.msgs, i, en)
	}
	q.markDirty(g)
}

// leaveGroup takes en out of its group.
func (q *queueState) leaveGroup(en *entry) {
	g := en.grp
	if g == nil {
		return
	}
	if i := slices.Index(g.msgs, en); i >= 0 {
		g.msgs = slices.Delete(g.msgs, i, i+1)
	}
	en.grp = nil
	if len(g.msgs) == 0 && g.inFlight == 0 {
		if q.fifo.groups[g.name] == g {
			delete(q.fifo.groups, g.name)
		}
		return
	}
	q.markDirty(g)
}

func (q *queueState) markDirty(g *group) {
	if !g.dirty {
		g.dirty = true
		q.fifo.dirty = append(q.fifo.dirty, g)
	}
}

// settle promotes the head of every group that changed, where it may be
// received: a FIFO queue's groups with nothing in flight.
func (q *queueState) settle() {
	f := q.fifo
	if f == nil {
		return
	}
	for _, g := range f.dirty {
		g.dirty = false
		if g.ready != nil {
			continue
		}
		var h *entry
		if q.attrs.FIFO {
			if g.inFlight > 0 || g.taking > 0 {
				continue
			}
			if h = g.head(); h != nil && !h.parked {
				h = nil
			}
		} else {
			h = g.oldestParked()
		}
		if h != nil {
			h.parked = false
			f.parked--
			g.ready = h
			q.ready.push(h)
		}
	}
	f.dirty = f.dirty[:0]
}

// rebuildOrder puts a queue's grouped visible messages where they belong
// after replay, which may have placed them before it knew the queue was
// FIFO: each group's head in the ready heap if it may be received, the
// rest parked.
func (q *queueState) rebuildOrder() {
	if q.fifo == nil {
		return
	}
	for _, en := range slices.Clone(q.ready.items) {
		if en.grp != nil {
			q.ready.remove(en)
			en.grp.ready = nil
			en.parked = true
			q.fifo.parked++
		}
	}
	for _, g := range q.fifo.groups {
		q.markDirty(g)
	}
	q.settle()
}

// parkVisible decides where a visible message of a FIFO queue goes: it is
// parked, and settle promotes it if it is its group's head.
func (q *queueState) parkVisible(en *entry) {
	en.parked = true
	q.fifo.parked++
	q.markDirty(en.grp)
}

// retriedAttempt returns what the receive attempt id took, again, when it
// is retried within DedupWindow and every message it took is still in
// flight from it; otherwise nil, and the receive takes anew.
func (q *queueState) retriedAttempt(id string, now int64) []taken {
	if id == "" || q.fifo == nil {
		return nil
	}
	a := q.fifo.attempts[id]
	if a == nil || now-a.at >= int64(DedupWindow) {
		return nil
	}
	got := make([]taken, 0, len(a.items))
	for _, it := range a.items {
		en := q.entries[it.seq]
		if en == nil || en.recvCount != it.count || !en.pending || en.visibleAt <= now || en.moving {
			delete(q.fifo.attempts, id)
			return nil
		}
		got = append(got, takenOf(q, en))
	}
	return got
}

// committed is a waiter for nothing to write.
type committed struct{}

func (committed) Wait() error { return nil }

// deduplicate checks a message's FIFO fields against q and returns the
// deduplication id it is stored with, its key ("" for none), and whether
// q has the key within its window, with the message it names.
func (q *queueState) deduplicate(in SendInput, now int64) (dedup, key string, seen dedupEntry, dup bool, err error) {
	if dedup, err = checkFIFOInput(in, q.attrs); err != nil || dedup == "" {
		return dedup, "", dedupEntry{}, false, err
	}
	key = dedupKey(q.attrs, in.Group, dedup)
	seen, dup = q.remembered(key, now)
	return dedup, key, seen, dup, nil
}

// dedupKey is the key a deduplication id is remembered under.
func dedupKey(a Attributes, group, id string) string {
	if a.DedupPerGroup {
		return group + "\x00" + id
	}
	return id
}

// ContentDedupID is the deduplication id of a body under content-based
// deduplication: its SHA-256, in hex.
func ContentDedupID(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// remembered returns the message a deduplication key names, if it is
// still in its window.
func (q *queueState) remembered(key string, now int64) (dedupEntry, bool) {
	if q.fifo == nil {
		return dedupEntry{}, false
	}
	d, ok := q.fifo.dedup[key]
	if !ok || now-d.sentAt >= int64(DedupWindow) {
		return dedupEntry{}, false
	}
	return d, true
}

// remember records a deduplication key, and forgets those past their
// window.
func (q *queueState) remember(key string, d dedupEntry, now int64) {
	f := q.fifoState()
	if old, ok := f.dedup[key]; ok && old.sentAt > d.sentAt {
		return // replay meets a compaction's copy after a newer send
	}
	f.dedup[key] = d
	f.dedupOrder = append(f.dedupOrder, key)
	q.forgetExpired(now)
}

func (q *queueState) forgetExpired(now int64) {
	f := q.fifo
	n := 0
	for _, key := range f.dedupOrder {
		d, ok := f.dedup[key]
		if !ok || now-d.sentAt < int64(DedupWindow) {
			break
		}
		delete(f.dedup, key)
		n++
	}
	if n > 0 {
		f.dedupOrder = slices.Delete(f.dedupOrder, 0, n)
	}
	for id, a := range f.attempts {
		if now-a.at >= int64(DedupWindow) {
			delete(f.attempts, id)
		}
	}
}

// sysAttrs are a message's system attributes, which its record keeps as
// attributes with reserved names: its group, deduplication id and SQS's
// AWSTraceHeader.
type sysAttrs struct{ group, dedup, trace string }

// splitAttrs splits a record's attributes into the sender's and the
// system attributes.
func splitAttrs(attrs []Attr) (user []Attr, sys sysAttrs) {
	for i, a := range attrs {
		if len(a.Name) > 0 && a.Name[0] == 0 {
			user = append([]Attr(nil), attrs[:i]...)
			for _, a := range attrs[i:] {
				switch a.Name {
				case attrGroup:
					sys.group = string(a.Value)
				case attrDedup:
					sys.dedup = string(a.Value)
				case attrTrace:
					sys.trace = string(a.Value)
				default:
					user = append(user, a)
				}
			}
			return user, sys
		}
	}
	return attrs, sys
}

// joinAttrs is a message's attributes as its record keeps them: the
// sender's, then the system attributes under reserved names.
func joinAttrs(attrs []Attr, sys sysAttrs) []Attr {
	if sys == (sysAttrs{}) {
		return attrs
	}
	out := make([]Attr, 0, len(attrs)+3)
	out = append(out, attrs...)
	for _, a := range []struct{ name, v string }{{attrGroup, sys.group}, {attrDedup, sys.dedup}, {attrTrace, sys.trace}} {
		if a.v != "" {
			out = append(out, Attr{Name: a.name, Type: "String", Value: []byte(a.v)})
		}
	}
	return out
}

// CheckGroupID validates a message group (what "message_group_id") or
// deduplication id ("message_deduplication_id") as SQS does: 1 to 128
// characters, letters, digits and punctuation.
func CheckGroupID(what, id string) error {
	ok := len(id) >= 1 && len(id) <= MaxGroupIDLength
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c > ' ' && c < 0x7f
	}
	if !ok {
		return errdefs.New(errdefs.ErrInvalid, "invalid_"+what,
			"%s must be 1 to %d letters, digits or punctuation, got %q", what, MaxGroupIDLength, id)
	}
	return nil
}

// checkFIFOInput validates a message's group and deduplication id against
// its queue, and returns the deduplication id it is stored with.
func checkFIFOInput(in SendInput, a Attributes) (dedup string, err error) {
	if !a.FIFO {
		if in.DedupID != "" {
			return "", errdefs.New(errdefs.ErrInvalid, "invalid_parameter",
				"a deduplication id is for FIFO queues")
		}
		if in.Group != "" {
			return "", CheckGroupID("message_group_id", in.Group)
		}
		return "", nil
	}
	if in.Group == "" {
		return "", errdefs.New(errdefs.ErrInvalid, "missing_message_group_id",
			"a message to a FIFO queue needs a message group id")
	}
	if err := CheckGroupID("message_group_id", in.Group); err != nil {
		return "", err
	}
	if in.Delay != nil {
		return "", errdefs.New(errdefs.ErrInvalid, "invalid_delay",
			"a FIFO queue's messages cannot have their own delay: set the queue's")
	}
	dedup = in.DedupID
	if dedup == "" {
		if !a.ContentDedup {
			return "", errdefs.New(errdefs.ErrInvalid, "missing_deduplication_id",
				"the queue should either have content-based deduplication enabled or a deduplication id given explicitly")
		}
		dedup = ContentDedupID(in.Body)
	}
	return dedup, CheckGroupID("message_deduplication_id", dedup)
}

// GroupCount is how many messages one group of a queue holds.
type GroupCount struct {
	Group    string
	Messages int // in the queue: visible, delayed or in flight
	InFlight int
}

// Groups lists a queue's message groups with their counts, by name.
func (e *Engine) Groups(queue string) ([]GroupCount, error) {
	q, err := e.queue(queue)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fifo == nil {
		return nil, nil
	}
	out := make([]GroupCount, 0, len(q.fifo.groups))
	for _, g := range q.fifo.groups {
		out = append(out, GroupCount{Group: g.name, Messages: len(g.msgs), InFlight: g.inFlight})
	}
	slices.SortFunc(out, func(a, b GroupCount) int { return cmp.Compare(a.Group, b.Group) })
	return out, nil
}
