package containerd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/docketd/docket/agent"
)

// ReasonOOMKilled is the [agent.Exit] Reason of a task the kernel killed
// for exceeding its memory limit.
const ReasonOOMKilled = "oom-killed"

// defaultStopSignal is what Stop sends when it is given no signal.
const defaultStopSignal = syscall.SIGTERM

// exitWatch is the exit of a task this Runtime started, received from the
// wait Start registered before starting the task.
type exitWatch struct {
	done   chan struct{} // closed once status is set
	status containerd.ExitStatus
	cancel context.CancelFunc // ends the wait
	// ctr and task are the handles Start made, which spare Stop and
	// Remove loading them again (two round trips to containerd).
	ctr  containerd.Container
	task containerd.Task
}

// watchExit records the exit that exitC will deliver for task, the task of
// ctr.
func (r *Runtime) watchExit(ctr containerd.Container, task containerd.Task, exitC <-chan containerd.ExitStatus, cancel context.CancelFunc) {
	id := ctr.ID()
	w := &exitWatch{done: make(chan struct{}), cancel: cancel, ctr: ctr, task: task}
	r.mu.Lock()
	if old := r.exits[id]; old != nil {
		old.cancel()
	}
	r.exits[id] = w
	r.mu.Unlock()
	r.watchers.Add(1)
	go func() {
		defer r.watchers.Done()
		w.status = <-exitC // delivered once, then closed, also when cancelled
		close(w.done)
	}()
}

// exitWatchOf returns id's exit watch, or nil.
func (r *Runtime) exitWatchOf(id string) *exitWatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exits[id]
}

// forgetExit ends and drops id's exit watch, if any.
func (r *Runtime) forgetExit(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.exits[id]; w != nil {
		w.cancel()
		delete(r.exits, id)
	}
}

// Wait blocks until the task exits and returns how it ended; at once for a
// task that has exited. It works for tasks started by another Runtime, such
// as the agent's before a restart.
func (r *Runtime) Wait(ctx context.Context, id string) (agent.Exit, error) {
	if w := r.exitWatchOf(id); w != nil {
		select {
		case <-w.done:
			if code, at, err := w.status.Result(); err == nil {
				return r.exit(ctx, id, code, at), nil
			}
			// The watch ended without an exit (a lost connection):
			// containerd still knows.
		case <-ctx.Done():
			return agent.Exit{}, ctx.Err()
		}
	}
	task, err := r.loadTask(ctx, id)
	if err != nil {
		return agent.Exit{}, fmt.Errorf("wait: %w", err)
	}
	exitC, err := task.Wait(ctx)
	if err != nil {
		return agent.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	return r.received(ctx, id, <-exitC)
}

// Stop sends signal ("SIGTERM", "TERM", "15"; SIGTERM when empty) to the
// task, waits up to timeout for it to exit, then kills it with SIGKILL, and
// returns how it ended. Stopping a task that has exited returns its exit.
func (r *Runtime) Stop(ctx context.Context, id, signal string, timeout time.Duration) (agent.Exit, error) {
	sig := defaultStopSignal
	if signal != "" {
		var err error
		if sig, err = parseSignal(signal); err != nil {
			return agent.Exit{}, fmt.Errorf("stop %s: %w", id, err)
		}
	}
	task, err := r.loadTask(ctx, id)
	if err != nil {
		return agent.Exit{}, fmt.Errorf("stop: %w", err)
	}
	// Wait before signalling, so the exit cannot be missed.
	exitC, err := task.Wait(ctx)
	if err != nil {
		return agent.Exit{}, fmt.Errorf("stop %s: %w", id, err)
	}
	// A task that has exited answers NotFound ("process already
	// finished"); its exit is on exitC all the same.
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return agent.Exit{}, fmt.Errorf("stop %s: signal %v: %w", id, sig, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case status := <-exitC:
		return r.received(ctx, id, status)
	case <-timer.C:
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		return agent.Exit{}, fmt.Errorf("stop %s: kill: %w", id, err)
	}
	r.log.Debug("task killed after its stop timeout", "id", id, "signal", sig, "timeout", timeout)
	return r.received(ctx, id, <-exitC)
}

// received turns the status a task wait delivered into an exit.
func (r *Runtime) received(ctx context.Context, id string, status containerd.ExitStatus) (agent.Exit, error) {
	code, at, err := status.Result()
	if err != nil {
		if ctx.Err() != nil {
			return agent.Exit{}, ctx.Err()
		}
		if errdefs.IsNotFound(err) {
			return agent.Exit{}, fmt.Errorf("wait %s: %w: %w", id, agent.ErrNotFound, err)
		}
		return agent.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	return r.exit(ctx, id, code, at), nil
}

// exit builds the exit of task id, which ended with code at at, and finds
// whether the kernel killed it for its memory. As in containerd's CRI, a
// task that exits with 0 was not OOM-killed, whatever happened to its
// children.
func (r *Runtime) exit(ctx context.Context, id string, code uint32, at time.Time) agent.Exit {
	e := agent.Exit{Code: int(code), At: at}
	if code == 0 {
		return e
	}
	oom, err := r.oomKilled(ctx, id)
	if err != nil {
		r.log.Warn("cannot tell whether the task was OOM-killed", "id", id, "error", err)
	}
	if oom {
		e.OOMKilled = true
		e.Reason = ReasonOOMKilled
	}
	return e
}

// loadTask returns the task of container id, without attaching its I/O:
// the log driver owns it.
func (r *Runtime) loadTask(ctx context.Context, id string) (containerd.Task, error) {
	if w := r.exitWatchOf(id); w != nil {
		return w.task, nil
	}
	ctr, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%s: %w", id, agent.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%s: no task: %w", id, agent.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	return task, nil
}

// parseSignal reads a signal as a number ("15") or a name, with or
// without its SIG prefix, in any case ("SIGTERM", "term").
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %q: not between 1 and 64", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// Pause freezes task id's processes (containerd's pause: the cgroup
// freezer), so that it uses no CPU until Resume.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	task, err := r.loadTask(ctx, id)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	if err := task.Pause(ctx); err != nil {
		return fmt.Errorf("pause %s: %w", id, err)
	}
	return nil
}

// Resume thaws a paused task.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	task, err := r.loadTask(ctx, id)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := task.Resume(ctx); err != nil {
		return fmt.Errorf("resume %s: %w", id, err)
	}
	return nil
}
