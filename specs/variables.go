package specs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EnvVarPrefix starts the environment variables that set job file
// variables: DOCKET_VAR_quality=90 sets var.quality.
const EnvVarPrefix = "DOCKET_VAR_"

// variable is a declared variable and the value it ends up with.
type variable struct {
	name string
	// typ is the declared type constraint, cty.DynamicPseudoType for none.
	typ cty.Type
	// literal says that -var and environment values are taken as strings,
	// as Terraform does for variables without a type or of a primitive
	// type; other values are read as HCL expressions, so that a list can be
	// written -var 'names=["a","b"]'.
	literal bool
	// value is the variable's value once set says a default or an
	// assignment gave it one.
	value cty.Value
	set   bool
	// rejected says that a value was given but could not be used; the
	// variable then counts as reported, not as missing.
	rejected bool
	// label is the range of the variable's name in the job file.
	label hcl.Range
}

func variableSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
	}}
}

// declareVariables decodes the variable blocks among blocks, in source
// order, evaluating within bud. Defaults may call functions but not refer to
// other variables.
func declareVariables(blocks hcl.Blocks, funcsOnly *hcl.EvalContext, bud *budget) ([]*variable, hcl.Diagnostics) {
	var (
		vars  []*variable
		diags hcl.Diagnostics
		first = make(map[string]*variable)
	)
	for _, b := range blocks {
		if b.Type != "variable" {
			continue
		}
		v := &variable{name: b.Labels[0], typ: cty.DynamicPseudoType, literal: true, label: b.LabelRanges[0]}
		switch prev := first[v.name]; {
		case !hclsyntax.ValidIdentifier(v.name):
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable name",
				Detail:   fmt.Sprintf("%q is not a valid variable name: use letters, digits, underscores and hyphens, starting with a letter.", v.name),
				Subject:  v.label.Ptr(),
			})
		case prev != nil:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate variable",
				Detail:   fmt.Sprintf("A variable named %q is already defined at %s.", v.name, position(prev.label)),
				Subject:  v.label.Ptr(),
			})
		default:
			first[v.name] = v
			vars = append(vars, v)
		}
		c, cdiags := b.Body.Content(variableSchema())
		diags = append(diags, cdiags...)
		if attr, ok := c.Attributes["type"]; ok {
			ty, tdiags := typeexpr.TypeConstraint(attr.Expr)
			diags = append(diags, tdiags...)
			if !tdiags.HasErrors() {
				v.typ, v.literal = ty, ty.IsPrimitiveType()
			}
		}
		if attr, ok := c.Attributes["description"]; ok {
			d, ddiags := bud.eval(attr.Expr, funcsOnly)
			diags = append(diags, ddiags...)
			if !ddiags.HasErrors() {
				if _, err := convert.Convert(d, cty.String); err != nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Incorrect attribute value type",
						Detail:   fmt.Sprintf("Inappropriate value for attribute \"description\": %s.", err),
						Subject:  attr.Expr.Range().Ptr(),
					})
				}
			}
		}
		if attr, ok := c.Attributes["default"]; ok {
			val, vdiags := bud.eval(attr.Expr, funcsOnly)
			diags = append(diags, vdiags...)
			if !vdiags.HasErrors() {
				val, err := v.convert(val)
				if err != nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid default value for variable",
						Detail:   fmt.Sprintf("The default does not fit the variable's type %s: %s.", typeexpr.TypeString(v.typ), err),
						Subject:  attr.Expr.Range().Ptr(),
					})
				} else if !val.IsNull() {
					v.value, v.set = val, true
				}
			}
		}
	}
	return vars, diags
}

// convert converts val to v's type. It refuses values that are not wholly
// known: a job file's variables must be settled before it is scheduled.
func (v *variable) convert(val cty.Value) (cty.Value, error) {
	val, _ = val.UnmarkDeep()
	if !val.IsWhollyKnown() {
		return cty.NilVal, fmt.Errorf("the value must be known")
	}
	return convert.Convert(val, v.typ)
}

