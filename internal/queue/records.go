package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Record kinds in the log. Their numbers are part of the on-disk format:
// never renumber, only add.
const (
	recCheckpoint  byte = 1 // instance nonce and sequence high-water marks
	recQueuePut    byte = 2 // a queue created or its attributes changed
	recQueueDelete byte = 3 // a queue and all its messages removed
	recMessage     byte = 4 // a message's whole state: a send, or a compaction copy
	recReceive     byte = 5 // a message received: new count, hidden until
	recVisibility  byte = 6 // a message's visibility changed
	recDelete      byte = 7 // a message deleted, expired or purged one by one
	recMove        byte = 8 // a message moved to another queue (dead-letter, redrive)
	recPurge       byte = 9 // every message of a queue below a sequence removed
	// recDeadLetter: a message leaves its queue and arrives whole, with
	// added attributes, in the dead-letter queue.
	recDeadLetter byte = 10
	// recPublish is a topic's publish: one message for each of several
	// queues in one record, so that a crash keeps all or none of them.
	recPublish byte = 11
	// recDedup remembers a FIFO queue's deduplication id past its
	// message's record: compaction writes one for each id still in its
	// window whose record is in the segment it drops.
	recDedup byte = 12
)

// Why a message left its queue; recorded in recDelete.
const (
	reasonDeleted byte = 1
	reasonExpired byte = 2
)

var errShortRecord = errors.New("short record")

// enc appends the primitive encodings the records are made of.
type enc struct{ b []byte }

func (e *enc) byte(v byte)      { e.b = append(e.b, v) }
func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) string(v string)  { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }

// dec reads what enc wrote; the first failure sticks in err.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errShortRecord
	}
	d.b = nil
}

func (d *dec) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) string() string { return string(d.bytes()) }

func (d *dec) dur() time.Duration { return time.Duration(d.varint()) }

// checkpoint carries what must survive when the segments that held it are
// dropped: the instance nonce (part of message ids and receipts) and the
// counters that must never go back, so ids and receipts are never reused.
type checkpoint struct {
	nonce       uint64
	nextSeq     uint64
	nextQueueID uint32
}

func (c checkpoint) encode() []byte {
	e := enc{b: make([]byte, 0, 32)}
	e.byte(recCheckpoint)
	e.uvarint(c.nonce)
	e.uvarint(c.nextSeq)
	e.uvarint(uint64(c.nextQueueID))
	return e.b
}

func decodeCheckpoint(d *dec) checkpoint {
	return checkpoint{nonce: d.uvarint(), nextSeq: d.uvarint(), nextQueueID: uint32(d.uvarint())}
}

