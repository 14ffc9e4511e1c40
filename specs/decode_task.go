package specs

import "github.com/hashicorp/hcl/v2"

func taskSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "image"},
			{Name: "command"},
			{Name: "args"},
			{Name: "env"},
			{Name: "workdir"},
			{Name: "user"},
			{Name: "timeout"},
			{Name: "kill_signal"},
			{Name: "kill_timeout"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "resources"},
			{Type: "restart"},
			{Type: "retry"},
		},
	}
}

func resourcesSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "cpu"}, {Name: "memory"}}}
}

func restartSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "attempts"}, {Name: "delay"}}}
}

func retrySchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "delay"}, {Name: "max_delay"}}}
}

func (d *decoder) task(b *hcl.Block, p path) *Task {
	d.block(p, b)
	c := d.content(b, p, taskSchema(), "image")
	t := &Task{Name: b.Labels[0]}
	d.str(c.Attributes, "image", p, &t.Image)
	d.strings(c.Attributes, "command", p, &t.Command)
	d.strings(c.Attributes, "args", p, &t.Args)
	d.stringMap(c.Attributes, "env", p, &t.Env)
	d.str(c.Attributes, "workdir", p, &t.Workdir)
	d.str(c.Attributes, "user", p, &t.User)
	d.duration(c.Attributes, "timeout", p, &t.Timeout)
	d.str(c.Attributes, "kill_signal", p, &t.KillSignal)
	d.duration(c.Attributes, "kill_timeout", p, &t.KillTimeout)

	if rb := d.single(c.Blocks, "resources"); rb != nil {
		rp := p.field("resources")
		d.block(rp, rb)
		rc := d.content(rb, rp, resourcesSchema())
		d.integer(rc.Attributes, "cpu", rp, &t.Resources.CPU)
		d.integer(rc.Attributes, "memory", rp, &t.Resources.Memory)
	}
	if rb := d.single(c.Blocks, "restart"); rb != nil {
		rp := p.field("restart")
		d.block(rp, rb)
		rc := d.content(rb, rp, restartSchema())
		d.integer(rc.Attributes, "attempts", rp, &t.Restart.Attempts)
		d.duration(rc.Attributes, "delay", rp, &t.Restart.Delay)
	}
	if rb := d.single(c.Blocks, "retry"); rb != nil {
		rp := p.field("retry")
		d.block(rp, rb)
		rc := d.content(rb, rp, retrySchema())
		d.duration(rc.Attributes, "delay", rp, &t.Retry.Delay)
		d.duration(rc.Attributes, "max_delay", rp, &t.Retry.MaxDelay)
	}
	return t
}
