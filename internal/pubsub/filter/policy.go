// Package filter parses and matches SNS subscription filter policies: on
// a message's attributes (FilterPolicyScope MessageAttributes, the
// default) or on its JSON body (MessageBody, where policies nest).
//
// A policy is a JSON object whose keys name attributes (or body fields)
// and whose values are arrays of conditions, any of which may match; all
// keys must match. A condition is a string, number, true, false or null
// to equal, or one of {"prefix": s}, {"suffix": s},
// {"equals-ignore-case": s}, {"anything-but": v} (a value, an array of
// values, or {"prefix": s} or {"suffix": s}), {"numeric": [op, n, ...]},
// {"exists": bool} and {"cidr": "10.0.0.0/24"}. "$or": [policy, ...]
// matches when any of its policies does. SNS's limits hold: five keys, 150
// combinations of values, 256 KB.
//
// Parse compiles a policy once; Match evaluates it against a [Message]
// prepared once per publish and shared by every subscription, without
// allocating.
package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// Scope is what a policy filters on.
type Scope uint8

const (
	// Attributes filters on message attributes (SNS's default).
	Attributes Scope = iota
	// Body filters on the JSON object a message's body holds.
	Body
)

// ParseScope reads SNS's FilterPolicyScope: "MessageAttributes" (or
// empty) or "MessageBody".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "", "MessageAttributes":
		return Attributes, nil
	case "MessageBody":
		return Body, nil
	}
	return 0, &Error{Msg: fmt.Sprintf("FilterPolicyScope: Invalid value [%s]. Please use either MessageBody or MessageAttributes", s)}
}

func (s Scope) String() string {
	if s == Body {
		return "MessageBody"
	}
	return "MessageAttributes"
}

// SNS's limits on a policy.
const (
	MaxKeys         = 5
	MaxCombinations = 150
	MaxSize         = 256 << 10
	// MaxNumber bounds the numbers a policy may name, as SNS does.
	MaxNumber = 1e9
)

// Error is why a policy is refused, worded as SNS words it after
// "Invalid parameter: " (the caller adds that prefix, or SNS's own for
// Subscribe).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &Error{Msg: "FilterPolicy: " + fmt.Sprintf(format, args...)}
}

// Policy is a compiled filter policy. It is immutable and safe for
// concurrent use.
type Policy struct {
	scope Scope
	root  *object
	src   string
}

// Scope is what the policy filters on.
func (p *Policy) Scope() Scope { return p.scope }

// String is the policy's JSON as given.
func (p *Policy) String() string { return p.src }

// object is a policy object: every key must match, and for each "$or"
// one of its branches.
type object struct {
	keys []key
	ors  [][]*object
}

// key is one key of an object: a leaf with conditions (any may match) or,
// in a body policy, a nested object.
type key struct {
	name   string
	conds  []cond
	nested *object
}

type condKind uint8

const (
	condString condKind = iota
	condNumber
	condBool
	condNull
	condPrefix
	condSuffix
	condEqualsIgnoreCase
	condAnythingBut       // values in set
	condAnythingButPrefix // str
	condAnythingButSuffix // str
	condNumeric
	condExists
	condCIDR
)

type cond struct {
	kind condKind
	str  string
	num  float64
	b    bool
	set  []value
	// numeric ranges: lo < x (or <=) and x < hi (or <=), each optional
	lo, hi           float64
	loIncl, hiIncl   bool
	hasLo, hasHi     bool
	prefix           netip.Prefix
	wantNumericEqual bool
}

// Parse compiles src, a policy for scope. An empty policy ({}) matches
// every message.
func Parse(src []byte, scope Scope) (*Policy, error) {
	if len(src) > MaxSize {
		return nil, invalid("Filter policy is too long")
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid("failed to parse JSON. %s", jsonReason(err))
	}
	if dec.More() {
		return nil, invalid("failed to parse JSON. Unexpected content after the policy")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("Filter policy must be a JSON object")
	}
	root, err := compileObject(m, scope, 1)
	if err != nil {
		return nil, err
	}
	if n := keyCount(root); n > MaxKeys {
		return nil, invalid("Filter policy can not have more than %d keys", MaxKeys)
	}
	if combinations(root, 1) > MaxCombinations {
		return nil, invalid("Filter policy is too complex")
	}
	return &Policy{scope: scope, root: root, src: string(src)}, nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.EOF) {
		return "The policy is empty"
	}
	return err.Error()
}

// maxDepth bounds nesting, before the combination limit would.
const maxDepth = 32

