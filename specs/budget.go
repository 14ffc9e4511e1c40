package specs

import (
	"context"
	"fmt"
	"math/big"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// elementBytes is what a budget counts for every value in a collection,
// about the size of a cty.Value.
const elementBytes = 32

// budget meters the evaluation of one parse's expressions, so that a short
// file cannot make its parser loop for minutes or build gigabytes: nested
// for expressions over range(...) multiply, and functions such as format
// and join build strings far longer than their arguments.
//
// Expressions are metered by wrapping them (see [budget.meter]) so that
// every evaluation of one, however deep in a loop, goes through
// [budget.eval]; functions are metered by wrapping them too (see
// functions.go), since some must be stopped before they build their
// result. The first charge over the budget refuses the parse: it records
// a diagnostic, and every later charge fails with the same one, so that
// evaluation unwinds quickly even through try and can, which swallow
// errors.
type budget struct {
	// ctx ends the parse early, when the client that sent the file has
	// gone, for example. The budget holds it for the one parse it meters
	// because hcl's Value methods take no context: this is the only way
	// for a deep evaluation to see it. Nil means never.
	ctx context.Context

	limits Limits
	// steps and bytes are what is left of Limits.MaxEvalSteps and
	// Limits.MaxEvalBytes.
	steps, bytes int64
	// granted is the bytes of source read, which add to the limits.
	granted int64
	// refused, once set, is the diagnostic that stopped evaluation.
	refused *hcl.Diagnostic
}

func newBudget(ctx context.Context, l Limits) *budget {
	return &budget{ctx: ctx, limits: l, steps: l.MaxEvalSteps, bytes: l.MaxEvalBytes}
}

// grant adds to the budget for a source of n bytes about to be read.
func (b *budget) grant(n int) {
	b.granted += int64(n)
	b.steps += int64(n)
	b.bytes += 4 * int64(n)
}

// refuse records d as the reason evaluation stops, unless one is recorded
// already, and returns the recorded one. A refusal with no subject yet gets
// the range of the innermost metered expression around it (see eval).
func (b *budget) refuse(d *hcl.Diagnostic) *hcl.Diagnostic {
	if b.refused == nil {
		b.refused = d
	}
	return b.refused
}

// tooCostly refuses evaluation for work beyond the budget at expr, which
// may be nil when the caller does not know it.
func (b *budget) tooCostly(expr hcl.Expression, format string, args ...any) *hcl.Diagnostic {
	var subject *hcl.Range
	if expr != nil {
		subject = expr.Range().Ptr()
	}
	return b.refuse(refusal(RefusedWork, subject, "Expression too costly", format, args...))
}

// charge takes steps from the budget for work at expr. It returns the
// refusal once the budget is spent or the context has ended.
func (b *budget) charge(steps int64, expr hcl.Expression) *hcl.Diagnostic {
	if b.refused != nil {
		return b.refused
	}
	if b.ctx != nil {
		select {
		case <-b.ctx.Done():
			var subject *hcl.Range
			if expr != nil {
				subject = expr.Range().Ptr()
			}
			return b.refuse(refusal(RefusedCanceled, subject, "Parsing canceled",
				"Evaluation stopped here: %s.", b.ctx.Err()))
		default:
		}
	}
	if b.steps -= steps; b.steps < 0 {
		return b.tooCostly(expr, "Evaluating the expressions takes more than the %d steps allowed by here; "+
			"loops over large collections, or nested loops, cost a step for every element.", b.limits.MaxEvalSteps+b.granted)
	}
	return nil
}

// allocate takes n bytes from the budget for a value built at expr.
func (b *budget) allocate(n int64, expr hcl.Expression) *hcl.Diagnostic {
	if b.refused != nil {
		return b.refused
	}
	if b.bytes -= n; b.bytes < 0 {
		return b.tooCostly(expr, "The values the expressions build come to more than the %d bytes allowed by here; "+
			"strings count by their length and collections by their elements.", b.limits.MaxEvalBytes+4*b.granted)
	}
	return nil
}

// chargeValue charges for v, built at expr: its elements and costly
// scalars in steps, its size in bytes. It measures no further than the
// budget reaches, so measuring costs no more than what it charges.
func (b *budget) chargeValue(v cty.Value, expr hcl.Expression) *hcl.Diagnostic {
	m := measure(v, b.steps+1, b.bytes+1)
	if d := b.charge(m.steps, expr); d != nil {
		return d
	}
	return b.allocate(m.bytes, expr)
}

// eval evaluates expr in ctx, metered: a step for the evaluation itself,
// then the charge for its value. Every metered expression evaluates
// through here, and so do the expressions the parser evaluates directly.
func (b *budget) eval(expr hcl.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if d := b.charge(1, expr); d != nil {
		return cty.DynamicVal, hcl.Diagnostics{d}
	}
	v, diags := expr.Value(ctx)
	if b.refused != nil {
		if b.refused.Subject == nil {
			b.refused.Subject = expr.Range().Ptr()
		}
		return cty.DynamicVal, hcl.Diagnostics{b.refused}
	}
	if diags.HasErrors() {
		return v, diags
	}
	if d := b.chargeValue(v, expr); d != nil {
		return cty.DynamicVal, append(diags, d)
	}
	return v, diags
}

// metered is an expression whose evaluation goes through a budget.
// Embedding the interface keeps its unexported walkChildNodes method, so
// a metered expression can stand wherever the syntax tree holds one, and
// UnwrapExpression lets hcl's static analysis (hcl.ExprList, hcl.ExprCall,
// hcl.AbsTraversalForExpr and so on, which type declarations rely on) see
// through it.
type metered struct {
	hclsyntax.Expression
	budget *budget
}

func (e *metered) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return e.budget.eval(e.Expression, ctx)
}

