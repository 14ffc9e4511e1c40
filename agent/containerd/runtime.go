package containerd

import (
	"context"
	"errors"
	"fmt"
	"github.com/docketd/docket/agent/logdriver"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/defaults"
	"github.com/containerd/containerd/errdefs"

	"github.com/docketd/docket/agent"
)

// Compile-time proof that Runtime is what the agent needs.
var (
	_ agent.Runtime   = (*Runtime)(nil)
	_ agent.Inspector = (*Runtime)(nil)
)

// Labels the runtime adds to every container, next to the task's own.
const (
	// LabelLogDir holds the task's log directory.
	LabelLogDir = "docket.log-dir"
	// LabelImage holds the image reference the task was started with, as
	// written in the task (e.g. "oci-archive:/srv/images/worker.tar").
	LabelImage = "docket.image"
)

// Defaults of [Config].
const (
	DefaultAddress   = "/run/containerd/containerd.sock"
	DefaultNamespace = "docket"
)

const (
	// connectTimeout bounds the dial to containerd in New.
	connectTimeout = 10 * time.Second
	// cleanupTimeout bounds the removal of what a failed Start created,
	// which runs even when the Start's context is done.
	cleanupTimeout = 30 * time.Second
)

// Config configures a [Runtime]. The zero value talks to the system's
// containerd in the "docket" namespace and uses the running executable as
// the log driver.
type Config struct {
	// Address is containerd's gRPC socket; DefaultAddress when empty.
	Address string
	// Namespace holds every container of this runtime; DefaultNamespace
	// when empty. List reports all containers in it.
	Namespace string
	// Logger receives the runtime's own logs; slog.Default() when nil.
	Logger *slog.Logger
	// LoggerBinary is the absolute path of the program containerd's shim
	// runs, once per task, to write the task's output to files: a program
	// that calls [RunLogger] when its arguments are LoggerArgs followed by
	// one more. Empty means docket-logger next to the running executable
	// if it is there, else the running executable (docket logger).
	LoggerBinary string
	// LoggerArgs are the arguments placed before the log driver's own, by
	// default ["logger"]: the shim runs "LoggerBinary logger OPTIONS", and
	// the program passes the arguments after LoggerArgs to RunLogger.
	//
	// It must hold exactly one argument. The shim builds the logger's
	// command line from the query of a binary:// URI, as KEY VALUE pairs in
	// no fixed order, so a single key (this argument) with a single value
	// (the driver's options) is the only order that holds.
	LoggerArgs []string
	// Snapshotter unpacks images and holds container filesystems; empty
	// means containerd's default for the namespace.
	Snapshotter string
	// OnImageFetch, if set, is called after every image import or pull
	// (not for images already at hand), for metrics.
	OnImageFetch func(ImageFetch)
	// ImageDirs are the directories oci-archive: images may be read from,
	// each with everything under it, after symbolic links are resolved;
	// with none, no archive is read. A job names files on the agent's
	// host, so only these may be opened: never /etc/shadow.
	ImageDirs []string
	// AllowRootTasks lets a task ask to run as root (user "0", "0:0",
	// "root", ...). Without it such a task fails to start; an image
	// whose own user is root still runs, in the sandbox every task has.
	AllowRootTasks bool
}

// Runtime runs tasks as containerd containers. It is safe for concurrent
// use. Containers outlive it: Close leaves them running.
//
// Lock order: images.mu and Runtime.mu are never held together.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	client *containerd.Client
	images *imageStore
	// snapshotter is Config.Snapshotter or, when empty, the namespace's
	// default, resolved once by New.
	snapshotter string
	// imageSpecs remembers what each image gives its containers: the
	// configuration as a spec has it, and the chain ID of its layers.
	imageSpecs imageSpecs

	// mu guards exits.
	mu sync.Mutex
	// exits holds the exits of tasks this Runtime started, observed from
	// before the task's start; Wait uses them and falls back to containerd
	// for tasks started by another Runtime.
	exits map[string]*exitWatch
	// watchers counts the goroutines feeding exits; Close waits for them.
	watchers sync.WaitGroup
}

