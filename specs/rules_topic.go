package specs

import (
	"strings"

	"github.com/docketd/docket/internal/pubsub/filter"
)

func (ps *problems) checkTopics(topics []*Topic, known func(string) bool) {
	first := make(map[string]path, len(topics))
	for i, t := range topics {
		p := path{}.field("topics").index(i)
		if t == nil {
			ps.field(p, "Invalid topic", "must not be null")
			continue
		}
		np := p.field("name")
		switch {
		case !ValidTopicName(t.Name):
			ps.add(np, "Invalid topic name", "%q is not a valid topic name: %s", t.Name, TopicNameRule)
		case first[t.Name] != nil:
			ps.duplicate(np, first[t.Name], "Duplicate topic", "a topic named %q is already defined", t.Name)
		default:
			first[t.Name] = p
		}
		subscribed := map[string]path{}
		for j, s := range t.Subscriptions {
			sp := p.field("subscriptions").index(j)
			if s == nil {
				ps.field(sp, "Invalid subscription", "must not be null")
				continue
			}
			qp := sp.field("queue")
			switch {
			case !validQueueName(s.Queue):
				ps.add(qp, "Invalid queue name", "%q is not a valid queue name: %s", s.Queue, queueNameRule)
			case subscribed[s.Queue] != nil:
				ps.duplicate(qp, subscribed[s.Queue], "Duplicate subscription", "queue %q is subscribed to topic %q already", s.Queue, t.Name)
			case !known(s.Queue):
				ps.add(qp, "Undefined queue", "no queue named %q is defined", s.Queue)
			case strings.HasSuffix(t.Name, ".fifo") != strings.HasSuffix(s.Queue, ".fifo"):
				ps.add(qp, "Invalid subscription", "a FIFO topic (named .fifo) delivers to FIFO queues, and only a FIFO topic to them; %q and %q do not match", t.Name, s.Queue)
			default:
				subscribed[s.Queue] = sp
			}
			scope, err := filter.ParseScope(s.FilterScope)
			if err != nil {
				ps.field(sp.field("filter_scope"), "Invalid filter scope", "must be MessageAttributes or MessageBody, got %q", s.FilterScope)
				continue
			}
			if s.FilterPolicy != "" {
				if _, err := filter.Parse([]byte(s.FilterPolicy), scope); err != nil {
					ps.field(sp.field("filter_policy"), "Invalid filter policy", "is not a valid SNS filter policy: %s",
						strings.TrimPrefix(err.Error(), "FilterPolicy: "))
				}
			}
		}
	}
}
