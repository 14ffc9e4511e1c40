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
			{Type: "function"},
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
	if fb := d.single(c.Blocks, "function"); fb != nil {
		j.Function = d.function(fb, p.field("function"))
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

func functionSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "handler"}, {Name: "memory"}, {Name: "timeout"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "concurrency"}, {Type: "warm"}, {Type: "event_source"}},
	}
}

func (d *decoder) function(b *hcl.Block, p path) *Function {
	d.block(p, b)
	c := d.content(b, p, functionSchema())
	f := &Function{}
	d.str(c.Attributes, "handler", p, &f.Handler)
	d.integer(c.Attributes, "memory", p, &f.Memory)
	d.duration(c.Attributes, "timeout", p, &f.Timeout)
	if cb := d.single(c.Blocks, "concurrency"); cb != nil {
		cp := p.field("concurrency")
		d.block(cp, cb)
		cc := d.content(cb, cp, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "max"}, {Name: "reserved"}}})
		d.integer(cc.Attributes, "max", cp, &f.Concurrency.Max)
		d.integer(cc.Attributes, "reserved", cp, &f.Concurrency.Reserved)
	}
	if wb := d.single(c.Blocks, "warm"); wb != nil {
		wp := p.field("warm")
		d.block(wp, wb)
		wc := d.content(wb, wp, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "min"}, {Name: "idle_timeout"}}})
		d.integer(wc.Attributes, "min", wp, &f.Warm.Min)
		d.duration(wc.Attributes, "idle_timeout", wp, &f.Warm.IdleTimeout)
	}
	if eb := d.single(c.Blocks, "event_source"); eb != nil {
		ep := p.field("event_source")
		d.block(ep, eb)
		ec := d.content(eb, ep, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
			{Name: "batch_size"}, {Name: "batching_window"}, {Name: "report_batch_item_failures"}, {Name: "maximum_concurrency"},
		}})
		f.EventSource = &EventSource{}
		d.integer(ec.Attributes, "batch_size", ep, &f.EventSource.BatchSize)
		d.duration(ec.Attributes, "batching_window", ep, &f.EventSource.BatchingWindow)
		d.boolean(ec.Attributes, "report_batch_item_failures", ep, &f.EventSource.ReportBatchItemFailures)
		d.integer(ec.Attributes, "maximum_concurrency", ep, &f.EventSource.MaximumConcurrency)
	}
	return f
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
