package specs

import (
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions returns the functions job file expressions may call, named as
// in Terraform, each metered by b (see [budget.function]). The table is
// built afresh for every parse, so no caller can change what another parse
// sees.
//
// Only pure functions are offered. Nothing reads files (no file,
// templatefile, fileexists), the clock or randomness: a job file sent to a
// server must not reach into the server, and parsing it twice must give the
// same model. Functions whose result can grow without bound from a short
// input (setproduct) are left out, since servers parse untrusted files.
func functions(b *budget) map[string]function.Function {
	table := map[string]function.Function{
		// Numbers.
		"abs":      stdlib.AbsoluteFunc,
		"ceil":     stdlib.CeilFunc,
		"floor":    stdlib.FloorFunc,
		"log":      stdlib.LogFunc,
		"max":      stdlib.MaxFunc,
		"min":      stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc,
		"pow":      stdlib.PowFunc,
		"signum":   stdlib.SignumFunc,

		// Strings.
		"chomp":         stdlib.ChompFunc,
		"format":        stdlib.FormatFunc,
		"formatlist":    stdlib.FormatListFunc,
		"indent":        stdlib.IndentFunc,
		"join":          stdlib.JoinFunc,
		"lower":         stdlib.LowerFunc,
		"regex":         stdlib.RegexFunc,
		"regexall":      stdlib.RegexAllFunc,
		"regex_replace": stdlib.RegexReplaceFunc,
		"replace":       stdlib.ReplaceFunc,
		"split":         stdlib.SplitFunc,
		"strlen":        stdlib.StrlenFunc,
		"strrev":        stdlib.ReverseFunc,
		"substr":        stdlib.SubstrFunc,
		"title":         stdlib.TitleFunc,
		"trim":          stdlib.TrimFunc,
		"trimprefix":    stdlib.TrimPrefixFunc,
		"trimspace":     stdlib.TrimSpaceFunc,
		"trimsuffix":    stdlib.TrimSuffixFunc,
		"upper":         stdlib.UpperFunc,

		// Collections.
		"chunklist":       stdlib.ChunklistFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"distinct":        stdlib.DistinctFunc,
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"keys":            stdlib.KeysFunc,
		"length":          stdlib.LengthFunc,
		"lookup":          stdlib.LookupFunc,
		"merge":           stdlib.MergeFunc,
		"range":           stdlib.RangeFunc,
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setsubtract":     stdlib.SetSubtractFunc,
		"setunion":        stdlib.SetUnionFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"values":          stdlib.ValuesFunc,
		"zipmap":          stdlib.ZipmapFunc,

		// Encodings.
		"csvdecode":  stdlib.CSVDecodeFunc,
		"jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc,

		// Types and errors.
		"tobool":   stdlib.MakeToFunc(cty.Bool),
		"tonumber": stdlib.MakeToFunc(cty.Number),
		"tostring": stdlib.MakeToFunc(cty.String),
		"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset":    stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tomap":    stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"try":      tryfunc.TryFunc,
		"can":      tryfunc.CanFunc,
	}
	for name, f := range table {
		// try and can build nothing: they evaluate expressions, which
		// are metered themselves.
		if name != "try" && name != "can" {
			table[name] = b.function(name, f)
		}
	}
	return table
}

// function returns f metered by b. Before f runs, the call is charged for
// reading its arguments and for the work f does beyond that (see
// callCost), and refused if the value it may build does not fit what is
// left of the budget: a function like format("%999999999d", 1) must be
// stopped before it allocates, not after. The value it returns is charged
// by the expression that called it.
func (b *budget) function(name string, f function.Function) function.Function {
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			if d := b.beforeType(name, args); d != nil {
				return cty.NilType, errRefused{d}
			}
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if d := b.beforeCall(name, args); d != nil {
				return cty.NilVal, errRefused{d}
			}
			return f.Call(args)
		},
	})
}

