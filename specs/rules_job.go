package specs

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// The accepted ranges of job settings.
const (
	minPriority        = 1
	maxPriority        = 100
	maxCount           = 10000
	maxScalingMax      = 10000
	maxMessagesPerTask = 1000000
	maxCooldown        = Duration(time.Hour)
	maxMaxParallel     = 1000
	minSpreadWeight    = 1
	maxSpreadWeight    = 100
)

func (ps *problems) checkJobs(jobs []*Job, known func(string) bool) {
	first := make(map[string]path, len(jobs))
	for i, j := range jobs {
		p := path{}.field("jobs").index(i)
		if j == nil {
			ps.field(p, "Invalid job", "must not be null")
			continue
		}
		np := p.field("name")
		switch {
		case !validObjectName(j.Name):
			ps.add(np, "Invalid job name", "%q is not a valid job name: %s", j.Name, objectNameRule)
		case first[j.Name] != nil:
			ps.duplicate(np, first[j.Name], "Duplicate job", "a job named %q is already defined", j.Name)
		default:
			first[j.Name] = p
		}
		ps.checkJob(p, j, known)
	}
}

func (ps *problems) checkJob(p path, j *Job, known func(string) bool) {
	kind := j.Kind()
	typeOK := kind.Known()
	if !typeOK {
		ps.field(p.field("type"), "Invalid job type", "must be %s, got %q", oneOf(JobTypes()), j.Type)
	}
	ps.checkJobQueue(p, j, kind, known)
	ps.intRange(p.field("priority"), j.Priority, minPriority, maxPriority)

	cp := p.field("count")
	switch {
	case kind.Scale == ScalePerMessage && j.Count != 0:
		ps.field(cp, "Unexpected count", "is not used by %s jobs: set scaling.max to cap concurrent tasks", j.Type)
	case kind.Scale == ScaleInvocations && j.Count != 0:
		ps.field(cp, "Unexpected count", "is not used by %s jobs: set function.concurrency.max to cap concurrent environments", j.Type)
	case kind.Scale == ScaleInvocations:
	case j.Scaling != nil && j.Count != 0:
		ps.field(cp, "Conflicting count", "cannot be combined with a scaling block")
	case j.Scaling == nil && typeOK:
		ps.intRange(cp, j.Count, 1, maxCount)
	}
	if j.Scaling != nil {
		ps.checkScaling(p, j, kind)
	}
	ps.intRange(p.field("update").field("max_parallel"), j.Update.MaxParallel, 1, maxMaxParallel)
	for i, c := range j.Constraints {
		ps.checkConstraint(p.field("constraints").index(i), c)
	}
	spreads := make(map[string]path, len(j.Spreads))
	for i, s := range j.Spreads {
		sp := p.field("spreads").index(i)
		ap := sp.field("attribute")
		switch {
		case !validNodeAttribute(s.Attribute):
			ps.field(ap, "Invalid attribute", "must be %s, got %q", nodeAttributeRule(), s.Attribute)
		case spreads[s.Attribute] != nil:
			ps.duplicate(ap, spreads[s.Attribute], "Duplicate spread", "a spread over %q is already defined", s.Attribute)
		default:
			spreads[s.Attribute] = sp
		}
		ps.intRange(sp.field("weight"), s.Weight, minSpreadWeight, maxSpreadWeight)
	}
	ps.checkFunction(p, j, kind)
	ps.checkTasks(p, j)
}

func (ps *problems) checkJobQueue(p path, j *Job, kind JobKind, known func(string) bool) {
	qp := p.field("queue")
	switch {
	case j.Queue == "":
		if kind.Queue == QueueRequired {
			ps.field(qp, "Missing queue", "is required for a %s job", j.Type)
		}
	case kind.Queue == QueueRefused:
		ps.field(qp, "Unexpected queue", "is not allowed for a %s job", j.Type)
	case !validQueueName(j.Queue):
		ps.add(qp, "Invalid queue name", "%q is not a valid queue name: %s", j.Queue, queueNameRule)
	case kind.Known() && !known(j.Queue):
		ps.add(qp, "Undefined queue", "no queue named %q is defined", j.Queue)
	}
}

func (ps *problems) checkScaling(p path, j *Job, kind JobKind) {
	sp := p.field("scaling")
	s := j.Scaling
	switch {
	case kind.Scale == ScaleFixed:
		ps.field(sp, "Unexpected scaling", "is not allowed for a %s job", j.Type)
		return
	case kind.Scale == ScaleInvocations:
		ps.field(sp, "Unexpected scaling", "is not allowed for a %s job: its function block's concurrency and warm bound its environments", j.Type)
		return
	case kind.Scale == ScaleBacklog && j.Queue == "":
		ps.add(sp, "Missing queue", "a scaling block needs the job to have a queue whose backlog it follows")
	case !kind.Known():
		return
	}
	ps.intRange(sp.field("min"), s.Min, 0, maxScalingMax)
	ps.intRange(sp.field("max"), s.Max, 1, maxScalingMax)
	if s.Min > s.Max && s.Max >= 1 && s.Min <= maxScalingMax {
		ps.field(sp.field("min"), "Invalid scaling range", "must not be greater than max (%d), got %d", s.Max, s.Min)
	}
	ps.intRange(sp.field("messages_per_task"), s.MessagesPerTask, 1, maxMessagesPerTask)
	ps.durationRange(sp.field("cooldown"), s.Cooldown, 0, maxCooldown)
}

func (ps *problems) checkConstraint(p path, c Constraint) {
	ap, vp := p.field("attribute"), p.field("value")
	if !slices.Contains(Operators(), c.Operator) {
		ps.field(p.field("operator"), "Invalid operator", "must be %s, got %q", oneOf(Operators()), c.Operator)
		return
	}
	if c.Operator == OpDistinctHosts {
		if c.Attribute != "" {
			ps.field(ap, "Unexpected attribute", "is not used by the distinct_hosts operator")
		}
		if c.Value != "" {
			ps.field(vp, "Unexpected value", "is not used by the distinct_hosts operator")
		}
		return
	}
	if !validNodeAttribute(c.Attribute) {
		ps.field(ap, "Invalid attribute", "must be %s, got %q", nodeAttributeRule(), c.Attribute)
	}
	switch c.Operator {
	case OpIn, OpNotIn:
		for _, item := range strings.Split(c.Value, ",") {
			if strings.TrimSpace(item) == "" {
				ps.field(vp, "Invalid value", "must be a comma-separated list of values without empty items for the %s operator, got %q", c.Operator, c.Value)
				break
			}
		}
	case OpRegexp:
		if _, err := regexp.Compile(c.Value); err != nil {
			ps.field(vp, "Invalid regular expression", "must be a valid regular expression: %v", err)
		}
	}
}
