package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/docketd/docket/internal/errdefs"
)

func openTest(t *testing.T, path string, onCommit func(int, time.Duration)) *DB {
	t.Helper()
	return openWith(t, Options{Path: path, Buckets: []string{"a"}, OnCommit: onCommit}, nil)
}

// openWith opens a store whose transactions commit through commitTx (nil:
// bbolt's own Commit) and checks the database's consistency when the test
// ends.
func openWith(t testing.TB, opts Options, commitTx func(*bolt.Tx) error) *DB {
	t.Helper()
	if commitTx == nil {
		commitTx = (*bolt.Tx).Commit
	}
	db, err := open(opts, commitTx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.boltMu.RLock()
		err := db.bolt.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				t.Errorf("bbolt check: %v", err)
			}
			return nil
		})
		db.boltMu.RUnlock()
		if err != nil && !errors.Is(err, berrors.ErrDatabaseNotOpen) {
			t.Errorf("bbolt check: %v", err)
		}
		db.Close()
	})
	return db
}

func TestCommitSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := openTest(t, path, nil)
	var ws WriteSet
	ws.Put("a", "k1", []byte("v1"))
	ws.Put("b", "k2", []byte("v2")) // a bucket created on demand
	ws.Put("a", "gone", []byte("x"))
	ws.Delete("a", "gone")
	if err := db.Commit(ws); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openTest(t, path, nil)
	for _, tt := range []struct{ bucket, key, want string }{{"a", "k1", "v1"}, {"b", "k2", "v2"}, {"a", "gone", ""}} {
		got, err := db.Get(tt.bucket, tt.key)
		if err != nil || string(got) != tt.want {
			t.Errorf("Get(%s, %s) = %q, %v; want %q", tt.bucket, tt.key, got, err, tt.want)
		}
	}
	var keys []string
	db.ForEach("a", func(k string, v []byte) error { keys = append(keys, k); return nil })
	if fmt.Sprint(keys) != "[k1]" {
		t.Errorf("ForEach keys %v, want [k1]", keys)
	}
}

func TestConcurrentCommitsShareTransactions(t *testing.T) {
	var commits, sets atomic.Int64
	db := openTest(t, filepath.Join(t.TempDir(), "state.db"), func(n int, _ time.Duration) {
		commits.Add(1)
		sets.Add(int64(n))
	})
	const writers, each = 32, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var ws WriteSet
				ws.Put("a", fmt.Sprintf("%02d-%03d", w, i), []byte("v"))
				if err := db.Commit(ws); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if sets.Load() != writers*each {
		t.Fatalf("got %d write sets committed, want %d", sets.Load(), writers*each)
	}
	if commits.Load() >= writers*each {
		t.Errorf("got %d transactions for %d concurrent write sets, want fewer (group commit)", commits.Load(), writers*each)
	}
	n := 0
	db.ForEach("a", func(string, []byte) error { n++; return nil })
	if n != writers*each {
		t.Errorf("got %d keys, want %d", n, writers*each)
	}
}

func TestClosedRefusesCommits(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "state.db"), nil)
	db.Close()
	var ws WriteSet
	ws.Put("a", "k", []byte("v"))
	if err := db.Commit(ws); err != ErrClosed {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

// holdFirst returns a commit function that holds the first transaction
// until release is closed, after closing entered: write sets enqueued
// meanwhile share the next transaction. Later transactions go through
// next.
func holdFirst(next func(*bolt.Tx) error) (commitTx func(*bolt.Tx) error, entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	return func(tx *bolt.Tx) error {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return next(tx)
	}, entered, release
}

// recorder counts the write sets of every committed transaction.
type recorder struct {
	mu   sync.Mutex
	sets []int
}

func (r *recorder) onCommit(n int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, n)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.sets)
}

