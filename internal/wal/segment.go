package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	segmentExt = ".wal"
	tmpExt     = ".wal.tmp"
	zeroChunk  = 256 << 10 // write and scan zeros this much at a time
)

// segment is one open segment file.
type segment struct {
	id   uint32
	path string
	f    *os.File
	fd   int // f's descriptor, for the pread/pwrite/fdatasync system calls

	// end is the end of the records known to be intact and durable: for the
	// active segment it is advanced by the writer after each fdatasync, for
	// older ones it is set by recovery or Replay. Reads beyond it fail.
	end atomic.Int64
	// fileSize is the size of the file, including a preallocated zero tail.
	fileSize atomic.Int64
}

func segmentPath(dir string, id uint32) string {
	return filepath.Join(dir, fmt.Sprintf("%08d%s", id, segmentExt))
}

// openSegments opens the segment files in the directory, checks their
// headers, recovers the last one's tail and makes it the active segment. A
// new log gets segment 1.
func (l *Log) openSegments() error {
	dir := l.opts.Dir
	if err := mkdirDurable(dir); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	l.dir = d
	// One process at a time: a second writer would interleave batches.
	// The lock goes with the descriptor, so it is released on Close or
	// when the process dies.
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("wal: %s is in use by another process or Log", dir)
		}
		return fmt.Errorf("wal: lock %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	var ids []uint32
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, tmpExt):
			// A spare segment being prepared when the process stopped.
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("wal: %w", err)
			}
		case strings.HasSuffix(name, segmentExt):
			n, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 32)
			if err != nil || n == 0 {
				return fmt.Errorf("wal: unexpected file %s in %s", name, dir)
			}
			ids = append(ids, uint32(n))
		}
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			return fmt.Errorf("wal: segment %08d%s missing between %d and %d: %w",
				ids[i-1]+1, segmentExt, ids[i-1], ids[i], ErrCorrupt)
		}
	}
	if ids, err = l.removeAfter(ids); err != nil {
		return err
	}
	if len(ids) == 0 {
		s, err := l.newSegment(1)
		if err != nil {
			return err
		}
		l.segs, l.active = []*segment{s}, s
		return nil
	}
	for i, id := range ids {
		last := i == len(ids)-1
		s, err := l.openSegment(id, last)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		l.size.Add(s.fileSize.Load())
		if last {
			l.active = s
			if err := l.recoverTail(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeAfter removes the segments after [Options.TruncateAt]'s, newest
// first so that a crash part-way leaves consecutive segments, and returns
// the ids left.
func (l *Log) removeAfter(ids []uint32) ([]uint32, error) {
	t := l.opts.TruncateAt
	if t.Segment == 0 {
		return ids, nil
	}
	if len(ids) > 0 && t.Segment < ids[0] {
		return nil, fmt.Errorf("wal: TruncateAt %v is before the first segment %d", t, ids[0])
	}
	keep := len(ids)
	for keep > 0 && ids[keep-1] > t.Segment {
		keep--
	}
	if keep == len(ids) {
		return ids, nil
	}
	for i := len(ids) - 1; i >= keep; i-- {
		if err := os.Remove(segmentPath(l.opts.Dir, ids[i])); err != nil {
			return nil, fmt.Errorf("wal: %w", err)
		}
	}
	if err := l.dir.Sync(); err != nil {
		return nil, fmt.Errorf("wal: sync directory: %w", err)
	}
	l.log.Warn("removed segments past the truncation point", "truncate_at", t.String(),
		"first", ids[keep], "last", ids[len(ids)-1])
	return ids[:keep], nil
}

// openSegment opens an existing segment file and checks its header. The
// last segment may have been created without its header reaching disk; it
// is given one.
func (l *Log) openSegment(id uint32, last bool) (*segment, error) {
	path := segmentPath(l.opts.Dir, id)
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	s := &segment{id: id, path: path, f: f, fd: int(f.Fd())}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: %w", err)
	}
	s.fileSize.Store(fi.Size())
	s.end.Store(fi.Size())
	h := make([]byte, segmentHeaderSize)
	n, err := f.ReadAt(h, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("wal: %w", err)
	}
	if last && allZero(h[:n]) {
		// Created, but the crash came before its header was synced.
		if err := l.writeFull(s, segmentHeader(id), 0); err != nil {
			f.Close()
			return nil, err
		}
		if err := l.sync(s); err != nil {
			f.Close()
			return nil, err
		}
		s.fileSize.Store(max(fi.Size(), segmentHeaderSize))
		return s, nil
	}
	if err := checkSegmentHeader(h[:n], id); err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: segment %s: %v: %w", filepath.Base(path), err, ErrCorrupt)
	}
	return s, nil
}

// recoverTail finds the end of the intact records of the last segment and
// erases whatever follows: a torn batch from a crash, or nothing but the
// zeros of preallocation. Erasing matters even when the first bad record is
// all zeros, because a later record of the same torn batch may have reached
// disk whole, and must not reappear behind the records appended next.
func (l *Log) recoverTail(s *segment) error {
	var sc segmentScanner
	size := s.fileSize.Load()
	limit := size
	if t := l.opts.TruncateAt; t.Segment == s.id {
		limit = min(size, int64(t.Offset))
	}
	sc.reset(s.f, limit, newReader())
	records := 0
	for sc.Next() {
		records++
	}
	if sc.err != nil {
		return fmt.Errorf("wal: read %s: %w", s.path, sc.err)
	}
	end := sc.Offset()
	s.end.Store(end)
	garbage, err := lastNonZero(s.f, end, size, make([]byte, zeroChunk))
	if err != nil {
		return fmt.Errorf("wal: read %s: %w", s.path, err)
	}
	if garbage == end {
		l.log.Debug("opened log", "segment", s.id, "records", records, "end", end)
		return nil
	}
	reason := sc.bad
	switch {
	case reason == "" && limit < size && end == limit:
		reason = "past the truncation point"
	case reason == "":
		reason = "data after a zero record header"
	}
	l.log.Warn("discarding torn tail of last segment", "segment", s.id, "offset", end,
		"bytes", garbage-end, "reason", reason)
	if l.opts.NoPreallocate {
		return l.cutTail(s, end, size)
	}
	// Keep the preallocation: zero the garbage in place. Zeros can need
	// space the garbage did not hold (a segment made without
	// preallocation when the disk was full has holes): on a full disk the
	// tail is cut off instead, which frees space rather than taking it,
	// so that a log can always be opened.
	zeros := make([]byte, zeroChunk)
	for off := end; off < garbage; {
		n := min(int64(len(zeros)), garbage-off)
		if err := l.writeFull(s, zeros[:n], off); err != nil {
			if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
				l.log.Warn("no space to zero the torn tail; cutting it off", "segment", s.id, "offset", end)
				return l.cutTail(s, end, size)
			}
			return err
		}
		off += n
	}
	return l.sync(s)
}

