package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code reads and writes. Open refuses a
// database written by a newer version.
const SchemaVersion = 1

var (
	metaBucket = []byte("meta")
	schemaKey  = []byte("schema")
)

// ErrClosed is returned by operations on a closed DB.
var ErrClosed = errors.New("store: closed")

// Options configure [Open]. Zero fields take the defaults noted.
type Options struct {
	// Path of the database file; its directory is created. Required.
	Path string
	// Buckets are created at open if missing.
	Buckets []string
	// Logger; default discards.
	Logger *slog.Logger
	// OnCommit, if set, is called after every group commit with the number
	// of write sets it held and how long it took.
	OnCommit func(sets int, d time.Duration)
}

// DB is an open database.
type DB struct {
	bolt   *bolt.DB
	opts   Options
	logger *slog.Logger

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
	if opts.Path == "" {
		return nil, errors.New("store: Options.Path is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, err
	}
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
	db := &DB{bolt: b, opts: opts, logger: opts.Logger, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go db.commitLoop()
	return db, nil
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
	return db.bolt.Close()
}

// Commit makes ws durable and returns once it is fsync'd. Write sets of
// concurrent callers share a transaction; they are applied in the order
// their Enqueue calls happened.
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
			start := time.Now()
			err := db.bolt.Update(func(tx *bolt.Tx) error {
				for _, p := range batch {
					if err := apply(tx, p.ws); err != nil {
						return err
					}
				}
				return nil
			})
			if db.opts.OnCommit != nil {
				db.opts.OnCommit(len(batch), time.Since(start))
			}
			if err != nil {
				db.logger.Error("commit failed", "sets", len(batch), "err", err)
			}
			for _, p := range batch {
				p.done <- err
			}
		}
	}
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