func compileObject(m map[string]any, scope Scope, depth int) (*object, error) {
	if depth > maxDepth {
		return nil, invalid("Filter policy is too complex")
	}
	o := &object{}
	for name, v := range sortedKeys(m) {
		if name == "$or" {
			arr, ok := v.([]any)
			if !ok || len(arr) < 2 {
				return nil, invalid("Value of $or must be an array of at least 2 objects")
			}
			branches := make([]*object, 0, len(arr))
			for _, b := range arr {
				bm, ok := b.(map[string]any)
				if !ok || len(bm) == 0 {
					return nil, invalid("Value of $or must be an array of at least 2 objects")
				}
				br, err := compileObject(bm, scope, depth)
				if err != nil {
					return nil, err
				}
				branches = append(branches, br)
			}
			o.ors = append(o.ors, branches)
			continue
		}
		switch v := v.(type) {
		case []any:
			if len(v) == 0 {
				return nil, invalid("Empty arrays are not allowed")
			}
			conds := make([]cond, 0, len(v))
			for _, c := range v {
				cd, err := compileCond(c)
				if err != nil {
					return nil, err
				}
				conds = append(conds, cd)
			}
			o.keys = append(o.keys, key{name: name, conds: conds})
		case map[string]any:
			if scope == Attributes {
				return nil, &Error{Msg: "Filter policy scope MessageAttributes does not support nested filter policy"}
			}
			if len(v) == 0 {
				return nil, invalid("\"%s\" must be an object or an array", name)
			}
			n, err := compileObject(v, scope, depth+1)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, key{name: name, nested: n})
		default:
			return nil, invalid("\"%s\" must be an object or an array", name)
		}
	}
	return o, nil
}

