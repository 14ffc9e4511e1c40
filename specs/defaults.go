package specs

import "time"

// Defaults of the job language. They are constants, so nothing can change
// them at run time.
const (
	DefaultVisibilityTimeout = Duration(30 * time.Second)
	DefaultRetention         = Duration(4 * day)
	DefaultMaxMessageSize    = MiB
	DefaultJobType           = JobService
	DefaultPriority          = 50
	DefaultCount             = 1
	DefaultMessagesPerTask   = 1
	DefaultCooldown          = Duration(30 * time.Second)
	// DefaultDispatchMax caps the concurrent tasks of a dispatch job that has
	// no scaling block.
	DefaultDispatchMax   = 10
	DefaultMaxParallel   = 1
	DefaultOperator      = OpEqual
	DefaultSpreadWeight  = 50
	DefaultKillSignal    = "SIGTERM"
	DefaultKillTimeout   = Duration(5 * time.Second)
	DefaultCPU           = 100
	DefaultMemory        = 128
	DefaultRestartDelay  = Duration(15 * time.Second)
	DefaultRetryDelay    = Duration(5 * time.Second)
	DefaultRetryMaxDelay = Duration(5 * time.Minute)
	// A function's defaults are Lambda's where Lambda has one.
	DefaultFunctionTimeout     = Duration(3 * time.Second)
	DefaultFunctionConcurrency = 10
	DefaultWarmIdleTimeout     = Duration(5 * time.Minute)
	DefaultBatchSize           = 10
)

// fillFunc decides whether a zero field at path p gets its default.
// zeroValid tells whether zero is itself an accepted value of the field.
//
// The two callers differ in what they know. Parse knows which attributes the
// source set, so it fills exactly the absent ones and an explicit zero stays
// to be judged by the rules. A JSON model cannot tell an absent field from a
// zero one, so Validate fills only fields whose zero is not a valid value:
// where zero is valid (a visibility_timeout of 0s, for instance), zero means
// zero, which keeps Parse's complete models unchanged by Validate.
type fillFunc func(p path, zeroValid bool) bool

// fillUnset is the fillFunc of a model decoded from JSON.
func fillUnset(_ path, zeroValid bool) bool { return !zeroValid }

// applyDefaults fills the zero fields of f that fill selects. It tolerates
// the nil entries a JSON model may hold; the rules report them.
func (f *File) applyDefaults(fill fillFunc) {
	for i, q := range f.Queues {
		if q != nil {
			q.applyDefaults(path{}.field("queues").index(i), fill)
		}
	}
	for i, j := range f.Jobs {
		if j != nil {
			j.applyDefaults(path{}.field("jobs").index(i), fill)
		}
	}
}

