package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docketd/docket/agent"
)

// The subtests of Conformance, in its order.

func testExitCodes(t *testing.T, s *suite) {
	for _, tc := range []struct {
		name  string
		steps string
		code  int
	}{
		{"zero", "echo hello", 0},
		{"three", "echo working ; exit 3", 3},
		{"failed step", "cat /no/such/file", 1},
		{"unknown step", "frobnicate", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt, _ := s.runtime(t)
			spec := s.spec(t, tc.steps)
			start(t, rt, spec)
			checkExit(t, wait(t, rt, spec.ID), tc.code, false)
			// Waiting again returns the same exit at once.
			checkExit(t, wait(t, rt, spec.ID), tc.code, false)
		})
	}
}

func testLogs(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "echo out one ; stderr err one ; echo out two ; stderr err two ; exit 2")
	start(t, rt, spec)
	checkExit(t, wait(t, rt, spec.ID), 2, false)
	waitLog(t, spec.LogDir, "stdout.log", "out one\nout two\n")
	waitLog(t, spec.LogDir, "stderr.log", "err one\nerr two\n")
}

func testConfig(t *testing.T, s *suite) {
	for _, tc := range []struct {
		name   string
		change func(*agent.TaskSpec)
		// want is stdout's exact content, or with wantLines the lines it
		// must hold.
		want      string
		wantLines []string
		notLines  []string
	}{
		{
			name:   "image cmd without args",
			change: func(sp *agent.TaskSpec) { sp.Args = nil },
			want:   imageCmdOutput + "\n",
		},
		{
			name:   "args replace the cmd",
			change: func(sp *agent.TaskSpec) { sp.Args = []string{"echo", "from", "args"} },
			want:   "from args\n",
		},
		{
			name: "command replaces the entrypoint",
			change: func(sp *agent.TaskSpec) {
				sp.Command = []string{testProgPath, "echo", "command"}
				sp.Args = []string{"and", "args"}
			},
			want: "command and args\n",
		},
		{
			name: "command alone drops the cmd",
			change: func(sp *agent.TaskSpec) {
				sp.Command = []string{testProgPath, "echo", "command"}
				sp.Args = nil
			},
			want: "command\n",
		},
		{
			name: "env merged over the image's",
			change: func(sp *agent.TaskSpec) {
				sp.Args = []string{"env"}
				sp.Env = map[string]string{"GREETING": "from-task", "TASK_ONLY": "a b=c"}
			},
			wantLines: []string{"GREETING=from-task", imageOnlyEnv, "TASK_ONLY=a b=c"},
			notLines:  []string{imageGreeting},
		},
		{
			name:   "image workdir",
			change: func(sp *agent.TaskSpec) { sp.Args = []string{"pwd"} },
			want:   imageWorkdir + "\n",
		},
		{
			name: "workdir",
			change: func(sp *agent.TaskSpec) {
				sp.Args = []string{"pwd"}
				sp.Workdir = "/tmp"
			},
			want: "/tmp\n",
		},
		{
			name:   "image user",
			change: func(sp *agent.TaskSpec) { sp.Args = []string{"id"} },
			want:   imageNoUserID + "\n",
		},
		{
			name: "user by name",
			change: func(sp *agent.TaskSpec) {
				sp.Args = []string{"id"}
				sp.User = imageNobodyUser
			},
			want: "uid=65534 gid=65534\n",
		},
		{
			name: "user by ids",
			change: func(sp *agent.TaskSpec) {
				sp.Args = []string{"id"}
				sp.User = "1000:2000"
			},
			want: "uid=1000 gid=2000\n",
		},
		{
			name: "limits do not get in the way",
			change: func(sp *agent.TaskSpec) {
				sp.Args = []string{"echo", "limited"}
				sp.CPU, sp.Memory = 250, 64
			},
			want: "limited\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt, _ := s.runtime(t)
			spec := s.spec(t, "")
			tc.change(&spec)
			start(t, rt, spec)
			checkExit(t, wait(t, rt, spec.ID), 0, false)
			if tc.wantLines == nil {
				waitLog(t, spec.LogDir, "stdout.log", tc.want)
				return
			}
			waitLogLines(t, spec.LogDir, "stdout.log", tc.wantLines...)
			for _, l := range strings.Split(readLog(spec.LogDir, "stdout.log"), "\n") {
				for _, not := range tc.notLines {
					if l == not {
						t.Errorf("got line %q in the environment", l)
					}
				}
			}
		})
	}
}

