package specs

import (
	"strings"
	"time"
)

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
		ps.checkFIFO(p, q)
	}
	ps.checkDeadLetterLoops(queues)
}

// checkFIFO checks a queue's FIFO settings: fifo exactly when the name
// ends in .fifo, the FIFO-only settings on FIFO queues, their values, and
// a FIFO queue's dead-letter queue FIFO too (a standard one's standard).
func (ps *problems) checkFIFO(p path, q *Queue) {
	named := strings.HasSuffix(q.Name, ".fifo")
	switch {
	case q.FIFO && !named:
		ps.add(p.field("fifo"), "Invalid FIFO queue name", "a FIFO queue's name must end in .fifo; %q does not", q.Name)
	case !q.FIFO && named:
		ps.add(p.field("name"), "Missing fifo", "a queue whose name ends in .fifo must set fifo = true")
	}
	if !q.FIFO {
		for _, f := range []struct {
			field string
			set   bool
		}{{"content_based_deduplication", q.ContentBasedDeduplication}, {"deduplication_scope", q.DeduplicationScope != ""},
			{"fifo_throughput_limit", q.FIFOThroughputLimit != ""}} {
			if f.set {
				ps.add(p.field(f.field), "FIFO setting on a standard queue", "the %s setting is for FIFO queues (fifo = true)", f.field)
			}
		}
	}
	if v := q.DeduplicationScope; v != "" && v != "queue" && v != "messageGroup" {
		ps.add(p.field("deduplication_scope"), "Invalid deduplication scope", "the deduplication scope must be \"queue\" or \"messageGroup\", not %q", v)
	}
	if v := q.FIFOThroughputLimit; v != "" && v != "perQueue" && v != "perMessageGroupId" {
		ps.add(p.field("fifo_throughput_limit"), "Invalid throughput limit", "the throughput limit must be \"perQueue\" or \"perMessageGroupId\", not %q", v)
	}
	if q.DeadLetter != "" && strings.HasSuffix(q.DeadLetter, ".fifo") != q.FIFO {
		ps.add(p.field("dead_letter"), "Invalid dead-letter queue", "a FIFO queue's dead_letter must be a FIFO queue, and a standard queue's standard")
	}
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
