package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docketd/docket/internal/errdefs"
)

// SchemaVersion is the layout this code reads and writes. Open refuses a
// database written by a newer version.
const SchemaVersion = 1

var (
	metaBucket = []byte("meta")
	schemaKey  = []byte("schema")
)

// ErrClosed is returned by operations on a closed DB. It is of class
// [errdefs.ErrClosed].
var ErrClosed = fmt.Errorf("store: %w", errdefs.ErrClosed)

// Options configure [Open]. Zero fields take the defaults noted.
type Options struct {
	// Path of the database file; its directory is created. Required.
	Path string
	// Buckets are created at open if missing.
	Buckets []string
	// Logger; default discards.
	Logger *slog.Logger
	// OnCommit, if set, is called after every successful group commit with
	// the number of write sets it held and how long it took.
	OnCommit func(sets int, d time.Duration)
}

// DB is an open database.
//
// mu guards the queue of write sets, boltMu the bbolt handle (shared by
// every transaction, exclusive to reopen it), healthMu the failure
// [DB.Err] reports. Lock order: boltMu, then healthMu; mu is held alone.
type DB struct {
	opts   Options
	logger *slog.Logger
	// commitTx commits a write transaction: [bolt.Tx.Commit], or a
	// fault-injecting stand-in in tests.
	commitTx func(*bolt.Tx) error

	boltMu sync.RWMutex
	bolt   *bolt.DB
	// reopen is set when bbolt cannot be used after a failed commit; the
	// committer reopens it before its next transaction. Only the committer
	// touches it.
	reopen bool

	healthMu sync.Mutex
	lastErr  error // the latest transaction's failure; nil after a success
	stuck    error // a failure no later success clears; see [DB.fail]

	mu      sync.Mutex // guards pending and closed
	pending []*pendingSet
	closed  bool
	kick    chan struct{}
	done    chan struct{}
}

// Op is one change of a write set: a put, or a delete when Value is nil.
type Op struct {
	Bucket string
	Key    string
	Value  []byte
}

// WriteSet is a group of changes that become durable together.
type WriteSet []Op

// Put adds a put to the set.
func (w *WriteSet) Put(bucket, key string, value []byte) {
	*w = append(*w, Op{Bucket: bucket, Key: key, Value: value})
}

// Delete adds a delete to the set.
func (w *WriteSet) Delete(bucket, key string) {
	*w = append(*w, Op{Bucket: bucket, Key: key})
}

type pendingSet struct {
	ws   WriteSet
	done chan error
}

// Open opens or creates the database and starts its committer.
func Open(opts Options) (*DB, error) {
	return open(opts, (*bolt.Tx).Commit)
}

func open(opts Options, commitTx func(*bolt.Tx) error) (*DB, error) {
	if opts.Path == "" {
		return nil, errors.New("store: Options.Path is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, err
	}
	b, err := openBolt(opts)
	if err != nil {
		return nil, err
	}
	err = b.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if v := meta.Get(schemaKey); v != nil {
			if got := binary.BigEndian.Uint64(v); got > SchemaVersion {
				return fmt.Errorf("store: %s has schema version %d; this binary reads up to %d", opts.Path, got, SchemaVersion)
			}
		} else {
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], SchemaVersion)
			if err := meta.Put(schemaKey, v[:]); err != nil {
				return err
			}
		}
		for _, name := range opts.Buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Close()
		return nil, err
	}
	db := &DB{bolt: b, opts: opts, logger: opts.Logger, commitTx: commitTx,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go db.commitLoop()
	return db, nil
}

func openBolt(opts Options) (*bolt.DB, error) {
	b, err := bolt.Open(opts.Path, 0o600, &bolt.Options{
		Timeout: time.Second,
		// Reserve address space up front: growing the map later blocks
		// every transaction while bbolt remaps.
		InitialMmapSize: 1 << 30,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Path, err)
	}
	return b, nil
}