func TestBadWriteSetFailsAlone(t *testing.T) {
	tests := []struct {
		name   string
		bucket string
		key    string
	}{
		{"empty key", "a", ""},
		{"oversized key", "a", strings.Repeat("k", bolt.MaxKeySize+1)},
		{"unnamed bucket", "", "k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const good = 8
			var rec recorder
			commitTx, entered, release := holdFirst((*bolt.Tx).Commit)
			db := openWith(t, Options{Path: filepath.Join(t.TempDir(), "state.db"), Buckets: []string{"a"}, OnCommit: rec.onCommit}, commitTx)
			first := db.Enqueue(WriteSet{{Bucket: "a", Key: "first", Value: []byte("v")}})
			<-entered
			var dones []<-chan error
			for i := range good {
				if i == good/2 {
					var bad WriteSet
					bad.Put(tt.bucket, tt.key, []byte("v"))
					dones = append(dones, db.Enqueue(bad))
				}
				var ws WriteSet
				ws.Put("a", fmt.Sprintf("k%d", i), []byte("v"))
				dones = append(dones, db.Enqueue(ws))
			}
			close(release)
			if err := <-first; err != nil {
				t.Fatalf("first commit: %v", err)
			}
			for i, done := range dones {
				err := <-done
				if i == good/2 {
					if err == nil {
						t.Errorf("bad write set committed, want an error")
					} else if errors.Is(err, errdefs.ErrStorageFull) || errors.Is(err, errdefs.ErrStorageFailed) {
						t.Errorf("bad write set: got storage error %v, want its own error", err)
					}
					continue
				}
				if err != nil {
					t.Errorf("good write set %d: got %v, want nil", i, err)
				}
			}
			if got, want := rec.String(), fmt.Sprintf("[1 %d]", good); got != want {
				t.Errorf("got transactions of %s write sets, want %s (the good ones share one)", got, want)
			}
			for i := range good {
				if v, err := db.Get("a", fmt.Sprintf("k%d", i)); err != nil || string(v) != "v" {
					t.Errorf("Get(k%d) = %q, %v; want \"v\"", i, v, err)
				}
			}
			if err := db.Err(); err != nil {
				t.Errorf("Err() = %v after a bad write set, want nil", err)
			}
		})
	}
}

// enospc is the error a write to a full disk returns.
var enospc = &os.PathError{Op: "write", Path: "state.db", Err: syscall.ENOSPC}

func TestFailedTransactionRetriesEachSetAlone(t *testing.T) {
	// A transaction holding "huge" does not fit on the disk; the others do.
	commitTx, entered, release := holdFirst(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("a")).Get([]byte("huge")) != nil {
			tx.Rollback()
			return enospc
		}
		return tx.Commit()
	})
	db := openWith(t, Options{Path: filepath.Join(t.TempDir(), "state.db"), Buckets: []string{"a"}}, commitTx)
	first := db.Enqueue(WriteSet{{Bucket: "a", Key: "first", Value: []byte("v")}})
	<-entered
	keys := []string{"k0", "k1", "huge", "k2", "k3"}
	dones := make([]<-chan error, len(keys))
	for i, k := range keys {
		dones[i] = db.Enqueue(WriteSet{{Bucket: "a", Key: k, Value: []byte("v")}})
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		err := <-dones[i]
		if k == "huge" {
			if !errors.Is(err, errdefs.ErrStorageFull) || errdefs.Code(err, "") != "storage_full" {
				t.Errorf("huge: got %v, want storage_full", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: got %v, want nil", k, err)
		}
		if v, _ := db.Get("a", k); string(v) != "v" {
			t.Errorf("%s: got %q after commit, want \"v\"", k, v)
		}
	}
	if v, _ := db.Get("a", "huge"); v != nil {
		t.Errorf("huge: got %q after a failed commit, want nothing", v)
	}
}

func TestDiskFullInjected(t *testing.T) {
	var full atomic.Bool
	db := openWith(t, Options{Path: filepath.Join(t.TempDir(), "state.db")}, func(tx *bolt.Tx) error {
		if full.Load() {
			tx.Rollback()
			return enospc
		}
		return tx.Commit()
	})
	testDiskFull(t, db, func() { full.Store(true) }, func() { full.Store(false) })
}

// TestDiskFullTmpfs fills a real file system: bbolt's own failed commit
// and rollback, not a stand-in.
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	filler := filepath.Join(dir, "filler")
	path := filepath.Join(dir, "state.db")
	db := openWith(t, Options{Path: path, Buckets: []string{"a"}}, nil)
	testDiskFull(t, db, func() {
		// Fill what the store left free; keep 512 KiB of it to free later.
		if err := os.WriteFile(filler, make([]byte, 512<<10), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, "rest"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for {
			if _, err := f.Write(make([]byte, 4096)); err != nil {
				break
			}
		}
	}, func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	})
	db.Close()
	db = openWith(t, Options{Path: path}, nil)
	for _, k := range []string{"before", "after"} {
		if v, _ := db.Get("a", k); string(v) != k {
			t.Errorf("after reopening: %s = %q, want %q", k, v, k)
		}
	}
	if v, _ := db.Get("a", "refused"); v != nil {
		t.Errorf("after reopening: a refused write is there: %q", v)
	}
}