// New connects to containerd and returns a Runtime. It fails if containerd
// does not answer within ctx, or if the configuration is unusable.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LoggerBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("containerd: log driver: %w", err)
		}
		cfg.LoggerBinary = exe
		// The small docket-logger next to the executable starts ten times
		// faster than the docket binary, on every container start's path.
		if small := filepath.Join(filepath.Dir(exe), "docket-logger"); isExecutable(small) {
			cfg.LoggerBinary = small
		}
	}
	for _, d := range cfg.ImageDirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("containerd: image directory %q is not an absolute path", d)
		}
	}
	if !filepath.IsAbs(cfg.LoggerBinary) {
		return nil, fmt.Errorf("containerd: log driver %q is not an absolute path", cfg.LoggerBinary)
	}
	if cfg.LoggerArgs == nil {
		cfg.LoggerArgs = []string{"logger"}
	}
	if len(cfg.LoggerArgs) != 1 || cfg.LoggerArgs[0] == "" {
		return nil, fmt.Errorf("containerd: log driver arguments %q: want exactly one, non-empty "+
			"(the shim passes them as unordered KEY VALUE pairs)", cfg.LoggerArgs)
	}

	client, err := containerd.New(cfg.Address,
		containerd.WithDefaultNamespace(cfg.Namespace),
		containerd.WithTimeout(connectTimeout))
	if err != nil {
		return nil, fmt.Errorf("containerd: connect to %s: %w", cfg.Address, err)
	}
	snapshotter, err := resolveSnapshotter(ctx, client, cfg.Snapshotter)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("containerd: %s: %w", cfg.Address, err)
	}
	log := cfg.Logger.With("component", "containerd")
	return &Runtime{
		cfg:         cfg,
		log:         log,
		client:      client,
		images:      newImageStore(client, snapshotter, log, cfg.OnImageFetch, cfg.ImageDirs),
		snapshotter: snapshotter,
		exits:       make(map[string]*exitWatch),
	}, nil
}

// resolveSnapshotter returns name or, when it is empty, the default
// snapshotter of the client's namespace: its label if set, else
// containerd's default. Resolving it once spares every later call the
// look-up. It is also New's proof that containerd answers.
func resolveSnapshotter(ctx context.Context, client *containerd.Client, name string) (string, error) {
	if name != "" {
		if _, err := client.Version(ctx); err != nil {
			return "", err
		}
		return name, nil
	}
	label, err := client.GetLabel(ctx, defaults.DefaultSnapshotterNSLabel)
	if err != nil && !errdefs.IsNotFound(err) { // a namespace not created yet has no label
		return "", err
	}
	if label != "" {
		return label, nil
	}
	return containerd.DefaultSnapshotter, nil
}

// Close ends the runtime's connection to containerd, after cancelling the
// image imports and pulls in flight. Containers keep running, and their
// logs keep being written. No other method may be running or called
// afterwards.
func (r *Runtime) Close() error {
	r.images.close()
	r.mu.Lock()
	for _, w := range r.exits {
		w.cancel()
	}
	r.mu.Unlock()
	r.watchers.Wait()
	return r.client.Close()
}