// beforeType returns the budget's refusal if the function name must not
// work out its type from args. Most functions find their type from their
// arguments' types alone, but jsondecode parses its argument to find it,
// recursing once per level of nesting.
func (b *budget) beforeType(name string, args []cty.Value) *hcl.Diagnostic {
	if b.refused != nil {
		return b.refused
	}
	if name != "jsondecode" || len(args) == 0 || args[0].Type() != cty.String || !args[0].IsKnown() || args[0].IsNull() {
		return nil
	}
	if d := checkJSONNesting("", []byte(args[0].AsString()), b.limits.MaxNesting); d != nil {
		return b.refuse(refusal(RefusedShape, nil, d.Summary, "In the argument of jsondecode: %s", d.Detail))
	}
	return nil
}

// beforeCall charges for a call of the function name with args and
// returns the budget's refusal if the call must not go ahead.
func (b *budget) beforeCall(name string, args []cty.Value) *hcl.Diagnostic {
	var read int64
	for _, a := range args {
		read += measure(a, b.steps+1, math.MaxInt64).steps
	}
	if d := b.charge(read, nil); d != nil {
		return d
	}
	cost := callCost(name, args)
	if d := b.charge(cost.steps, nil); d != nil {
		return d
	}
	if cost.bytes > b.bytes {
		return b.tooCostly(nil, "Calling %s here could build a value of about %d bytes, more than the %d bytes left of the %d "+
			"the expressions may build.", name, cost.bytes, max(b.bytes, 0), b.limits.MaxEvalBytes+4*b.granted)
	}
	return nil
}

// cost is what a function call may cost beyond reading its arguments:
// steps of work and an upper bound on the bytes of its result.
type cost struct {
	steps, bytes int64
}

// callCost returns what calling the function name with args may cost
// beyond reading the arguments, for the functions whose work or result can
// outgrow their arguments: those that repeat (format widths, join
// separators, indent, replace), split a string into many values, decode,
// or do more than linear work (distinct, sort, trim, regular expressions,
// parseint in bases that are not powers of two). Other functions build
// values no larger than their arguments, within a small factor, which the
// charge for the result covers. Arguments of the wrong type cost nothing:
// the call fails on them.
func callCost(name string, args []cty.Value) cost {
	str := func(i int) string {
		if i < len(args) && args[i].Type() == cty.String && args[i].IsKnown() && !args[i].IsNull() {
			return args[i].AsString()
		}
		return ""
	}
	size := func(v cty.Value) int64 { return measure(v, math.MaxInt64, math.MaxInt64).bytes }
	n := func(s string) int64 { return int64(len(s)) }
	switch name {
	case "format", "formatlist":
		return cost{bytes: formatBound(str(0), args[1:], name == "formatlist")}
	case "join":
		sep := n(str(0))
		var total int64
		for _, l := range args[1:] {
			if collection(l) {
				for it := l.ElementIterator(); it.Next(); {
					_, e := it.Element()
					total += size(e) + sep
				}
			}
		}
		return cost{bytes: total + elementBytes}
	case "indent":
		spaces := int64(0)
		if len(args) > 0 && args[0].Type() == cty.Number && args[0].IsKnown() && !args[0].IsNull() {
			f, _ := args[0].AsBigFloat().Float64()
			spaces = int64(max(0, min(f, 1<<40)))
		}
		s := str(1)
		return cost{bytes: n(s) + spaces*int64(strings.Count(s, "\n")+1) + elementBytes}
	case "replace":
		s, sub, rep := str(0), str(1), str(2)
		count := strings.Count(s, sub) // one more than the runes when sub is empty
		return cost{bytes: n(s) + int64(count)*n(rep) + elementBytes}
	case "regex_replace":
		s, pattern, rep := str(0), str(1), str(2)
		// Matches do not overlap, and every reference in rep ($1, ${name})
		// stands for part of a match: at most the whole string in all.
		matches := n(s) + 1
		refs := int64(strings.Count(rep, "$"))
		return cost{steps: regexSteps(pattern, s), bytes: n(s) + matches*n(rep) + refs*n(s) + elementBytes}
	case "regex", "regexall":
		pattern, s := str(0), str(1)
		groups := int64(1)
		if re, err := regexp.Compile(pattern); err == nil {
			groups += int64(re.NumSubexp())
		}
		matches := int64(1)
		if name == "regexall" {
			matches = n(s) + 1
		}
		// Groups may nest, so each can hold all of a match.
		return cost{steps: regexSteps(pattern, s), bytes: matches*groups*elementBytes + groups*n(s) + elementBytes}
	case "split":
		sep, s := str(0), str(1)
		return cost{bytes: int64(strings.Count(s, sep)+1)*elementBytes + n(s)}
	case "csvdecode":
		s := str(0)
		header, _, _ := strings.Cut(s, "\n")
		rows, cols := int64(strings.Count(s, "\n")+1), int64(strings.Count(header, ",")+1)
		return cost{bytes: rows*(cols*elementBytes+n(header)) + n(s)}
	case "jsondecode":
		return cost{bytes: n(str(0)) * (elementBytes + 1)}
	case "jsonencode":
		// Escaping writes a character as up to six.
		if len(args) > 0 {
			return cost{bytes: 6*size(args[0]) + elementBytes}
		}
	case "upper", "lower", "title":
		// Changing case changes a character's length in UTF-8 by at most
		// a factor of three.
		return cost{bytes: 3*n(str(0)) + elementBytes}
	case "trim":
		// Trimming a cutset of other than ASCII characters looks up every
		// character of the string in the cutset.
		return cost{steps: n(str(0)) * n(str(1)) / 1024}
	case "distinct":
		// distinct compares every element with those kept before it.
		if len(args) > 0 && collection(args[0]) {
			l := int64(args[0].LengthInt())
			return cost{steps: l * l / 2}
		}
	case "sort":
		if len(args) > 0 && collection(args[0]) {
			l := int64(args[0].LengthInt())
			return cost{steps: l * int64(math.Log2(float64(l+1))+1)}
		}
	case "parseint":
		return cost{steps: digitsCost(n(str(0)))}
	}
	return cost{}
}

