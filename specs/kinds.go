package specs

// JobKind is what a job type means to the parts of Docket that validate,
// plan, scale, run and finish its allocations. Each of them asks its
// question of the job's kind ([KindOf]) rather than comparing type names,
// so that a job type is one row of one table: the rules of the language,
// reconciliation, the queue-job drivers, the credentials a task gets and the
// agent's restart policy all read the same row.
type JobKind struct {
	// Type is the job type the row describes, as job files spell it; it is
	// "" in the kind of a type the table does not know (see [KindOf]).
	Type string
	// Plan is how reconciliation keeps the job's allocations.
	Plan Planning
	// Scale is what decides how many allocations run, and so which of
	// count and a scaling block a job may set.
	Scale ScaleMode
	// Queue says whether a job names a queue.
	Queue QueueUse
	// TasksReceive means that the tasks of a job with a queue receive from
	// it themselves: they are the queue's workers, so they get credentials
	// for it (a queue token and an SQS access key scoped to it), and the
	// messages they hold in flight make their allocations busy, which
	// scaling in avoids interrupting. Tasks of other kinds get no queue
	// credentials: a dispatch task is handed its message by the server.
	TasksReceive bool
	// SuccessEnds means that a task which exits successfully is done, and
	// the allocation completes once all its tasks are. Without it (a
	// service) every exit, clean or not, restarts the task in place while
	// its restart block allows, and a completed allocation is replaced.
	SuccessEnds bool
	// TaskTimeout means that a task's timeout applies: the agent kills a
	// task that runs longer, and the language accepts a non-zero timeout.
	TaskTimeout bool
}

// Planning is how reconciliation keeps a job's allocations. The zero value
// belongs to no job type.
type Planning int

const (
	// PlanCount keeps Count allocations of the latest version live, each
	// with its own name index, replacing those that end, fail or are lost,
	// and replaces out-of-date ones by rolling update.
	PlanCount Planning = iota + 1
	// PlanCompletion runs each name index below Count until one allocation
	// of it completes; a completed index is done for good, whatever the
	// job's version.
	PlanCompletion
	// PlanPerMessage leaves placement to the job's driver, which creates
	// one allocation per queue message; reconciliation places nothing and
	// only stops a stopped job's allocations and records lost ones.
	PlanPerMessage
	// PlanNothing is the plan of a type the table does not know:
	// reconciliation must not guess how to place it, so it treats it as
	// [PlanPerMessage] without a driver.
	PlanNothing
)

// ScaleMode is what decides how many allocations of a job run. The zero
// value, the mode of a type the table does not know, is subject to none of
// the rules about count and scaling that the modes below bring.
type ScaleMode int

const (
	// ScaleFixed runs Count allocations: the file's count, or an operator's
	// scale. A job takes no scaling block.
	ScaleFixed ScaleMode = iota + 1
	// ScaleBacklog runs Count allocations, or, when the job has a scaling
	// block, as many as the autoscaler derives from its queue's backlog
	// (the block needs the job to have a queue), within the block's bounds.
	ScaleBacklog
	// ScalePerMessage runs one allocation per queue message, at most
	// scaling.max at once; a job takes no count, and one without a scaling
	// block gets the default one.
	ScalePerMessage
	// ScaleInvocations runs as many execution environments as a function's
	// invocations need, within its function block's bounds: its driver
	// sets the count; a job takes neither count nor scaling block.
	ScaleInvocations
)

// QueueUse says whether a job names a queue. The zero value belongs to no
// job type.
type QueueUse int

const (
	// QueueRefused: the job must not name a queue.
	QueueRefused QueueUse = iota + 1
	// QueueOptional: the job may name a queue.
	QueueOptional
	// QueueRequired: the job must name a queue.
	QueueRequired
)

// jobKinds is the table of job types, in the order messages list them. It
// is a function returning an array, not a package variable, so nothing can
// change it, and reading it allocates nothing.
func jobKinds() [4]JobKind {
	return [...]JobKind{
		{
			// Long-lived workers: a fixed count, or queue workers scaled on
			// their queue's backlog.
			Type:         JobService,
			Plan:         PlanCount,
			Scale:        ScaleBacklog,
			Queue:        QueueOptional,
			TasksReceive: true,
		},
		{
			// Count units of work, each run to completion once.
			Type:        JobBatch,
			Plan:        PlanCompletion,
			Scale:       ScaleFixed,
			Queue:       QueueRefused,
			SuccessEnds: true,
			TaskTimeout: true,
		},
		{
			// One task per queue message, which the server receives and
			// settles on the task's behalf.
			Type:        JobDispatch,
			Plan:        PlanPerMessage,
			Scale:       ScalePerMessage,
			Queue:       QueueRequired,
			SuccessEnds: true,
			TaskTimeout: true,
		},
		{
			// Execution environments that serve invocations: kept at the
			// count the function's driver sets, each restarted when its
			// runtime exits; an invocation, not the task, times out. Its
			// queue, when it has one, is an event source the server
			// receives from on the function's behalf.
			Type:  JobFunction,
			Plan:  PlanCount,
			Scale: ScaleInvocations,
			Queue: QueueOptional,
		},
	}
}

// KindOf returns the kind of a job type. A type the table does not know
// gets the kind every part of Docket gave such a type before there was a
// table: nothing is planned ([PlanNothing]) or driven for it, no count or
// scaling rule applies, a queue is optional but gets its tasks no
// credentials, and a task ends when it succeeds or runs out of its timeout.
// Validation refuses unknown types, so only a model that was never
// validated, or a newer server's job seen by an older agent, has one; its
// Known method reports false.
func KindOf(jobType string) JobKind {
	for _, k := range jobKinds() {
		if k.Type == jobType {
			return k
		}
	}
	return JobKind{
		Plan:        PlanNothing,
		Queue:       QueueOptional,
		SuccessEnds: true,
		TaskTimeout: true,
	}
}

// Known reports whether k is the kind of a job type the table declares.
func (k JobKind) Known() bool { return k.Type != "" }

// JobTypes returns the declared job types, in the order messages list them.
func JobTypes() []string {
	kinds := jobKinds()
	types := make([]string, len(kinds))
	for i, k := range kinds {
		types[i] = k.Type
	}
	return types
}

// Kind returns the kind of j's type.
func (j *Job) Kind() JobKind { return KindOf(j.Type) }

// QueueWorkers reports whether j's tasks are workers of its queue, which
// receive from it themselves and so get credentials for it: j names a
// queue and its kind's tasks receive ([JobKind.TasksReceive]).
func (j *Job) QueueWorkers() bool { return j.Queue != "" && j.Kind().TasksReceive }
