package specs

import (
	"cmp"
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
func Parse(filename string, src []byte, opts ParseOptions) (*File, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	root, rdiags := file.Body.Content(rootSchema())
	diags = append(diags, rdiags...)

	vars, vdiags := declareVariables(root.Blocks, &hcl.EvalContext{Functions: functions()})
	diags = append(diags, vdiags...)
	if !vdiags.HasErrors() {
		vdiags = assignVariables(vars, opts)
		diags = append(diags, vdiags...)
	}
	if vdiags.HasErrors() {
		return nil, sortDiagnostics(filename, diags)
	}

	d := newDecoder(evalContext(vars))
	d.ranges[""] = hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
	f := &File{}
	for _, b := range root.Blocks {
		switch b.Type {
		case "queue":
			f.Queues = append(f.Queues, d.queue(b, path{}.field("queues").index(len(f.Queues))))
		case "job":
			f.Jobs = append(f.Jobs, d.job(b, path{}.field("jobs").index(len(f.Jobs))))
		}
	}
	diags = append(diags, d.diags...)

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