// testDiskFull commits, fills the disk, checks that a commit fails with
// storage_full and the store reports it while reads go on, frees space
// and checks that the next commit succeeds and the store is healthy again.
func testDiskFull(t *testing.T, db *DB, fill, free func()) {
	t.Helper()
	put := func(key string, n int) error {
		var ws WriteSet
		ws.Put("a", key, []byte(key+strings.Repeat(" ", n)))
		return db.Commit(ws)
	}
	if err := put("before", 0); err != nil {
		t.Fatal(err)
	}
	fill()
	err := put("refused", 256<<10)
	if !errors.Is(err, errdefs.ErrStorageFull) || errdefs.Code(err, "") != "storage_full" {
		t.Fatalf("commit on a full disk: got %v, want storage_full", err)
	}
	if herr := db.Err(); !errors.Is(herr, errdefs.ErrStorageFull) {
		t.Errorf("Err() = %v on a full disk, want storage_full", herr)
	}
	if v, err := db.Get("a", "before"); err != nil || string(v) != "before" {
		t.Errorf("read on a full disk: got %q, %v; want \"before\"", v, err)
	}
	free()
	if err := put("after", 0); err != nil {
		t.Fatalf("commit after space was freed: %v", err)
	}
	if err := db.Err(); err != nil {
		t.Errorf("Err() = %v after space was freed, want nil", err)
	}
	if v, _ := db.Get("a", "refused"); v != nil {
		t.Errorf("a refused write is there: %q", v[:8])
	}
}

// TestFailedSyncAfterMetaSticks stands in for bbolt's one unsafe failure:
// the meta page written, its fdatasync failed. The transaction is visible
// though its callers were told it failed, so the store refuses writes from
// then on instead of building on it.
func TestFailedSyncAfterMetaSticks(t *testing.T) {
	var failSync atomic.Bool
	db := openWith(t, Options{Path: filepath.Join(t.TempDir(), "state.db")}, func(tx *bolt.Tx) error {
		if err := tx.Commit(); err != nil {
			return err
		}
		if failSync.Load() {
			return fmt.Errorf("fdatasync: %w", syscall.EIO)
		}
		return nil
	})
	failSync.Store(true)
	err := db.Commit(WriteSet{{Bucket: "a", Key: "k", Value: []byte("v")}})
	if !errors.Is(err, errdefs.ErrStorageFailed) || errdefs.Code(err, "") != "storage_failed" {
		t.Fatalf("got %v, want storage_failed", err)
	}
	failSync.Store(false)
	if err := db.Commit(WriteSet{{Bucket: "a", Key: "k2", Value: []byte("v")}}); !errors.Is(err, errdefs.ErrStorageFailed) {
		t.Errorf("commit after an uncertain failure: got %v, want storage_failed", err)
	}
	if err := db.Err(); !errors.Is(err, errdefs.ErrStorageFailed) {
		t.Errorf("Err() = %v, want storage_failed", err)
	}
	if v, err := db.Get("a", "k2"); err != nil || v != nil {
		t.Errorf("Get(k2) = %q, %v; want nothing", v, err)
	}
}

// TestReopensUnusableBolt: a bbolt handle that cannot begin transactions
// (as after a failed remap) is reopened, and writes go on.
func TestReopensUnusableBolt(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "state.db"), nil)
	db.bolt.Close()
	err := db.Commit(WriteSet{{Bucket: "a", Key: "k", Value: []byte("v")}})
	if !errors.Is(err, errdefs.ErrStorageFailed) {
		t.Fatalf("got %v, want storage_failed", err)
	}
	if err := db.Commit(WriteSet{{Bucket: "a", Key: "k", Value: []byte("v")}}); err != nil {
		t.Fatalf("commit after reopening: %v", err)
	}
	if err := db.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
	if v, _ := db.Get("a", "k"); string(v) != "v" {
		t.Errorf("Get(k) = %q, want \"v\"", v)
	}
}
