package agent

import (
	"context"
	"errors"
	"time"
)

// Runtime runs the containers of allocations. agent/containerd implements
// it on containerd; tests use a fake. Every method is safe for concurrent
// use, and containers outlive the process that started them: a new Runtime
// on the same host finds them with List and reattaches with Wait.
type Runtime interface {
	// Start makes the task's image available (importing or pulling it),
	// creates its container and starts it. It returns once the process
	// runs, or with an error that says why it could not (bad image,
	// missing executable...). Starting an ID that exists is an error
	// wrapping ErrExists.
	Start(ctx context.Context, spec TaskSpec) error
	// Wait blocks until the task exits and returns how it ended. It works
	// for tasks started by an earlier Runtime, and returns at once for a
	// task that has already exited.
	Wait(ctx context.Context, id string) (Exit, error)
	// Stop sends signal, waits up to timeout for the task to exit, then
	// kills it with SIGKILL; it returns how the task ended. Stopping a task
	// that already exited returns its exit.
	Stop(ctx context.Context, id, signal string, timeout time.Duration) (Exit, error)
	// Remove deletes the task's container and its filesystem; its logs
	// stay. Removing an unknown ID is not an error.
	Remove(ctx context.Context, id string) error
}

// Inspector lets the agent find containers after a restart and measure
// them. agent/containerd implements it together with Runtime.
type Inspector interface {
	// List returns every container this runtime manages on the host.
	List(ctx context.Context) ([]Container, error)
	// Stats returns a running task's resource use.
	Stats(ctx context.Context, id string) (Usage, error)
}

// Pauser freezes and thaws tasks: the agent pauses a function's idle
// execution environments. agent/containerd implements it; a Runtime
// without it runs idle environments unpaused.
type Pauser interface {
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
}

// Errors of runtimes.
var (
	ErrExists   = errors.New("container exists")
	ErrNotFound = errors.New("container not found")
	// ErrImage wraps failures to find, pull or import an image, so that
	// the agent reports them as such and retries with backoff.
	ErrImage = errors.New("image unavailable")
)

// TaskSpec is one container to run.
type TaskSpec struct {
	// ID is the container ID: the allocation ID and the task name.
	ID string
	// Labels are stored on the container so the agent can recognise it
	// after a restart (docket.alloc, docket.task, docket.job).
	Labels map[string]string
	// Image is "oci-archive:/abs/path.tar" or a registry reference.
	Image   string
	Command []string // replaces the image's entrypoint when set
	Args    []string // replaces the image's cmd when set
	Env     map[string]string
	Workdir string
	User    string
	// CPU (millicores) and Memory (MiB) are enforced limits.
	CPU    int
	Memory int
	Mounts []Mount
	// LogDir receives the task's stdout and stderr as stdout.log and
	// stderr.log, rotated at LogMaxBytes, keeping LogMaxFiles old files.
	LogDir      string
	LogMaxBytes int64
	LogMaxFiles int
}

// Mount binds a host path into the container.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// Exit is how a task ended.
type Exit struct {
	Code      int
	At        time.Time
	OOMKilled bool
	// Reason is set when the runtime knows more than the code, e.g. a
	// process that could not be executed.
	Reason string
}

// Container is a container a runtime holds.
type Container struct {
	ID      string
	Labels  map[string]string
	Running bool
	// Exit is set for a container whose task has exited.
	Exit *Exit
}

// Usage is a task's resource use.
type Usage struct {
	CPUSeconds  float64 // total CPU time
	MemoryBytes uint64  // current memory use
}
