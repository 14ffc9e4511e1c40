package specs

import (
	"strings"
	"time"
)

// The accepted ranges of a function's settings: Lambda's, where Lambda has
// them.
const (
	minFunctionTimeout    = Duration(time.Second)
	maxFunctionTimeout    = Duration(15 * time.Minute)
	maxConcurrency        = 1000
	maxIdleTimeout        = Duration(24 * time.Hour)
	maxBatchSize          = 10000
	maxFIFOBatchSize      = 10
	maxBatchingWindow     = Duration(5 * time.Minute)
	minMaximumConcurrency = 2
	// A batch of more than maxUnwindowedBatch messages needs a batching
	// window of at least minLargeBatchWindow, as Lambda requires.
	maxUnwindowedBatch  = 10
	minLargeBatchWindow = Duration(time.Second)
)

func (ps *problems) checkFunction(p path, j *Job, kind JobKind) {
	fp := p.field("function")
	f := j.Function
	if kind.Scale != ScaleInvocations {
		if f != nil && kind.Known() {
			ps.add(fp, "Unexpected function block", "a function block is allowed only in %s jobs", JobFunction)
		}
		return
	}
	if len(j.Tasks) > 1 {
		ps.add(p.field("tasks").index(1), "Unexpected task", "a %s job has exactly one task: the image its environments run", j.Type)
	}
	if f == nil {
		return // Validate's defaults give every function job one
	}
	ps.noNUL(fp.field("handler"), f.Handler)
	if len(j.Tasks) == 1 && j.Tasks[0] != nil && f.Memory != j.Tasks[0].Resources.Memory && f.Memory != 0 {
		ps.field(fp.field("memory"), "Conflicting memory",
			"is the task's resources.memory (%d); set one of them, got %d", j.Tasks[0].Resources.Memory, f.Memory)
	}
	ps.durationRange(fp.field("timeout"), f.Timeout, minFunctionTimeout, maxFunctionTimeout)
	cp := fp.field("concurrency")
	ps.intRange(cp.field("max"), f.Concurrency.Max, 1, maxConcurrency)
	ps.intRange(cp.field("reserved"), f.Concurrency.Reserved, 0, maxConcurrency)
	if f.Concurrency.Reserved > f.Concurrency.Max && f.Concurrency.Max >= 1 {
		ps.field(cp.field("reserved"), "Invalid concurrency", "must not be greater than max (%d), got %d", f.Concurrency.Max, f.Concurrency.Reserved)
	}
	wp := fp.field("warm")
	ps.intRange(wp.field("min"), f.Warm.Min, 0, maxConcurrency)
	if f.Warm.Min > f.Concurrency.Max && f.Concurrency.Max >= 1 {
		ps.field(wp.field("min"), "Invalid warm minimum", "must not be greater than concurrency.max (%d), got %d", f.Concurrency.Max, f.Warm.Min)
	}
	ps.durationRange(wp.field("idle_timeout"), f.Warm.IdleTimeout, 0, maxIdleTimeout)

	ep := fp.field("event_source")
	e := f.EventSource
	switch {
	case e == nil:
		return
	case j.Queue == "":
		ps.add(ep, "Missing queue", "an event source needs the job to name the queue it takes messages from")
		return
	}
	limit := maxBatchSize
	if strings.HasSuffix(j.Queue, ".fifo") {
		limit = maxFIFOBatchSize
	}
	ps.intRange(ep.field("batch_size"), e.BatchSize, 1, limit)
	ps.durationRange(ep.field("batching_window"), e.BatchingWindow, 0, maxBatchingWindow)
	if e.BatchSize > maxUnwindowedBatch && e.BatchingWindow < minLargeBatchWindow && e.BatchSize <= limit {
		ps.field(ep.field("batching_window"), "Batching window too short",
			"must be at least %s for a batch_size over %d, got %s", minLargeBatchWindow, maxUnwindowedBatch, e.BatchingWindow)
	}
	if m := e.MaximumConcurrency; m != 0 {
		ps.intRange(ep.field("maximum_concurrency"), m, minMaximumConcurrency, maxConcurrency)
	}
}
