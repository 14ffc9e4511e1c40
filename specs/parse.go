package specs

import (
	"cmp"
	"context"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// ParseOptions carry what a job file's variables and references may come
// from besides the file itself.
type ParseOptions struct {
	// Vars are -var name=value options, with values as typed: a variable of
	// a primitive type (or none) takes the string, others read it as an HCL
	// expression.
	Vars map[string]string
	// VarFiles are -var-file contents, read by the caller, in the order
	// given; later files win.
	VarFiles []Source
	// Env is the environment, such as os.Environ(); DOCKET_VAR_<name>
	// entries set variables the file declares, and others are ignored.
	Env []string
	// QueueExists, when non-nil, accepts a job's queue or a queue's
	// dead_letter that the file does not define if it reports true.
	QueueExists func(name string) bool
	// Limits bound what the parse may cost; zero fields take defaults.
	Limits Limits
}

// Source is a file's name, for messages, and its contents.
type Source struct {
	Filename string
	Src      []byte
}

func rootSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "queue", LabelNames: []string{"name"}},
		{Type: "topic", LabelNames: []string{"name"}},
		{Type: "job", LabelNames: []string{"name"}},
	}}
}

// Parse reads the job file src, named filename in diagnostics, and returns
// its complete, validated model. It reports every problem it can find as a
// diagnostic. When any is an error the model is nil.
//
// Parsing goes in stages, each of which stops at its own errors so that one
// mistake does not show up again as several: the syntax, then the variables,
// then the queue and job blocks together with the rules of [File.Validate].
//
// Parsing stays within opts.Limits, whatever the source: a file too large,
// nested too deeply or too costly to evaluate is refused with a single
// diagnostic whose Extra is a [*Refusal]. Sources from strangers should be
// parsed with [ParseContext], so that the parse stops when they go away.
func Parse(filename string, src []byte, opts ParseOptions) (*File, hcl.Diagnostics) {
	// Not cancellable, as net.Dial is beside net.DialContext.
	return ParseContext(context.Background(), filename, src, opts)
}

// ParseContext is [Parse], stopping with a diagnostic whose Extra is a
// Refusal for [RefusedCanceled] when ctx ends before the parse does.
func ParseContext(ctx context.Context, filename string, src []byte, opts ParseOptions) (*File, hcl.Diagnostics) {
	return parse(filename, src, opts, newBudget(ctx, opts.Limits.withDefaults()))
}

func parse(filename string, src []byte, opts ParseOptions, b *budget) (*File, hcl.Diagnostics) {
	if d := b.read(filename, src, false); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	if d := b.meterBody(file.Body.(*hclsyntax.Body)); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	root, rdiags := file.Body.Content(rootSchema())
	diags = append(diags, rdiags...)

	vars, vdiags := declareVariables(root.Blocks, &hcl.EvalContext{Functions: functions(b)}, b)
	diags = append(diags, vdiags...)
	if !vdiags.HasErrors() {
		vdiags = assignVariables(vars, opts, b)
		diags = append(diags, vdiags...)
	}
	if b.refused != nil {
		return nil, hcl.Diagnostics{b.refused}
	}
	if vdiags.HasErrors() {
		return nil, sortDiagnostics(filename, diags)
	}

	d := newDecoder(evalContext(vars, b), b)
	d.ranges[""] = hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
	f := &File{}
	for _, b := range root.Blocks {
		switch b.Type {
		case "queue":
			f.Queues = append(f.Queues, d.queue(b, path{}.field("queues").index(len(f.Queues))))
		case "topic":
			f.Topics = append(f.Topics, d.topic(b, path{}.field("topics").index(len(f.Topics))))
		case "job":
			f.Jobs = append(f.Jobs, d.job(b, path{}.field("jobs").index(len(f.Jobs))))
		}
	}
	diags = append(diags, d.diags...)
	if b.refused != nil {
		// Whatever else went wrong may be the refusal's doing.
		return nil, hcl.Diagnostics{b.refused}
	}

	f.applyDefaults(d.fill)
	for _, pr := range f.check(opts.QueueExists) {
		// A file that looks empty only because its blocks were broken
		// has been reported already.
		if len(pr.path) == 0 && rdiags.HasErrors() {
			continue
		}
		if !d.silenced(pr.path) {
			diags = append(diags, d.diagnostic(pr))
		}
	}
	diags = sortDiagnostics(filename, diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return f, diags
}

// read admits src, named filename, to be parsed and evaluated within b:
// it refuses a source larger or nested deeper than b's limits allow, and
// grants the budget what a source of its size may need. json says src is
// JSON rather than HCL.
func (b *budget) read(filename string, src []byte, json bool) *hcl.Diagnostic {
	if d := checkSize(filename, src, b.limits.MaxSourceBytes); d != nil {
		return d
	}
	var d *hcl.Diagnostic
	if json {
		d = checkJSONNesting(filename, src, b.limits.MaxNesting)
	} else {
		d = checkNesting(filename, src, b.limits.MaxNesting)
	}
	if d == nil {
		b.grant(len(src))
	}
	return d
}

// silenced reports whether p or a field enclosing it failed to decode, so
// that its diagnostic is out already.
func (d *decoder) silenced(p path) bool {
	for ; len(p) > 0; p = p[:len(p)-1] {
		if d.failed[p.String()] {
			return true
		}
	}
	return false
}

// rangeOf returns the recorded range of the field at p or, for a field the
// source did not write, of the nearest enclosing block that it did.
func (d *decoder) rangeOf(p path) hcl.Range {
	for ; len(p) > 0; p = p[:len(p)-1] {
		if r, ok := d.ranges[p.String()]; ok {
			return r
		}
	}
	return d.ranges[""]
}

// diagnostic turns a broken rule into a diagnostic about the source.
func (d *decoder) diagnostic(pr problem) *hcl.Diagnostic {
	var where string
	if pr.ref != nil {
		where = position(d.rangeOf(pr.ref.field("name")))
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  pr.summary,
		Detail:   pr.detail(where),
		Subject:  d.rangeOf(pr.path).Ptr(),
	}
}

// sortDiagnostics orders diags for reading: those without a position first,
// then those about filename by position, then those about other files
// (var files and -var values) in the order they came.
func sortDiagnostics(filename string, diags hcl.Diagnostics) hcl.Diagnostics {
	rank := func(d *hcl.Diagnostic) (int, int) {
		switch {
		case d.Subject == nil:
			return 0, 0
		case d.Subject.Filename == filename:
			return 1, d.Subject.Start.Byte
		default:
			return 2, 0
		}
	}
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		ra, oa := rank(a)
		rb, ob := rank(b)
		return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(oa, ob))
	})
	return diags
}