func testStopTrapped(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "trap-term ; echo clean exit")
	start(t, rt, spec)
	waitLog(t, spec.LogDir, "stdout.log", "ready\n")
	began := time.Now()
	exit := stop(t, rt, spec.ID, "SIGTERM", timeout)
	checkExit(t, exit, 0, false)
	if took := time.Since(began); took >= timeout {
		t.Errorf("stop took %v, the whole grace: the signal did not end the task", took)
	}
	waitLog(t, spec.LogDir, "stdout.log", "ready\ngot SIGTERM\nclean exit\n")
}

func testStopKillsAfterTimeout(t *testing.T, s *suite) {
	// Long enough for the task to report the SIGTERM on a loaded machine.
	const grace = time.Second
	rt, _ := s.runtime(t)
	spec := s.spec(t, "ignore-term")
	spec.Memory = 64 // a limit, so that an OOM kill could be mistaken for one
	start(t, rt, spec)
	waitLog(t, spec.LogDir, "stdout.log", "ready\n")
	began := time.Now()
	exit := stop(t, rt, spec.ID, "SIGTERM", grace)
	if took := time.Since(began); took < grace {
		t.Errorf("stop took %v, less than the grace %v", took, grace)
	}
	checkExit(t, exit, 137, false)
	if exit.Reason != "" {
		t.Errorf("got reason %q for a SIGKILL, want none", exit.Reason)
	}
	waitLog(t, spec.LogDir, "stdout.log", "ready\ngot SIGTERM\n")
	// Wait agrees.
	checkExit(t, wait(t, rt, spec.ID), 137, false)
}

func testStopSignals(t *testing.T, s *suite) {
	for _, tc := range []struct {
		signal string
		code   int
	}{
		{"SIGTERM", 143},
		{"SIGINT", 130},
		{"SIGKILL", 137},
		{"", 143}, // the default is SIGTERM
	} {
		t.Run(cmpName(tc.signal), func(t *testing.T) {
			t.Parallel()
			rt, _ := s.runtime(t)
			spec := s.spec(t, "echo up ; sleep 1h")
			start(t, rt, spec)
			waitLog(t, spec.LogDir, "stdout.log", "up\n")
			checkExit(t, stop(t, rt, spec.ID, tc.signal, timeout), tc.code, false)
		})
	}
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		rt, _ := s.runtime(t)
		spec := s.spec(t, "sleep 1h")
		start(t, rt, spec)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if _, err := rt.Stop(ctx, spec.ID, "SIGNOPE", time.Second); err == nil {
			t.Errorf("stop with SIGNOPE: got no error")
		}
	})
}

func cmpName(signal string) string {
	if signal == "" {
		return "default"
	}
	return signal
}

func testStopExited(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "exit 5")
	start(t, rt, spec)
	checkExit(t, wait(t, rt, spec.ID), 5, false)
	for range 2 {
		checkExit(t, stop(t, rt, spec.ID, "SIGTERM", time.Second), 5, false)
	}
}

