package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// readScratchSize is how much Read fetches with the record header, so that a
// small record takes one system call.
const readScratchSize = 4096

// Replay calls fn for every intact record in log order, oldest segment first,
// with its position. rec is only valid during the call. It must be called at
// most once, before the first append.
//
// The torn tail of the last segment was already cut off by [Open], so Replay
// ends at the last good record. Damage anywhere else is returned as an error
// wrapping [ErrCorrupt] that names the segment and offset; an error from fn
// stops the replay and is returned as is.
func (l *Log) Replay(fn func(pos Pos, rec []byte) error) error {
	l.mu.Lock()
	switch {
	case l.err != nil:
		err := l.err
		l.mu.Unlock()
		return err
	case l.closing:
		l.mu.Unlock()
		return ErrClosed
	case l.appended:
		l.mu.Unlock()
		return errors.New("wal: Replay called after Append")
	case l.replayed:
		l.mu.Unlock()
		return errors.New("wal: Replay called twice")
	}
	l.replayed = true
	l.mu.Unlock()

	// Nothing but DropBefore and Close change the table before the first
	// append, and neither may run during Replay.
	l.segMu.RLock()
	segs := append([]*segment(nil), l.segs...)
	active := l.active
	l.segMu.RUnlock()
	return scanSegments(segs, Pos{Segment: active.id, Offset: uint32(active.end.Load())}, true, fn)
}

// Durable returns the end of what the log has made durable: the position
// just past the last record whose commit completed (the start of the
// active segment's records when it has none). After a failed write or
// fdatasync it stays where the last good commit left it, and the bytes
// after it are in no known state: reopen the log with
// [Options.TruncateAt] set to it to erase them.
func (l *Log) Durable() Pos {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	return Pos{Segment: l.active.id, Offset: uint32(l.active.end.Load())}
}

// Scan calls fn, like [Log.Replay], for every record before end, which must
// be at or before [Log.Durable]. Unlike Replay it may be called at any
// time, also on a log that failed, and alongside reads: the records it
// visits are durable and no longer change. It holds the table of segments
// for its whole run, so a roll or drop waits for it: it is meant for a
// failed log, whose writer has stopped.
func (l *Log) Scan(end Pos, fn func(pos Pos, rec []byte) error) error {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if d := (Pos{Segment: l.active.id, Offset: uint32(l.active.end.Load())}); end.Compare(d) > 0 {
		return fmt.Errorf("wal: Scan to %v, past the durable end %v", end, d)
	}
	return scanSegments(l.segs, end, false, fn)
}

// scanSegments calls fn for every record of segs before end. Segments
// before end's are read whole and must end cleanly; end's segment is read
// up to end's offset. With finish set (Replay), it records where each
// finished segment's records end.
func scanSegments(segs []*segment, end Pos, finish bool, fn func(pos Pos, rec []byte) error) error {
	var sc segmentScanner
	rd := newReader()
	var tail []byte
	for i, s := range segs {
		if s.id > end.Segment {
			break
		}
		// Read the next segment from disk while this one is decoded: a
		// cold replay is otherwise paced by one read at a time.
		if i+1 < len(segs) && segs[i+1].id <= end.Segment {
			next := segs[i+1]
			_ = unix.Fadvise(next.fd, 0, next.fileSize.Load(), unix.FADV_WILLNEED)
		}
		if i == 0 {
			_ = unix.Fadvise(s.fd, 0, s.fileSize.Load(), unix.FADV_WILLNEED)
		}
		last := s.id == end.Segment
		limit := s.fileSize.Load()
		if last {
			limit = int64(end.Offset)
		}
		sc.reset(s.f, limit, rd)
		for sc.Next() {
			pos := Pos{Segment: s.id, Offset: uint32(sc.Offset())}
			if err := fn(pos, sc.Record()); err != nil {
				return err
			}
		}
		if sc.err != nil {
			return fmt.Errorf("wal: read %s: %w", s.path, sc.err)
		}
		end := sc.Offset()
		if sc.bad != "" {
			return fmt.Errorf("wal: segment %s offset %d: %s: %w", filepath.Base(s.path), end, sc.bad, ErrCorrupt)
		}
		if last {
			continue
		}
		// A finished segment ends at end of file, or at the zeros of an
		// unreleased preallocated tail; anything else there means a record
		// header was zeroed.
		if tail == nil {
			tail = make([]byte, zeroChunk)
		}
		nz, err := lastNonZero(s.f, end, limit, tail)
		if err != nil {
			return fmt.Errorf("wal: read %s: %w", s.path, err)
		}
		if nz != end {
			return fmt.Errorf("wal: segment %s offset %d: data after a zero record header: %w",
				filepath.Base(s.path), end, ErrCorrupt)
		}
		if finish {
			s.end.Store(end)
		}
	}
	return nil
}