// assignVariables sets the values of vars from opts, evaluating within b.
// Later sources win: environment, then var files in order, then -var
// options.
func assignVariables(vars []*variable, opts ParseOptions, b *budget) hcl.Diagnostics {
	byName := make(map[string]*variable, len(vars))
	for _, v := range vars {
		byName[v.name] = v
	}
	var diags hcl.Diagnostics
	for _, e := range opts.Env {
		k, raw, ok := strings.Cut(e, "=")
		name, isVar := strings.CutPrefix(k, EnvVarPrefix)
		// Unlike -var, an environment variable for an undeclared variable
		// is no mistake: one environment serves many job files.
		if v := byName[name]; ok && isVar && v != nil {
			diags = append(diags, v.assignString(raw, "the environment variable "+k, b)...)
		}
	}
	for _, src := range opts.VarFiles {
		diags = append(diags, assignVarFile(byName, src, b)...)
	}
	names := make([]string, 0, len(opts.Vars))
	for name := range opts.Vars {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := byName[name]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undeclared variable",
				Detail:   fmt.Sprintf("A value was given for variable %q with -var, but the file declares no such variable.", name),
			})
			continue
		}
		diags = append(diags, v.assignString(opts.Vars[name], fmt.Sprintf("-var %s=...", name), b)...)
	}
	for _, v := range vars {
		if !v.set && !v.rejected {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing variable value",
				Detail: fmt.Sprintf("Variable %q has no default: give it a value with -var %s=..., a var file or the %s%s environment variable.",
					v.name, v.name, EnvVarPrefix, v.name),
				Subject: v.label.Ptr(),
			})
		}
	}
	return diags
}

// assignString sets v from a string given outside any file: a -var option
// or an environment variable, named by source in messages. A value read
// as an expression is checked, parsed and evaluated within b like a file.
func (v *variable) assignString(raw, source string, b *budget) hcl.Diagnostics {
	val := cty.StringVal(raw)
	if v.literal {
		// Converting a string to a number takes time quadratic in its
		// digits.
		b.grant(len(raw))
		if d := b.chargeValue(val, nil); d != nil {
			v.rejected = true
			return hcl.Diagnostics{d}
		}
		return v.assign(val, source, nil)
	}
	filename := fmt.Sprintf("<value for var.%s>", v.name)
	if d := b.read(filename, []byte(raw), false); d != nil {
		v.rejected = true
		return hcl.Diagnostics{d}
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), filename, hcl.InitialPos)
	if !diags.HasErrors() {
		if d := b.meter(&expr); d != nil {
			diags = append(diags, d)
		} else {
			val, diags = b.eval(expr, nil)
		}
	}
	if diags.HasErrors() {
		v.rejected = true
		return diags
	}
	return v.assign(val, source, nil)
}

// assign sets v to val unless val is null, which leaves the value from
// earlier sources in place. subject is where val came from, if anywhere.
func (v *variable) assign(val cty.Value, source string, subject *hcl.Range) hcl.Diagnostics {
	val, err := v.convert(val)
	if err != nil {
		v.rejected = true
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("The value given by %s does not fit the type of variable %q, %s: %s.",
				source, v.name, typeexpr.TypeString(v.typ), err),
			Subject: subject,
		}}
	}
	if !val.IsNull() {
		v.value, v.set = val, true
	}
	return nil
}

// assignVarFile sets variables from a var file: HCL attributes, or a JSON
// object when the file name ends in .json. Var files hold plain values:
// they can neither call functions nor refer to variables. They are
// checked, parsed and evaluated within b like the job file.
func assignVarFile(byName map[string]*variable, src Source, b *budget) hcl.Diagnostics {
	var (
		file  *hcl.File
		diags hcl.Diagnostics
	)
	json := strings.HasSuffix(src.Filename, ".json")
	if d := b.read(src.Filename, src.Src, json); d != nil {
		return hcl.Diagnostics{d}
	}
	if json {
		file, diags = hcljson.Parse(src.Src, src.Filename)
	} else {
		file, diags = hclsyntax.ParseConfig(src.Src, src.Filename, hcl.InitialPos)
		if !diags.HasErrors() {
			if d := b.meterBody(file.Body.(*hclsyntax.Body)); d != nil {
				return hcl.Diagnostics{d}
			}
		}
	}
	if diags.HasErrors() {
		return diags
	}
	attrs, adiags := file.Body.JustAttributes()
	diags = append(diags, adiags...)
	sorted := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		sorted = append(sorted, a)
	}
	slices.SortFunc(sorted, func(a, b *hcl.Attribute) int { return a.NameRange.Start.Byte - b.NameRange.Start.Byte })
	for _, a := range sorted {
		v := byName[a.Name]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undeclared variable",
				Detail:   fmt.Sprintf("The var file sets variable %q, but the job file declares no such variable.", a.Name),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		val, vdiags := b.eval(a.Expr, nil)
		diags = append(diags, vdiags...)
		if vdiags.HasErrors() {
			v.rejected = true
			continue
		}
		diags = append(diags, v.assign(val, "the var file", a.Expr.Range().Ptr())...)
	}
	return diags
}

// evalContext returns the context job blocks are evaluated in: var.<name>
// for every variable and a fresh table of functions metered by b.
func evalContext(vars []*variable, b *budget) *hcl.EvalContext {
	vals := make(map[string]cty.Value, len(vars))
	for _, v := range vars {
		if v.set {
			vals[v.name] = v.value
		}
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vals)},
		Functions: functions(b),
	}
}
