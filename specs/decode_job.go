package specs

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func jobSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "type"},
			{Name: "queue"},
			{Name: "priority"},
			{Name: "count"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "scaling"},
			{Type: "update"},
			{Type: "constraint"},
			{Type: "spread"},
			{Type: "task", LabelNames: []string{"name"}},
		},
	}
}

func scalingSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "min"},
		{Name: "max"},
		{Name: "messages_per_task"},
		{Name: "cooldown"},
	}}
}

func updateSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "max_parallel"}}}
}

func constraintSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "attribute"},
		{Name: "operator"},
		{Name: "value"},
	}}
}

func spreadSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "attribute"},
		{Name: "weight"},
	}}
}

func (d *decoder) job(b *hcl.Block, p path) *Job {
	d.block(p, b)
	c := d.content(b, p, jobSchema())
	j := &Job{Name: b.Labels[0]}
	d.str(c.Attributes, "type", p, &j.Type)
	d.str(c.Attributes, "queue", p, &j.Queue)
	d.integer(c.Attributes, "priority", p, &j.Priority)
	d.integer(c.Attributes, "count", p, &j.Count)

	if sb := d.single(c.Blocks, "scaling"); sb != nil {
		sp := p.field("scaling")
		d.block(sp, sb)
		sc := d.content(sb, sp, scalingSchema(), "max")
		j.Scaling = &Scaling{}
		d.integer(sc.Attributes, "min", sp, &j.Scaling.Min)
		d.integer(sc.Attributes, "max", sp, &j.Scaling.Max)
		d.integer(sc.Attributes, "messages_per_task", sp, &j.Scaling.MessagesPerTask)
		d.duration(sc.Attributes, "cooldown", sp, &j.Scaling.Cooldown)
	}
	if ub := d.single(c.Blocks, "update"); ub != nil {
		up := p.field("update")
		d.block(up, ub)
		uc := d.content(ub, up, updateSchema())
		d.integer(uc.Attributes, "max_parallel", up, &j.Update.MaxParallel)
	}
	for _, blk := range c.Blocks {
		switch blk.Type {
		case "constraint":
			cp := p.field("constraints").index(len(j.Constraints))
			d.block(cp, blk)
			cc := d.content(blk, cp, constraintSchema())
			var con Constraint
			d.str(cc.Attributes, "attribute", cp, &con.Attribute)
			d.str(cc.Attributes, "operator", cp, &con.Operator)
			d.str(cc.Attributes, "value", cp, &con.Value)
			j.Constraints = append(j.Constraints, con)
		case "spread":
			sp := p.field("spreads").index(len(j.Spreads))
			d.block(sp, blk)
			sc := d.content(blk, sp, spreadSchema())
			var s Spread
			d.str(sc.Attributes, "attribute", sp, &s.Attribute)
			d.integer(sc.Attributes, "weight", sp, &s.Weight)
			j.Spreads = append(j.Spreads, s)
		case "task":
			j.Tasks = append(j.Tasks, d.task(blk, p.field("tasks").index(len(j.Tasks))))
		}
	}
	if len(j.Tasks) == 0 && hasBlock(b, "task") {
		// The job has task blocks, but broken ones: no "missing task".
		d.failed[p.field("tasks").String()] = true
	}
	return j
}

// hasBlock reports whether b's body holds a block of type typ, even one
// that did not decode.
func hasBlock(b *hcl.Block, typ string) bool {
	body, ok := b.Body.(*hclsyntax.Body)
	if !ok {
		return false
	}
	for _, inner := range body.Blocks {
		if inner.Type == typ {
			return true
		}
	}
	return false
}
