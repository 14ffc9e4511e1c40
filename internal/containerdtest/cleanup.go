package containerdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
)

// logTailBytes is how much of the daemon's log a failed test shows.
const logTailBytes = 16 << 10

// cleanup undoes start, in order: containers and tasks through the API while
// the daemon serves, then the daemon, then by force whatever is left
// (shims, mounts, files). It reports what it could not undo as test errors.
func (d *Daemon) cleanup(t testing.TB, lock *os.File) {
	defer lock.Close() // last: it tells other processes the directory is in use
	began := time.Now()
	if d.cmd != nil {
		select {
		case <-d.exited:
			t.Errorf("containerdtest: containerd exited during the test: %v", d.waitErr)
		default:
			ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			if err := d.removeContainers(ctx, t); err != nil {
				t.Logf("containerdtest: removing containers through the API: %v", err)
			}
			cancel()
			d.stop(t)
		}
	}
	if t.Failed() {
		d.logTail(t)
	}
	if err := removeDir(d.dir, shimExitTimeout); err != nil {
		t.Errorf("containerdtest: %v", err)
		return
	}
	t.Logf("containerdtest: containerd stopped and %s removed in %v", d.dir, time.Since(began).Round(time.Millisecond))
}

// removeContainers kills and deletes every task and container in every
// namespace, with their snapshots, so the shims exit by themselves.
func (d *Daemon) removeContainers(ctx context.Context, t testing.TB) error {
	c, err := containerd.New(d.Address, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		ctx := namespaces.WithNamespace(ctx, ns)
		containers, err := c.Containers(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list containers in %s: %w", ns, err))
			continue
		}
		for _, ctr := range containers {
			if err := removeContainer(ctx, ctr); err != nil {
				errs = append(errs, fmt.Errorf("container %s/%s: %w", ns, ctr.ID(), err))
				continue
			}
			t.Logf("containerdtest: removed leftover container %s/%s", ns, ctr.ID())
		}
	}
	return errors.Join(errs...)
}

func removeContainer(ctx context.Context, ctr containerd.Container) error {
	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task: %w", err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("load task: %w", err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// stop sends the daemon SIGTERM, then SIGKILL if it has not exited after
// stopTimeout, and waits for it.
func (d *Daemon) stop(t testing.TB) {
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Logf("containerdtest: SIGTERM containerd: %v", err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-d.exited:
		return
	case <-timer.C:
	}
	t.Logf("containerdtest: containerd still running %v after SIGTERM; killing it", stopTimeout)
	_ = d.cmd.Process.Kill()
	<-d.exited
}

// logTail logs the end of the daemon's log.
func (d *Daemon) logTail(t testing.TB) {
	f, err := os.Open(d.LogPath)
	if err != nil {
		t.Logf("containerdtest: no daemon log: %v", err)
		return
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > logTailBytes {
		_, _ = f.Seek(-logTailBytes, io.SeekEnd)
	}
	tail, err := io.ReadAll(f)
	if err != nil {
		t.Logf("containerdtest: read daemon log: %v", err)
		return
	}
	if i := bytes.IndexByte(tail, '\n'); i >= 0 && len(tail) == logTailBytes {
		tail = tail[i+1:] // drop the partial first line
	}
	t.Logf("containerdtest: end of %s:\n%s", d.LogPath, tail)
}

// removeDir removes a daemon's directory and what still runs or is mounted
// from it: processes whose arguments name a path inside it (the daemon
// itself after a crash, and shims: "-address DIR/c.sock"), with their
// containers, once grace has passed for them to exit by themselves; shim
// sockets in /run/containerd/s; mounts under it.
func removeDir(dir string, grace time.Duration) error {
	var errs []error
	if err := stopProcesses(dir, grace); err != nil {
		errs = append(errs, err)
	}
	removeShimSockets(filepath.Join(dir, "state"))
	if err := unmountAll(dir); err != nil {
		errs = append(errs, err)
	} else if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeShimSockets removes the sockets of shims that were killed rather
// than shut down: containerd keeps them in /run/containerd/s, not under its
// state directory, but each task's bundle records the address.
func removeShimSockets(state string) {
	addrs, _ := filepath.Glob(filepath.Join(state, "io.containerd.runtime.v2.task", "*", "*", "address"))
	for _, a := range addrs {
		b, err := os.ReadFile(a)
		if err != nil {
			continue
		}
		sock := strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://")
		if filepath.IsAbs(sock) {
			_ = os.Remove(sock)
		}
	}
}
