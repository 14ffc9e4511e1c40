package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/docketd/docket/internal/polltest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docketd/docket/agent"
)

// Runtime is what the suite tests: both interfaces a runtime implements.
type Runtime interface {
	agent.Runtime
	agent.Inspector
}

// RuntimeUnderTest is one instance of a runtime, as one run of the agent
// holds it.
type RuntimeUnderTest struct {
	Runtime
	// Reopen returns another instance on the same backend (the same
	// containerd, the same fake host), as an agent gets after a restart.
	Reopen func(t *testing.T) RuntimeUnderTest
	// Close ends this instance, not its backend: containers keep running.
	// The suite closes every instance it gets, once.
	Close func() error
}

// Harness adapts an implementation to the suite.
type Harness struct {
	// Image returns a reference to an image built from [TestProgImage],
	// valid for every runtime New returns. The suite calls it once, with
	// the test given to Conformance, and uses it in every subtest.
	Image func(t *testing.T) string
	// New returns a new runtime instance. Instances of one Conformance run
	// may share a backend, as subtests run in parallel and give their
	// containers IDs of their own.
	New func(t *testing.T) RuntimeUnderTest
	// ID returns a container ID that no other test uses, even one in
	// another process (containerdtest.UniqueID). Nil: the suite makes one
	// from the test's name and random bits.
	ID func(t testing.TB) string
}

// timeout bounds every wait of the suite. It is generous: the suite checks
// behaviour, not speed.
const timeout = time.Minute

// Conformance runs the runtime suite against h: starting tasks, exit codes,
// logs, the task's configuration, stopping, reattaching after a restart,
// removal, OOM kills, usage, and the errors a caller can tell apart.
func Conformance(t *testing.T, h Harness) {
	s := &suite{h: h, image: h.Image(t)}
	for _, tc := range []struct {
		name string
		test func(*testing.T, *suite)
	}{
		{"ExitCodes", testExitCodes},
		{"Logs", testLogs},
		{"Config", testConfig},
		{"StopTrapped", testStopTrapped},
		{"StopKillsAfterTimeout", testStopKillsAfterTimeout},
		{"StopSignals", testStopSignals},
		{"StopExited", testStopExited},
		{"WaitAfterRestart", testWaitAfterRestart},
		{"WaitCancelled", testWaitCancelled},
		{"Remove", testRemove},
		{"UnknownID", testUnknownID},
		{"Exists", testExists},
		{"MissingImage", testMissingImage},
		{"MissingExecutable", testMissingExecutable},
		{"BindMounts", testBindMounts},
		{"OOMKilled", testOOMKilled},
		{"Stats", testStats},
		{"ConcurrentStarts", testConcurrentStarts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, s)
		})
	}
}

// suite holds what every subtest shares.
type suite struct {
	h     Harness
	image string
}

// runtime returns a new instance, closed when t ends unless the test
// closes it first through the returned function.
func (s *suite) runtime(t *testing.T) (RuntimeUnderTest, func()) {
	t.Helper()
	return closing(t, s.h.New(t))
}

// closing registers rt's Close with t and returns a function that closes
// it earlier, once.
func closing(t *testing.T, rt RuntimeUnderTest) (RuntimeUnderTest, func()) {
	var once sync.Once
	closeRT := func() {
		once.Do(func() {
			if err := rt.Close(); err != nil {
				t.Errorf("close runtime: %v", err)
			}
		})
	}
	t.Cleanup(closeRT)
	return rt, closeRT
}

// id returns a container ID for t.
func (s *suite) id(t *testing.T) string {
	if s.h.ID != nil {
		return s.h.ID(t)
	}
	var b [4]byte
	rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	return strings.Trim(name, "-") + "-" + hex.EncodeToString(b[:])
}

// spec returns a task running testprog with steps, such as
// "echo hi ; exit 3", logging to a directory of t's.
func (s *suite) spec(t *testing.T, steps string) agent.TaskSpec {
	return agent.TaskSpec{
		ID:     s.id(t),
		Labels: map[string]string{"docket.test": "conformance"},
		Image:  s.image,
		Args:   strings.Fields(steps),
		LogDir: t.TempDir(),
	}
}

// start starts spec on rt and removes it when t ends, checking that the
// removal works.
func start(t *testing.T, rt Runtime, spec agent.TaskSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := rt.Start(ctx, spec); err != nil {
		t.Fatalf("start %v: %v", spec.Args, err)
	}
	removeAtCleanup(t, rt, spec.ID)
}

// removeAtCleanup removes id when t ends, and checks it is gone.
func removeAtCleanup(t *testing.T, rt Runtime, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := rt.Remove(ctx, id); err != nil {
			t.Errorf("remove %s: %v", id, err)
			return
		}
		if c := find(t, rt, id); c != nil {
			t.Errorf("got %s listed after its removal", id)
		}
	})
}

// wait waits for id to exit.
func wait(t *testing.T, rt Runtime, id string) agent.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	exit, err := rt.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return exit
}

// stop stops id.
func stop(t *testing.T, rt Runtime, id, signal string, grace time.Duration) agent.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	exit, err := rt.Stop(ctx, id, signal, grace)
	if err != nil {
		t.Fatalf("stop %s with %s: %v", id, signal, err)
	}
	return exit
}

// list returns what rt lists.
func list(t *testing.T, rt Runtime) []agent.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cs, err := rt.List(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return cs
}

// find returns id's entry in rt's list, or nil.
func find(t *testing.T, rt Runtime, id string) *agent.Container {
	t.Helper()
	for _, c := range list(t, rt) {
		if c.ID == id {
			return &c
		}
	}
	return nil
}

// checkExit compares an exit with what is wanted: code and OOM kill, and a
// time that is set.
func checkExit(t *testing.T, got agent.Exit, wantCode int, wantOOM bool) {
	t.Helper()
	if got.Code != wantCode || got.OOMKilled != wantOOM {
		t.Errorf("got exit %+v, want code %d, OOM-killed %v", got, wantCode, wantOOM)
	}
	if got.At.IsZero() || time.Since(got.At) > timeout || time.Until(got.At) > time.Second {
		t.Errorf("got exit time %v, want about now", got.At)
	}
}

// waitFor polls cond until it returns nil, failing t with its last error
// after timeout.
func waitFor(t *testing.T, cond func() error) {
	t.Helper()
	polltest.WaitFor(t, timeout, cond)
}

// readLog returns a log file's content, empty if it does not exist yet.
func readLog(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

// waitLog waits until the log file holds exactly want: logs may trail the
// task's exit.
func waitLog(t *testing.T, dir, name, want string) {
	t.Helper()
	waitFor(t, func() error {
		if got := readLog(dir, name); got != want {
			return fmt.Errorf("got %s %q, want %q", name, got, want)
		}
		return nil
	})
}

// waitLogLines waits until the log file holds every line of want, in any
// order.
func waitLogLines(t *testing.T, dir, name string, want ...string) {
	t.Helper()
	waitFor(t, func() error {
		got := readLog(dir, name)
		lines := strings.Split(got, "\n")
		for _, w := range want {
			found := false
			for _, l := range lines {
				found = found || l == w
			}
			if !found {
				return fmt.Errorf("got %s %q, want a line %q", name, got, w)
			}
		}
		return nil
	})
}
