package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/internal/ocibuild"
)

// Compile-time proof that Fake is a runtime.
var (
	_ agent.Runtime   = (*Fake)(nil)
	_ agent.Inspector = (*Fake)(nil)
)

// FakeConfig configures a [Fake].
type FakeConfig struct {
	// Images are the images the fake can run, by reference, such as
	// TestProgImage's. Only their configuration and the paths of their
	// files matter: every executable in them behaves as testprog. A
	// reference not in Images fails to start with an agent.ErrImage.
	Images map[string]ocibuild.Image
}

// Fake is an in-memory runtime. Its tasks are goroutines that interpret
// testprog's steps (see internal/imagetest) in real time: echo, stderr,
// env, id, pwd, cat, write, exit, sleep, trap-term, ignore-term, alloc-mem
// and spin. Signals end them as they end testprog as a container's PID 1
// (SIGTERM 143, SIGINT 130, SIGKILL 137; SIGWINCH, SIGCHLD and SIGURG are
// ignored; other signals 2). Files are read and written through the task's
// mounts, read-only ones refusing writes; other paths live in memory.
// alloc-mem past the task's memory limit is an OOM kill. Output goes to
// stdout.log and stderr.log in the task's log directory, without rotation.
//
// Tasks belong to the fake's host, not to the Fake: [Fake.Reopen] returns
// another Fake on the same host, as a restarted agent gets a new runtime on
// the same containerd, and [Fake.Shutdown] ends the host's tasks.
type Fake struct {
	host   *fakeHost
	closed atomic.Bool
}

// fakeHost is the machine fakes share: the images and the containers.
type fakeHost struct {
	images map[string]ocibuild.Image // read-only

	mu         sync.Mutex
	containers map[string]*fakeContainer
	// tasks counts the goroutines of tasks; Shutdown waits for them.
	tasks sync.WaitGroup
}

// fakeContainer is one container and its task.
type fakeContainer struct {
	id     string
	labels map[string]string
	task   *fakeTask
}

// NewFake returns a Fake on a new host.
func NewFake(cfg FakeConfig) *Fake {
	return &Fake{host: &fakeHost{
		images:     maps.Clone(cfg.Images),
		containers: make(map[string]*fakeContainer),
	}}
}

// Reopen returns a new Fake on f's host, which finds f's tasks.
func (f *Fake) Reopen() *Fake { return &Fake{host: f.host} }

// Close ends this Fake; its tasks keep running on the host. Calls to it
// afterwards fail.
func (f *Fake) Close() error {
	f.closed.Store(true)
	return nil
}

// Shutdown kills every task of the host and waits for their goroutines to
// end: the host goes down. The containers stay listed, exited.
func (f *Fake) Shutdown() {
	f.host.mu.Lock()
	for _, c := range f.host.containers {
		c.task.signal(syscall.SIGKILL)
	}
	f.host.mu.Unlock()
	f.host.tasks.Wait()
}

var errClosed = errors.New("runtimetest: fake runtime closed")

func (f *Fake) check() error {
	if f.closed.Load() {
		return errClosed
	}
	return nil
}

// container returns id's container or an agent.ErrNotFound.
func (f *Fake) container(id string) (*fakeContainer, error) {
	f.host.mu.Lock()
	defer f.host.mu.Unlock()
	c := f.host.containers[id]
	if c == nil {
		return nil, fmt.Errorf("%s: %w", id, agent.ErrNotFound)
	}
	return c, nil
}

// fakeImageError is an image the fake cannot run; it is an agent.ErrImage.
type fakeImageError struct {
	ref string
	err error
}

func (e *fakeImageError) Error() string   { return "image " + e.ref + ": " + e.err.Error() }
func (e *fakeImageError) Unwrap() []error { return []error{agent.ErrImage, e.err} }

