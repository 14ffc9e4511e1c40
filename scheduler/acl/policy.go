// Package acl is Docket's access control, pure: policies written in HCL,
// the capabilities they grant on resources named by glob, and the check a
// transport makes for a route's need. It holds no tokens' storage and
// knows no transport; the control layer keeps tokens and policies in its
// state and asks this package whether an identity may do something.
//
// A policy is a list of rules, each a resource type with a name glob and
// capabilities:
//
//	queue "orders-*" {
//	  capabilities = ["send", "receive"]
//	}
//	job "*" {
//	  capabilities = ["read"]
//	}
//	operator {
//	  capabilities = ["read"]
//	}
//
// A resource's capabilities are the union of those of every rule whose
// glob matches its name, in every policy a token carries; "deny" in any
// matching rule takes them all away, so a broad grant can carve out
// exceptions.
package acl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Resource types and what each may be granted. Resources that have
// names take a glob label; operator and acl are one resource each, and a
// label on them is refused.
var vocabulary = map[string][]string{
	"queue":    {"read", "write", "send", "receive"},
	"job":      {"read", "submit", "scale", "logs"},
	"topic":    {"read", "write", "publish", "subscribe"},
	"function": {"read", "write", "invoke"},
	"node":     {"read", "write"},
	"operator": {"read", "write"},
	"acl":      {"read", "write"},
}

// unnamed are the resource types without names.
var unnamed = map[string]bool{"operator": true, "acl": true}

// Deny, in a rule's capabilities, takes every capability away from the
// resources the rule matches.
const Deny = "deny"

// Limits on a policy's source: policies are small, and a bound keeps
// parsing one cheap whoever sends it.
const (
	MaxPolicyBytes = 64 << 10
	MaxRules       = 512
	MaxGlobBytes   = 256
)

// Rule grants Capabilities on the resources of type Resource whose name
// matches Glob ("*" any run of characters).
type Rule struct {
	Resource     string   `json:"resource"`
	Glob         string   `json:"glob"`
	Capabilities []string `json:"capabilities"`
}

// Policy is a parsed policy.
type Policy struct {
	Rules []Rule `json:"rules"`
}

