package containerdtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/moby/sys/mountinfo"

	"github.com/docketd/docket/internal/imagetest"
)

const (
	testImage   = "docket.test/testprog:latest"
	exitTimeout = 30 * time.Second
)

// TestRunContainer is the end-to-end proof of the harness and the image
// builder: a testprog image built from source runs in the harness's
// containerd, and its output and exit code come back.
func TestRunContainer(t *testing.T) {
	d := Start(t)
	client := d.Client(t)
	img := Import(t, client, imagetest.TestProgArchive(t, testImage))
	if got := img.Name(); got != testImage {
		t.Errorf("got image name %q, want %q", got, testImage)
	}

	for _, tc := range []struct {
		name       string
		args       []string
		spec       []oci.SpecOpts
		wantCode   uint32
		wantStdout string
		wantStderr string
	}{
		{
			name:       "echo",
			args:       []string{"echo", "hello", "from", "docket"},
			wantStdout: "hello from docket\n",
		},
		{
			name:       "stderr and exit code",
			args:       []string{"echo", "working", ";", "stderr", "something", "broke", ";", "exit", "3"},
			wantCode:   3,
			wantStdout: "working\n",
			wantStderr: "something broke\n",
		},
		{
			name:       "runs as nobody from the image's passwd",
			args:       []string{"id", ";", "write", "/tmp/x", "tmp is writable", ";", "cat", "/tmp/x"},
			spec:       []oci.SpecOpts{oci.WithUsername("nobody")},
			wantStdout: "uid=65534 gid=65534\ntmp is writable\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runTask(t, d, client, img, runConfig{args: tc.args, spec: tc.spec})
			code := r.wait(t)
			if code != tc.wantCode {
				t.Errorf("got exit code %d, want %d", code, tc.wantCode)
			}
			if got := r.stdout.String(); got != tc.wantStdout {
				t.Errorf("got stdout %q, want %q", got, tc.wantStdout)
			}
			if got := r.stderr.String(); got != tc.wantStderr {
				t.Errorf("got stderr %q, want %q", got, tc.wantStderr)
			}
		})
	}

	t.Run("SIGTERM ends PID 1 with 143", func(t *testing.T) {
		r := runTask(t, d, client, img, runConfig{args: []string{"echo", "up", ";", "sleep", "1h"}})
		waitFor(t, exitTimeout, func() bool { return r.stdout.String() == "up\n" })
		if err := r.task.Kill(t.Context(), syscall.SIGTERM); err != nil {
			t.Fatalf("kill: %v", err)
		}
		if code := r.wait(t); code != 143 {
			t.Errorf("got exit code %d, want 143", code)
		}
	})

	t.Run("SIGTERM reaches the process", func(t *testing.T) {
		r := runTask(t, d, client, img, runConfig{args: []string{"trap-term", ";", "echo", "clean exit"}})
		waitFor(t, exitTimeout, func() bool { return r.stdout.String() == "ready\n" })
		if err := r.task.Kill(t.Context(), syscall.SIGTERM); err != nil {
			t.Fatalf("kill: %v", err)
		}
		if code := r.wait(t); code != 0 {
			t.Errorf("got exit code %d, want 0", code)
		}
		if got, want := r.stdout.String(), "ready\ngot SIGTERM\nclean exit\n"; got != want {
			t.Errorf("got stdout %q, want %q", got, want)
		}
	})
}

// TestNativeSnapshotter runs a container on the snapshotter Start falls back
// to where overlay cannot be mounted, so the fallback is known to work here
// too.
func TestNativeSnapshotter(t *testing.T) {
	d := start(t, options{snapshotter: "native"})
	client := d.Client(t)
	img := Import(t, client, imagetest.TestProgArchive(t, testImage))
	r := runTask(t, d, client, img, runConfig{args: []string{"echo", "native"}})
	if code := r.wait(t); code != 0 || r.stdout.String() != "native\n" {
		t.Errorf("got exit code %d and stdout %q, want 0 and %q", code, r.stdout.String(), "native\n")
	}
	if d.Snapshotter != "native" {
		t.Errorf("got snapshotter %s, want native", d.Snapshotter)
	}
}

// TestDaemonsInParallel starts two daemons at once, as tests of two
// packages do, and runs a container on each.
func TestDaemonsInParallel(t *testing.T) {
	checkRequirements(t) // before building the image
	archive := imagetest.TestProgArchive(t, testImage)
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := Start(t)
			client := d.Client(t)
			img := Import(t, client, archive)
			r := runTask(t, d, client, img, runConfig{args: []string{"echo", name}})
			if code := r.wait(t); code != 0 || r.stdout.String() != name+"\n" {
				t.Errorf("got exit code %d and stdout %q, want 0 and %q", code, r.stdout.String(), name+"\n")
			}
		})
	}
}