// Start imports or pulls the task's image, creates its container and
// starts its task, returning once the process runs. On failure nothing of
// the container is left behind.
func (r *Runtime) Start(ctx context.Context, spec agent.TaskSpec) (err error) {
	if spec.ID == "" {
		return errors.New("containerd: task without an ID")
	}
	img, err := r.images.get(ctx, spec.Image)
	if err != nil {
		return err
	}
	if spec.LogDir != "" {
		// Made here rather than by the logger, so that a bad directory is
		// an error of Start and not a task whose output goes nowhere.
		if err := os.MkdirAll(spec.LogDir, 0o755); err != nil {
			return fmt.Errorf("start %s: log directory: %w", spec.ID, err)
		}
	}

	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = make(map[string]string)
	}
	labels[LabelImage] = spec.Image
	if spec.LogDir != "" {
		labels[LabelLogDir] = spec.LogDir
	}
	ctr, err := r.client.NewContainer(ctx, spec.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.snapshotter),
		r.imageSpecs.withNewSnapshot(spec.ID, img),
		containerd.WithNewSpec(specOpts(img, spec, &r.imageSpecs, r.cfg.AllowRootTasks)...),
		containerd.WithContainerLabels(labels))
	if err != nil {
		// The snapshot, named after the ID, is created first: it is what
		// collides when the ID is taken.
		if errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("start %s: %w", spec.ID, agent.ErrExists)
		}
		r.removeSnapshot(ctx, spec.ID)
		r.images.forget(spec.Image) // in case it went missing behind our back
		return fmt.Errorf("start %s: create container: %w", spec.ID, err)
	}
	defer func() {
		if err != nil {
			r.cleanup(ctx, ctr)
		}
	}()

	task, err := ctr.NewTask(ctx, r.taskIO(spec))
	if err != nil {
		// runc's reason, such as `exec: "/nope": stat /nope: no such file or
		// directory`, is in the message.
		return fmt.Errorf("start %s: create task: %w", spec.ID, err)
	}
	// Wait before Start, so that the exit of a process that ends at once
	// is observed like any other.
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	exitC, err := task.Wait(watchCtx)
	if err != nil {
		cancel()
		return fmt.Errorf("start %s: wait: %w", spec.ID, err)
	}
	if err := task.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	r.watchExit(ctr, task, exitC, cancel)
	return nil
}

// taskIO sends the task's stdout and stderr to the log driver, or nowhere
// without a log directory.
func (r *Runtime) taskIO(spec agent.TaskSpec) cio.Creator {
	if spec.LogDir == "" {
		return cio.NullIO
	}
	opts := logdriver.Options{Dir: spec.LogDir, MaxBytes: spec.LogMaxBytes, MaxFiles: spec.LogMaxFiles}
	return cio.BinaryIO(r.cfg.LoggerBinary, map[string]string{r.cfg.LoggerArgs[0]: opts.Encode()})
}

// cleanup removes what a failed Start created, even if its context is
// done: on ctx's values without its cancellation, for cleanupTimeout.
func (r *Runtime) cleanup(ctx context.Context, ctr containerd.Container) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := removeContainer(ctx, ctr); err != nil {
		r.log.Warn("removing the container of a failed start", "id", ctr.ID(), "error", err)
	}
}

// Remove deletes the task (killing it if it runs), its container and its
// filesystem. The logs stay. Removing an unknown ID is not an error.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	if w := r.exitWatchOf(id); w != nil {
		r.forgetExit(id)
		if err := deleteContainer(ctx, w.ctr, w.task); err != nil {
			return fmt.Errorf("remove %s: %w", id, err)
		}
		return nil
	}
	ctr, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		// A Start that failed half-way may have left the snapshot.
		err := r.client.SnapshotService(r.snapshotter).Remove(ctx, id)
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove %s: snapshot: %w", id, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if err := removeContainer(ctx, ctr); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

// removeContainer deletes ctr's task, killing it first if it runs, then
// ctr with its snapshot. Deleting the task also ends its logger, once the
// logger has written everything.
func removeContainer(ctx context.Context, ctr containerd.Container) error {
	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
	case errdefs.IsNotFound(err):
		task = nil
	default:
		return fmt.Errorf("load task: %w", err)
	}
	return deleteContainer(ctx, ctr, task)
}

// deleteContainer deletes task (if not nil), killing it first if it runs,
// then ctr with its snapshot; what is already gone is not an error.
func deleteContainer(ctx context.Context, ctr containerd.Container, task containerd.Task) error {
	if task != nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task: %w", err)
		}
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container: %w", err)
	}
	return nil
}

// removeSnapshot removes the snapshot named id, which a container create
// that failed after making it leaves for the garbage collector; removing it
// now lets a retry of the same ID succeed at once. Like cleanup, it runs
// even if ctx is done.
func (r *Runtime) removeSnapshot(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	err := r.client.SnapshotService(r.snapshotter).Remove(ctx, id)
	if err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("removing the snapshot of a failed start", "id", id, "error", err)
	}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