// Resources lists the resource types a rule may name.
func Resources() []string {
	out := make([]string, 0, len(vocabulary))
	for r := range vocabulary {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Capabilities lists what a resource type may be granted, without deny.
func Capabilities(resource string) []string { return slices.Clone(vocabulary[resource]) }

// Parse parses a policy's HCL source. Every mistake is reported with its
// file, line and column.
func Parse(filename string, src []byte) (*Policy, hcl.Diagnostics) {
	if len(src) > MaxPolicyBytes {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Policy too large",
			Detail: fmt.Sprintf("The policy is %d bytes; the limit is %d.", len(src), MaxPolicyBytes)}}
	}
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	body := f.Body.(*hclsyntax.Body)
	for _, a := range body.Attributes {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected argument",
			Detail:  fmt.Sprintf("A policy holds only rule blocks (%s); %q is an argument.", strings.Join(Resources(), ", "), a.Name),
			Subject: a.NameRange.Ptr()})
	}
	if len(body.Blocks) > MaxRules {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Too many rules",
			Detail:  fmt.Sprintf("The policy has %d rules; the limit is %d.", len(body.Blocks), MaxRules),
			Subject: body.Blocks[MaxRules].TypeRange.Ptr()})
	}
	p := &Policy{}
	for _, b := range body.Blocks {
		r, ds := parseRule(b)
		diags = append(diags, ds...)
		if !ds.HasErrors() {
			p.Rules = append(p.Rules, r)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

// literalString is the value of a quoted string without interpolation.
func literalString(e hclsyntax.Expression) (string, bool) {
	t, ok := e.(*hclsyntax.TemplateExpr)
	if !ok || !t.IsStringLiteral() {
		return "", false
	}
	v, diags := t.Value(nil)
	if diags.HasErrors() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func parseRule(b *hclsyntax.Block) (Rule, hcl.Diagnostics) {
	errAt := func(rng hcl.Range, summary, format string, args ...any) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr()}}
	}
	caps, known := vocabulary[b.Type]
	if !known {
		return Rule{}, errAt(b.TypeRange, "Unknown resource", "%q is not a resource; use one of %s.", b.Type, strings.Join(Resources(), ", "))
	}
	r := Rule{Resource: b.Type, Glob: "*"}
	switch {
	case len(b.Labels) > 1:
		return Rule{}, errAt(b.LabelRanges[1], "Extra label", "A %s rule takes one name glob.", b.Type)
	case len(b.Labels) == 1 && unnamed[b.Type]:
		return Rule{}, errAt(b.LabelRanges[0], "Unexpected label", "There is one %s resource: its rule takes no name.", b.Type)
	case len(b.Labels) == 1:
		r.Glob = b.Labels[0]
		if r.Glob == "" || len(r.Glob) > MaxGlobBytes {
			return Rule{}, errAt(b.LabelRanges[0], "Invalid name glob", "A name glob has 1 to %d bytes.", MaxGlobBytes)
		}
	case !unnamed[b.Type]:
		return Rule{}, errAt(b.TypeRange, "Missing name glob", "A %s rule names the %ss it covers, e.g. %s \"*\" { … }.", b.Type, b.Type, b.Type)
	}
	var diags hcl.Diagnostics
	for _, nb := range b.Body.Blocks {
		diags = append(diags, errAt(nb.TypeRange, "Unexpected block", "A rule holds only capabilities = [...]; %q is a block.", nb.Type)...)
	}
	var attr *hclsyntax.Attribute
	for name, a := range b.Body.Attributes {
		if name != "capabilities" {
			diags = append(diags, errAt(a.NameRange, "Unsupported argument", "A rule holds only capabilities; %q is not one of its arguments.", name)...)
			continue
		}
		attr = a
	}
	if attr == nil {
		return Rule{}, append(diags, errAt(b.Body.SrcRange, "Missing capabilities", "A %s rule needs capabilities = [...], from %s or %q.", b.Type, strings.Join(caps, ", "), Deny)...)
	}
	// A list of literal strings only: a policy has no variables, functions
	// or expressions, so reading one costs no more than its size.
	list, ok := attr.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		return Rule{}, append(diags, errAt(attr.Expr.Range(), "Invalid capabilities", "capabilities is a list of quoted strings, e.g. [\"read\"].")...)
	}
	seen := map[string]bool{}
	for _, e := range list.Exprs {
		s, ok := literalString(e)
		if !ok {
			diags = append(diags, errAt(e.Range(), "Invalid capability", "A capability is a quoted string.")...)
			continue
		}
		if s != Deny && !slices.Contains(caps, s) {
			diags = append(diags, errAt(e.Range(), "Unknown capability", "%q is not a capability of %s; use %s or %q.", s, b.Type, strings.Join(caps, ", "), Deny)...)
			continue
		}
		if !seen[s] {
			seen[s] = true
			r.Capabilities = append(r.Capabilities, s)
		}
	}
	if len(r.Capabilities) == 0 && !diags.HasErrors() {
		diags = append(diags, errAt(attr.Expr.Range(), "Missing capabilities", "The rule grants nothing; list capabilities or %q.", Deny)...)
	}
	return r, diags
}

// Allowed reports whether the policies grant capability on the resource
// of type resource named name: some matching rule grants it and none
// denies.
func Allowed(policies []*Policy, resource, name, capability string) bool {
	granted := false
	for _, p := range policies {
		if p == nil {
			continue
		}
		for _, r := range p.Rules {
			if r.Resource != resource || !Match(r.Glob, name) {
				continue
			}
			for _, c := range r.Capabilities {
				switch c {
				case Deny:
					return false
				case capability:
					granted = true
				}
			}
		}
	}
	return granted
}

// Match reports whether name matches glob, where "*" stands for any run of
// characters (none included) and every other character for itself. It
// runs in time linear in the lengths, whatever the glob.
func Match(glob, name string) bool {
	// The classic greedy match with one backtrack point: the last star.
	g, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case g < len(glob) && glob[g] == '*':
			star, mark = g, n
			g++
		case g < len(glob) && glob[g] == name[n]:
			g++
			n++
		case star >= 0:
			mark++
			g, n = star+1, mark
		default:
			return false
		}
	}
	for g < len(glob) && glob[g] == '*' {
		g++
	}
	return g == len(glob)
}
