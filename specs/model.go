package specs

// The job types. A service runs a fixed or queue-scaled number of long-lived
// workers, a batch job runs its tasks to completion once, and a dispatch job
// runs one task per queue message. [KindOf] says what each means to the
// rest of Docket; a new type is a new row of its table.
const (
	JobService  = "service"
	JobBatch    = "batch"
	JobDispatch = "dispatch"
	JobFunction = "function"
)

// File is everything one job file defines. After [Parse] or a successful
// [File.Validate] the model is complete: every field holds its effective
// value, and a zero value means zero, never "use the default".
type File struct {
	Queues []*Queue `json:"queues,omitempty"`
	Topics []*Topic `json:"topics,omitempty"`
	Jobs   []*Job   `json:"jobs,omitempty"`
}

// Topic is a publish/subscribe topic and the queues subscribed to it.
type Topic struct {
	Name          string               `json:"name"`
	Subscriptions []*TopicSubscription `json:"subscriptions,omitempty"`
}

// TopicSubscription delivers a topic's messages that pass its filter
// policy to a queue.
type TopicSubscription struct {
	Queue string `json:"queue"`
	// Raw delivers messages as published, not in SNS's JSON envelope.
	Raw bool `json:"raw,omitempty"`
	// FilterPolicy is an SNS filter policy (JSON), on FilterScope:
	// MessageAttributes (the default) or MessageBody.
	FilterPolicy string `json:"filter_policy,omitempty"`
	FilterScope  string `json:"filter_scope,omitempty"`
}

// Queue is a durable message queue with SQS semantics.
type Queue struct {
	Name string `json:"name"`
	// VisibilityTimeout is how long a received message stays hidden from
	// other receivers before it is delivered again.
	VisibilityTimeout Duration `json:"visibility_timeout"`
	// Retention is how long an undeleted message is kept.
	Retention Duration `json:"retention"`
	// Delay hides every new message for this long after it is sent.
	Delay Duration `json:"delay"`
	// ReceiveWait is the default long-poll wait of a receive.
	ReceiveWait    Duration `json:"receive_wait"`
	MaxMessageSize Size     `json:"max_message_size"`
	// MaxReceives is how many receives a message gets before it moves to
	// DeadLetter; zero means no limit.
	MaxReceives int    `json:"max_receives"`
	DeadLetter  string `json:"dead_letter,omitempty"`
	// FIFO makes a first-in-first-out queue, whose name ends in .fifo:
	// each message has a group, a group's messages are delivered in order
	// and one batch at a time, and a message sent again within five
	// minutes (same deduplication id) is stored once.
	FIFO bool `json:"fifo,omitempty"`
	// ContentBasedDeduplication takes a message's deduplication id from
	// its body's SHA-256 when the sender gives none.
	ContentBasedDeduplication bool `json:"content_based_deduplication,omitempty"`
	// DeduplicationScope is "queue" (the default) or "messageGroup".
	DeduplicationScope string `json:"deduplication_scope,omitempty"`
	// FIFOThroughputLimit is "perQueue" (the default) or
	// "perMessageGroupId", as in SQS.
	FIFOThroughputLimit string `json:"fifo_throughput_limit,omitempty"`
}

// Job is a unit of scheduling: a group of tasks placed together, as many
// times as its count or its scaling asks for.
type Job struct {
	Name string `json:"name"`
	// Type is one of [JobService], [JobBatch] or [JobDispatch]; [Job.Kind]
	// says how a job of it is planned, scaled and finished.
	Type string `json:"type"`
	// Queue is the queue a dispatch job consumes, or the queue whose backlog
	// scales a service. Batch jobs have none.
	Queue    string `json:"queue,omitempty"`
	Priority int    `json:"priority"`
	// Count is the fixed number of instances of a service or batch job. It
	// is zero when Scaling decides the number instead.
	Count int `json:"count"`
	// Scaling is set for queue-scaled services and for every dispatch job.
	Scaling     *Scaling     `json:"scaling,omitempty"`
	Update      Update       `json:"update"`
	Constraints []Constraint `json:"constraints,omitempty"`
	Spreads     []Spread     `json:"spreads,omitempty"`
	// Function is set for function jobs (and only for them): how their
	// execution environments run invocations.
	Function *Function `json:"function,omitempty"`
	Tasks    []*Task   `json:"tasks"`
}

// Function is what makes a job a Lambda-style function: its one task's
// image runs in execution environments, each a container that serves
// invocations one at a time through the Lambda runtime API, kept warm
// between them. The function's name is the job's.
type Function struct {
	// Handler is the function's handler, as the runtime reads it from
	// _HANDLER; the image's command or the task's command starts the
	// runtime.
	Handler string `json:"handler,omitempty"`
	// Memory is the environment's memory in MiB: the container's limit
	// and AWS_LAMBDA_FUNCTION_MEMORY_SIZE. It is the task's
	// resources.memory, which it sets when only it is given.
	Memory int `json:"memory"`
	// Timeout is the longest one invocation may run; an invocation that
	// runs longer fails with "Task timed out" and its environment is
	// replaced.
	Timeout     Duration    `json:"timeout"`
	Concurrency Concurrency `json:"concurrency"`
	Warm        Warm        `json:"warm"`
	// EventSource is how the function takes its job's queue's messages:
	// set when the job names a queue, and only then.
	EventSource *EventSource `json:"event_source,omitempty"`
}