// encode writes a queue's definition record. The tags and then the purge
// mark come last: records written before queues had tags end after the
// dead-letter name, and those written before the mark after the tags.
func (p queuePut) encode() []byte {
	a := p.attrs
	e := enc{b: make([]byte, 0, 64+len(p.name)+len(a.DeadLetter))}
	e.byte(recQueuePut)
	e.uvarint(uint64(p.id))
	e.string(p.name)
	e.varint(p.created)
	e.varint(int64(a.VisibilityTimeout))
	e.varint(int64(a.Retention))
	e.varint(int64(a.Delay))
	e.varint(int64(a.ReceiveWait))
	e.varint(a.MaxMessageSize)
	e.varint(int64(a.MaxReceives))
	e.string(a.DeadLetter)
	e.uvarint(uint64(len(p.tags)))
	for _, k := range slices.Sorted(maps.Keys(p.tags)) {
		e.string(k)
		e.string(p.tags[k])
	}
	e.uvarint(p.purgedBelow)
	e.byte(a.fifoFlags())
	// SQS's kept settings and the last change's time come last.
	e.string(a.Policy)
	e.string(a.KMSKeyID)
	e.varint(int64(a.KMSReuseSeconds))
	e.byte(boolByte(a.ManagedSSE))
	e.varint(p.modified)
	return e.b
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// The FIFO settings' bits in a queue's definition record, after the purge
// mark (records written before FIFO queues end there).
const (
	flagFIFO byte = 1 << iota
	flagContentDedup
	flagDedupPerGroup
	flagThroughputPerGroup
)

func (a Attributes) fifoFlags() byte {
	var f byte
	for _, b := range []struct {
		on   bool
		flag byte
	}{{a.FIFO, flagFIFO}, {a.ContentDedup, flagContentDedup}, {a.DedupPerGroup, flagDedupPerGroup}, {a.ThroughputPerGroup, flagThroughputPerGroup}} {
		if b.on {
			f |= b.flag
		}
	}
	return f
}

func (a *Attributes) setFIFOFlags(f byte) {
	a.FIFO, a.ContentDedup = f&flagFIFO != 0, f&flagContentDedup != 0
	a.DedupPerGroup, a.ThroughputPerGroup = f&flagDedupPerGroup != 0, f&flagThroughputPerGroup != 0
}

// dedupRecord is a remembered deduplication id (recDedup).
type dedupRecord struct {
	queue  uint32
	key    string
	seq    uint64
	sentAt int64
}

func (r dedupRecord) encode() []byte {
	e := enc{b: make([]byte, 0, 24+len(r.key))}
	e.byte(recDedup)
	e.uvarint(uint64(r.queue))
	e.string(r.key)
	e.uvarint(r.seq)
	e.varint(r.sentAt)
	return e.b
}

func decodeDedup(d *dec) dedupRecord {
	return dedupRecord{queue: uint32(d.uvarint()), key: d.string(), seq: d.uvarint(), sentAt: d.varint()}
}

type queuePut struct {
	id      uint32
	name    string
	created int64
	attrs   Attributes
	tags    map[string]string
	// modified is when the definition last changed (Unix nanoseconds);
	// 0 in records written before it was kept: the creation time then.
	modified int64
	// purgedBelow is the queue's purge mark (see [Engine.applyPurge]). It
	// goes with the definition because compaction drops a purge record
	// with its segment, and the queue's latest definition then holds the
	// mark: one written after the purge has it, and one written before is
	// in that segment or an older one, which compaction rewrites first.
	purgedBelow uint64
}

func decodeQueuePut(d *dec) queuePut {
	q := queuePut{id: uint32(d.uvarint()), name: d.string(), created: d.varint()}
	q.attrs.VisibilityTimeout = d.dur()
	q.attrs.Retention = d.dur()
	q.attrs.Delay = d.dur()
	q.attrs.ReceiveWait = d.dur()
	q.attrs.MaxMessageSize = d.varint()
	q.attrs.MaxReceives = int(d.varint())
	q.attrs.DeadLetter = d.string()
	if len(d.b) > 0 {
		n := d.uvarint()
		if d.err == nil && n > uint64(len(d.b)) {
			d.fail()
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			if q.tags == nil {
				q.tags = make(map[string]string, n)
			}
			k := d.string()
			q.tags[k] = d.string()
		}
	}
	if len(d.b) > 0 {
		q.purgedBelow = d.uvarint()
	}
	if len(d.b) > 0 {
		q.attrs.setFIFOFlags(d.byte())
	}
	if len(d.b) > 0 {
		q.attrs.Policy, q.attrs.KMSKeyID = d.string(), d.string()
		q.attrs.KMSReuseSeconds = int(d.varint())
		q.attrs.ManagedSSE = d.byte() == 1
		q.modified = d.varint()
	}
	return q
}

// message is the whole durable state of one message; recMessage and recMove
// carry it.
type message struct {
	queue       uint32
	seq         uint64
	sentAt      int64 // unix nanoseconds, kept across dead-lettering
	visibleAt   int64
	firstRecvAt int64
	recvCount   uint32
	source      uint32 // for a dead-lettered message, the queue it came from
	attrs       []Attr
	body        []byte
}

// Attr is one message attribute. SQS typed attributes keep their type in
// Type ("String", "Number", "Binary" or a custom "String.x"); Docket's own
// API uses "String".
type Attr struct {
	Name  string
	Type  string
	Value []byte
}

func (m *message) encodeTo(e *enc) {
	e.uvarint(uint64(m.queue))
	e.uvarint(m.seq)
	e.varint(m.sentAt)
	e.varint(m.visibleAt)
	e.varint(m.firstRecvAt)
	e.uvarint(uint64(m.recvCount))
	e.uvarint(uint64(m.source))
	e.uvarint(uint64(len(m.attrs)))
	for _, a := range m.attrs {
		e.string(a.Name)
		e.string(a.Type)
		e.bytes(a.Value)
	}
	e.bytes(m.body)
}

func (m *message) encodedSize() int {
	n := 64 + len(m.body)
	for _, a := range m.attrs {
		n += 16 + len(a.Name) + len(a.Type) + len(a.Value)
	}
	return n
}

func encodeMessage(m *message) []byte {
	e := enc{b: make([]byte, 0, m.encodedSize())}
	e.byte(recMessage)
	m.encodeTo(&e)
	return e.b
}

// decodeMessage decodes the fields after the kind byte. Body and attribute
// values alias the record.
func decodeMessage(d *dec) message {
	m := message{
		queue:       uint32(d.uvarint()),
		seq:         d.uvarint(),
		sentAt:      d.varint(),
		visibleAt:   d.varint(),
		firstRecvAt: d.varint(),
		recvCount:   uint32(d.uvarint()),
		source:      uint32(d.uvarint()),
	}
	n := d.uvarint()
	if n > MaxMessageAttributes*4 {
		d.fail()
		return m
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.attrs = append(m.attrs, Attr{Name: d.string(), Type: d.string(), Value: d.bytes()})
	}
	m.body = d.bytes()
	return m
}

// A move takes a message out of one queue and puts it, under a new
// sequence, into another: to a dead-letter queue after too many receives, or
// back from one on redrive. The message's body and attributes stay where
// they are in the log; the moved message points at the same record. One
// record, so a crash never keeps half a move.
type move struct {
	from, to  uint32
	oldSeq    uint64
	newSeq    uint64
	visibleAt int64
	source    uint32 // the queue a dead-lettered message came from; 0 on redrive
}

func encodeMoves(ms []move) []byte {
	e := enc{b: make([]byte, 0, 4+len(ms)*40)}
	e.byte(recMove)
	e.uvarint(uint64(len(ms)))
	for _, m := range ms {
		e.uvarint(uint64(m.from))
		e.uvarint(uint64(m.to))
		e.uvarint(m.oldSeq)
		e.uvarint(m.newSeq)
		e.varint(m.visibleAt)
		e.uvarint(uint64(m.source))
	}
	return e.b
}

func decodeMoves(d *dec) []move {
	n := d.uvarint()
	if n > 1<<16 {
		d.fail()
		return nil
	}
	ms := make([]move, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		ms = append(ms, move{
			from: uint32(d.uvarint()), to: uint32(d.uvarint()),
			oldSeq: d.uvarint(), newSeq: d.uvarint(),
			visibleAt: d.varint(), source: uint32(d.uvarint()),
		})
	}
	return ms
}

// encodePublish encodes a publish record: its messages, each with its own
// queue and sequence.
func encodePublish(msgs []message) []byte {
	size := 8
	for i := range msgs {
		size += msgs[i].encodedSize()
	}
	e := enc{b: make([]byte, 0, size)}
	e.byte(recPublish)
	e.uvarint(uint64(len(msgs)))
	for i := range msgs {
		msgs[i].encodeTo(&e)
	}
	return e.b
}

func decodePublish(d *dec) []message {
	n := d.uvarint()
	if n == 0 || n > MaxPublishTargets {
		d.fail()
		return nil
	}
	msgs := make([]message, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		msgs = append(msgs, decodeMessage(d))
	}
	return msgs
}

// A receive record holds every message one receive call took: for each,
// the new receive count and the time it stays hidden until.
type received struct {
	seq         uint64
	count       uint32
	visibleAt   int64
	firstRecvAt int64
}

func encodeReceives(queue uint32, items []received) []byte {
	e := enc{b: make([]byte, 0, 8+len(items)*24)}
	e.byte(recReceive)
	e.uvarint(uint64(queue))
	e.uvarint(uint64(len(items)))
	for _, it := range items {
		e.uvarint(it.seq)
		e.uvarint(uint64(it.count))
		e.varint(it.visibleAt)
		e.varint(it.firstRecvAt)
	}
	return e.b
}

func decodeReceives(d *dec) (uint32, []received) {
	q := uint32(d.uvarint())
	n := d.uvarint()
	if n > 1<<16 {
		d.fail()
		return q, nil
	}
	items := make([]received, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		items = append(items, received{seq: d.uvarint(), count: uint32(d.uvarint()), visibleAt: d.varint(), firstRecvAt: d.varint()})
	}
	return q, items
}

func encodeVisibility(queue uint32, seq uint64, visibleAt int64) []byte {
	e := enc{b: make([]byte, 0, 24)}
	e.byte(recVisibility)
	e.uvarint(uint64(queue))
	e.uvarint(seq)
	e.varint(visibleAt)
	return e.b
}

func decodeVisibility(d *dec) (queue uint32, seq uint64, visibleAt int64) {
	return uint32(d.uvarint()), d.uvarint(), d.varint()
}

// A delete record removes several messages of one queue for one reason.
func encodeDeletes(queue uint32, reason byte, seqs []uint64) []byte {
	e := enc{b: make([]byte, 0, 8+len(seqs)*9)}
	e.byte(recDelete)
	e.uvarint(uint64(queue))
	e.byte(reason)
	e.uvarint(uint64(len(seqs)))
	for _, s := range seqs {
		e.uvarint(s)
	}
	return e.b
}

func decodeDeletes(d *dec) (queue uint32, reason byte, seqs []uint64) {
	queue = uint32(d.uvarint())
	reason = d.byte()
	n := d.uvarint()
	if n > 1<<20 {
		d.fail()
		return
	}
	seqs = make([]uint64, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		seqs = append(seqs, d.uvarint())
	}
	return
}

func encodePurge(queue uint32, below uint64) []byte {
	e := enc{b: make([]byte, 0, 16)}
	e.byte(recPurge)
	e.uvarint(uint64(queue))
	e.uvarint(below)
	return e.b
}

func decodePurge(d *dec) (queue uint32, below uint64) {
	return uint32(d.uvarint()), d.uvarint()
}

func encodeQueueDelete(queue uint32) []byte {
	e := enc{b: make([]byte, 0, 8)}
	e.byte(recQueueDelete)
	e.uvarint(uint64(queue))
	return e.b
}

func decodeQueueDelete(d *dec) uint32 { return uint32(d.uvarint()) }

func unknownRecord(kind byte) error { return fmt.Errorf("unknown record kind %d", kind) }

func encodeDeadLetterCopy(from uint32, oldSeq uint64, m *message) []byte {
	e := enc{b: make([]byte, 0, m.encodedSize()+16)}
	e.byte(recDeadLetter)
	e.uvarint(uint64(from))
	e.uvarint(oldSeq)
	m.encodeTo(&e)
	return e.b
}

// decodeDeadLetterCopy decodes the fields after the kind byte; the message
// aliases the record, as in [decodeMessage].
func decodeDeadLetterCopy(d *dec) (from uint32, oldSeq uint64, m message) {
	from, oldSeq = uint32(d.uvarint()), d.uvarint()
	return from, oldSeq, decodeMessage(d)
}

// decodeMessageRecord decodes a record that holds a whole message: a
// message record, or a dead-letter copy.
func decodeMessageRecord(rec []byte, sub uint16) (message, error) {
	d := dec{b: rec}
	var m message
	switch kind := d.byte(); kind {
	case recMessage:
		m = decodeMessage(&d)
	case recPublish:
		n := d.uvarint()
		if uint64(sub) >= n {
			return message{}, fmt.Errorf("publish record of %d messages has no message %d", n, sub)
		}
		for range int(sub) + 1 {
			m = decodeMessage(&d)
		}
	case recDeadLetter:
		_, _, m = decodeDeadLetterCopy(&d)
	default:
		return message{}, fmt.Errorf("record kind %d holds no message", kind)
	}
	return m, d.err
}
