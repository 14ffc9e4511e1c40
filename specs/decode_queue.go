package specs

import "github.com/hashicorp/hcl/v2"

func queueSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "visibility_timeout"},
		{Name: "retention"},
		{Name: "delay"},
		{Name: "receive_wait"},
		{Name: "max_message_size"},
		{Name: "max_receives"},
		{Name: "dead_letter"},
		{Name: "fifo"},
		{Name: "content_based_deduplication"},
		{Name: "deduplication_scope"},
		{Name: "fifo_throughput_limit"},
	}}
}

func (d *decoder) queue(b *hcl.Block, p path) *Queue {
	d.block(p, b)
	c := d.content(b, p, queueSchema())
	q := &Queue{Name: b.Labels[0]}
	d.duration(c.Attributes, "visibility_timeout", p, &q.VisibilityTimeout)
	d.duration(c.Attributes, "retention", p, &q.Retention)
	d.duration(c.Attributes, "delay", p, &q.Delay)
	d.duration(c.Attributes, "receive_wait", p, &q.ReceiveWait)
	d.size(c.Attributes, "max_message_size", p, &q.MaxMessageSize)
	d.integer(c.Attributes, "max_receives", p, &q.MaxReceives)
	d.str(c.Attributes, "dead_letter", p, &q.DeadLetter)
	d.boolean(c.Attributes, "fifo", p, &q.FIFO)
	d.boolean(c.Attributes, "content_based_deduplication", p, &q.ContentBasedDeduplication)
	d.str(c.Attributes, "deduplication_scope", p, &q.DeduplicationScope)
	d.str(c.Attributes, "fifo_throughput_limit", p, &q.FIFOThroughputLimit)
	return q
}
