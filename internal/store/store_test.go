package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openTest(t *testing.T, path string, onCommit func(int, time.Duration)) *DB {
	t.Helper()
	db, err := Open(Options{Path: path, Buckets: []string{"a"}, OnCommit: onCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
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
