package queue

import "github.com/docketd/docket/internal/wal"

// entry is all the engine keeps in memory of one message; its body and
// attributes stay in the log at pos.
type entry struct {
	// Field order keeps the struct at 96 bytes, a size class of its own:
	// the index holds one per message.
	seq         uint64
	pos         wal.Pos // the record holding the message's whole state
	sentAt      int64
	visibleAt   int64
	firstRecvAt int64
	prev, next  *entry // the queue's messages in sequence (age) order

	size      uint32 // the record's length, for the live-bytes account
	recvCount uint32
	source    uint32 // the queue a dead-lettered message came from
	heapIdx   int32  // index in ready or pending; -1 in neither
	owner     uint32 // who holds the current receive (see queueState.owners); 0 = nobody
	pending   bool   // in the pending heap (hidden), else in ready
	moving    bool   // taken out of the heaps, on its way to another queue
	sub       uint16 // which message of a publish record (recPublish) is this one
	// parked: visible but in no heap, behind its group's head (FIFO).
	parked bool
	grp    *group // its message group, if it has one (fifo.go)
}

// entryHeap is a binary min-heap of entries that keeps each entry's index,
// so an entry can be removed or re-ordered in O(log n).
type entryHeap struct {
	items []*entry
	less  func(a, b *entry) bool
}

func byVisibleAt(a, b *entry) bool {
	if a.visibleAt != b.visibleAt {
		return a.visibleAt < b.visibleAt
	}
	return a.seq < b.seq
}

func (h *entryHeap) len() int { return len(h.items) }

func (h *entryHeap) top() *entry {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *entryHeap) push(e *entry) {
	e.heapIdx = int32(len(h.items))
	h.items = append(h.items, e)
	h.up(len(h.items) - 1)
}

func (h *entryHeap) remove(e *entry) {
	i := int(e.heapIdx)
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	h.items[last] = nil
	h.items = h.items[:last]
	e.heapIdx = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

// fix restores e's place after its key changed.
func (h *entryHeap) fix(e *entry) {
	if i := int(e.heapIdx); i >= 0 && !h.down(i) {
		h.up(i)
	}
}

func (h *entryHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].heapIdx = int32(i)
	h.items[j].heapIdx = int32(j)
}

func (h *entryHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *entryHeap) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			j = r
		}
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
