package specs

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decoder turns HCL blocks into the model. Besides the model it records,
// for every field path it decodes, the source range to blame when a rule
// fails there, and which attributes the source set, which decides the
// defaults.
type decoder struct {
	ctx    *hcl.EvalContext
	budget *budget
	diags  hcl.Diagnostics
	// ranges maps a field path to its most precise range: an attribute's
	// value, a block's label for its name, a block's type for the block.
	ranges map[string]hcl.Range
	// set holds the attribute paths the source gave a non-null value that
	// decoded without error.
	set map[string]bool
	// failed holds the attribute paths whose value could not be decoded.
	// Rules are silent about them: their diagnostic is already out.
	failed map[string]bool
}

func newDecoder(ctx *hcl.EvalContext, b *budget) *decoder {
	return &decoder{
		ctx:    ctx,
		budget: b,
		ranges: make(map[string]hcl.Range),
		set:    make(map[string]bool),
		failed: make(map[string]bool),
	}
}

// fill is the decoder's fillFunc: defaults go exactly where the source set
// nothing (or something that failed to decode, so that one mistake does not
// cascade into more).
func (d *decoder) fill(p path, _ bool) bool { return !d.set[p.String()] }

// block records b as the source of the model element at p.
func (d *decoder) block(p path, b *hcl.Block) {
	d.ranges[p.String()] = b.TypeRange
	if len(b.LabelRanges) > 0 {
		d.ranges[p.field("name").String()] = b.LabelRanges[0]
	}
}

// content decodes the body of b, the block at p, against schema. It reports
// unknown and misplaced arguments and blocks, and required arguments that are
// missing; those it reports at b's type, as the place to add them, and marks
// failed so that no rule reports them again.
func (d *decoder) content(b *hcl.Block, p path, schema *hcl.BodySchema, required ...string) *hcl.BodyContent {
	c, diags := b.Body.Content(schema)
	d.diags = append(d.diags, diags...)
	for _, name := range required {
		if _, ok := c.Attributes[name]; !ok {
			d.failed[p.field(name).String()] = true
			d.diags = append(d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("The argument %q is required, but no definition was found.", name),
				Subject:  b.TypeRange.Ptr(),
			})
		}
	}
	return c
}

// single returns the only block of type typ in blocks, reporting any
// further ones, or nil when there is none.
func (d *decoder) single(blocks hcl.Blocks, typ string) *hcl.Block {
	var first *hcl.Block
	for _, b := range blocks {
		if b.Type != typ {
			continue
		}
		if first == nil {
			first = b
			continue
		}
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s block", typ),
			Detail:   fmt.Sprintf("Only one %s block is allowed here; the first is at %s.", typ, position(first.TypeRange)),
			Subject:  b.TypeRange.Ptr(),
		})
	}
	return first
}

// value evaluates attrs[name] and converts it to ty. It returns false when
// the attribute is absent, null or broken; a broken one is reported and
// marked failed.
func (d *decoder) value(attrs hcl.Attributes, name string, p path, ty cty.Type) (cty.Value, bool) {
	attr, ok := attrs[name]
	if !ok {
		return cty.NilVal, false
	}
	key := p.String()
	d.ranges[key] = attr.Expr.Range()
	fail := func(diags ...*hcl.Diagnostic) (cty.Value, bool) {
		d.diags = append(d.diags, diags...)
		d.failed[key] = true
		return cty.NilVal, false
	}
	v, diags := d.budget.eval(attr.Expr, d.ctx)
	if diags.HasErrors() {
		return fail(diags...)
	}
	d.diags = append(d.diags, diags...)
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		return fail(d.invalid(attr, "Unknown value", "The value of %q cannot be known before the job runs.", name))
	}
	v, err := convert.Convert(v, ty)
	if err != nil {
		return fail(d.invalid(attr, "Incorrect attribute value type",
			"Inappropriate value for attribute %q: %s.", name, err.Error()))
	}
	if !nullFree(v) {
		return fail(d.invalid(attr, "Incorrect attribute value type",
			"Inappropriate value for attribute %q: elements must not be null.", name))
	}
	d.set[key] = true
	return v, true
}

