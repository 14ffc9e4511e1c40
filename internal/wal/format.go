package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	// MaxRecordSize is the largest payload a single record may carry.
	MaxRecordSize = 16 << 20

	// DefaultSegmentSize is [Options.SegmentSize] when it is left zero.
	DefaultSegmentSize = 64 << 20

	// minSegmentSize keeps a configured segment big enough to hold its header
	// and a record header; anything smaller is a typo.
	minSegmentSize = 64

	// maxSegmentSize keeps offsets within the uint32 of a [Pos] even when a
	// segment overflows its nominal size by one Append call.
	maxSegmentSize = 1 << 30

	segmentHeaderSize = 16
	recordHeaderSize  = 8

	formatVersion = 1
	segmentMagic  = "DKWL"
)

// castagnoli returns the CRC-32C table. hash/crc32 caches it and recognises
// it to use the SSE4.2/ARMv8 instructions, so this is cheap to call.
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// The checksum stored in a record header is CRC-32C over the payload
// followed by the little-endian length. Covering the length means a damaged
// length is caught even when the shorter or longer payload happens to match,
// and that a zeroed header never verifies: the checksum of an empty payload
// with a zero length is not zero. The length goes last so that the payload's
// part, the only per-byte work of an append, can be computed before taking
// the log's lock, and so that the length's bytes can be taken from a header
// already in memory rather than from a temporary that would escape to the
// heap through hash/crc32's indirect call.

// payloadChecksum is the first part of a record's checksum.
func payloadChecksum(payload []byte) uint32 {
	return crc32.Update(0, castagnoli(), payload)
}

// recordChecksum completes a record's checksum from its payload's and the
// length field of its encoded header.
func recordChecksum(payloadSum uint32, lengthField []byte) uint32 {
	return crc32.Update(payloadSum, castagnoli(), lengthField[:4])
}

// appendRecord encodes one record given its payload's checksum.
func appendRecord(dst, payload []byte, payloadSum uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	sum := recordChecksum(payloadSum, dst[len(dst)-4:])
	dst = binary.LittleEndian.AppendUint32(dst, sum)
	return append(dst, payload...)
}

// segmentHeader encodes the header of segment id.
func segmentHeader(id uint32) []byte {
	h := make([]byte, segmentHeaderSize)
	copy(h, segmentMagic)
	binary.LittleEndian.PutUint16(h[4:], formatVersion)
	binary.LittleEndian.PutUint32(h[8:], id)
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli()))
	return h
}

// checkSegmentHeader verifies that h is the header of segment id.
func checkSegmentHeader(h []byte, id uint32) error {
	switch {
	case len(h) < segmentHeaderSize:
		return errors.New("short segment header")
	case string(h[:4]) != segmentMagic:
		return fmt.Errorf("bad magic %q", h[:4])
	case binary.LittleEndian.Uint32(h[12:]) != crc32.Checksum(h[:12], castagnoli()):
		return errors.New("segment header checksum mismatch")
	case binary.LittleEndian.Uint16(h[4:]) != formatVersion:
		return fmt.Errorf("unsupported format version %d", binary.LittleEndian.Uint16(h[4:]))
	case binary.LittleEndian.Uint32(h[8:]) != id:
		return fmt.Errorf("header names segment %d", binary.LittleEndian.Uint32(h[8:]))
	}
	return nil
}

// segmentScanner reads the records of one segment in order. It tells a clean
// end (end of file, or a zero header where a preallocated segment's unwritten
// space starts) from a torn or corrupt record, and leaves the decision of what
// either means to its caller.
type segmentScanner struct {
	r   *bufio.Reader
	h   [recordHeaderSize]byte // header of the last record
	off int64                  // offset of the current record, or of the next one to read
	adv int64                  // size of the current record, to advance off by
	buf []byte                 // payload of the last record, reused
	rec []byte
	// bad describes the record at off when Next stopped on one; empty after a
	// clean end.
	bad string
	err error // an I/O error, as opposed to bad data
}

// reset points the scanner at the records of a segment, read through r
// starting at offset segmentHeaderSize and ending at limit.
func (s *segmentScanner) reset(r io.ReaderAt, limit int64, rd *bufio.Reader) {
	rd.Reset(io.NewSectionReader(r, segmentHeaderSize, max(limit-segmentHeaderSize, 0)))
	s.r, s.off, s.adv, s.rec, s.bad, s.err = rd, segmentHeaderSize, 0, nil, "", nil
}

// Next advances to the next intact record and reports whether there is one.
// Afterwards Record returns it and Offset its position; when Next returns
// false, Bad or Err say why (both empty for a clean end).
func (s *segmentScanner) Next() bool {
	s.off += s.adv
	s.adv, s.rec = 0, nil
	h := s.h[:]
	n, err := io.ReadFull(s.r, h)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		s.err = err
		return false
	}
	if n == 0 || bytes.Count(h[:n], []byte{0}) == n {
		return false // end of file, or the zeroed space after the last record
	}
	if n < recordHeaderSize {
		s.bad = fmt.Sprintf("short record header (%d of %d bytes)", n, recordHeaderSize)
		return false
	}
	length := binary.LittleEndian.Uint32(h[:4])
	sum := binary.LittleEndian.Uint32(h[4:])
	if length > MaxRecordSize {
		s.bad = fmt.Sprintf("record length %d exceeds the limit", length)
		return false
	}
	if cap(s.buf) < int(length) {
		s.buf = make([]byte, length)
	}
	p := s.buf[:length]
	if n, err := io.ReadFull(s.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			s.bad = fmt.Sprintf("short record (%d of %d bytes)", n, length)
		} else {
			s.err = err
		}
		return false
	}
	if recordChecksum(payloadChecksum(p), h) != sum {
		s.bad = "record checksum mismatch"
		return false
	}
	s.rec, s.adv = p, recordHeaderSize+int64(length)
	return true
}

// Record returns the payload of the current record, valid until Next.
func (s *segmentScanner) Record() []byte { return s.rec }

// Offset returns the offset of the current record, or after Next returned
// false, the end of the intact records.
func (s *segmentScanner) Offset() int64 { return s.off }

// lastNonZero returns the offset just past the last non-zero byte of r in
// [from, to), or from when there is none. The file may end before to.
func lastNonZero(r io.ReaderAt, from, to int64, buf []byte) (int64, error) {
	end := from
	for off := from; off < to; {
		n := int(min(int64(len(buf)), to-off))
		m, err := r.ReadAt(buf[:n], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := lastNonZeroIndex(buf[:m]); i >= 0 {
			end = off + int64(i) + 1
		}
		if m < n {
			break // end of file
		}
		off += int64(n)
	}
	return end, nil
}

// lastNonZeroIndex returns the index of the last non-zero byte of b, or -1.
func lastNonZeroIndex(b []byte) int {
	const word = 4096
	for len(b) > 0 {
		// Compare whole tail blocks against zeros with the assembly memequal
		// before looking at single bytes.
		blk := b[max(len(b)-word, 0):]
		if !allZero(blk) {
			for i := len(blk) - 1; i >= 0; i-- {
				if blk[i] != 0 {
					return len(b) - len(blk) + i
				}
			}
		}
		b = b[:len(b)-len(blk)]
	}
	return -1
}

func allZero(b []byte) bool {
	var zeros [4096]byte
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