// Close waits for pending commits and closes the database.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	db.mu.Unlock()
	close(db.kick)
	<-db.done
	db.boltMu.Lock()
	defer db.boltMu.Unlock()
	return db.bolt.Close()
}

// Err reports the store's health: nil, or why the latest commit failed, of
// class [errdefs.ErrStorageFull] or [errdefs.ErrStorageFailed]. The next
// successful commit clears it, so the store recovers by itself once, say,
// space is freed. A write set that fails for its own sake (a key bbolt
// refuses) fails only its caller and does not count.
func (db *DB) Err() error {
	db.healthMu.Lock()
	defer db.healthMu.Unlock()
	if db.stuck != nil {
		return db.stuck
	}
	return db.lastErr
}

// Commit makes ws durable and returns once it is fsync'd. Write sets of
// concurrent callers share a transaction; they are applied in the order
// their Enqueue calls happened. A commit that fails for an I/O reason
// returns an error of class [errdefs.ErrStorageFull] or
// [errdefs.ErrStorageFailed].
func (db *DB) Commit(ws WriteSet) error {
	return <-db.Enqueue(ws)
}

// Enqueue queues ws for the next group commit and returns a channel that
// receives its outcome. Callers that must fix the order of their changes
// under their own lock enqueue under it and wait outside it.
func (db *DB) Enqueue(ws WriteSet) <-chan error {
	done := make(chan error, 1)
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		done <- ErrClosed
		return done
	}
	db.pending = append(db.pending, &pendingSet{ws: ws, done: done})
	db.mu.Unlock()
	select {
	case db.kick <- struct{}{}:
	default:
	}
	return done
}

func (db *DB) commitLoop() {
	defer close(db.done)
	for range db.kick {
		for {
			db.mu.Lock()
			batch := db.pending
			db.pending = nil
			db.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			db.commit(batch)
		}
	}
}

// commit writes batch in one transaction if it can, and otherwise fails
// only the write sets that cannot be written, as bbolt's DB.Batch does:
//
//   - a set whose own changes bbolt refuses (an empty or oversized key,
//     say) fails alone with that error, and the rest are written without
//     it. It is not tried again: its changes would fail the same way, and
//     writing it after its successors would break their order;
//   - a transaction that fails to commit (a full disk, a failed write or
//     fsync) is tried again set by set, so that one set too large for
//     what is left of the disk does not fail the small ones beside it; if
//     the disk is the problem, each fails with it.
func (db *DB) commit(batch []*pendingSet) {
	for len(batch) > 0 {
		bad, err := db.update(batch)
		switch {
		case err == nil:
			db.healthMu.Lock()
			if db.lastErr != nil {
				db.logger.Info("state store recovered; writes accepted again")
			}
			db.lastErr = nil
			db.healthMu.Unlock()
			for _, p := range batch {
				p.done <- nil
			}
			return
		case bad >= 0:
			batch[bad].done <- err
			batch = slices.Delete(batch, bad, bad+1)
		case len(batch) == 1 || db.isStuck() != nil:
			for _, p := range batch {
				p.done <- err
			}
			return
		default:
			for _, p := range batch {
				db.commit([]*pendingSet{p})
			}
			return
		}
	}
}

// update runs batch in one write transaction. It returns the position of
// the set whose changes bbolt refused, or -1 with the error of a
// transaction that could not be made durable.
func (db *DB) update(batch []*pendingSet) (bad int, err error) {
	if err := db.isStuck(); err != nil {
		return -1, err
	}
	if db.reopen {
		if err := db.reopenBolt(); err != nil {
			return -1, db.fail(err, false)
		}
	}
	db.boltMu.RLock()
	defer db.boltMu.RUnlock()
	start := time.Now()
	tx, err := db.bolt.Begin(true)
	if err != nil {
		db.reopen = true
		return -1, db.fail(err, false)
	}
	for i, p := range batch {
		if err := apply(tx, p.ws); err != nil {
			tx.Rollback()
			return i, err
		}
	}
	id := tx.ID()
	if err := db.commitTx(tx); err != nil {
		tx.Rollback() // a no-op unless commitTx is a test's stand-in that left it open
		return -1, db.fail(err, db.visible(id))
	}
	if db.opts.OnCommit != nil {
		db.opts.OnCommit(len(batch), time.Since(start))
	}
	return -1, nil
}