// Read returns a copy of the record at pos. pos must come from Replay, or
// from an Append or Enqueue whose commit has completed.
func (l *Log) Read(pos Pos) ([]byte, error) {
	rb := l.pool.Get().(*readBuf)
	defer l.pool.Put(rb)
	rec, fresh, err := l.read(pos, rb.scratch[:0], rb)
	if err != nil || fresh {
		return rec, err
	}
	return bytes.Clone(rec), nil
}

// ReadInto reads the record at pos into buf's capacity and returns it as
// buf[:len(record)]; a record larger than cap(buf) is returned in a new slice.
// Reading a record that fits takes a single system call.
func (l *Log) ReadInto(pos Pos, buf []byte) ([]byte, error) {
	rb := l.pool.Get().(*readBuf)
	defer l.pool.Put(rb)
	rec, _, err := l.read(pos, buf, rb)
	return rec, err
}

// readBuf is the per-call memory of a read, pooled so that reading
// allocates nothing but what it returns.
type readBuf struct {
	h       [recordHeaderSize]byte
	iov     [2][]byte
	scratch []byte // Read's buffer for small records
}

func newReadBuf() any { return &readBuf{scratch: make([]byte, readScratchSize)} }

// read reads the record at pos into buf's capacity, or into a new slice
// (fresh) when it does not fit, and verifies its checksum.
func (l *Log) read(pos Pos, buf []byte, rb *readBuf) (rec []byte, fresh bool, err error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed {
		return nil, false, ErrClosed
	}
	if len(l.segs) == 0 || pos.Segment > l.segs[len(l.segs)-1].id {
		return nil, false, fmt.Errorf("wal: read %v: no such segment", pos)
	}
	first := l.segs[0].id
	if pos.Segment < first {
		return nil, false, fmt.Errorf("wal: read %v: %w", pos, ErrDropped)
	}
	s := l.segs[pos.Segment-first]
	off, end := int64(pos.Offset), s.end.Load()
	if off < segmentHeaderSize || off+recordHeaderSize > end {
		return nil, false, fmt.Errorf("wal: read %v: offset outside the segment's %d bytes of records", pos, end)
	}

	// One preadv fetches the header and, when it fits in buf, the payload.
	h := rb.h[:]
	buf = buf[:min(int64(cap(buf)), end-off-recordHeaderSize)]
	rb.iov = [2][]byte{h, buf}
	n, err := unix.Preadv(s.fd, rb.iov[:], off)
	rb.iov = [2][]byte{}
	if err != nil {
		return nil, false, &os.PathError{Op: "preadv", Path: s.path, Err: err}
	}
	length := int64(binary.LittleEndian.Uint32(h[:4]))
	if n < recordHeaderSize || length > MaxRecordSize || off+recordHeaderSize+length > end {
		return nil, false, fmt.Errorf("wal: read %v: no record header there: %w", pos, ErrCorrupt)
	}
	got := n - recordHeaderSize
	if length > int64(len(buf)) {
		nb := make([]byte, length)
		copy(nb, buf[:got])
		buf, fresh = nb, true
	} else {
		buf = buf[:length]
	}
	for got < int(length) {
		m, err := unix.Pread(s.fd, buf[got:], off+recordHeaderSize+int64(got))
		if err != nil {
			return nil, false, &os.PathError{Op: "pread", Path: s.path, Err: err}
		}
		if m == 0 {
			return nil, false, fmt.Errorf("wal: read %v: unexpected end of file: %w", pos, ErrCorrupt)
		}
		got += m
	}
	if recordChecksum(payloadChecksum(buf), h) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, false, fmt.Errorf("wal: read %v: record checksum mismatch: %w", pos, ErrCorrupt)
	}
	return buf, fresh, nil
}

// DropBefore deletes every segment numbered below seg, except the active
// one, and syncs the directory so they stay deleted. The caller guarantees
// that nothing in them is needed any more; reading their positions then
// fails with [ErrDropped].
func (l *Log) DropBefore(seg uint32) error {
	l.segMu.Lock()
	if l.closed {
		l.segMu.Unlock()
		return ErrClosed
	}
	var drop []*segment
	for len(l.segs) > 0 && l.segs[0].id < seg && l.segs[0] != l.active {
		drop = append(drop, l.segs[0])
		l.segs[0] = nil
		l.segs = l.segs[1:]
	}
	// Close under the lock: a Read holding it shared may be using the fd.
	var errs []error
	for _, s := range drop {
		errs = append(errs, s.f.Close())
	}
	l.segMu.Unlock()
	if len(drop) == 0 {
		return nil
	}
	// Oldest first, so a crash part-way leaves consecutive segments.
	for _, s := range drop {
		if err := os.Remove(s.path); err != nil {
			errs = append(errs, err)
			continue
		}
		l.size.Add(-s.fileSize.Load())
	}
	if err := l.dir.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("sync directory: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wal: drop segments: %w", err)
	}
	l.log.Debug("dropped segments", "first", drop[0].id, "last", drop[len(drop)-1].id)
	return nil
}