func (q *Queue) applyDefaults(p path, fill fillFunc) {
	if q.VisibilityTimeout == 0 && fill(p.field("visibility_timeout"), true) {
		q.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if q.Retention == 0 && fill(p.field("retention"), false) {
		q.Retention = DefaultRetention
	}
	if q.MaxMessageSize == 0 && fill(p.field("max_message_size"), false) {
		q.MaxMessageSize = DefaultMaxMessageSize
	}
}

func (j *Job) applyDefaults(p path, fill fillFunc) {
	if j.Type == "" && fill(p.field("type"), false) {
		j.Type = DefaultJobType
	}
	if j.Priority == 0 && fill(p.field("priority"), false) {
		j.Priority = DefaultPriority
	}
	perMessage := j.Kind().Scale == ScalePerMessage
	fixedByDriver := perMessage || j.Kind().Scale == ScaleInvocations
	if j.Scaling == nil && perMessage {
		j.Scaling = &Scaling{
			Max:             DefaultDispatchMax,
			MessagesPerTask: DefaultMessagesPerTask,
			Cooldown:        DefaultCooldown,
		}
	}
	if j.Count == 0 && j.Scaling == nil && !fixedByDriver && fill(p.field("count"), false) {
		j.Count = DefaultCount
	}
	if s := j.Scaling; s != nil {
		sp := p.field("scaling")
		if s.MessagesPerTask == 0 && fill(sp.field("messages_per_task"), false) {
			s.MessagesPerTask = DefaultMessagesPerTask
		}
		if s.Cooldown == 0 && fill(sp.field("cooldown"), true) {
			s.Cooldown = DefaultCooldown
		}
	}
	if j.Update.MaxParallel == 0 && fill(p.field("update").field("max_parallel"), false) {
		j.Update.MaxParallel = DefaultMaxParallel
	}
	for i := range j.Constraints {
		c := &j.Constraints[i]
		if c.Operator == "" && fill(p.field("constraints").index(i).field("operator"), false) {
			c.Operator = DefaultOperator
		}
	}
	for i := range j.Spreads {
		s := &j.Spreads[i]
		if s.Weight == 0 && fill(p.field("spreads").index(i).field("weight"), false) {
			s.Weight = DefaultSpreadWeight
		}
	}
	if j.Function == nil && j.Kind().Scale == ScaleInvocations {
		j.Function = &Function{}
	}
	var fnTask *Task // the task a function's memory is the limit of
	if j.Function != nil && len(j.Tasks) == 1 && j.Tasks[0] != nil {
		fnTask = j.Tasks[0]
		mp := p.field("tasks").index(0).field("resources").field("memory")
		if j.Function.Memory != 0 && fnTask.Resources.Memory == 0 && fill(mp, false) {
			fnTask.Resources.Memory = j.Function.Memory
		}
	}
	for i, t := range j.Tasks {
		if t != nil {
			t.applyDefaults(p.field("tasks").index(i), fill)
		}
	}
	if f := j.Function; f != nil {
		f.applyDefaults(p.field("function"), fill, j.Queue != "")
		if f.Memory == 0 && fnTask != nil {
			f.Memory = fnTask.Resources.Memory
		}
	}
}

func (f *Function) applyDefaults(p path, fill fillFunc, hasQueue bool) {
	if f.Timeout == 0 && fill(p.field("timeout"), false) {
		f.Timeout = DefaultFunctionTimeout
	}
	if f.Concurrency.Max == 0 && fill(p.field("concurrency").field("max"), false) {
		f.Concurrency.Max = DefaultFunctionConcurrency
	}
	if f.Warm.IdleTimeout == 0 && fill(p.field("warm").field("idle_timeout"), true) {
		f.Warm.IdleTimeout = DefaultWarmIdleTimeout
	}
	if f.EventSource == nil && hasQueue {
		f.EventSource = &EventSource{}
	}
	if e := f.EventSource; e != nil && e.BatchSize == 0 && fill(p.field("event_source").field("batch_size"), false) {
		e.BatchSize = DefaultBatchSize
	}
}

func (t *Task) applyDefaults(p path, fill fillFunc) {
	if t.KillSignal == "" && fill(p.field("kill_signal"), false) {
		t.KillSignal = DefaultKillSignal
	}
	if t.KillTimeout == 0 && fill(p.field("kill_timeout"), true) {
		t.KillTimeout = DefaultKillTimeout
	}
	rp := p.field("resources")
	if t.Resources.CPU == 0 && fill(rp.field("cpu"), false) {
		t.Resources.CPU = DefaultCPU
	}
	if t.Resources.Memory == 0 && fill(rp.field("memory"), false) {
		t.Resources.Memory = DefaultMemory
	}
	if t.Restart.Delay == 0 && fill(p.field("restart").field("delay"), false) {
		t.Restart.Delay = DefaultRestartDelay
	}
	rp = p.field("retry")
	if t.Retry.Delay == 0 && fill(rp.field("delay"), false) {
		t.Retry.Delay = DefaultRetryDelay
	}
	// A longer delay raises the default ceiling with it, so setting only
	// delay never makes the block invalid.
	if t.Retry.MaxDelay == 0 && fill(rp.field("max_delay"), false) {
		t.Retry.MaxDelay = max(DefaultRetryMaxDelay, t.Retry.Delay)
	}
}