// visible reports whether transaction id, whose commit failed, is
// nevertheless what bbolt now reads, and notes when bbolt cannot be read
// at all. boltMu is held.
//
// bbolt rolls a failed commit back, and up to the write of its meta page
// that leaves the database as it was: the transaction's pages are
// unreachable and its free-page list is rebuilt. But when the meta page was
// written and only its fdatasync failed, the page is in the page cache,
// which bbolt's map reads: every later transaction, and a reopened DB, see
// the "failed" transaction as committed, although its callers were told it
// failed and it may never reach the disk.
func (db *DB) visible(id int) bool {
	rtx, err := db.bolt.Begin(false)
	if err != nil {
		// A failed remap leaves bbolt with no map (ErrInvalidMapping):
		// nothing but reopening it helps.
		db.reopen = true
		return false
	}
	defer rtx.Rollback()
	return rtx.ID() >= id
}

// fail records a failed transaction and returns the error its callers get;
// it logs only the change from healthy to failed. When the transaction is
// visible nevertheless (see [DB.visible]), what bbolt holds is no longer
// what the store's callers were told; the failure sticks, refusing every
// later write until the store is opened again (the server restarts).
func (db *DB) fail(cause error, visible bool) error {
	err := errdefs.Storage("state store", cause)
	db.healthMu.Lock()
	defer db.healthMu.Unlock()
	if visible && db.stuck == nil {
		db.stuck = errdefs.Storage("state store", fmt.Errorf("a failed commit may be on disk though its callers were told it failed; restart the server: %w", cause))
		db.logger.Error("state store failed after a commit's meta page was written; writes are refused until restart", "err", cause)
		return db.stuck
	}
	if db.lastErr == nil && db.stuck == nil {
		db.logger.Error("state store failed; writes are refused until a commit succeeds", "err", cause)
	}
	db.lastErr = err
	return err
}

func (db *DB) isStuck() error {
	db.healthMu.Lock()
	defer db.healthMu.Unlock()
	return db.stuck
}

// reopenBolt replaces a bbolt handle that a failed commit left unusable.
func (db *DB) reopenBolt() error {
	db.boltMu.Lock()
	defer db.boltMu.Unlock()
	db.bolt.Close() // its error is the failure that brought us here
	b, err := openBolt(db.opts)
	if err != nil {
		return err
	}
	db.bolt, db.reopen = b, false
	db.logger.Info("reopened the database after a failed commit")
	return nil
}

func apply(tx *bolt.Tx, ws WriteSet) error {
	for _, op := range ws {
		b := tx.Bucket([]byte(op.Bucket))
		if b == nil {
			var err error
			if b, err = tx.CreateBucket([]byte(op.Bucket)); err != nil {
				return fmt.Errorf("store: bucket %s: %w", op.Bucket, err)
			}
		}
		// Keys are mostly appended in order (time-ordered IDs): packing
		// pages full keeps the tree small and commits cheap.
		b.FillPercent = 0.9
		var err error
		if op.Value == nil {
			err = b.Delete([]byte(op.Key))
		} else {
			err = b.Put([]byte(op.Key), op.Value)
		}
		if err != nil {
			return fmt.Errorf("store: %s/%s: %w", op.Bucket, op.Key, err)
		}
	}
	return nil
}

// ForEach calls fn for every key of bucket in key order, in one read
// transaction. Values are only valid during fn.
func (db *DB) ForEach(bucket string, fn func(key string, value []byte) error) error {
	db.boltMu.RLock()
	defer db.boltMu.RUnlock()
	return db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
	})
}

// Get returns a copy of the value under key in bucket, or nil.
func (db *DB) Get(bucket, key string) ([]byte, error) {
	var out []byte
	db.boltMu.RLock()
	defer db.boltMu.RUnlock()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}
