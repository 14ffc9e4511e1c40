package wal

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Errors returned by the log; test for them with [errors.Is].
var (
	// ErrClosed is returned by every operation on a closed log.
	ErrClosed = errors.New("wal: log closed")
	// ErrCorrupt wraps damage that recovery must not paper over: a bad record
	// or header in a segment other than the last, a missing segment, or a
	// record that fails its checksum when read.
	ErrCorrupt = errors.New("wal: corrupt log")
	// ErrTooLarge is reported for a record over [MaxRecordSize] or an
	// append too large for a segment; the log stays healthy.
	ErrTooLarge = errors.New("wal: append too large")
	// ErrDropped is returned when reading a position in a segment removed by
	// [Log.DropBefore].
	ErrDropped = errors.New("wal: segment dropped")
)

// Options configures a [Log]. The zero value of every field but Dir is a
// sensible default, applied by [Open].
type Options struct {
	// Dir is the directory of segment files. It is created if missing and
	// must not be shared with anything else.
	Dir string

	// SegmentSize is the size at which the log moves to a new segment: a
	// batch that would take the active segment past it goes to a fresh one
	// instead (a batch never spans segments, and a single Append larger than
	// SegmentSize gets a segment of its own). It is the granularity at which
	// [Log.DropBefore] frees space, and with preallocation the size of the
	// file written ahead of time; tests that open many logs should set it to
	// a MiB or less. Default [DefaultSegmentSize]; at most 1 GiB.
	SegmentSize int64

	// NoPreallocate turns off preparing each segment ahead of time as a
	// zero-filled file of SegmentSize bytes. Preallocation is on by default
	// because overwriting allocated blocks lets fdatasync skip the metadata
	// journal commit that growing a file needs; the cost is one spare segment
	// of disk space and writing it once in the background.
	NoPreallocate bool

	// Logger receives the log's few events (recovery, rolls, failures).
	// Default: discard.
	Logger *slog.Logger

	// TruncateAt, when set (a non-zero Segment), erases every record at or
	// after it when the log is opened, as a torn tail is erased: segments
	// after its segment are removed and its segment's bytes from its offset
	// on are zeroed (or cut off without preallocation). It is for reopening
	// a log whose write or fdatasync failed: the bytes past its
	// [Log.Durable] end may have reached disk in part, or be in the page
	// cache only, and the callers of their commits were told they failed,
	// so none of them may come back. A TruncateAt past the log's end
	// changes nothing.
	TruncateAt Pos

	// Fdatasync, when set, replaces the fdatasync system call the writer
	// makes after each write: for tests of what is built on the log that
	// must make a commit fail after its bytes reached the page cache.
	Fdatasync func(fd int) error

	// Pwrite, when set, replaces the pwrite system call of every write to
	// a segment: for tests of a disk that runs out of space.
	Pwrite func(fd int, p []byte, off int64) (int, error)

	// OnCommit, when set, is called by the writer goroutine once per group
	// commit, after it is durable and before its callers are released, with
	// the number of records, the bytes written (record headers included) and
	// the time taken by the write and fdatasync. It must be quick (a
	// metrics update): the next commit waits for it.
	OnCommit func(records int, bytes int, d time.Duration)
}

// Pos is where a record starts: the segment number and the byte offset of
// its header. Positions are comparable and ordered like the log, by Segment
// then Offset.
type Pos struct {
	Segment uint32
	Offset  uint32
}

// Compare returns -1, 0 or +1 as p is before, at or after q in the log.
func (p Pos) Compare(q Pos) int {
	if c := cmp.Compare(p.Segment, q.Segment); c != 0 {
		return c
	}
	return cmp.Compare(p.Offset, q.Offset)
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Segment, p.Offset) }

