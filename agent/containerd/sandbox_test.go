package containerd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/containerdtest"
)

// Every task runs sandboxed: containerd's default seccomp profile answers
// EPERM to a system call it forbids (keyctl), CAP_NET_RAW is gone (no raw
// sockets), and no_new_privs is set.
func TestSandbox(t *testing.T) {
	d := containerdtest.Start(t)
	r := newRuntime(t, d)
	t.Cleanup(func() { r.Close() })
	spec := taskSpec(t, testImage(t, "docket.test/testprog:sandbox"), "try keyctl ; try raw-socket ; status NoNewPrivs Seccomp CapEff")
	startTask(t, r, spec)
	if exit := waitExit(t, r, spec.ID); exit.Code != 0 {
		t.Fatalf("exit %+v\n%s", exit, readFile(filepath.Join(spec.LogDir, StderrLog)))
	}
	out := readFile(filepath.Join(spec.LogDir, StdoutLog))
	for _, want := range []string{"keyctl: EPERM\n", "raw-socket: EPERM\n", "NoNewPrivs:\t1\n", "Seccomp:\t2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the task printed\n%s\nwant %q", out, want)
		}
	}
	_, hex, _ := strings.Cut(out, "CapEff:\t")
	caps, err := strconv.ParseUint(strings.TrimSpace(strings.SplitN(hex, "\n", 2)[0]), 16, 64)
	const capNetRaw, capChown = 13, 0
	if err != nil || caps&(1<<capNetRaw) != 0 || caps&(1<<capChown) == 0 {
		t.Errorf("effective capabilities %q (%v): want the default set (CAP_CHOWN...) without CAP_NET_RAW", hex, err)
	}
}

// A task may ask to run as root only where the agent allows root tasks;
// other users run anywhere.
func TestRootTasks(t *testing.T) {
	d := containerdtest.Start(t)
	r := newRuntime(t, d)
	t.Cleanup(func() { r.Close() })
	image := testImage(t, "docket.test/testprog:root")
	for _, user := range []string{"0", "0:0", "0:1000"} {
		spec := taskSpec(t, image, "id")
		spec.User = user
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		err := r.Start(ctx, spec)
		cancel()
		if !errors.Is(err, ErrRootTask) {
			t.Errorf("user %q: start: %v, want ErrRootTask", user, err)
			r.Remove(context.Background(), spec.ID)
		}
	}
	spec := taskSpec(t, image, "id")
	spec.User = "1000:1000"
	startTask(t, r, spec)
	waitExit(t, r, spec.ID)
	if out := readFile(filepath.Join(spec.LogDir, StdoutLog)); out != "uid=1000 gid=1000\n" {
		t.Errorf("user 1000:1000 printed %q", out)
	}

	cfg := testConfig(t, d)
	cfg.AllowRootTasks = true
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	root, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	spec = taskSpec(t, image, "id")
	spec.User = "0:0"
	startTask(t, root, spec)
	waitExit(t, root, spec.ID)
	if out := readFile(filepath.Join(spec.LogDir, StdoutLog)); out != "uid=0 gid=0\n" {
		t.Errorf("user 0:0 with root tasks allowed printed %q", out)
	}
}

// An oci-archive: image is read only from under the agent's image
// directories: not a host file such as /etc/shadow, not a path that
// climbs out, not a symbolic link that leads out.
func TestArchiveOnlyFromImageDirs(t *testing.T) {
	d := containerdtest.Start(t)
	allowed := t.TempDir()
	cfg := testConfig(t, d)
	cfg.ImageDirs = []string{allowed}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	outside := strings.TrimPrefix(testImage(t, "docket.test/testprog:outside"), archivePrefix)
	inside := filepath.Join(allowed, "sub", "image.tar")
	os.MkdirAll(filepath.Dir(inside), 0o755)
	b, err := os.ReadFile(outside)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, inside, string(b))
	link := filepath.Join(allowed, "link.tar")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/shadow", outside, link, allowed + "/../" + filepath.Base(filepath.Dir(outside)) + "/" + filepath.Base(outside), "sub/image.tar", "/nonexistent/x.tar"} {
		spec := taskSpec(t, archivePrefix+p, "echo hi")
		err := r.Start(ctx, spec)
		if err == nil {
			r.Remove(context.Background(), spec.ID)
		}
		if err == nil || !(strings.Contains(err.Error(), "outside the directories") || strings.Contains(err.Error(), "must be absolute")) {
			t.Errorf("oci-archive:%s: start: %v, want it refused", p, err)
		}
	}
	spec := taskSpec(t, archivePrefix+inside, "echo hi")
	startTask(t, r, spec)
	if exit := waitExit(t, r, spec.ID); exit.Code != 0 {
		t.Errorf("the archive inside the image directory: exit %+v", exit)
	}
	if _, err := New(ctx, Config{Address: d.Address, LoggerBinary: cfg.LoggerBinary, LoggerArgs: cfg.LoggerArgs, ImageDirs: []string{"images"}}); err == nil {
		t.Error("New took a relative image directory")
	}
}
