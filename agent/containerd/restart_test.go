package containerd

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/docketd/docket/internal/containerdtest"
)

// TestReattach simulates an agent that restarts while its task runs: the
// task's output keeps reaching its log files while no Runtime exists, and
// the next Runtime lists the task and waits for it.
func TestReattach(t *testing.T) {
	d := containerdtest.Start(t)
	client := d.Client(t)
	image := testImage(t, "docket.test/testprog:reattach")

	before := newRuntime(t, d)
	spec := taskSpec(t, image, "echo one ; trap-term ; echo two ; stderr three ; exit 7")
	spec.Labels = map[string]string{"docket.alloc": "a1"}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := before.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitLog(t, spec.LogDir, StdoutLog, "one\nready\n")
	ctr, err := client.LoadContainer(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}

	// No Runtime: the task goes on, and so do its logs.
	if err := syscall.Kill(int(task.Pid()), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, spec.LogDir, StdoutLog, "one\nready\ngot SIGTERM\ntwo\n")
	waitLog(t, spec.LogDir, StderrLog, "three\n")

	after := newRuntime(t, d)
	t.Cleanup(func() { after.Close() })
	startedBefore := spec // removed through the new runtime
	t.Cleanup(func() {
		if err := after.Remove(context.Background(), startedBefore.ID); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if exit := waitExit(t, after, spec.ID); exit.Code != 7 || exit.OOMKilled {
		t.Errorf("got exit %+v, want 7", exit)
	}
	cs, err := after.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cs {
		if c.ID != spec.ID {
			continue
		}
		found = true
		if c.Running || c.Exit == nil || c.Exit.Code != 7 || c.Labels["docket.alloc"] != "a1" ||
			c.Labels[LabelLogDir] != spec.LogDir || c.Labels[LabelImage] != image {
			t.Errorf("got %+v (exit %+v) listed, want it exited with 7 and labelled", c, c.Exit)
		}
	}
	if !found {
		t.Fatalf("got %d containers listed, not %s", len(cs), spec.ID)
	}
}

// TestOOMAfterRestart checks that an OOM kill is known from the task's
// cgroup by a Runtime that did not start the task.
func TestOOMAfterRestart(t *testing.T) {
	d := containerdtest.Start(t)
	image := testImage(t, "docket.test/testprog:oom")
	before := newRuntime(t, d)
	spec := taskSpec(t, image, "alloc-mem 256")
	spec.Memory = 64
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := before.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	before.Close()

	after := newRuntime(t, d)
	t.Cleanup(func() { after.Close() })
	t.Cleanup(func() { after.Remove(context.Background(), spec.ID) })
	exit := waitExit(t, after, spec.ID)
	if exit.Code != 137 || !exit.OOMKilled || exit.Reason != ReasonOOMKilled {
		t.Errorf("got exit %+v, want 137 OOM-killed", exit)
	}
}

// TestStartErrors checks that what runc says reaches the caller.
func TestStartErrors(t *testing.T) {
	d := containerdtest.Start(t)
	r := newRuntime(t, d)
	t.Cleanup(func() { r.Close() })
	image := testImage(t, "docket.test/testprog:errors")
	for _, tc := range []struct {
		name   string
		change func(*agentSpec)
		want   string
	}{
		{"missing executable", func(s *agentSpec) { s.Command = []string{"/nope"} },
			`exec: "/nope": stat /nope: no such file or directory`},
		{"unknown user", func(s *agentSpec) { s.User = "nosuchuser" }, "nosuchuser"},
		{"missing mount source", func(s *agentSpec) {
			s.Mounts = append(s.Mounts, agentMount{Source: "/no/such/dir", Target: "/x"})
		}, "/no/such/dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := taskSpec(t, image, "exit 0")
			tc.change(&spec)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			err := r.Start(ctx, spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			cs, err := r.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if c.ID == spec.ID {
					t.Errorf("got %s listed after a failed start", spec.ID)
				}
			}
		})
	}
}
