package wal

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/polltest"
)

// commitRecorder is an OnCommit hook that remembers every commit.
type commitRecorder struct {
	mu      sync.Mutex
	records []int
	bytes   int
}

func (r *commitRecorder) hook(records, bytes int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, records)
	r.bytes += bytes
}

func (r *commitRecorder) get() ([]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.records...), r.bytes
}

// TestLoneAppend checks that an append on an idle log is one commit of its
// own: nothing waits to collect company (the code has no timer to wait on,
// see TestNoTimers).
func TestLoneAppend(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		var rec commitRecorder
		opts.OnCommit = rec.hook
		l := openLog(t, opts)
		for i := range 3 {
			if _, err := l.Append(payload(uint64(i), 100), payload(uint64(i), 20)); err != nil {
				t.Fatal(err)
			}
			// OnCommit runs before the callers are released, so the
			// count is exact here.
			got, bytes := rec.get()
			if len(got) != i+1 || got[i] != 2 {
				t.Fatalf("after append %d: commits %v, want %d commits of 2 records", i, got, i+1)
			}
			if want := (i + 1) * (100 + 20 + 2*recordHeaderSize); bytes != want {
				t.Errorf("bytes committed: got %d, want %d", bytes, want)
			}
		}
	})
}

// TestGroupCommitGroups holds the first commit inside fdatasync while more
// appenders arrive, and checks that they all share the next commit.
func TestGroupCommitGroups(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		var rec commitRecorder
		opts.OnCommit = rec.hook
		l := openLog(t, opts)
		inSync, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		l.fdatasync = func(fd int) error {
			if calls.Add(1) == 1 {
				close(inSync)
				<-release
			}
			return syscall.Fdatasync(fd)
		}

		const others = 63
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := l.Append([]byte("first")); err != nil {
				t.Error(err)
			}
		})
		<-inSync
		for i := range others {
			wg.Go(func() {
				if _, err := l.Append(payload(uint64(i), 16)); err != nil {
					t.Error(err)
				}
			})
		}
		polltest.WaitFor(t, 30*time.Second, func() error {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.cur == nil || l.cur.records != others {
				return errors.New("appenders not all queued behind the held commit")
			}
			return nil
		})
		close(release)
		wg.Wait()
		if got, _ := rec.get(); len(got) != 2 || got[0] != 1 || got[1] != others {
			t.Errorf("commits: got %v, want [1 %d]", got, others)
		}
	})
}

// TestGroupCommitUnderLoad lets 64 goroutines append freely and checks that
// commits were shared. Any two appends meeting in one commit passes, so this
// holds on a machine of any speed.
func TestGroupCommitUnderLoad(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		var rec commitRecorder
		opts.OnCommit = rec.hook
		l := openLog(t, opts)
		const goroutines, appends = 64, 100
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range appends {
					if _, err := l.Append(payload(uint64(g<<20|i), 64)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		got, _ := rec.get()
		total := 0
		for _, n := range got {
			total += n
		}
		if total != goroutines*appends {
			t.Fatalf("commits hold %d records, want %d", total, goroutines*appends)
		}
		if len(got) >= goroutines*appends {
			t.Errorf("%d appends took %d commits, want fewer", total, len(got))
		}
		t.Logf("%d appends in %d commits (%.1f per commit)", total, len(got), float64(total)/float64(len(got)))
	})
}

// TestWriteErrorPoisons checks that a failed fdatasync fails its batch and
// every later append, is reported by Close, and that the log reopens.
func TestWriteErrorPoisons(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := mustOpen(t, opts)
		before, err := l.Append([]byte("durable"))
		if err != nil {
			t.Fatal(err)
		}
		l.fdatasync = func(int) error { return syscall.EIO }
		if _, err := l.Append([]byte("lost")); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Append with failing fdatasync: got %v, want EIO", err)
		}
		for _, what := range []string{"append", "roll", "close"} {
			var err error
			switch what {
			case "append":
				_, err = l.Append([]byte("later"))
			case "roll":
				err = l.Roll()
			case "close":
				err = l.Close()
			}
			if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "reopened") {
				t.Errorf("%s after failure: got %v, want the EIO failure", what, err)
			}
		}
		if _, err := l.Append([]byte("closed")); !errors.Is(err, ErrClosed) {
			t.Errorf("Append after Close of a failed log: got %v, want ErrClosed", err)
		}
		l = mustOpen(t, opts)
		got := replayAll(t, l)
		// The failed write did reach the page cache, so the record may be
		// there; what matters is that the acknowledged one is.
		if len(got) == 0 || got[0].pos != before[0] || string(got[0].rec) != "durable" {
			t.Fatalf("after reopen: got %v, want the acknowledged record first", got)
		}
	})
}

// TestNoTimers checks that the package's code never waits on a clock: group
// commit must add no delay to a lone append. It is a source check because a
// timing assertion would depend on the machine.
func TestNoTimers(t *testing.T) {
	banned := map[string]bool{"Sleep": true, "After": true, "AfterFunc": true,
		"NewTimer": true, "NewTicker": true, "Tick": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" && banned[sel.Sel.Name] {
				t.Errorf("%s: time.%s: the log must not wait on a timer", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
