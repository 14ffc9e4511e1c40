package specs

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Limits bound what one parse may cost, so that a server can parse job
// files from anyone: HCL's parser recurses once per level of nesting and its
// expressions can loop, so without bounds a short file could exhaust the
// stack, the CPU or the memory of the process that parses it. Zero fields
// take the defaults, which no sensible job file comes near.
type Limits struct {
	// MaxSourceBytes bounds the job file, each var file and each -var or
	// environment value read as an expression; default 1 MiB, the size of
	// the largest job file the API accepts.
	MaxSourceBytes int
	// MaxNesting bounds how deeply brackets, templates, template
	// directives and chains of unary or conditional operators nest;
	// default 64. A source nested deeper is refused before it is parsed.
	// Expressions built without nesting, such as long chains of binary
	// operators, may be 4×MaxNesting levels deep.
	MaxNesting int
	// MaxEvalSteps bounds the work of evaluating a file's expressions:
	// every evaluation of an expression and every element of the values
	// it yields costs a step, as does every element of a function's
	// arguments, and some things cost steps growing with the square of
	// their size (long numbers, long runs of digits, large tuples and
	// objects, some functions' work). Every byte of source read adds a
	// step, so that large files without loops fit. Default 250,000: a
	// fraction of a second of work, and a thousand times what the largest
	// example needs.
	MaxEvalSteps int64
	// MaxEvalBytes bounds the total size of the values evaluation builds,
	// counting strings by their length and every element as 32 bytes, and
	// every value again in each expression that contains it; every byte of
	// source read adds four. Default 32 MiB.
	MaxEvalBytes int64
}

// The default limits.
const (
	DefaultMaxSourceBytes = 1 << 20
	DefaultMaxNesting     = 64
	DefaultMaxEvalSteps   = 250_000
	DefaultMaxEvalBytes   = 32 << 20
)

// withDefaults returns l with every zero or negative field set to its
// default.
func (l Limits) withDefaults() Limits {
	if l.MaxSourceBytes <= 0 {
		l.MaxSourceBytes = DefaultMaxSourceBytes
	}
	if l.MaxNesting <= 0 {
		l.MaxNesting = DefaultMaxNesting
	}
	if l.MaxEvalSteps <= 0 {
		l.MaxEvalSteps = DefaultMaxEvalSteps
	}
	if l.MaxEvalBytes <= 0 {
		l.MaxEvalBytes = DefaultMaxEvalBytes
	}
	return l
}

// maxExprDepth bounds the depth of an expression's syntax tree. Nesting
// in the source is bounded before parsing, but chains such as a+b+c+…
// and x[a][b][c]… build deep trees from flat source, and evaluation
// recurses once per level.
func (l Limits) maxExprDepth() int { return 4 * l.MaxNesting }

// Why a source was refused without being at fault: the Reason of a
// [Refusal].
const (
	// RefusedSize is a source over Limits.MaxSourceBytes.
	RefusedSize = "size"
	// RefusedShape is a source the parser cannot afford to read: one
	// nested deeper than Limits.MaxNesting allows, or with a number too
	// long to read or write out.
	RefusedShape = "shape"
	// RefusedWork is an evaluation that would exceed Limits.MaxEvalSteps
	// or Limits.MaxEvalBytes.
	RefusedWork = "work"
	// RefusedCanceled is a parse whose context ended.
	RefusedCanceled = "canceled"
)

// A Refusal is the Extra of the diagnostic with which a parse refuses a
// source for what it would cost rather than for a mistake in it, so that a
// server can answer it differently, for example with its own error code.
type Refusal struct {
	// Reason is one of the Refused constants.
	Reason string
}

// Refused returns the Refusal of the first diagnostic in diags that has
// one, or nil when no diagnostic refuses the source for its cost.
func Refused(diags hcl.Diagnostics) *Refusal {
	for _, d := range diags {
		if r, ok := d.Extra.(*Refusal); ok {
			return r
		}
	}
	return nil
}

// refusal returns an error diagnostic about subject with a [Refusal] for
// reason as its Extra.
func refusal(reason string, subject *hcl.Range, summary, format string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject,
		Extra:    &Refusal{Reason: reason},
	}
}

// checkSize refuses src, named filename, when it is over max bytes.
func checkSize(filename string, src []byte, max int) *hcl.Diagnostic {
	if len(src) <= max {
		return nil
	}
	return refusal(RefusedSize, &hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos},
		"Source too large", "The source is %d bytes long; at most %d bytes are accepted.", len(src), max)
}
