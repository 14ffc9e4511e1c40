package queue

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/wal"
)

// Config configures an [Engine]. Zero fields take the defaults noted.
type Config struct {
	// Dir holds the log's segment files. Required.
	Dir string
	// SegmentSize is the size at which the log starts a new segment file;
	// default 64 MiB.
	SegmentSize int64
	// Logger receives the engine's own events; default discards.
	Logger *slog.Logger
	// OnCommit, if set, is called once per group commit with the number of
	// records, bytes and the time the write and fsync took, for metrics.
	OnCommit func(records, bytes int, d time.Duration)
	// Now is the clock; default time.Now. Tests may stop or move it.
	Now func() time.Time
	// MaintenanceInterval is how often Run expires old messages and
	// compacts the log; default 1s.
	MaintenanceInterval time.Duration

	// fdatasync, set by tests only, replaces the log's fdatasync.
	fdatasync func(fd int) error
	// onRecord, set by tests only, is called with each record the engine
	// writes and its position, as the record takes its place in the log
	// (before its commit is durable), under the locks it was written with.
	// Records written one call after another come in log order; those of
	// concurrent calls may not, and their positions tell the order.
	onRecord func(pos wal.Pos, rec []byte)
}

// Engine is the queue engine: every queue and message of one server.
type Engine struct {
	cfg    Config
	logp   atomic.Pointer[wal.Log] // replaced only by recover, under every lock
	logger *slog.Logger
	now    func() time.Time

	nonce   uint64        // fixed for the life of the data directory
	nextSeq atomic.Uint64 // the next message sequence number

	mu          sync.RWMutex // guards the directory below
	byName      map[string]*queueState
	byID        map[uint32]*queueState
	nextQueueID uint32
	closed      bool

	// waitsStopped is set by StopWaits: receives no longer wait.
	waitsStopped atomic.Bool

	segMu   sync.Mutex       // leaf lock: guards segLive
	segLive map[uint32]int64 // bytes of live message records per segment

	compactMu sync.Mutex // one compaction (or recovery) at a time

	// readMu is held shared from the moment a message's log position is
	// taken under its queue's lock until its record has been read, and
	// exclusively by compaction to drop segments, so that a position taken
	// is readable until it is used.
	readMu sync.RWMutex

	// failed holds the error writes are refused with since a commit
	// failed, nil while the log is healthy. Memory may then hold changes
	// that never reached disk until Run's recovery rolls the index back to
	// the log's durable end (see recover.go).
	failed atomic.Pointer[error]
	// rolledBack is the durable end of the failed log that the index was
	// rebuilt to, zero while the index has not been (or the log is
	// healthy). Guarded by compactMu.
	rolledBack wal.Pos
	// recoverNow wakes Run to try a recovery at once.
	recoverNow chan struct{}
	// compactions counts finished compactions, for metrics and tests.
	compactions atomic.Uint64

	// gone holds the ids of queues deleted, during replay only.
	gone map[uint32]bool

	// afterCopy, set by tests only, runs after compaction copied a queue.
	afterCopy func(q *queueState)
}

// log returns the engine's log.
func (e *Engine) log() *wal.Log { return e.logp.Load() }

// Open opens or creates the engine's log in cfg.Dir and rebuilds the index
// from it.
func Open(cfg Config) (*Engine, error) {
	if cfg.Dir == "" {
		return nil, errors.New("queue: Config.Dir is required")
	}
	if cfg.SegmentSize <= 0 {
		cfg.SegmentSize = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaintenanceInterval <= 0 {
		cfg.MaintenanceInterval = time.Second
	}
	l, err := wal.Open(cfg.walOptions())
	if err != nil {
		return nil, fmt.Errorf("queue: open log: %w", err)
	}
	e := emptyEngine(cfg, l)
	e.recoverNow = make(chan struct{}, 1)
	start := time.Now()
	n, err := e.replay()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("queue: replay: %w", err)
	}
	if e.nonce == 0 {
		// A new data directory: choose the nonce that makes its message ids
		// and receipts its own, and record it before anything else.
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			l.Close()
			return nil, err
		}
		c := e.counters()
		c.nonce = binary.LittleEndian.Uint64(b[:]) | 1
		if err := e.appendCheckpoint(l, c); err != nil {
			l.Close()
			return nil, fmt.Errorf("queue: write checkpoint: %w", err)
		}
	}
	now := e.now()
	for _, q := range e.byID {
		q.mu.Lock()
		q.advance(now.UnixNano())
		q.mu.Unlock()
	}
	e.logger.Info("queue engine ready", "queues", len(e.byID), "records", n,
		"messages", e.messageCount(), "took", time.Since(start))
	return e, nil
}

func (cfg Config) walOptions() wal.Options {
	return wal.Options{
		Dir:         cfg.Dir,
		SegmentSize: cfg.SegmentSize,
		Logger:      cfg.Logger,
		OnCommit:    cfg.OnCommit,
		Fdatasync:   cfg.fdatasync,
	}
}

// emptyEngine returns an engine on l with an empty index.
func emptyEngine(cfg Config, l *wal.Log) *Engine {
	e := &Engine{
		cfg:         cfg,
		logger:      cfg.Logger,
		now:         cfg.Now,
		byName:      map[string]*queueState{},
		byID:        map[uint32]*queueState{},
		nextQueueID: 1,
		segLive:     map[uint32]int64{},
	}
	e.logp.Store(l)
	e.nextSeq.Store(1)
	return e
}

