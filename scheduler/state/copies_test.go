package state

import (
	"reflect"
	"testing"
	"time"

	"github.com/docketd/docket/specs"
)

// TestApplyLeavesCommandsAlone applies a command of every type and
// requires that the command is as it was (Apply wrote nothing into it, not
// even an evaluation's indexes), and that changing everything the command
// points to afterwards changes no record: the state keeps copies.
func TestApplyLeavesCommandsAlone(t *testing.T) {
	for _, cmd := range sampleCommands() {
		t.Run(commandName(cmd), func(t *testing.T) {
			s, _ := failureFixture(t)
			before := deepCopy(reflect.ValueOf(&cmd).Elem()).Interface().(Command)
			res, err := s.Apply(cmd)
			if err != nil || res.Noop {
				t.Fatalf("got %+v, %v; the test needs a command that changes something", res, err)
			}
			if !reflect.DeepEqual(cmd, before) {
				t.Errorf("Apply changed its command:\n got %s\nwant %s", jsonOf(t, cmd), jsonOf(t, before))
			}
			stored := dump(t, s)
			held := reflect.New(reflect.TypeOf(cmd)).Elem()
			held.Set(reflect.ValueOf(cmd))
			scribble(held)
			if got := dump(t, s); got != stored {
				t.Errorf("changing the command after Apply changed the records:\n%s\nwere\n%s", got, stored)
			}
		})
	}
}

// TestCopiesShareNothing copies values with every field set and requires
// that the copy equals the original and that changing everything the
// original points to leaves the copy as it was: it fails when a field is
// added that a copy would share.
func TestCopiesShareNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   reflect.Type
		clone func(any) any
	}{
		{"spec", reflect.TypeFor[*specs.Job](), func(v any) any { return cloneSpec(v.(*specs.Job)) }},
		{"node", reflect.TypeFor[*Node](), func(v any) any { return cloneNode(v.(*Node)) }},
		{"drain", reflect.TypeFor[*Drain](), func(v any) any { return cloneDrain(v.(*Drain)) }},
		{"allocation", reflect.TypeFor[*Allocation](), func(v any) any { return cloneAlloc(v.(*Allocation)) }},
		{"task states", reflect.TypeFor[map[string]*TaskState](), func(v any) any { return cloneTasks(v.(map[string]*TaskState)) }},
		{"evaluation", reflect.TypeFor[*Evaluation](), func(v any) any { return cloneEval(v.(*Evaluation)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := reflect.New(tc.typ).Elem()
			fill(orig, 1)
			c := tc.clone(orig.Interface())
			if !reflect.DeepEqual(c, orig.Interface()) {
				t.Fatalf("the copy differs:\n got %s\nwant %s", jsonOf(t, c), jsonOf(t, orig.Interface()))
			}
			want := deepCopy(reflect.ValueOf(c)).Interface()
			scribble(orig)
			if !reflect.DeepEqual(c, want) {
				t.Errorf("changing the original changed the copy:\n got %s\nwant %s", jsonOf(t, c), jsonOf(t, want))
			}
		})
	}
	// Empty is kept apart from nil: a copied spec compares as the
	// original.
	empty := &specs.Job{Name: "e", Constraints: []specs.Constraint{}, Spreads: []specs.Spread{}, Tasks: []*specs.Task{{Env: map[string]string{}, Args: []string{}}}}
	if c := cloneSpec(empty); !reflect.DeepEqual(c, empty) {
		t.Errorf("copy of a spec with empty lists: got %#v, want %#v", c, empty)
	}
}

// An evaluation keeps the index and time of its first record when it is
// updated by a command that does not set its creation time (the caller's
// copy no longer has them), and Result.Evals has them.
func TestEvaluationKeepsItsCreation(t *testing.T) {
	s := openState(t, t.TempDir())
	created := time.Unix(1700000000, 0).UTC()
	s.now = func() time.Time { return created }
	e := &Evaluation{ID: "e1", Job: "web", Status: EvalPending}
	res := mustApply(t, s, RegisterJob{Spec: job("web", 1), Eval: e})
	if len(res.Evals) != 1 || res.Evals[0].CreateIndex != res.Index || !res.Evals[0].CreatedAt.Equal(created) {
		t.Fatalf("Result.Evals %s, want e1 created at index %d, %v", jsonOf(t, res.Evals), res.Index, created)
	}
	if e.CreateIndex != 0 || !e.CreatedAt.IsZero() {
		t.Errorf("the command's evaluation was written to: %s", jsonOf(t, e))
	}
	s.now = func() time.Time { return created.Add(time.Hour) }
	done := *e
	done.Status = EvalComplete
	res2 := mustApply(t, s, UpsertEvals{Evals: []*Evaluation{&done, {ID: "e2", Job: "web", Status: EvalPending}}})
	s.View(func(r *Reader) {
		got := r.Eval("e1")
		if got.Status != EvalComplete || got.CreateIndex != res.Index || got.ModifyIndex != res2.Index || !got.CreatedAt.Equal(created) {
			t.Errorf("updated e1: %s; want created at index %d, %v, modified at %d", jsonOf(t, got), res.Index, created, res2.Index)
		}
		if got := r.Eval("e2"); !got.CreatedAt.Equal(created.Add(time.Hour)) {
			t.Errorf("new e2 created at %v, want the entry's time %v", got.CreatedAt, created.Add(time.Hour))
		}
	})
	if len(res2.Evals) != 2 || res2.Evals[0].ID != "e1" || res2.Evals[1].ID != "e2" {
		t.Errorf("Result.Evals %s, want e1 and e2 in the command's order", jsonOf(t, res2.Evals))
	}
}