func testWaitAfterRestart(t *testing.T, s *suite) {
	before, closeBefore := s.runtime(t)
	spec := s.spec(t, "echo up ; trap-term ; echo bye ; exit 4")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Removed through the runtime after the restart, below.
	if err := before.Start(ctx, spec); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitLog(t, spec.LogDir, "stdout.log", "up\nready\n")
	closeBefore()

	after, _ := closing(t, before.Reopen(t))
	removeAtCleanup(t, after, spec.ID)
	c := find(t, after, spec.ID)
	if c == nil {
		t.Fatalf("got no %s listed after the restart", spec.ID)
	}
	if !c.Running || c.Exit != nil || c.Labels["docket.test"] != "conformance" {
		t.Errorf("got %+v listed, want it running with label docket.test=conformance", *c)
	}

	type result struct {
		exit agent.Exit
		err  error
	}
	waited := make(chan result, 1)
	go func() {
		exit, err := after.Wait(ctx, spec.ID)
		waited <- result{exit, err}
	}()
	select {
	case r := <-waited:
		t.Fatalf("wait returned %+v, %v while the task runs", r.exit, r.err)
	default:
	}
	checkExit(t, stop(t, after, spec.ID, "SIGTERM", timeout), 4, false)
	r := <-waited
	if r.err != nil {
		t.Fatalf("wait: %v", r.err)
	}
	checkExit(t, r.exit, 4, false)
	waitLog(t, spec.LogDir, "stdout.log", "up\nready\ngot SIGTERM\nbye\n")

	c = find(t, after, spec.ID)
	if c == nil || c.Running || c.Exit == nil {
		t.Fatalf("got %+v listed after the exit, want it stopped with an exit", c)
	}
	checkExit(t, *c.Exit, 4, false)
}

func testWaitCancelled(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "sleep 1h")
	start(t, rt, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if exit, err := rt.Wait(ctx, spec.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %+v, %v from a wait that timed out, want context.DeadlineExceeded", exit, err)
	}
}

func testRemove(t *testing.T, s *suite) {
	for _, tc := range []struct {
		name  string
		steps string
	}{
		{"running", "echo kept ; sleep 1h"},
		{"exited", "echo kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt, _ := s.runtime(t)
			spec := s.spec(t, tc.steps)
			start(t, rt, spec)
			waitLog(t, spec.LogDir, "stdout.log", "kept\n")
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := rt.Remove(ctx, spec.ID); err != nil {
				t.Fatalf("remove: %v", err)
			}
			if c := find(t, rt, spec.ID); c != nil {
				t.Errorf("got %+v listed after its removal", *c)
			}
			if _, err := rt.Wait(ctx, spec.ID); !errors.Is(err, agent.ErrNotFound) {
				t.Errorf("wait after remove: got %v, want ErrNotFound", err)
			}
			if err := rt.Remove(ctx, spec.ID); err != nil {
				t.Errorf("second remove: %v", err)
			}
			if got := readLog(spec.LogDir, "stdout.log"); got != "kept\n" {
				t.Errorf("got stdout %q after the removal, want the logs kept", got)
			}
			// The ID is free again.
			spec.Args = []string{"exit", "6"}
			start(t, rt, spec)
			checkExit(t, wait(t, rt, spec.ID), 6, false)
		})
	}
}

func testUnknownID(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	id := s.id(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := rt.Wait(ctx, id); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("wait: got %v, want ErrNotFound", err)
	}
	if _, err := rt.Stop(ctx, id, "SIGTERM", time.Second); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("stop: got %v, want ErrNotFound", err)
	}
	if _, err := rt.Stats(ctx, id); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("stats: got %v, want ErrNotFound", err)
	}
	if err := rt.Remove(ctx, id); err != nil {
		t.Errorf("remove: got %v, want no error", err)
	}
}

func testExists(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "echo first ; sleep 1h")
	start(t, rt, spec)
	waitLog(t, spec.LogDir, "stdout.log", "first\n")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	again := spec
	again.Args = []string{"echo", "second"}
	if err := rt.Start(ctx, again); !errors.Is(err, agent.ErrExists) {
		t.Fatalf("second start: got %v, want ErrExists", err)
	}
	if c := find(t, rt, spec.ID); c == nil || !c.Running {
		t.Errorf("got %+v listed, want the first task still running", c)
	}
	if got := readLog(spec.LogDir, "stdout.log"); got != "first\n" {
		t.Errorf("got stdout %q, want only the first task's", got)
	}
}

func testMissingImage(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "echo unreachable")
	missing := filepath.Join(t.TempDir(), "missing.tar")
	spec.Image = "oci-archive:" + missing
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := rt.Start(ctx, spec)
	if !errors.Is(err, agent.ErrImage) || !strings.Contains(fmt.Sprint(err), missing) {
		t.Errorf("got %v, want ErrImage naming %s", err, missing)
	}
	if c := find(t, rt, spec.ID); c != nil {
		t.Errorf("got %+v listed after a failed start", *c)
	}
}