// counters returns a checkpoint of the engine's counters as they are.
// e.mu is held (or nothing else runs yet).
func (e *Engine) counters() checkpoint {
	return checkpoint{nonce: e.nonce, nextSeq: e.nextSeq.Load(), nextQueueID: e.nextQueueID}
}

// appendCheckpoint writes checkpoint c to l, which is the engine's log or
// the one about to become it, waits until it is durable and applies it.
// e.mu is held (or nothing else runs yet).
func (e *Engine) appendCheckpoint(l *wal.Log, c checkpoint) error {
	rec := c.encode()
	pos, err := l.Append(rec)
	if err != nil {
		return err
	}
	if e.cfg.onRecord != nil {
		e.cfg.onRecord(pos[0], rec)
	}
	e.applyCheckpoint(c)
	return nil
}

func (e *Engine) messageCount() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := 0
	for _, q := range e.byID {
		q.mu.Lock()
		n += len(q.entries)
		q.mu.Unlock()
	}
	return n
}

// StopWaits ends every receive waiting for a message, with none, and
// makes later ones answer at once: a server stopping calls it first, so
// that long polls do not hold its shutdown up. Close does it too.
func (e *Engine) StopWaits() {
	e.waitsStopped.Store(true)
	e.mu.RLock()
	queues := e.queueList()
	e.mu.RUnlock()
	for _, q := range queues {
		q.mu.Lock()
		q.wakeWaiters()
		q.mu.Unlock()
	}
}

// queueList is every queue's state. e.mu is held.
func (e *Engine) queueList() []*queueState {
	queues := make([]*queueState, 0, len(e.byID))
	for _, q := range e.byID {
		queues = append(queues, q)
	}
	return queues
}

// Close stops the engine; pending commits finish first.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.waitsStopped.Store(true)
	queues := e.queueList()
	e.mu.Unlock()
	for _, q := range queues {
		q.mu.Lock()
		q.closed = true
		q.stopTimer()
		q.wakeWaiters()
		q.mu.Unlock()
	}
	err := e.log().Close()
	if e.failure() != nil {
		// A failed log reports its failure again; it was reported when
		// it happened, and everything acknowledged is on disk.
		return nil
	}
	return err
}

// Run does the engine's housekeeping until ctx ends: it expires messages
// past their queue's retention and compacts the log.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.cfg.MaintenanceInterval)
	defer t.Stop()
	retry := time.NewTicker(recoverInterval)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-e.recoverNow:
			e.tryRecover()
		case <-retry.C:
			e.tryRecover() // nothing to do unless the log failed
		case <-t.C:
			if e.failure() != nil {
				continue
			}
			if err := e.expire(); err != nil {
				if errors.Is(err, errdefs.ErrClosed) {
					return nil
				}
				e.logger.Error("expire messages", "err", err)
			}
			if err := e.compactAll(); err != nil {
				if errors.Is(err, errdefs.ErrClosed) {
					return nil
				}
				e.logger.Error("compact log", "err", err)
			}
		}
	}
}

// queue returns the live queue called name; an outbox is not one.
func (e *Engine) queue(name string) (*queueState, error) { return e.lookup(name, false) }

// lookup returns the live queue called name, which must be an outbox if
// outbox is set and must not be one if it is not.
func (e *Engine) lookup(name string, outbox bool) (*queueState, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, errClosed
	}
	q := e.byName[name]
	if q == nil || IsOutbox(name) != outbox {
		return nil, queueNotFound(name)
	}
	return q, nil
}

var errClosed = errdefs.New(errdefs.ErrClosed, "shutting_down", "queue engine is closed")

func queueNotFound(name string) error {
	return errdefs.New(errdefs.ErrNotFound, "queue_not_found", "queue %q does not exist", name)
}

// commitErr turns the outcome of a commit into the engine's error. A
// failed commit fails the engine: writes are refused until Run has
// recovered the log (see recover.go).
func (e *Engine) commitErr(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, wal.ErrClosed):
		if f := e.failure(); f != nil {
			return f // the log was closed by a recovery attempt
		}
		return errClosed
	case errors.Is(err, wal.ErrTooLarge):
		// Refused before it was queued: the log is healthy.
		return errdefs.New(errdefs.ErrInvalid, "request_too_large", "%v", err)
	}
	return e.fail(err)
}

// addLive and dropLive keep the live-bytes account per segment that
// compaction decides by.
func (e *Engine) addLive(pos wal.Pos, size uint32) {
	e.segMu.Lock()
	e.segLive[pos.Segment] += int64(size)
	e.segMu.Unlock()
}

func (e *Engine) dropLive(pos wal.Pos, size uint32) {
	e.segMu.Lock()
	if v := e.segLive[pos.Segment] - int64(size); v > 0 {
		e.segLive[pos.Segment] = v
	} else {
		delete(e.segLive, pos.Segment)
	}
	e.segMu.Unlock()
}

// sortedQueues returns the queues ordered by id.
func (e *Engine) sortedQueues() []*queueState {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.sortedQueuesLocked()
}

// sortedQueuesLocked is sortedQueues for a caller that holds e.mu.
func (e *Engine) sortedQueuesLocked() []*queueState {
	qs := make([]*queueState, 0, len(e.byID))
	for _, q := range e.byID {
		qs = append(qs, q)
	}
	sortByID(qs)
	return qs
}

func sortByID(qs []*queueState) {
	sort.Slice(qs, func(i, j int) bool { return qs[i].id < qs[j].id })
}
