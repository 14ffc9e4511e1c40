package placement

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// check is a [Constraint] compiled for one Place call: its verdict for every
// distinct value of its attribute, decided once, so that filtering a node is
// an array lookup whatever the operator.
type check struct {
	// label is the constraint as text, for metrics and reasons.
	label string
	// distinct marks distinct_hosts, which looks at the job's allocations
	// on the node rather than at an attribute.
	distinct bool
	// of is the attribute's column of value ids; nil when no node has the
	// attribute, or when the constraint is invalid.
	of []int32
	// pass holds the verdict per value id.
	pass []bool
	// passMissing is the verdict for a node lacking the attribute.
	passMissing bool
}

// passes reports whether node i, holding jobCount allocations of the job,
// satisfies the constraint.
func (c *check) passes(i int, jobCount int32) bool {
	if c.distinct {
		return jobCount == 0
	}
	if c.of == nil {
		return c.passMissing
	}
	if v := c.of[i]; v != missing {
		return c.pass[v]
	}
	return c.passMissing
}

// compile turns c into a check over s. An invalid constraint (unknown
// operator or attribute, bad regular expression) compiles into a check no
// node passes, and the returned problem says why: a job the spec validator
// would have refused must not land anywhere by accident.
func (s *Snapshot) compile(c Constraint) (chk check, problem string) {
	if c.Operator == OpDistinctHosts {
		return check{label: OpDistinctHosts, distinct: true}, ""
	}
	chk.label = c.Attribute + " " + c.Operator + " " + c.Value
	invalid := func(format string, args ...any) (check, string) {
		return check{label: chk.label}, "invalid constraint " + chk.label + ": " + fmt.Sprintf(format, args...)
	}
	if !validAttribute(c.Attribute) {
		return invalid("unknown attribute %q", c.Attribute)
	}

	var match func(string) bool
	switch c.Operator {
	case OpEqual, OpNotEqual:
		match = func(v string) bool { return v == c.Value }
	case OpIn, OpNotIn:
		items := strings.Split(c.Value, ",")
		for k := range items {
			items[k] = strings.TrimSpace(items[k])
		}
		match = func(v string) bool { return slices.Contains(items, v) }
	case OpRegexp:
		re, err := regexp.Compile(c.Value)
		if err != nil {
			return invalid("%v", err)
		}
		match = re.MatchString
	default:
		return invalid("unknown operator %q", c.Operator)
	}
	// The negative operators pass what the positive ones refuse, including
	// nodes that lack the attribute.
	negate := c.Operator == OpNotEqual || c.Operator == OpNotIn
	chk.passMissing = negate

	col := s.attrs[c.Attribute]
	if col == nil {
		return chk, ""
	}
	chk.of = col.of
	chk.pass = make([]bool, len(col.values))
	for v, value := range col.values {
		chk.pass[v] = match(value) != negate
	}
	return chk, ""
}
