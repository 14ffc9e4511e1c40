package state

import (
	"maps"
	"slices"

	"github.com/docketd/docket/specs"
)

// Apply stores copies of what a command carries, never the command's own
// pointers, maps or slices: a caller that changes its command afterwards
// (or hands the same one to Apply again) cannot change a record behind the
// state's back. The copies keep nil and empty apart, so that a copied value
// compares as the original does. TestCopiesShareNothing fails when a field
// is added that one of them would share.

func cloneSpec(j *specs.Job) *specs.Job {
	if j == nil {
		return nil
	}
	c := *j
	if j.Scaling != nil {
		sc := *j.Scaling
		c.Scaling = &sc
	}
	c.Constraints = slices.Clone(j.Constraints)
	c.Spreads = slices.Clone(j.Spreads)
	if j.Function != nil {
		f := *j.Function
		if f.EventSource != nil {
			e := *f.EventSource
			f.EventSource = &e
		}
		c.Function = &f
	}
	if j.Tasks != nil {
		c.Tasks = make([]*specs.Task, len(j.Tasks))
		for i, t := range j.Tasks {
			if t != nil {
				ct := *t
				ct.Command = slices.Clone(t.Command)
				ct.Args = slices.Clone(t.Args)
				ct.Env = maps.Clone(t.Env)
				c.Tasks[i] = &ct
			}
		}
	}
	return &c
}

func cloneNode(n *Node) *Node {
	c := *n
	c.Meta = maps.Clone(n.Meta)
	c.Drain = cloneDrain(n.Drain)
	return &c
}

func cloneDrain(d *Drain) *Drain {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}

// cloneAlloc copies an allocation. The common case, an allocation with no
// task states or dispatch, costs the one struct copy.
func cloneAlloc(a *Allocation) *Allocation {
	c := *a
	c.Tasks = cloneTasks(a.Tasks)
	if a.Dispatch != nil {
		d := *a.Dispatch
		c.Dispatch = &d
	}
	return &c
}

func cloneTasks(tasks map[string]*TaskState) map[string]*TaskState {
	if tasks == nil {
		return nil
	}
	c := make(map[string]*TaskState, len(tasks))
	for name, t := range tasks {
		if t != nil {
			ct := *t
			t = &ct
		}
		c[name] = t
	}
	return c
}

func cloneEval(e *Evaluation) *Evaluation {
	c := *e
	return &c
}