func testMissingExecutable(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "")
	spec.Command = []string{"/nope"}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := rt.Start(ctx, spec)
	if err == nil {
		removeAtCleanup(t, rt, spec.ID)
		t.Fatal("started /nope")
	}
	if !strings.Contains(err.Error(), "/nope") || errors.Is(err, agent.ErrImage) || errors.Is(err, agent.ErrExists) {
		t.Errorf("got %v, want an error about /nope", err)
	}
	if c := find(t, rt, spec.ID); c != nil {
		t.Errorf("got %+v listed after a failed start", *c)
	}
	// Nothing is left in the way of the ID.
	spec.Command = nil
	spec.Args = []string{"echo", "fine"}
	start(t, rt, spec)
	checkExit(t, wait(t, rt, spec.ID), 0, false)
}

func testBindMounts(t *testing.T, s *suite) {
	ro, rw := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "message"), []byte("hello from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, _ := s.runtime(t)
	spec := s.spec(t, "cat /docket/message ; write /data/out written by the task ; write /docket/out nope")
	spec.Mounts = []agent.Mount{
		{Source: ro, Target: "/docket", ReadOnly: true},
		{Source: rw, Target: "/data"},
	}
	start(t, rt, spec)
	checkExit(t, wait(t, rt, spec.ID), 1, false) // the last write fails
	waitLog(t, spec.LogDir, "stdout.log", "hello from the host\n")
	waitFor(t, func() error {
		if got := readLog(spec.LogDir, "stderr.log"); !strings.Contains(got, "read-only file system") {
			return fmt.Errorf("got stderr %q, want a read-only file system error", got)
		}
		return nil
	})
	if got, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(got) != "written by the task\n" {
		t.Errorf("got %q, %v in the read-write mount, want the task's line", got, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read-only mount got a file: %v", err)
	}
}

func testOOMKilled(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "echo start ; alloc-mem 256 ; echo survived")
	spec.Memory = 64
	start(t, rt, spec)
	exit := wait(t, rt, spec.ID)
	checkExit(t, exit, 137, true)
	if exit.Reason != "oom-killed" {
		t.Errorf("got reason %q, want oom-killed", exit.Reason)
	}
	waitLog(t, spec.LogDir, "stdout.log", "start\n")
	c := find(t, rt, spec.ID)
	if c == nil || c.Exit == nil || !c.Exit.OOMKilled {
		t.Errorf("got %+v listed, want its exit OOM-killed", c)
	}
}

func testStats(t *testing.T, s *suite) {
	rt, _ := s.runtime(t)
	spec := s.spec(t, "alloc-mem 32 ; spin 100ms ; echo held ; sleep 1h")
	start(t, rt, spec)
	waitLog(t, spec.LogDir, "stdout.log", "allocated 32 MiB\nheld\n")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	u, err := rt.Stats(ctx, spec.ID)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	if u.MemoryBytes < 32<<20 || u.CPUSeconds <= 0 {
		t.Errorf("got usage %+v, want at least 32 MiB and some CPU time", u)
	}
}

func testConcurrentStarts(t *testing.T, s *suite) {
	const n = 4
	rt, _ := s.runtime(t) // fresh: the image is new to it
	specs := make([]agent.TaskSpec, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for i := range specs {
		specs[i] = s.spec(t, fmt.Sprintf("echo task %d", i))
		removeAtCleanup(t, rt, specs[i].ID)
		wg.Go(func() { errs[i] = rt.Start(ctx, specs[i]) })
	}
	wg.Wait()
	for i, spec := range specs {
		if errs[i] != nil {
			t.Errorf("start %d: %v", i, errs[i])
			continue
		}
		checkExit(t, wait(t, rt, spec.ID), 0, false)
		waitLog(t, spec.LogDir, "stdout.log", fmt.Sprintf("task %d\n", i))
	}
}
