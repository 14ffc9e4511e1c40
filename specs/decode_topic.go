package specs

import "github.com/hashicorp/hcl/v2"

func topicSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "subscription"}}}
}

func subscriptionSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "queue"},
		{Name: "raw"},
		{Name: "filter_policy"},
		{Name: "filter_scope"},
	}}
}

func (d *decoder) topic(b *hcl.Block, p path) *Topic {
	d.block(p, b)
	c := d.content(b, p, topicSchema())
	t := &Topic{Name: b.Labels[0]}
	for _, blk := range c.Blocks {
		sp := p.field("subscriptions").index(len(t.Subscriptions))
		d.block(sp, blk)
		sc := d.content(blk, sp, subscriptionSchema(), "queue")
		s := &TopicSubscription{}
		d.str(sc.Attributes, "queue", sp, &s.Queue)
		d.boolean(sc.Attributes, "raw", sp, &s.Raw)
		d.str(sc.Attributes, "filter_policy", sp, &s.FilterPolicy)
		d.str(sc.Attributes, "filter_scope", sp, &s.FilterScope)
		t.Subscriptions = append(t.Subscriptions, s)
	}
	return t
}
