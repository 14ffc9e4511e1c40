package state

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
	"github.com/docketd/docket/specs"
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
		if !errors.Is(err, errdefs.ErrOutdated) || errdefs.Code(err, "") != "entry_applied" {
			t.Errorf("entry %d at index 1: got %v, want entry_applied", index, err)
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

// commandTypes returns the name of every type of the package (tests
// aside) with a command method: every type that implements Command.
func commandTypes(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "command" {
				continue
			}
			typ := fn.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			types[typ.(*ast.Ident).Name] = true
		}
	}
	return types
}

// TestEveryCommandEncodes requires a sample of every command type, and
// that each sample's entry decodes to what was encoded: a command type
// added without its line in the decoding table, or with a field the
// encoding loses, fails.
func TestEveryCommandEncodes(t *testing.T) {
	sampled := map[string]bool{}
	for i, cmd := range sampleCommands() {
		name := reflect.TypeOf(cmd).Name()
		sampled[name] = true
		e := Entry{Index: uint64(i + 1), At: time.Unix(1700000000+int64(i), 123).UTC(), Cmd: cmd}
		b, err := EncodeEntry(e)
		if err != nil {
			t.Errorf("%s: encode: %v", name, err)
			continue
		}
		got, err := DecodeEntry(b)
		if err != nil {
			t.Errorf("%s: decode %s: %v", name, b, err)
			continue
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s: decoded\n%s\nwant\n%s", name, jsonOf(t, got), jsonOf(t, e))
		}
	}
	types := commandTypes(t)
	for name := range types {
		if !sampled[name] {
			t.Errorf("command type %s has no sample in sampleCommands", name)
		}
	}
	if len(types) < 14 {
		t.Errorf("found %d command types, want at least 14: is the parse broken?", len(types))
	}
}

func TestDecodeEntryRefusesGarbage(t *testing.T) {
	for _, b := range []string{
		``,
		`{"index":1,"type":"Reboot","cmd":{}}`,
		`{"index":1,"type":"ScaleJob","cmd":{"count":"many"}}`,
		`{"index":1,"cmd":{}}`,
	} {
		if e, err := DecodeEntry([]byte(b)); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("DecodeEntry(%q) = %+v, %v; want invalid", b, e, err)
		}
	}
	if _, err := EncodeEntry(Entry{Index: 1}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("encoding an entry without a command: %v, want invalid", err)
	}
}

// A spec that differs from the registered one only in what encoding drops
// (an empty list as against none) is the same version: once encoded, in
// a log's entry or after a restart, the two cannot be told apart.
func TestSameSpecOnceEncoded(t *testing.T) {
	s := openState(t, t.TempDir())
	absent := fullSpec("web")
	absent.Constraints, absent.Spreads, absent.Tasks[0].Env, absent.Tasks[0].Args = nil, nil, nil, nil
	empty := fullSpec("web")
	empty.Constraints, empty.Spreads, empty.Tasks[0].Env, empty.Tasks[0].Args = []specs.Constraint{}, []specs.Spread{}, map[string]string{}, []string{}
	first := mustApply(t, s, RegisterJob{Spec: absent})
	if res := mustApply(t, s, RegisterJob{Spec: empty}); !res.Noop || res.JobChanged || res.Job.Version != first.Job.Version {
		t.Errorf("the spec with empty lists: %+v; want the same version, unchanged", res)
	}
	changed := fullSpec("web")
	if res := mustApply(t, s, RegisterJob{Spec: changed}); !res.JobChanged || res.Job.Version != 2 {
		t.Errorf("a changed spec: %+v; want version 2", res)
	}
}