// cutTail truncates segment s, of size bytes, to end.
func (l *Log) cutTail(s *segment, end, size int64) error {
	if err := s.f.Truncate(end); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if err := s.f.Sync(); err != nil { // fsync: the size changed
		return fmt.Errorf("wal: %w", err)
	}
	l.size.Add(end - size)
	s.fileSize.Store(end)
	return nil
}

// newSegment creates segment id as the next active segment: renamed from
// the prepared spare when preallocating, created empty otherwise. The new
// directory entry is synced before it is used, so that records committed
// to it cannot outlive their file in a crash.
func (l *Log) newSegment(id uint32) (*segment, error) {
	path := segmentPath(l.opts.Dir, id)
	var f *os.File
	var size int64
	if l.prep != nil {
		sf, err := l.prep.take(id)
		if err != nil {
			l.log.Warn("preallocating segment failed; creating it without", "segment", id, "err", err)
		} else {
			if err := os.Rename(sf.Name(), path); err != nil {
				sf.Close()
				return nil, fmt.Errorf("wal: %w", err)
			}
			f, size = sf, l.opts.SegmentSize
		}
	} else if !l.opts.NoPreallocate {
		// The first segment of a new log: prepare it in the foreground.
		sf, err := preallocate(l.opts.Dir, id, l.opts.SegmentSize, nil, false)
		if err != nil {
			return nil, err
		}
		if err := os.Rename(sf.Name(), path); err != nil {
			sf.Close()
			return nil, fmt.Errorf("wal: %w", err)
		}
		f, size = sf, l.opts.SegmentSize
	}
	if f == nil {
		var err error
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("wal: %w", err)
		}
		size = segmentHeaderSize
	}
	s := &segment{id: id, path: path, f: f, fd: int(f.Fd())}
	s.end.Store(segmentHeaderSize)
	s.fileSize.Store(size)
	if size == segmentHeaderSize {
		if err := l.writeFull(s, segmentHeader(id), 0); err != nil {
			f.Close()
			return nil, err
		}
		if err := l.sync(s); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := l.dir.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: sync directory: %w", err)
	}
	l.size.Add(size)
	return s, nil
}

// writeFull writes all of p at off in s.
func (l *Log) writeFull(s *segment, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := l.pwrite(s.fd, p, off)
		if err != nil {
			return &os.PathError{Op: "pwrite", Path: s.path, Err: err}
		}
		if n == 0 {
			return &os.PathError{Op: "pwrite", Path: s.path, Err: io.ErrShortWrite}
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// sync makes the data written to s durable.
func (l *Log) sync(s *segment) error {
	if err := l.fdatasync(s.fd); err != nil {
		return &os.PathError{Op: "fdatasync", Path: s.path, Err: err}
	}
	return nil
}

// preallocate creates dir/NNNNNNNN.wal.tmp holding the header of segment id
// and zeros up to size, synced, and returns it open for writing. It gives up
// with errStopped when stop becomes true. With paced set it writes one chunk
// at a time, waiting for each to reach the disk, which takes longer but keeps
// the commits running beside it fast.
func preallocate(dir string, id uint32, size int64, stop *atomic.Bool, paced bool) (*os.File, error) {
	path := filepath.Join(dir, fmt.Sprintf("%08d%s", id, tmpExt))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	buf := make([]byte, min(size, zeroChunk))
	copy(buf, segmentHeader(id))
	for off := int64(0); off < size; {
		if stop != nil && stop.Load() {
			return fail(errStopped)
		}
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return fail(fmt.Errorf("wal: %w", err))
		}
		if off == 0 {
			clear(buf[:segmentHeaderSize])
		}
		if paced {
			// Write each chunk back and wait for it before the next, so
			// that at most one chunk is queued at the disk ahead of a
			// commit's fdatasync, whose cache flush waits for every write
			// queued before it. Unpaced, a segment's worth of zeros going
			// out at once makes concurrent commits 20-50 times slower.
			_ = unix.SyncFileRange(int(f.Fd()), off, n,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		}
		off += n
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("wal: %w", err))
	}
	return f, nil
}

var errStopped = errors.New("wal: preallocation stopped")

// mkdirDurable creates dir and any missing parents, and syncs the directory
// holding each one it created: a segment synced into a directory whose own
// entry is not durable can vanish with it in a crash.
func mkdirDurable(dir string) error {
	var created []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = append(created, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, p := range created {
		if err := syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", path, err)
	}
	return nil
}
