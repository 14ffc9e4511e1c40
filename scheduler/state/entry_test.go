package state

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
)

// openNoClock opens a state on a fresh store whose clock fails the test if
// it is read: entries applied to it must bring their own time.
func openNoClock(t *testing.T) *State {
	t.Helper()
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(db, func() time.Time {
		t.Error("the state read its clock")
		return time.Time{}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.check(t) })
	return s
}

func mustApplyEntry(t *testing.T, s *State, e Entry) Result {
	t.Helper()
	res, err := s.ApplyEntry(e)
	if err != nil {
		t.Fatalf("ApplyEntry(%d, %T): %v", e.Index, e.Cmd, err)
	}
	return res
}

// An entry records its own time, never the state's clock; it must come
// after the state's index, which it takes, and may skip indexes.
func TestApplyEntry(t *testing.T) {
	s := openNoClock(t)
	at := time.Unix(1700000100, 0).UTC()
	res := mustApplyEntry(t, s, Entry{Index: 1, At: at, Cmd: RegisterNode{Node: node("n1", 1000, 1024)}})
	if res.Index != 1 || !res.Node.RegisteredAt.Equal(at) || !res.Node.StatusAt.Equal(at) {
		t.Errorf("registered at index %d, times %v/%v; want index 1 at %v", res.Index, res.Node.RegisteredAt, res.Node.StatusAt, at)
	}
	// Already applied: refused, nothing changes.
	for _, index := range []uint64{0, 1} {
		_, err := s.ApplyEntry(Entry{Index: index, At: at, Cmd: SetNodeStatus{ID: "n1", Status: NodeDown}})
		if !errors.Is(err, errdefs.ErrConflict) {
			t.Errorf("entry %d at index 1: got %v, want a conflict", index, err)
		}
	}
	// A command that changes nothing takes no index; a later one may
	// skip some.
	if res := mustApplyEntry(t, s, Entry{Index: 2, At: at, Cmd: DeleteAllocs{IDs: []string{"a9"}}}); !res.Noop || res.Index != 1 {
		t.Errorf("a change to nothing: got %+v, want a no-op at index 1", res)
	}
	later := at.Add(time.Minute)
	res = mustApplyEntry(t, s, Entry{Index: 5, At: later, Cmd: SetNodeStatus{ID: "n1", Status: NodeDown}})
	if res.Index != 5 || !res.Node.StatusAt.Equal(later) {
		t.Errorf("got index %d, status at %v; want index 5 at %v", res.Index, res.Node.StatusAt, later)
	}
	s.View(func(r *Reader) {
		if r.Index() != 5 || r.TableIndex(TableNodes) != 5 || r.NodeViewIndex("n1") != 5 {
			t.Errorf("indexes %d, %d, %d; want 5", r.Index(), r.TableIndex(TableNodes), r.NodeViewIndex("n1"))
		}
	})
}

// Apply stamps each command with the next index and the state's clock, as
// the entry its hook sees.
func TestApplyStampsEntries(t *testing.T) {
	now := time.Unix(1700000200, 0).UTC()
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(db, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	var entries []Entry
	s.applied = func(e Entry) { entries = append(entries, e) }
	mustApply(t, s, RegisterNode{Node: node("n1", 1000, 1024)})
	now = now.Add(time.Second)
	mustApply(t, s, DeleteAllocs{IDs: []string{"a9"}}) // no change
	mustApply(t, s, SetNodeHealth{ID: "n1", Healthy: false, Reason: "disk"})
	want := []struct {
		index uint64
		at    time.Time
	}{{1, now.Add(-time.Second)}, {2, now}, {2, now}}
	if len(entries) != len(want) {
		t.Fatalf("got %d entries, want %d", len(entries), len(want))
	}
	for i, w := range want {
		if entries[i].Index != w.index || !entries[i].At.Equal(w.at) {
			t.Errorf("entry %d: index %d at %v, want %d at %v", i, entries[i].Index, entries[i].At, w.index, w.at)
		}
	}
}