// UnwrapExpression returns the expression e meters.
func (e *metered) UnwrapExpression() hcl.Expression { return e.Expression }

// How a child expression is metered.
const (
	// wrapUnlessLiteral meters the child unless it is a literal, whose
	// cost its parent's evaluation covers.
	wrapUnlessLiteral = iota
	// wrapAlways meters the child even if it is a literal: it is the body
	// of a loop, evaluated once per element.
	wrapAlways
	// wrapNever leaves the child itself alone but meters inside it: an
	// object key, which HCL inspects by its concrete type.
	wrapNever
)

// child is a place in the syntax tree that holds an expression.
type child struct {
	slot *hclsyntax.Expression
	wrap int
}

// children returns the places in e that hold expressions. It knows every
// expression type of hclsyntax; ok is false for any other.
func children(e hclsyntax.Expression) (out []child, ok bool) {
	add := func(wrap int, slots ...*hclsyntax.Expression) {
		for _, s := range slots {
			if *s != nil {
				out = append(out, child{slot: s, wrap: wrap})
			}
		}
	}
	switch e := e.(type) {
	case *hclsyntax.LiteralValueExpr, *hclsyntax.ScopeTraversalExpr, *hclsyntax.AnonSymbolExpr, *hclsyntax.ExprSyntaxError:
	case *metered:
		add(wrapNever, &e.Expression)
	case *hclsyntax.ParenthesesExpr:
		add(wrapUnlessLiteral, &e.Expression)
	case *hclsyntax.RelativeTraversalExpr:
		add(wrapUnlessLiteral, &e.Source)
	case *hclsyntax.FunctionCallExpr:
		for i := range e.Args {
			add(wrapUnlessLiteral, &e.Args[i])
		}
	case *hclsyntax.ConditionalExpr:
		add(wrapUnlessLiteral, &e.Condition, &e.TrueResult, &e.FalseResult)
	case *hclsyntax.IndexExpr:
		add(wrapUnlessLiteral, &e.Collection, &e.Key)
	case *hclsyntax.TupleConsExpr:
		for i := range e.Exprs {
			add(wrapUnlessLiteral, &e.Exprs[i])
		}
	case *hclsyntax.ObjectConsExpr:
		for i := range e.Items {
			add(wrapNever, &e.Items[i].KeyExpr)
			add(wrapUnlessLiteral, &e.Items[i].ValueExpr)
		}
	case *hclsyntax.ObjectConsKeyExpr:
		add(wrapNever, &e.Wrapped)
	case *hclsyntax.ForExpr:
		add(wrapUnlessLiteral, &e.CollExpr)
		add(wrapAlways, &e.KeyExpr, &e.ValExpr, &e.CondExpr)
	case *hclsyntax.SplatExpr:
		add(wrapUnlessLiteral, &e.Source)
		add(wrapAlways, &e.Each)
	case *hclsyntax.BinaryOpExpr:
		add(wrapUnlessLiteral, &e.LHS, &e.RHS)
	case *hclsyntax.UnaryOpExpr:
		add(wrapUnlessLiteral, &e.Val)
	case *hclsyntax.TemplateExpr:
		for i := range e.Parts {
			add(wrapUnlessLiteral, &e.Parts[i])
		}
	case *hclsyntax.TemplateJoinExpr:
		add(wrapUnlessLiteral, &e.Tuple)
	case *hclsyntax.TemplateWrapExpr:
		add(wrapUnlessLiteral, &e.Wrapped)
	default:
		return nil, false
	}
	return out, true
}

// meterBody prepares every expression in body, and in the bodies of its
// blocks, for metered evaluation (see meter).
func (b *budget) meterBody(body *hclsyntax.Body) *hcl.Diagnostic {
	var first *hcl.Diagnostic
	keep := func(d *hcl.Diagnostic) {
		if d != nil && (first == nil || d.Subject.Start.Byte < first.Subject.Start.Byte) {
			first = d
		}
	}
	for _, attr := range body.Attributes {
		keep(b.meter(&attr.Expr))
	}
	for _, block := range body.Blocks {
		keep(b.meterBody(block.Body))
	}
	return first
}