// Log is an open write-ahead log. Its methods are safe for concurrent use,
// except that [Log.Replay] must come before the first append.
//
// Lock order: mu and segMu are never held together (see the package
// documentation); the writer owns the active segment's file offsets and
// takes segMu only to publish a new segment.
type Log struct {
	opts Options
	log  *slog.Logger
	dir  *os.File // for fsyncing directory entries

	// mu guards the fields below it up to segMu: the batches waiting for the
	// writer and the position the next record will get.
	mu       sync.Mutex
	seg      uint32   // segment of the next record
	off      int64    // offset of the next record
	cur      *batch   // batch being filled, nil when none
	queue    []*batch // sealed batches waiting for the writer, oldest first
	last     *Commit  // commit of the most recent batch, for empty Enqueues
	spare    [][]byte // buffers of finished batches, for reuse
	err      error    // set once the log is poisoned or closed
	closing  bool
	appended bool // an append happened: Replay is no longer allowed
	replayed bool

	// segMu guards segs and closed. Reads hold it shared while they use a
	// segment's file descriptor, so a drop or Close cannot close it under
	// them.
	segMu  sync.RWMutex
	segs   []*segment // open segments, oldest first, consecutive numbers
	active *segment   // segment the writer appends to; written only by the writer
	closed bool

	size  atomic.Int64 // bytes of segment files, for Size
	kick  chan struct{}
	done  chan struct{} // closed when the writer exits
	prep  *preparer     // nil without preallocation
	taken []*batch      // the writer's scratch list of batches
	pool  sync.Pool     // *readBuf

	// Hooks for tests to inject failures; the real system calls otherwise.
	pwrite    func(fd int, p []byte, off int64) (int, error)
	fdatasync func(fd int) error
}

// Open opens the log in opts.Dir, creating it if needed, and recovers the
// last segment's torn tail if a crash left one. It starts the writer (and
// the preparer) goroutine; [Log.Close] stops them. Call [Log.Replay] next if
// the log's contents matter to the caller.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("wal: Options.Dir is empty")
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.SegmentSize < minSegmentSize || opts.SegmentSize > maxSegmentSize {
		return nil, fmt.Errorf("wal: SegmentSize %d outside [%d, %d]", opts.SegmentSize, minSegmentSize, maxSegmentSize)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{
		opts:      opts,
		log:       opts.Logger.With("component", "wal", "dir", opts.Dir),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		pwrite:    unix.Pwrite,
		fdatasync: unix.Fdatasync,
	}
	if opts.Fdatasync != nil {
		l.fdatasync = opts.Fdatasync
	}
	if opts.Pwrite != nil {
		l.pwrite = opts.Pwrite
	}
	l.pool.New = newReadBuf
	if err := l.openSegments(); err != nil {
		l.closeFiles()
		return nil, err
	}
	a := l.active
	l.seg, l.off = a.id, a.end.Load()
	if !opts.NoPreallocate {
		l.prep = startPreparer(l, a.id+1)
	}
	go l.run()
	return l, nil
}

// Close waits for every append already made to be committed, then stops the
// background goroutines and closes the files. Appends after Close fail with
// [ErrClosed]. If the log was poisoned by a write error, Close returns it.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closing = true
	l.kickLocked()
	l.mu.Unlock()
	<-l.done // the writer commits what is pending before it exits

	l.mu.Lock()
	poison := l.err
	l.err = ErrClosed
	l.mu.Unlock()

	if l.prep != nil {
		l.prep.stop()
	}
	l.segMu.Lock()
	l.closed = true
	err := l.closeFiles()
	l.segMu.Unlock()
	if poison != nil {
		return poison
	}
	return err
}

// closeFiles closes every segment file and the directory.
func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	l.segs, l.active = nil, nil
	if l.dir != nil {
		errs = append(errs, l.dir.Close())
	}
	return errors.Join(errs...)
}

// Size reports the bytes of all segment files, including the zero-filled
// rest of a preallocated active segment but not the spare segment being
// prepared.
// Err returns why the log refuses appends: the write or fdatasync error
// that failed it, [ErrClosed] once it is closed, or nil while it is
// healthy. A failed log's [Log.Durable] end no longer moves.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *Log) Size() int64 { return l.size.Load() }

// Segments returns the numbers of the segments present, oldest first, and
// the number of the active one (the last).
func (l *Log) Segments() (ids []uint32, active uint32) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	ids = make([]uint32, len(l.segs))
	for i, s := range l.segs {
		ids[i] = s.id
	}
	if l.active != nil {
		active = l.active.id
	}
	return ids, active
}

// newReader returns a reader for scanning segments.
func newReader() *bufio.Reader { return bufio.NewReaderSize(nil, 1<<20) }
