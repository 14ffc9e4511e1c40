package filter

import (
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// Attribute is a message attribute as SNS carries it: its data type
// (String, Number, Binary or String.Array, perhaps with a custom label
// after a dot, such as Number.float) and its value. Binary attributes
// take part in no match but "exists".
type Attribute struct {
	Type  string
	Value string
}

type valueKind uint8

const (
	kindString valueKind = iota
	kindNumber
	kindBool
	kindNull
)

// value is one value a condition is matched against.
type value struct {
	kind valueKind
	str  string
	num  float64
	b    bool
}

// Message is a message prepared for matching against any number of
// policies: its attributes typed and parsed once, its body decoded (once,
// on the first body policy). It is safe for concurrent use.
type Message struct {
	attrs map[string][]value
	body  []byte

	bodyOnce sync.Once
	bodyObj  map[string]any // nil unless the body is a JSON object
}

// NewMessage prepares a message's attributes and body for matching.
func NewMessage(attrs map[string]Attribute, body []byte) *Message {
	m := &Message{body: body}
	if len(attrs) > 0 {
		m.attrs = make(map[string][]value, len(attrs))
		for name, a := range attrs {
			m.attrs[name] = attributeValues(a)
		}
	}
	return m
}

// attributeValues types an attribute's value: a String's string, a
// Number's number, a String.Array's elements; none for Binary or a value
// that does not parse.
func attributeValues(a Attribute) []value {
	base, _, _ := strings.Cut(a.Type, ".")
	switch {
	case a.Type == "String.Array":
		var elems []any
		if json.Unmarshal([]byte(a.Value), &elems) != nil {
			return []value{}
		}
		vals := make([]value, 0, len(elems))
		for _, e := range elems {
			if v, ok := valueOf(e); ok {
				vals = append(vals, v)
			}
		}
		return vals
	case base == "String":
		return []value{{kind: kindString, str: a.Value}}
	case base == "Number":
		f, err := strconv.ParseFloat(strings.TrimSpace(a.Value), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return []value{}
		}
		return []value{{kind: kindNumber, num: round5(f)}}
	}
	return []value{} // Binary: present, with nothing to compare
}

// valueOf is a decoded JSON scalar as a value.
func valueOf(v any) (value, bool) {
	switch v := v.(type) {
	case string:
		return value{kind: kindString, str: v}, true
	case float64:
		return value{kind: kindNumber, num: round5(v)}, true
	case bool:
		return value{kind: kindBool, b: v}, true
	case nil:
		return value{kind: kindNull}, true
	}
	return value{}, false
}

func (m *Message) object() map[string]any {
	m.bodyOnce.Do(func() {
		var v any
		if json.Unmarshal(m.body, &v) == nil {
			m.bodyObj, _ = v.(map[string]any)
		}
	})
	return m.bodyObj
}

// Match reports whether the message passes the policy. A nil policy
// passes everything.
func (p *Policy) Match(m *Message) bool {
	if p == nil || (len(p.root.keys) == 0 && len(p.root.ors) == 0) {
		return true
	}
	if p.scope == Body {
		obj := m.object()
		return obj != nil && p.root.matchBody(obj)
	}
	return p.root.matchAttrs(m.attrs)
}

func (o *object) matchAttrs(attrs map[string][]value) bool {
	for i := range o.keys {
		k := &o.keys[i]
		vals, present := attrs[k.name]
		if !matchConds(k.conds, present, vals) {
			return false
		}
	}
	for _, branches := range o.ors {
		ok := false
		for _, b := range branches {
			if b.matchAttrs(attrs) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (o *object) matchBody(obj map[string]any) bool {
	for i := range o.keys {
		k := &o.keys[i]
		v, present := obj[k.name]
		if k.nested != nil {
			if !present || !k.nested.matchNested(v) {
				return false
			}
			continue
		}
		if !matchJSON(k.conds, present, v) {
			return false
		}
	}
	for _, branches := range o.ors {
		ok := false
		for _, b := range branches {
			if b.matchBody(obj) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchNested matches a nested policy object against a body field: an
// object, or an array any of whose objects passes.
func (o *object) matchNested(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return o.matchBody(v)
	case []any:
		for _, e := range v {
			if o.matchNested(e) {
				return true
			}
		}
	}
	return false
}

// matchConds reports whether any condition holds for a key present (or
// not) with vals.
func matchConds(conds []cond, present bool, vals []value) bool {
	for i := range conds {
		c := &conds[i]
		if c.kind == condExists {
			if c.b == present {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		for j := range vals {
			if c.match(&vals[j]) {
				return true
			}
		}
	}
	return false
}

// matchJSON is matchConds on a body field's decoded value: a scalar, or
// an array any of whose scalars may match (nested arrays flattened).
func matchJSON(conds []cond, present bool, v any) bool {
	for i := range conds {
		c := &conds[i]
		if c.kind == condExists {
			if c.b == present {
				return true
			}
			continue
		}
		if present && c.matchJSON(v) {
			return true
		}
	}
	return false
}

func (c *cond) matchJSON(v any) bool {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if c.matchJSON(e) {
				return true
			}
		}
		return false
	}
	val, ok := valueOf(v)
	return ok && c.match(&val)
}

// match reports whether the condition holds for v.
func (c *cond) match(v *value) bool {
	switch c.kind {
	case condString:
		return v.kind == kindString && v.str == c.str
	case condNumber:
		return v.kind == kindNumber && v.num == c.num
	case condBool:
		return v.kind == kindBool && v.b == c.b
	case condNull:
		return v.kind == kindNull
	case condPrefix:
		return v.kind == kindString && strings.HasPrefix(v.str, c.str)
	case condSuffix:
		return v.kind == kindString && strings.HasSuffix(v.str, c.str)
	case condEqualsIgnoreCase:
		return v.kind == kindString && strings.EqualFold(v.str, c.str)
	case condAnythingBut:
		for i := range c.set {
			s := &c.set[i]
			if s.kind == v.kind && s.str == v.str && s.num == v.num {
				return false
			}
		}
		return v.kind == kindString || v.kind == kindNumber
	case condAnythingButPrefix:
		return v.kind == kindString && !strings.HasPrefix(v.str, c.str)
	case condAnythingButSuffix:
		return v.kind == kindString && !strings.HasSuffix(v.str, c.str)
	case condNumeric:
		if v.kind != kindNumber {
			return false
		}
		if c.wantNumericEqual {
			return v.num == c.num
		}
		if c.hasLo && (v.num < c.lo || v.num == c.lo && !c.loIncl) {
			return false
		}
		if c.hasHi && (v.num > c.hi || v.num == c.hi && !c.hiIncl) {
			return false
		}
		return true
	case condCIDR:
		if v.kind != kindString {
			return false
		}
		addr, err := netip.ParseAddr(v.str)
		return err == nil && c.prefix.Contains(addr.Unmap())
	}
	return false
}