// TestCleanupLeavesNothing checks the cleanup's promise: after a daemon
// with a running container (which the test does not stop) is cleaned up,
// no process, mount or file of it remains.
func TestCleanupLeavesNothing(t *testing.T) {
	checkRequirements(t) // or the subtest skips, and there is nothing to check
	var d *Daemon
	t.Run("leave a container running", func(t *testing.T) {
		d = Start(t)
		client := d.Client(t)
		img := Import(t, client, imagetest.TestProgArchive(t, testImage))
		r := runTask(t, d, client, img, runConfig{args: []string{"echo", "up", ";", "sleep", "1h"}, keep: true})
		waitFor(t, exitTimeout, func() bool { return r.stdout.String() == "up\n" })
		if procs, err := processesUsing(d.dir); err != nil || len(procs) < 2 {
			t.Fatalf("got processes %v (%v), want the daemon and a shim", procs, err)
		}
	})
	if d == nil {
		t.Fatal("no daemon started")
	}
	if procs, err := processesUsing(d.dir); err != nil || len(procs) != 0 {
		t.Errorf("got processes %v (%v) after cleanup, want none", procs, err)
	}
	if mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(d.dir)); err != nil || len(mounts) != 0 {
		t.Errorf("got mounts %v (%v) after cleanup, want none", mounts, err)
	}
	if _, err := os.Stat(d.dir); !os.IsNotExist(err) {
		t.Errorf("got %v for %s after cleanup, want it gone", err, d.dir)
	}
}

// TestReapStale simulates a test process that died: its directory, still
// holding a mount and used by a process, is found by the next Start and
// removed.
func TestReapStale(t *testing.T) {
	checkRequirements(t) // root, for the mount
	dir, err := os.MkdirTemp("", "ctd")
	if err != nil {
		t.Fatal(err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "state", "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	// A stand-in for a shim: a process naming a path in dir in its
	// arguments. The ": " stops sh from exec'ing sleep in its place.
	shim := exec.Command("sh", "-c", "sleep 3600; :", filepath.Join(dir, "c.sock"))
	if err := shim.Start(); err != nil {
		t.Fatal(err)
	}
	shimExited := make(chan struct{})
	go func() {
		shim.Wait()
		close(shimExited)
	}()
	t.Cleanup(func() {
		shim.Process.Kill()
		<-shimExited
	})

	reapStale(t) // locked: alive, left alone
	if _, err := os.Stat(mnt); err != nil {
		t.Fatalf("reaped a directory whose lock is held: %v", err)
	}
	lock.Close() // its process "dies"
	Start(t)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("got %v for the stale %s, want it gone", err, dir)
	}
	select {
	case <-shimExited:
	case <-time.After(exitTimeout):
		t.Errorf("the stale directory's process still runs")
	}
}

func TestUniqueID(t *testing.T) {
	a, b := UniqueID(t), UniqueID(t)
	if a == b {
		t.Errorf("got %s twice", a)
	}
	if !strings.HasPrefix(a, "testuniqueid-") {
		t.Errorf("got %s, want it to start with testuniqueid-", a)
	}
}

// taskRun is a container task started by runTask.
type taskRun struct {
	task           containerd.Task
	exitC          <-chan containerd.ExitStatus
	stdout, stderr *syncBuffer
}

// runConfig says what runTask runs.
type runConfig struct {
	args []string       // the arguments to the image's entrypoint
	spec []oci.SpecOpts // applied after the image's config
	keep bool           // leave the container to the daemon's cleanup
}

// runTask creates a container from img, starts its task with stdout and
// stderr captured, and registers their removal when t ends.
func runTask(t testing.TB, d *Daemon, client *containerd.Client, img containerd.Image, cfg runConfig) *taskRun {
	t.Helper()
	ctx := t.Context()
	id := UniqueID(t)
	spec := append([]oci.SpecOpts{oci.WithImageConfigArgs(img, cfg.args)}, cfg.spec...)
	ctr, err := client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(spec...))
	if err != nil {
		t.Fatalf("new container: %v", err)
	}
	if !cfg.keep {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
			defer cancel()
			if err := removeContainer(ctx, ctr); err != nil {
				t.Errorf("remove container %s: %v", id, err)
			}
		})
	}

	r := &taskRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	r.task, err = ctr.NewTask(ctx, cio.NewCreator(
		cio.WithStreams(nil, r.stdout, r.stderr),
		cio.WithFIFODir(d.FIFODir)))
	if err != nil {
		t.Fatalf("new task: %v", err)
	}
	// Wait before Start, so a fast exit cannot be missed.
	if r.exitC, err = r.task.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := r.task.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	return r
}

// wait waits for the task to exit, deletes it so its output is complete,
// and returns its exit code.
func (r *taskRun) wait(t testing.TB) uint32 {
	t.Helper()
	var status containerd.ExitStatus
	select {
	case status = <-r.exitC:
	case <-time.After(exitTimeout):
		t.Fatalf("task still running after %v; stdout %q, stderr %q", exitTimeout, r.stdout, r.stderr)
	}
	code, _, err := status.Result()
	if err != nil {
		t.Fatalf("exit status: %v", err)
	}
	// Delete waits for the I/O copy to finish.
	if _, err := r.task.Delete(t.Context()); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	return code
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v", timeout)
		}
		<-tick.C
	}
}

// syncBuffer is a bytes.Buffer that the task's output copier and the test
// may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