// nullFree reports whether no element of a list or map v is null.
func nullFree(v cty.Value) bool {
	if !v.Type().IsListType() && !v.Type().IsMapType() {
		return true
	}
	for it := v.ElementIterator(); it.Next(); {
		if _, e := it.Element(); e.IsNull() {
			return false
		}
	}
	return true
}

// invalid returns an error diagnostic about attr's value.
func (d *decoder) invalid(attr *hcl.Attribute, summary, format string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity:    hcl.DiagError,
		Summary:     summary,
		Detail:      fmt.Sprintf(format, args...),
		Subject:     attr.Expr.Range().Ptr(),
		Expression:  attr.Expr,
		EvalContext: d.ctx,
	}
}

// reject reports attrs[name] as unusable after it decoded, undoing its
// "set" mark so that its default applies and no rule piles on.
func (d *decoder) reject(attrs hcl.Attributes, name string, p path, summary, detail string) {
	d.diags = append(d.diags, d.invalid(attrs[name], summary, "%s", detail))
	d.failed[p.String()] = true
	delete(d.set, p.String())
}

func (d *decoder) str(attrs hcl.Attributes, name string, p path, dst *string) {
	if v, ok := d.value(attrs, name, p.field(name), cty.String); ok {
		*dst = v.AsString()
	}
}

func (d *decoder) boolean(attrs hcl.Attributes, name string, p path, dst *bool) {
	if v, ok := d.value(attrs, name, p.field(name), cty.Bool); ok {
		*dst = v.True()
	}
}

func (d *decoder) integer(attrs hcl.Attributes, name string, p path, dst *int) {
	fp := p.field(name)
	v, ok := d.value(attrs, name, fp, cty.Number)
	if !ok {
		return
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		d.reject(attrs, name, fp, "Invalid number", fmt.Sprintf("The %s must be a whole number, got %s.", name, bf.Text('g', 10)))
		return
	}
	n, acc := bf.Int64()
	if acc != big.Exact || int64(int(n)) != n {
		d.reject(attrs, name, fp, "Value out of range", fmt.Sprintf("The %s %s is too large.", name, bf.Text('g', 10)))
		return
	}
	*dst = int(n)
}

func (d *decoder) duration(attrs hcl.Attributes, name string, p path, dst *Duration) {
	fp := p.field(name)
	v, ok := d.value(attrs, name, fp, cty.String)
	if !ok {
		return
	}
	dur, err := ParseDuration(v.AsString())
	if err != nil {
		d.reject(attrs, name, fp, "Invalid duration", upperFirst(err.Error())+".")
		return
	}
	*dst = dur
}

func (d *decoder) size(attrs hcl.Attributes, name string, p path, dst *Size) {
	fp := p.field(name)
	v, ok := d.value(attrs, name, fp, cty.String)
	if !ok {
		return
	}
	s, err := ParseSize(v.AsString())
	if err != nil {
		d.reject(attrs, name, fp, "Invalid size", upperFirst(err.Error())+".")
		return
	}
	*dst = s
}

func (d *decoder) strings(attrs hcl.Attributes, name string, p path, dst *[]string) {
	v, ok := d.value(attrs, name, p.field(name), cty.List(cty.String))
	if !ok || v.LengthInt() == 0 {
		return
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e.AsString())
	}
	*dst = out
}

// stringMap decodes a map of strings and, when the source writes it as an
// object literal, records each key's range so rules about one entry point
// at its key.
func (d *decoder) stringMap(attrs hcl.Attributes, name string, p path, dst *map[string]string) {
	fp := p.field(name)
	v, ok := d.value(attrs, name, fp, cty.Map(cty.String))
	if !ok || v.LengthInt() == 0 {
		return
	}
	out := make(map[string]string, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		out[k.AsString()] = e.AsString()
	}
	*dst = out
	obj, ok := attrs[name].Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return
	}
	for _, item := range obj.Items {
		k, diags := d.budget.eval(item.KeyExpr, d.ctx)
		if diags.HasErrors() {
			continue
		}
		if k, _ = k.UnmarkDeep(); !k.IsWhollyKnown() || k.IsNull() {
			continue
		}
		if k, err := convert.Convert(k, cty.String); err == nil {
			d.ranges[fp.key(k.AsString()).String()] = item.KeyExpr.Range()
		}
	}
}

// position formats the start of r as file:line:col.
func position(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