// sortedKeys iterates a map in key order, so that compiling (and its
// first error) does not depend on Go's map order.
func sortedKeys(m map[string]any) func(yield func(string, any) bool) {
	return func(yield func(string, any) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

func compileCond(c any) (cond, error) {
	switch c := c.(type) {
	case string:
		return cond{kind: condString, str: c}, nil
	case json.Number:
		n, err := number(c)
		if err != nil {
			return cond{}, err
		}
		return cond{kind: condNumber, num: n}, nil
	case bool:
		return cond{kind: condBool, b: c}, nil
	case nil:
		return cond{kind: condNull}, nil
	case map[string]any:
		if len(c) != 1 {
			return cond{}, invalid("Only one key allowed in match expression")
		}
		for op, v := range c {
			return compileOperator(op, v)
		}
	}
	return cond{}, invalid("Match value must be String, number, true, false, or null")
}

// number reads a policy's number, which must lie within ±MaxNumber.
func number(n json.Number) (float64, error) {
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.Abs(f) > MaxNumber {
		return 0, invalid("Numeric value %s is out of range: numbers must be from -1.0E9 to 1.0E9", n.String())
	}
	return round5(f), nil
}

// round5 keeps five decimal places, the precision SNS compares numbers
// with.
func round5(f float64) float64 { return math.Round(f*1e5) / 1e5 }

func compileOperator(op string, v any) (cond, error) {
	str := func(kind condKind) (cond, error) {
		s, ok := v.(string)
		if !ok {
			return cond{}, invalid("%s match pattern must be a string", op)
		}
		return cond{kind: kind, str: s}, nil
	}
	switch op {
	case "prefix":
		return str(condPrefix)
	case "suffix":
		return str(condSuffix)
	case "equals-ignore-case":
		c, err := str(condEqualsIgnoreCase)
		c.str = strings.ToLower(c.str)
		return c, err
	case "exists":
		b, ok := v.(bool)
		if !ok {
			return cond{}, invalid("exists match pattern must be either true or false.")
		}
		return cond{kind: condExists, b: b}, nil
	case "cidr":
		s, ok := v.(string)
		if !ok {
			return cond{}, invalid("cidr match pattern must be a string")
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return cond{}, invalid("Malformed CIDR, one '/' required: %s", s)
		}
		return cond{kind: condCIDR, prefix: p.Masked()}, nil
	case "anything-but":
		return compileAnythingBut(v)
	case "numeric":
		return compileNumeric(v)
	}
	return cond{}, invalid("Unrecognized match type %s", op)
}

func compileAnythingBut(v any) (cond, error) {
	switch v := v.(type) {
	case string:
		return cond{kind: condAnythingBut, set: []value{{kind: kindString, str: v}}}, nil
	case json.Number:
		n, err := number(v)
		if err != nil {
			return cond{}, err
		}
		return cond{kind: condAnythingBut, set: []value{{kind: kindNumber, num: n}}}, nil
	case []any:
		if len(v) == 0 {
			return cond{}, invalid("Empty arrays are not allowed")
		}
		set := make([]value, 0, len(v))
		for _, e := range v {
			switch e := e.(type) {
			case string:
				set = append(set, value{kind: kindString, str: e})
			case json.Number:
				n, err := number(e)
				if err != nil {
					return cond{}, err
				}
				set = append(set, value{kind: kindNumber, num: n})
			default:
				return cond{}, invalid("Inside anything but list, start|null|boolean is not supported.")
			}
		}
		return cond{kind: condAnythingBut, set: set}, nil
	case map[string]any:
		if len(v) != 1 {
			return cond{}, invalid("Only one key allowed in match expression")
		}
		for op, s := range v {
			str, ok := s.(string)
			switch {
			case op == "prefix" && ok:
				return cond{kind: condAnythingButPrefix, str: str}, nil
			case op == "suffix" && ok:
				return cond{kind: condAnythingButSuffix, str: str}, nil
			case op == "prefix" || op == "suffix":
				return cond{}, invalid("%s match pattern must be a string", op)
			}
			return cond{}, invalid("Unsupported anything-but pattern: %s", op)
		}
	}
	return cond{}, invalid("Value of anything-but must be an array or single string/number value.")
}

func compileNumeric(v any) (cond, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return cond{}, invalid("Value of numeric must be an array.")
	}
	c := cond{kind: condNumeric}
	opAt := func(i int) (string, error) {
		op, ok := arr[i].(string)
		if !ok {
			return "", invalid("Invalid member in numeric match: %v", arr[i])
		}
		return op, nil
	}
	numAt := func(i int, op string) (float64, error) {
		if op == "=" {
			op = "equals"
		}
		if i >= len(arr) {
			return 0, invalid("Value of %s must be numeric", op)
		}
		n, ok := arr[i].(json.Number)
		if !ok {
			return 0, invalid("Value of %s must be numeric", op)
		}
		return number(n)
	}
	op, err := opAt(0)
	if err != nil {
		return cond{}, err
	}
	n, err := numAt(1, op)
	if err != nil {
		return cond{}, err
	}
	switch op {
	case "=":
		c.wantNumericEqual, c.num = true, n
		if len(arr) > 2 {
			return cond{}, invalid("Too many elements in numeric expression")
		}
		return c, nil
	case ">", ">=":
		c.hasLo, c.lo, c.loIncl = true, n, op == ">="
	case "<", "<=":
		c.hasHi, c.hi, c.hiIncl = true, n, op == "<="
		if len(arr) > 2 {
			return cond{}, invalid("Too many elements in numeric expression")
		}
		return c, nil
	default:
		return cond{}, invalid("Unrecognized numeric range operator: %s", op)
	}
	if len(arr) == 2 {
		return c, nil
	}
	op2, ok := arr[2].(string)
	if !ok {
		return cond{}, invalid("Bad value in numeric range: %v", arr[2])
	}
	if op2 != "<" && op2 != "<=" {
		return cond{}, invalid("Bad numeric range operator: %s", op2)
	}
	n2, err := numAt(3, op2)
	if err != nil {
		return cond{}, err
	}
	if n2 <= c.lo {
		return cond{}, invalid("Bottom must be less than top")
	}
	if len(arr) > 4 {
		return cond{}, invalid("Too many terms in numeric range expression")
	}
	c.hasHi, c.hi, c.hiIncl = true, n2, op2 == "<="
	return c, nil
}

// keyCount counts an object's leaf keys as SNS limits them: its own, and
// the most any choice of its "$or" branches adds.
func keyCount(o *object) int {
	n := 0
	for _, k := range o.keys {
		if k.nested != nil {
			n += keyCount(k.nested)
		} else {
			n++
		}
	}
	for _, branches := range o.ors {
		most := 0
		for _, b := range branches {
			most = max(most, keyCount(b))
		}
		n += most
	}
	return n
}

// combinations is SNS's measure of a policy's complexity: the product of
// the number of values of each key (times its depth, for nested keys),
// and for "$or" the sum over its branches. It saturates past the limit.
func combinations(o *object, depth int) int {
	total := 1
	for _, k := range o.keys {
		if k.nested != nil {
			total = mulSat(total, combinations(k.nested, depth+1))
		} else {
			total = mulSat(total, len(k.conds)*depth)
		}
	}
	for _, branches := range o.ors {
		sum := 0
		for _, b := range branches {
			sum = min(sum+combinations(b, depth), MaxCombinations+1)
		}
		total = mulSat(total, sum)
	}
	return total
}

func mulSat(a, b int) int {
	if a > MaxCombinations || b > MaxCombinations {
		return MaxCombinations + 1
	}
	return min(a*b, MaxCombinations+1)
}