// meter prepares the expression at root for metered evaluation: it wraps
// the expressions inside it in [metered] (root itself is evaluated by
// whoever holds it, through [budget.eval]). On the way it refuses trees
// deeper than Limits.maxExprDepth, since evaluation recurses once per
// level, and number literals too large to write out. It walks with a
// stack of its own rather than recursion, so that it is safe on any tree
// the parser builds.
func (b *budget) meter(root *hclsyntax.Expression) *hcl.Diagnostic {
	type item struct {
		slot  *hclsyntax.Expression
		depth int
		wrap  int
	}
	maxDepth := b.limits.maxExprDepth()
	stack := []item{{slot: root, depth: 1, wrap: wrapNever}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		e := *it.slot
		if it.depth > maxDepth {
			return refusal(RefusedShape, e.Range().Ptr(), "Expression too deeply nested",
				"This expression is nested more than %d levels deep, counting operators and indexes.", maxDepth)
		}
		kids, ok := children(e)
		if !ok {
			return refusal(RefusedShape, e.Range().Ptr(), "Unsupported expression",
				"Expressions of type %T cannot be evaluated safely.", e)
		}
		if lit, isLit := e.(*hclsyntax.LiteralValueExpr); isLit && lit.Val.Type() == cty.Number && lit.Val.IsKnown() && !lit.Val.IsNull() {
			if d := numberDigits(lit.Val.AsBigFloat()); d > maxNumberLen {
				return refusal(RefusedShape, e.Range().Ptr(), "Number too large",
					"This number has about %d digits; at most %d are accepted.", d, maxNumberLen)
			}
		}
		for _, k := range slices.Backward(kids) {
			stack = append(stack, item{slot: k.slot, depth: it.depth + 1, wrap: k.wrap})
		}
		switch it.wrap {
		case wrapAlways:
			*it.slot = &metered{Expression: e, budget: b}
		case wrapUnlessLiteral:
			if _, isLit := e.(*hclsyntax.LiteralValueExpr); !isLit {
				if _, isAnon := e.(*hclsyntax.AnonSymbolExpr); !isAnon {
					*it.slot = &metered{Expression: e, budget: b}
				}
			}
		}
	}
	return nil
}

// valueMeasure is what a value costs: steps and bytes.
type valueMeasure struct {
	steps, bytes       int64
	maxSteps, maxBytes int64
}

// measure returns what v costs, but stops adding once either figure is
// over its max.
func measure(v cty.Value, maxSteps, maxBytes int64) valueMeasure {
	m := valueMeasure{maxSteps: maxSteps, maxBytes: maxBytes}
	m.add(v)
	return m
}

func (m *valueMeasure) full() bool { return m.steps > m.maxSteps || m.bytes > m.maxBytes }

// add adds v, recursively. Values are as deep as the expressions and
// decoders that build them, which are bounded.
func (m *valueMeasure) add(v cty.Value) {
	v, _ = v.Unmark()
	m.steps++
	m.bytes += elementBytes
	if m.full() || !v.IsKnown() || v.IsNull() {
		return
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		s := v.AsString()
		m.bytes += int64(len(s))
		m.steps += int64(len(s))/64 + digitsCost(leadingDigits(s))
	case ty == cty.Number:
		d := numberDigits(v.AsBigFloat())
		m.bytes += d
		m.steps += digitsCost(d)
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		if ty.IsTupleType() || ty.IsObjectType() {
			// A tuple or object has a type for each element, and
			// converting it to a list, set or map of any type compares
			// every one with every other.
			m.steps += squareCost(int64(v.LengthInt()))
		}
		keyed := ty.IsMapType() || ty.IsObjectType()
		for it := v.ElementIterator(); it.Next() && !m.full(); {
			k, e := it.Element()
			if keyed {
				m.bytes += int64(len(k.AsString()))
			}
			m.add(e)
		}
	}
}

// digitsCost is the extra work of reading or writing a number of n
// digits, which grows with the square of n: nothing for a sensible number,
// the whole budget for one of tens of thousands of digits.
func digitsCost(n int64) int64 {
	if n <= 64 {
		return 0
	}
	return (n / 64) * (n / 64)
}

// squareCost is the extra work of comparing each of n things with each
// other: nothing for a few dozen, a step per element at n = 64·64.
func squareCost(n int64) int64 {
	if n <= 64 {
		return 0
	}
	return n * n / 64 / 64
}

// leadingDigits returns how many characters s has that a conversion to a
// number would read as digits before it fails.
func leadingDigits(s string) int64 {
	i := 0
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		i++
	}
	n := i
	for n < len(s) && (isDigit(s[n]) || s[n] == '.') {
		n++
	}
	return int64(n - i)
}

// numberDigits estimates how many digits writing f out in full takes,
// which is what converting it to a string does.
func numberDigits(f *big.Float) int64 {
	if f.IsInf() || f.Sign() == 0 {
		return 1
	}
	exp := int64(f.MantExp(nil))
	if exp < 0 {
		exp = -exp
	}
	return exp*30103/100000 + 1
}

// errRefused is what a metered function returns when the budget refuses
// its call; the diagnostic the parse reports is the budget's own.
type errRefused struct{ d *hcl.Diagnostic }

func (e errRefused) Error() string { return fmt.Sprintf("%s: %s", e.d.Summary, e.d.Detail) }