// Concurrency bounds a function's concurrent executions: each runs in its
// own environment.
type Concurrency struct {
	// Max is the most environments the function runs at once; an
	// invocation beyond it is throttled.
	Max int `json:"max"`
	// Reserved is how many environments stay placed, their resources held
	// on their nodes, whether or not they are used (paused while idle): a
	// burst up to it never waits for capacity that other jobs took.
	Reserved int `json:"reserved"`
}

// Warm says how long environments stay after an invocation.
type Warm struct {
	// Min environments are kept whatever their idleness (Lambda's
	// provisioned concurrency).
	Min int `json:"min"`
	// IdleTimeout is how long an environment beyond Min is kept, paused,
	// after its last invocation.
	IdleTimeout Duration `json:"idle_timeout"`
}

// EventSource is an SQS event source mapping: the function receives its
// job's queue's messages in batches, as Lambda's SQSEvent.
type EventSource struct {
	// BatchSize is the most messages in one invocation (1–10,000).
	BatchSize int `json:"batch_size"`
	// BatchingWindow is how long a batch is gathered before it is
	// invoked with fewer than BatchSize messages.
	BatchingWindow Duration `json:"batching_window"`
	// ReportBatchItemFailures lets the function name the messages that
	// failed ({"batchItemFailures":[{"itemIdentifier":ID}]}), so that only
	// they come back; otherwise a failed invocation fails its batch.
	ReportBatchItemFailures bool `json:"report_batch_item_failures,omitempty"`
	// MaximumConcurrency caps the concurrent invocations of the mapping;
	// zero leaves it to concurrency.max.
	MaximumConcurrency int `json:"maximum_concurrency"`
}

// Scaling bounds the number of instances the autoscaler may run.
type Scaling struct {
	Min int `json:"min"`
	// Max caps the instances of a service, and the concurrent per-message
	// tasks of a dispatch job.
	Max int `json:"max"`
	// MessagesPerTask is the backlog a service aims for per running task.
	MessagesPerTask int `json:"messages_per_task"`
	// Cooldown is how long the backlog must stay low before scaling in.
	Cooldown Duration `json:"cooldown"`
}

// Update says how running instances are replaced when the job changes.
type Update struct {
	MaxParallel int `json:"max_parallel"`
}

// Constraint restricts the nodes a job may be placed on.
type Constraint struct {
	// Attribute is node.name, node.class, node.os, node.arch or
	// node.meta.<key>; it is empty for the distinct_hosts operator.
	Attribute string `json:"attribute,omitempty"`
	// Operator is =, !=, in, not_in, regexp or distinct_hosts.
	Operator string `json:"operator"`
	// Value is compared with the attribute: a comma-separated list for in
	// and not_in, a regular expression for regexp.
	Value string `json:"value,omitempty"`
}

// Spread asks placement to spread a job's instances over the values of a
// node attribute.
type Spread struct {
	Attribute string `json:"attribute"`
	Weight    int    `json:"weight"`
}

// Task is one container of a job.
type Task struct {
	Name string `json:"name"`
	// Image is a registry reference or oci-archive:PATH.
	Image   string            `json:"image"`
	Command []string          `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Workdir string            `json:"workdir,omitempty"`
	User    string            `json:"user,omitempty"`
	// Timeout is the longest a dispatch or batch task may run; zero means
	// no limit.
	Timeout    Duration `json:"timeout"`
	KillSignal string   `json:"kill_signal"`
	// KillTimeout is the grace between KillSignal and SIGKILL.
	KillTimeout Duration  `json:"kill_timeout"`
	Resources   Resources `json:"resources"`
	Restart     Restart   `json:"restart"`
	// Retry is the backoff of a dispatch job's failed messages; other job
	// types ignore it.
	Retry Retry `json:"retry"`
}

// Resources are a task's reserved and enforced limits.
type Resources struct {
	// CPU is in millicores: 1000 is one core.
	CPU int `json:"cpu"`
	// Memory is in MiB and is a hard limit.
	Memory int `json:"memory"`
}

// Restart says how often a failed task is restarted in place before it
// counts as failed.
type Restart struct {
	Attempts int      `json:"attempts"`
	Delay    Duration `json:"delay"`
}

// Retry is the exponential backoff before a failed message is delivered to a
// dispatch job again.
type Retry struct {
	Delay    Duration `json:"delay"`
	MaxDelay Duration `json:"max_delay"`
}
