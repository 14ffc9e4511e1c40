package specs

import "time"

// The accepted ranges of queue settings, as SQS has them.
const (
	minVisibilityTimeout = Duration(0)
	maxVisibilityTimeout = Duration(12 * time.Hour)
	minRetention         = Duration(time.Minute)
	maxRetention         = Duration(14 * day)
	minDelay             = Duration(0)
	maxDelay             = Duration(15 * time.Minute)
	minReceiveWait       = Duration(0)
	maxReceiveWait       = Duration(20 * time.Second)
	minMessageSize       = KiB
	maxMessageSize       = MiB
	maxMaxReceives       = 1000
)

func (ps *problems) checkQueues(queues []*Queue, known func(string) bool) {
	first := make(map[string]path, len(queues))
	for i, q := range queues {
		p := path{}.field("queues").index(i)
		if q == nil {
			ps.field(p, "Invalid queue", "must not be null")
			continue
		}
		np := p.field("name")
		switch {
		case !validQueueName(q.Name):
			ps.add(np, "Invalid queue name", "%q is not a valid queue name: %s", q.Name, queueNameRule)
		case first[q.Name] != nil:
			ps.duplicate(np, first[q.Name], "Duplicate queue", "a queue named %q is already defined", q.Name)
		default:
			first[q.Name] = p
		}
		ps.durationRange(p.field("visibility_timeout"), q.VisibilityTimeout, minVisibilityTimeout, maxVisibilityTimeout)
		ps.durationRange(p.field("retention"), q.Retention, minRetention, maxRetention)
		ps.durationRange(p.field("delay"), q.Delay, minDelay, maxDelay)
		ps.durationRange(p.field("receive_wait"), q.ReceiveWait, minReceiveWait, maxReceiveWait)
		ps.sizeRange(p.field("max_message_size"), q.MaxMessageSize, minMessageSize, maxMessageSize)
		ps.intRange(p.field("max_receives"), q.MaxReceives, 0, maxMaxReceives)
		ps.checkDeadLetter(p, q, known)
	}
	ps.checkDeadLetterLoops(queues)
}

func (ps *problems) checkDeadLetter(p path, q *Queue, known func(string) bool) {
	dp := p.field("dead_letter")
	switch {
	case q.DeadLetter == "":
		if q.MaxReceives > 0 {
			ps.field(p.field("max_receives"), "Missing dead_letter",
				"needs a dead_letter queue to move messages to once they reach it")
		}
		return
	case !validQueueName(q.DeadLetter):
		ps.add(dp, "Invalid queue name", "%q is not a valid queue name: %s", q.DeadLetter, queueNameRule)
	case q.DeadLetter == q.Name:
		ps.field(dp, "Invalid dead-letter queue", "cannot be the queue itself")
	case !known(q.DeadLetter):
		ps.add(dp, "Undefined dead-letter queue", "no queue named %q is defined", q.DeadLetter)
	}
	if q.MaxReceives == 0 {
		ps.field(dp, "Missing max_receives",
			"needs max_receives, the number of receives after which a message moves there")
	}
}

// checkDeadLetterLoops reports dead-letter chains that lead back to where
// they started, where a failing message would circle for ever. A queue that
// is its own dead letter is reported by checkDeadLetter.
func (ps *problems) checkDeadLetterLoops(queues []*Queue) {
	index := make(map[string]int, len(queues))
	for i, q := range queues {
		if q != nil {
			if _, dup := index[q.Name]; !dup {
				index[q.Name] = i
			}
		}
	}
	for i, q := range queues {
		if q == nil || q.DeadLetter == q.Name {
			continue
		}
		chain := q.Name
		seen := map[int]bool{i: true}
		for j, ok := index[q.DeadLetter]; ok; j, ok = index[queues[j].DeadLetter] {
			chain += " -> " + queues[j].Name
			if j == i {
				// Report each loop once, at its first queue in the file.
				if minIndex(seen) == i {
					ps.field(path{}.field("queues").index(i).field("dead_letter"), "Dead-letter loop",
						"leads back to this queue: %s", chain)
				}
				break
			}
			if seen[j] {
				break // a loop that does not include queue i
			}
			seen[j] = true
		}
	}
}

func minIndex(set map[int]bool) int {
	m := -1
	for i := range set {
		if m < 0 || i < m {
			m = i
		}
	}
	return m
}

func (ps *problems) intRange(p path, v, lo, hi int) {
	if v < lo || v > hi {
		ps.field(p, "Value out of range", "must be between %d and %d, got %d", lo, hi, v)
	}
}

func (ps *problems) durationRange(p path, v, lo, hi Duration) {
	if v < lo || v > hi {
		ps.field(p, "Value out of range", "must be between %s and %s, got %s", lo, hi, v)
	}
}

func (ps *problems) sizeRange(p path, v, lo, hi Size) {
	if v < lo || v > hi {
		ps.field(p, "Value out of range", "must be between %s and %s, got %s", lo, hi, v)
	}
}