// collection reports whether v is a known, non-null list, set or tuple.
func collection(v cty.Value) bool {
	ty := v.Type()
	return (ty.IsListType() || ty.IsSetType() || ty.IsTupleType()) && v.IsKnown() && !v.IsNull()
}

// regexSteps is the work of compiling pattern and matching it against s,
// which Go's regular expressions do in time proportional to both lengths.
func regexSteps(pattern, s string) int64 {
	return int64(len(pattern)) + int64(len(s)+1)*int64(len(pattern)+1)/16
}

// formatBound bounds the length of format's result, or of all of
// formatlist's results when list is set: the format's own text, every
// width and precision it asks for, and every verb writing out the largest
// argument, encoded as JSON (%v) in the worst case.
func formatBound(format string, args []cty.Value, list bool) int64 {
	var verbs, pad int64
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			i++
			continue
		}
		verbs++
		// Flags, widths, precisions and argument indexes run up to the
		// verb's letter; every number among them counts.
		num := int64(0)
		for i++; i < len(format); i++ {
			c := format[i]
			if isDigit(c) {
				num = min(num*10+int64(c-'0'), 1<<40)
				continue
			}
			pad += num
			num = 0
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
				break
			}
		}
		pad += num
	}
	rows, largest := int64(1), int64(0)
	for _, a := range args {
		if list && collection(a) {
			rows = max(rows, int64(a.LengthInt()))
			for it := a.ElementIterator(); it.Next(); {
				_, e := it.Element()
				largest = max(largest, measure(e, math.MaxInt64, math.MaxInt64).bytes)
			}
			continue
		}
		largest = max(largest, measure(a, math.MaxInt64, math.MaxInt64).bytes)
	}
	// In floating point, since the product of absurd figures overflows.
	bound := float64(rows) * (float64(len(format)) + float64(pad) + float64(verbs)*6*float64(largest) + elementBytes)
	return int64(min(bound, 1<<62))
}