// Start starts spec's task, checking what containerd and runc would: the
// image, the ID, the user and the executable.
func (f *Fake) Start(ctx context.Context, spec agent.TaskSpec) error {
	if err := f.check(); err != nil {
		return err
	}
	if spec.ID == "" {
		return errors.New("runtimetest: task without an ID")
	}
	img, ok := f.host.images[spec.Image]
	if !ok {
		err := errors.New("not found")
		if p, isArchive := strings.CutPrefix(spec.Image, "oci-archive:"); isArchive {
			if file, openErr := os.Open(p); openErr != nil {
				err = openErr
			} else {
				file.Close()
				err = errors.New("not an image the fake knows")
			}
		}
		return &fakeImageError{ref: spec.Image, err: err}
	}
	proc, err := newFakeProcess(img, spec)
	if err != nil {
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}

	f.host.mu.Lock()
	defer f.host.mu.Unlock()
	if f.host.containers[spec.ID] != nil {
		return fmt.Errorf("start %s: %w", spec.ID, agent.ErrExists)
	}
	stdout, stderr, err := openLogs(spec.LogDir)
	if err != nil {
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	task := newFakeTask(proc, stdout, stderr)
	f.host.containers[spec.ID] = &fakeContainer{id: spec.ID, labels: maps.Clone(spec.Labels), task: task}
	f.host.tasks.Add(1)
	go func() {
		defer f.host.tasks.Done()
		task.run()
	}()
	return nil
}

// openLogs opens the task's log files for appending, or discards its
// output without a log directory.
func openLogs(dir string) (stdout, stderr io.WriteCloser, err error) {
	if dir == "" {
		return nopCloser{io.Discard}, nopCloser{io.Discard}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	open := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	}
	out, err := open("stdout.log")
	if err != nil {
		return nil, nil, err
	}
	errf, err := open("stderr.log")
	if err != nil {
		out.Close()
		return nil, nil, err
	}
	return out, errf, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Wait waits for id's task to exit.
func (f *Fake) Wait(ctx context.Context, id string) (agent.Exit, error) {
	if err := f.check(); err != nil {
		return agent.Exit{}, err
	}
	c, err := f.container(id)
	if err != nil {
		return agent.Exit{}, fmt.Errorf("wait: %w", err)
	}
	select {
	case <-c.task.done:
		return c.task.exit, nil
	case <-ctx.Done():
		return agent.Exit{}, ctx.Err()
	}
}

// Stop signals id's task, and kills it if it has not exited after timeout.
func (f *Fake) Stop(ctx context.Context, id, signal string, timeout time.Duration) (agent.Exit, error) {
	if err := f.check(); err != nil {
		return agent.Exit{}, err
	}
	sig, err := parseSignal(signal)
	if err != nil {
		return agent.Exit{}, fmt.Errorf("stop %s: %w", id, err)
	}
	c, err := f.container(id)
	if err != nil {
		return agent.Exit{}, fmt.Errorf("stop: %w", err)
	}
	c.task.signal(sig)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.task.done:
		return c.task.exit, nil
	case <-ctx.Done():
		return agent.Exit{}, ctx.Err()
	case <-timer.C:
	}
	c.task.signal(syscall.SIGKILL)
	select {
	case <-c.task.done:
		return c.task.exit, nil
	case <-ctx.Done():
		return agent.Exit{}, ctx.Err()
	}
}

// parseSignal reads "SIGTERM", "TERM" or "15"; empty is SIGTERM.
func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal: %s", s)
}

// Remove kills id's task if it runs and forgets the container.
func (f *Fake) Remove(ctx context.Context, id string) error {
	if err := f.check(); err != nil {
		return err
	}
	c, err := f.container(id)
	if errors.Is(err, agent.ErrNotFound) {
		return nil
	}
	c.task.signal(syscall.SIGKILL)
	select {
	case <-c.task.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	f.host.mu.Lock()
	defer f.host.mu.Unlock()
	if f.host.containers[id] == c {
		delete(f.host.containers, id)
	}
	return nil
}

// List returns the host's containers, sorted by ID.
func (f *Fake) List(ctx context.Context) ([]agent.Container, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	f.host.mu.Lock()
	defer f.host.mu.Unlock()
	out := make([]agent.Container, 0, len(f.host.containers))
	for _, id := range slices.Sorted(maps.Keys(f.host.containers)) {
		c := f.host.containers[id]
		entry := agent.Container{ID: id, Labels: maps.Clone(c.labels)}
		select {
		case <-c.task.done:
			exit := c.task.exit
			entry.Exit = &exit
		default:
			entry.Running = true
		}
		out = append(out, entry)
	}
	return out, nil
}

// Stats returns the task's use: a few MiB plus what alloc-mem holds, and
// the time it spent in spin plus a little.
func (f *Fake) Stats(ctx context.Context, id string) (agent.Usage, error) {
	if err := f.check(); err != nil {
		return agent.Usage{}, err
	}
	c, err := f.container(id)
	if err != nil {
		return agent.Usage{}, fmt.Errorf("stats: %w", err)
	}
	return c.task.usage(), nil
}
