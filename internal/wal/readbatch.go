package wal

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// readBatchSpan bounds how far apart records may be and still be fetched
// by one read.
const readBatchSpan = 256 << 10

// ReadBatch returns copies of the records at the given positions, in the
// same order. Records that lie close together in one segment — messages
// sent in one batch do — are fetched with a single system call, so
// receiving ten messages costs one read instead of ten. The positions must
// be valid as for [Log.Read].
func (l *Log) ReadBatch(positions []Pos) ([][]byte, error) {
	out := make([][]byte, len(positions))
	order := make([]int, len(positions))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return positions[a].Compare(positions[b]) })
	for start := 0; start < len(order); {
		// A run: same segment, each record starting within the span of the
		// run's first.
		end := start + 1
		first := positions[order[start]]
		for end < len(order) {
			p := positions[order[end]]
			if p.Segment != first.Segment || int64(p.Offset)-int64(first.Offset) > readBatchSpan {
				break
			}
			end++
		}
		if err := l.readRun(positions, order[start:end], out); err != nil {
			return nil, err
		}
		start = end
	}
	return out, nil
}

// readRun reads the records of one run with one pread, falling back to
// Read for a record that extends past what the pread fetched.
func (l *Log) readRun(positions []Pos, idx []int, out [][]byte) error {
	if len(idx) == 1 {
		rec, err := l.Read(positions[idx[0]])
		out[idx[0]] = rec
		return err
	}
	first, last := positions[idx[0]], positions[idx[len(idx)-1]]
	l.segMu.RLock()
	if l.closed {
		l.segMu.RUnlock()
		return ErrClosed
	}
	if len(l.segs) == 0 || first.Segment < l.segs[0].id || first.Segment > l.segs[len(l.segs)-1].id {
		l.segMu.RUnlock()
		for _, i := range idx {
			rec, err := l.Read(positions[i])
			if err != nil {
				return err
			}
			out[i] = rec
		}
		return nil
	}
	s := l.segs[first.Segment-l.segs[0].id]
	segEnd := s.end.Load()
	from := int64(first.Offset)
	to := min(int64(last.Offset)+recordHeaderSize+readScratchSize, segEnd)
	buf := make([]byte, max(to-from, 0))
	n, err := unix.Pread(s.fd, buf, from)
	l.segMu.RUnlock()
	if err != nil {
		return &os.PathError{Op: "pread", Path: s.path, Err: err}
	}
	buf = buf[:max(n, 0)]
	for _, i := range idx {
		p := positions[i]
		off := int64(p.Offset) - from
		if off < 0 || off+recordHeaderSize > int64(len(buf)) {
			return fmt.Errorf("wal: read %v: offset outside the segment: %w", p, ErrCorrupt)
		}
		h := buf[off : off+recordHeaderSize]
		length := int64(binary.LittleEndian.Uint32(h[:4]))
		if off+recordHeaderSize+length > int64(len(buf)) {
			rec, err := l.Read(p) // longer than this read fetched
			if err != nil {
				return err
			}
			out[i] = rec
			continue
		}
		rec := buf[off+recordHeaderSize : off+recordHeaderSize+length : off+recordHeaderSize+length]
		if recordChecksum(payloadChecksum(rec), h) != binary.LittleEndian.Uint32(h[4:]) {
			return fmt.Errorf("wal: read %v: record checksum mismatch: %w", p, ErrCorrupt)
		}
		out[i] = rec
	}
	return nil
}
