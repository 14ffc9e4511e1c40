package placement

import (
	"slices"
	"testing"

	"github.com/docketd/docket/specs"
)

// TestEveryOperatorIsEvaluated pins placement to the job language: each of
// the operators specs declares compiles into a check, so a new operator
// cannot be accepted by validation and then refuse every node.
func TestEveryOperatorIsEvaluated(t *testing.T) {
	s := NewSnapshot([]Node{mk("a")})
	for _, op := range specs.Operators() {
		c := Constraint{Attribute: specs.AttrNodeClass, Operator: op, Value: "std"}
		if op == specs.OpDistinctHosts {
			c.Attribute, c.Value = "", ""
		}
		if _, problem := s.compile(c); problem != "" {
			t.Errorf("operator %q: %s", op, problem)
		}
	}
	if _, problem := s.compile(Constraint{Attribute: specs.AttrNodeClass, Operator: "~", Value: "std"}); problem == "" {
		t.Error(`operator "~": compiled, want an unknown operator`)
	}
}

// TestEveryAttributeIsEvaluated places on each node attribute specs
// declares: a constraint on it picks the node holding the value, so every
// attribute has a column fed from its Node field.
func TestEveryAttributeIsEvaluated(t *testing.T) {
	// set writes an attribute's value into the Node field that holds it; an
	// attribute missing here has no field placement reads.
	set := map[string]func(*Node, string){
		specs.AttrNodeName:             func(n *Node, v string) { n.Name = v },
		specs.AttrNodeClass:            func(n *Node, v string) { n.Class = v },
		specs.AttrNodeOS:               func(n *Node, v string) { n.OS = v },
		specs.AttrNodeArch:             func(n *Node, v string) { n.Arch = v },
		specs.NodeMetaPrefix + "zone":  func(n *Node, v string) { meta("zone", v)(n) },
		specs.NodeMetaPrefix + "a.b-c": func(n *Node, v string) { meta("a.b-c", v)(n) },
	}
	attrs := append(specs.NodeAttributes(), specs.NodeMetaPrefix+"zone", specs.NodeMetaPrefix+"a.b-c")
	for _, attr := range attrs {
		setter := set[attr]
		if setter == nil {
			t.Errorf("attribute %q: placement has no Node field for it", attr)
			continue
		}
		a, b := mk("a"), mk("b")
		setter(&a, "wanted")
		setter(&b, "other")
		nodes := []Node{b, a}
		for _, op := range []string{specs.OpEqual, specs.OpIn, specs.OpRegexp} {
			res := place(t, nodes, Ask{Job: "j", Count: 2, Existing: map[string]int{}, Constraints: []Constraint{
				{Attribute: attr, Operator: op, Value: "wanted"},
				{Operator: specs.OpDistinctHosts},
			}})
			if !slices.Equal(res.Placements, []string{"a"}) {
				t.Errorf("%s %s wanted: placed on %v, want [a] (%s)", attr, op, res.Placements, res.Reason)
			}
		}
	}
}
