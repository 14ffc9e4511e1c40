package containerdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/defaults"
	"github.com/containerd/containerd/namespaces"
)

const (
	// Namespace is the containerd namespace Docket uses, created by Start.
	Namespace = "docket"

	// startTimeout bounds how long Start waits for the daemon to serve.
	startTimeout = 30 * time.Second
	// stopTimeout is how long the daemon has to exit after SIGTERM before
	// it is killed.
	stopTimeout = 10 * time.Second
	// cleanupTimeout bounds the API calls that remove leftover containers.
	cleanupTimeout = time.Minute
)

// Daemon is a containerd process started by [Start] for one test.
type Daemon struct {
	// Address is the path of the gRPC socket, as containerd.New takes it.
	Address string
	// TTRPCAddress is the path of the ttrpc socket shims publish events to.
	TTRPCAddress string
	// Root and State are containerd's persistent and runtime directories.
	Root, State string
	// Namespace is the namespace Start created, and the default of the
	// clients [Daemon.Client] returns: always "docket".
	Namespace string
	// Snapshotter is the namespace's default snapshotter: "overlayfs", or
	// "native" where overlay cannot be mounted. Clients of the namespace
	// pick it up by themselves (containerd reads it from the namespace
	// label containerd.io/defaults/snapshotter), so passing "" wherever a
	// snapshotter name is asked for is right.
	Snapshotter string
	// FIFODir is a directory for the task I/O FIFOs, for
	// cio.WithFIFODir; it is removed with the daemon.
	FIFODir string
	// LogPath is the daemon's log, whose tail is logged when the test fails.
	LogPath string

	dir     string // holds everything above; named ctd* in os.TempDir()
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error         // cmd.Wait's result, once exited is closed
}

// options are the knobs tests of this package turn; Start uses the zero
// value.
type options struct {
	snapshotter string // "" means overlayfs where it can be mounted, else native
}

// Start starts a containerd for t and stops it, leaving nothing behind, when
// t ends. It skips t (fails it when CI is set) without the containerd binary
// or root.
func Start(t testing.TB) *Daemon {
	t.Helper()
	return start(t, options{})
}

func start(t testing.TB, opts options) *Daemon {
	t.Helper()
	binary := checkRequirements(t)
	reapStale(t)
	began := time.Now()

	dir, err := os.MkdirTemp("", "ctd")
	if err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("containerdtest: %v", err)
	}
	// Socket paths must fit in sockaddr_un (108 bytes); MkdirTemp("", "ctd")
	// keeps them around 30.
	d := &Daemon{
		Address:      filepath.Join(dir, "c.sock"),
		TTRPCAddress: filepath.Join(dir, "c.sock.ttrpc"),
		Root:         filepath.Join(dir, "root"),
		State:        filepath.Join(dir, "state"),
		Namespace:    Namespace,
		FIFODir:      filepath.Join(dir, "fifo"),
		LogPath:      filepath.Join(dir, "containerd.log"),
		dir:          dir,
		exited:       make(chan struct{}),
	}
	// From here on, whatever happens, the cleanup undoes it.
	t.Cleanup(func() { d.cleanup(t, lock) })

	if err := os.Mkdir(d.FIFODir, 0o700); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	d.Snapshotter = opts.snapshotter
	if d.Snapshotter == "" {
		d.Snapshotter = "overlayfs"
		if err := overlaySupported(dir); err != nil {
			t.Logf("containerdtest: using the native snapshotter: %v", err)
			d.Snapshotter = "native"
		}
	}
	configPath := filepath.Join(dir, "config.toml")
	if err := writeConfig(configPath, d); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}

	logFile, err := os.OpenFile(d.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	cmd := exec.Command(binary, "--config", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// In its own process group, signals meant for the test's (a
		// terminal's ^C) do not reach it: the cleanup stops it or, if the
		// test binary dies first, the parent-death signal kills it.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	// The parent-death signal is sent when the thread that started the
	// child exits, not the process. Go may end a thread whose goroutine
	// locked it; a goroutine holding its own thread for the daemon's whole
	// life keeps the signal tied to the test process.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	err = <-started
	logFile.Close()
	if err != nil {
		t.Fatalf("containerdtest: start %s: %v", binary, err)
	}
	d.cmd = cmd

	if err := d.waitServing(); err != nil {
		t.Fatalf("containerdtest: %v (the daemon's log follows)", err)
	}
	if err := d.createNamespace(); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	t.Logf("containerdtest: containerd pid %d serving on %s after %v (snapshotter %s)",
		cmd.Process.Pid, d.Address, time.Since(began).Round(time.Millisecond), d.Snapshotter)
	return d
}

// Client returns a client of the daemon whose default namespace is
// [Daemon.Namespace]; it is closed when t ends.
func (d *Daemon) Client(t testing.TB) *containerd.Client {
	t.Helper()
	c, err := containerd.New(d.Address,
		containerd.WithDefaultNamespace(d.Namespace),
		containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("containerdtest: connect to %s: %v", d.Address, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkRequirements returns the path of the containerd binary, or skips t
// (fails it under CI) when containerd cannot run here.
func checkRequirements(t testing.TB) string {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("containerdtest: containerd needs root")
	}
	binary, err := exec.LookPath("containerd")
	if err != nil {
		skip("containerdtest: containerd not found on PATH: %v", err)
	}
	for _, helper := range []string{"containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(helper); err != nil {
			skip("containerdtest: %s not found on PATH: %v", helper, err)
		}
	}
	return binary
}

// waitServing polls the daemon until it answers, it exits, or startTimeout
// passes.
func (d *Daemon) waitServing() error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := d.ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd not serving after %v: %w", startTimeout, err)
		}
		select {
		case <-d.exited:
			return fmt.Errorf("containerd exited while starting: %v", d.waitErr)
		case <-tick.C:
		}
	}
}

func (d *Daemon) ping() error {
	if _, err := os.Stat(d.Address); err != nil {
		return err
	}
	c, err := containerd.New(d.Address, containerd.WithTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	serving, err := c.IsServing(ctx)
	if err != nil {
		return err
	}
	if !serving {
		return errors.New("containerd is not serving")
	}
	return nil
}

// createNamespace creates the namespace, labelled with the snapshotter its
// clients should use by default.
func (d *Daemon) createNamespace() error {
	c, err := containerd.New(d.Address, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The request needs the namespace in its context too: containerd
	// publishes the creation event in it.
	ctx = namespaces.WithNamespace(ctx, d.Namespace)
	labels := map[string]string{defaults.DefaultSnapshotterNSLabel: d.Snapshotter}
	if err := c.NamespaceService().Create(ctx, d.Namespace, labels); err != nil {
		return fmt.Errorf("create namespace %s: %w", d.Namespace, err)
	}
	return nil
}
