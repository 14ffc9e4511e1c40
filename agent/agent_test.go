package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/agent/runtimetest"
	"github.com/docketd/docket/internal/ocibuild"
	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/httpapi"
	"github.com/docketd/docket/specs"
)

var waitFor = polltest.WaitFor

// cluster is a real server and one agent on a fake runtime.
type cluster struct {
	t       testing.TB
	cl      *api.Client
	url     string
	token   string // the management token, the agent's too
	fake    *runtimetest.Fake
	dataDir string
	stop    func() // stops the agent (its tasks keep running)
	agent   *agent.Agent
	// reports counts the status reports the server received.
	reports atomic.Int64
}

// bootstrap bootstraps srv's ACL and returns the management token.
func bootstrap(t testing.TB, srv *scheduler.Server) string {
	t.Helper()
	boot, err := srv.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return boot.SecretID
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	srv, err := scheduler.New(scheduler.Config{DataDir: t.TempDir(), HeartbeatTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	c := &cluster{t: t, dataDir: t.TempDir(),
		fake: runtimetest.NewFake(runtimetest.FakeConfig{Images: map[string]ocibuild.Image{"img": runtimetest.TestProgImage(t, "img")}})}
	h := httpapi.New(srv).Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/status") {
			c.reports.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	c.token = bootstrap(t, srv)
	c.cl, c.url = api.NewClient(hs.URL).WithToken(c.token), hs.URL
	t.Cleanup(func() {
		if c.stop != nil {
			c.stop()
		}
		c.fake.Shutdown()
		hs.Close()
		cancel()
		<-done
	})
	c.startAgent(c.fake)
	return c
}

// runtime is what an agent runs its tasks on: the fake, or a wrapper of
// it.
type runtime interface {
	agent.Runtime
	agent.Inspector
}

func (c *cluster) startAgent(rt runtime) {
	c.t.Helper()
	a, err := agent.New(agent.Config{
		Server: c.url, Token: c.token, DataDir: c.dataDir, Name: "node-1", Runtime: rt, Inspector: rt,
		Fingerprint: func(context.Context) (agent.Fingerprint, error) {
			return agent.Fingerprint{Hostname: "host", OS: "linux", Arch: "amd64", CPU: 4000, Memory: 4096}, nil
		},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	c.agent = a
	c.stop = func() {
		cancel()
		if err := <-done; err != nil {
			c.t.Errorf("agent: %v", err)
		}
		c.stop = nil
	}
	waitFor(c.t, 5*time.Second, func() error {
		_, err := c.cl.Node(context.Background(), a.NodeID())
		return err
	})
}

func (c *cluster) run(src string) {
	c.t.Helper()
	f, diags := specs.Parse("job.hcl", []byte(src), specs.ParseOptions{})
	if diags.HasErrors() {
		c.t.Fatal(diags.Error())
	}
	if _, err := c.cl.RegisterJobs(context.Background(), f); err != nil {
		c.t.Fatal(err)
	}
}

// alloc waits for the job's allocation to reach status and returns it.
func (c *cluster) alloc(job, status string) api.Allocation {
	c.t.Helper()
	var out api.Allocation
	waitFor(c.t, 10*time.Second, func() error {
		allocs, _, err := c.cl.Allocations(context.Background(), job, "", "", api.QueryOptions{})
		if err != nil {
			return err
		}
		for _, a := range allocs {
			if a.ClientStatus == status {
				out = a
				return nil
			}
		}
		return fmt.Errorf("no %s allocation of %s: %+v", status, job, allocs)
	})
	return out
}

func (c *cluster) logs(id string, o api.LogsOptions) string {
	c.t.Helper()
	rc, err := c.cl.Logs(context.Background(), id, o)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func job(name, typ, args string, extra string) string {
	return fmt.Sprintf(`
job %q {
  type = %q
  task "main" {
    image = "img"
    args  = [%s]
    kill_timeout = "2s"
    %s
  }
}
`, name, typ, args, extra)
}

// A followed log comes through the server as the task writes it, and
// ends when the allocation does.
func TestFollowedLogsThroughTheServer(t *testing.T) {
	c := newCluster(t)
	c.run(job("web", "service", `"echo", "one", ";", "sleep", "500ms", ";", "echo", "two", ";", "sleep", "1h"`, ""))
	a := c.alloc("web", "running")
	rc, err := c.cl.Logs(context.Background(), a.ID, api.LogsOptions{Follow: true, Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	for _, want := range []string{"one\n", "two\n"} {
		if line, err := br.ReadString('\n'); line != want {
			t.Fatalf("followed %q, %v; want %q", line, err, want)
		}
	}
	if _, err := c.cl.StopJob(context.Background(), "web", false); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(br)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the followed log ended with %v, want its end", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the followed log did not end with its allocation")
	}
}

func TestRunsTaskAndServesItsLogs(t *testing.T) {
	c := newCluster(t)
	c.run(job("web", "service", `"echo", "hello from docket", ";", "stderr", "oops", ";", "sleep", "1h"`, ""))
	a := c.alloc("web", "running")
	if a.Tasks["main"] == nil || a.Tasks["main"].State != "running" {
		t.Fatalf("task state %+v", a.Tasks)
	}
	waitFor(t, 5*time.Second, func() error {
		if got := c.logs(a.ID, api.LogsOptions{Tail: -1}); got != "hello from docket\n" {
			return fmt.Errorf("stdout %q", got)
		}
		return nil
	})
	if got := c.logs(a.ID, api.LogsOptions{Stderr: true, Tail: 1}); got != "oops\n" {
		t.Fatalf("stderr %q", got)
	}
	// Stopping the job stops the task and reports the allocation complete.
	if _, err := c.cl.StopJob(context.Background(), "web", false); err != nil {
		t.Fatal(err)
	}
	done := c.alloc("web", "complete")
	if done.Tasks["main"].State != "dead" {
		t.Fatalf("task after stop: %+v", done.Tasks["main"])
	}
	waitFor(t, 5*time.Second, func() error {
		cs, _ := c.fake.List(context.Background())
		if len(cs) != 0 {
			return fmt.Errorf("containers left after the allocation ended: %+v", cs)
		}
		return nil
	})
}

func TestRestartPolicyThenFailed(t *testing.T) {
	c := newCluster(t)
	c.run(job("crash", "batch", `"stderr", "bad", ";", "exit", "3"`, `restart {
      attempts = 2
      delay    = "1s"
    }`))
	a := c.alloc("crash", "failed")
	ts := a.Tasks["main"]
	if ts.Restarts != 2 || ts.ExitCode != 3 || !ts.Failed || ts.Reason != "exit code 3" {
		t.Fatalf("task %+v, want 2 restarts then failed with exit code 3", ts)
	}
	if !strings.Contains(a.ClientReason, "exit code 3") {
		t.Fatalf("allocation reason %q", a.ClientReason)
	}
}

func TestBatchCompletes(t *testing.T) {
	c := newCluster(t)
	c.run(job("once", "batch", `"echo", "done"`, ""))
	a := c.alloc("once", "complete")
	if a.Tasks["main"].ExitCode != 0 || a.Tasks["main"].Failed {
		t.Fatalf("task %+v", a.Tasks["main"])
	}
}

// A one-task allocation is reported twice: running, then its end with the
// task's exit in it; the task's exit is not a report of its own.
func TestFinalExitReportedOnce(t *testing.T) {
	c := newCluster(t)
	c.run(job("once", "batch", `"sleep", "300ms", ";", "exit", "3"`, `restart {
      attempts = 0
    }`))
	a := c.alloc("once", "failed")
	if ts := a.Tasks["main"]; ts.ExitCode != 3 || !ts.Failed || ts.State != "dead" {
		t.Fatalf("task %+v, want dead, failed with exit code 3", ts)
	}
	// Count once the allocation is done with (its container removed after
	// the final report), so that a report arriving late counts too.
	waitFor(t, 5*time.Second, func() error {
		cs, err := c.fake.List(context.Background())
		if err != nil || len(cs) != 0 {
			return fmt.Errorf("containers %+v, %v; want none", cs, err)
		}
		return nil
	})
	if n := c.reports.Load(); n != 2 {
		t.Errorf("%d status reports, want 2 (running, failed)", n)
	}
}

func TestAgentRestartReattachesAndDoesNotStartTwice(t *testing.T) {
	c := newCluster(t)
	c.run(job("long", "service", `"echo", "started once", ";", "sleep", "5s", ";", "exit", "0"`, ""))
	a := c.alloc("long", "running")
	started := a.Tasks["main"].StartedAt
	// The agent goes away while the task runs, and comes back.
	c.stop()
	cs, err := c.fake.List(context.Background())
	if err != nil || len(cs) != 1 || !cs[0].Running {
		t.Fatalf("containers while the agent is down: %+v, %v; want the task still running", cs, err)
	}
	c.startAgent(c.fake.Reopen())
	// The task ends while the new agent watches it: one start in all, and
	// the exit (exit 0 of a service with no restarts) reported as failed.
	done := c.alloc("long", "failed")
	if got := strings.Count(c.logs(a.ID, api.LogsOptions{Tail: -1}), "started once"); got != 1 {
		t.Fatalf("the task started %d times, want once", got)
	}
	if !done.Tasks["main"].StartedAt.Equal(started) || done.Tasks["main"].Restarts != 0 {
		t.Fatalf("task after reattach %+v, want the original start and no restart", done.Tasks["main"])
	}
}

func TestExitWhileAgentAwayIsReported(t *testing.T) {
	c := newCluster(t)
	c.run(job("quick", "batch", `"sleep", "2s", ";", "exit", "4"`, ""))
	c.alloc("quick", "running")
	c.stop()
	waitFor(t, 5*time.Second, func() error {
		cs, _ := c.fake.List(context.Background())
		if len(cs) != 1 || cs[0].Running {
			return fmt.Errorf("containers %+v, want one that exited", cs)
		}
		return nil
	})
	c.startAgent(c.fake.Reopen())
	a := c.alloc("quick", "failed")
	if a.Tasks["main"].ExitCode != 4 {
		t.Fatalf("task %+v, want exit code 4 reported after the restart", a.Tasks["main"])
	}
}

func TestOrphansRemovedAtStart(t *testing.T) {
	c := newCluster(t)
	c.stop()
	orphan := agent.TaskSpec{ID: "orphan-task", Labels: map[string]string{"docket.alloc": "gone", "docket.task": "main"},
		Image: "img", Args: []string{"sleep", "1h"}, LogDir: t.TempDir()}
	if err := c.fake.Start(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	c.startAgent(c.fake.Reopen())
	waitFor(t, 5*time.Second, func() error {
		cs, _ := c.fake.List(context.Background())
		if len(cs) != 0 {
			return fmt.Errorf("containers %+v, want the orphan removed", cs)
		}
		return nil
	})
}

func TestDispatchTaskGetsItsMessage(t *testing.T) {
	c := newCluster(t)
	c.run(`
queue "in" {}

job "d" {
  type  = "dispatch"
  queue = "in"
  task "main" {
    image = "img"
    args  = ["cat", "/docket/message", ";", "env"]
  }
}
`)
	res, err := c.cl.Send(context.Background(), "in", api.SendMessage{Body: "the body", Attributes: map[string]string{"trace-id": "abc"}})
	if err != nil {
		t.Fatal(err)
	}
	a := c.alloc("d", "complete")
	out := c.logs(a.ID, api.LogsOptions{Tail: -1})
	for _, want := range []string{"the body", "DOCKET_MESSAGE_ID=" + res[0].ID, "DOCKET_QUEUE=in", "DOCKET_RECEIVE_COUNT=1",
		"DOCKET_MESSAGE_FILE=/docket/message", "DOCKET_ATTR_TRACE_ID=abc"} {
		if !strings.Contains(out, want) {
			t.Errorf("task output lacks %q:\n%s", want, out)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		q, err := c.cl.Queue(context.Background(), "in")
		if err != nil {
			return err
		}
		if q.Stats.Deleted != 1 {
			return fmt.Errorf("queue %+v, want the message deleted after exit 0", q.Stats)
		}
		return nil
	})
}

// brokenInspector answers List with an error while broken is set, as a
// containerd that went away would.
type brokenInspector struct {
	*runtimetest.Fake
	broken atomic.Bool
}

func (b *brokenInspector) List(ctx context.Context) ([]agent.Container, error) {
	if b.broken.Load() {
		return nil, errors.New("connection refused")
	}
	return b.Fake.List(ctx)
}

// TestUnreachableRuntimeMakesTheNodeUnhealthy: while the runtime does not
// answer, the agent keeps running and reports the node unhealthy, so the
// server places nothing there; once it answers again the node is healthy.
func TestUnreachableRuntimeMakesTheNodeUnhealthy(t *testing.T) {
	srv, err := scheduler.New(scheduler.Config{DataDir: t.TempDir(), HeartbeatTTL: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(srv).Handler())
	defer func() { hs.Close(); cancel(); <-done }()
	fake := runtimetest.NewFake(runtimetest.FakeConfig{})
	defer fake.Shutdown()
	rt := &brokenInspector{Fake: fake}
	token := bootstrap(t, srv)
	a, err := agent.New(agent.Config{Server: hs.URL, Token: token, DataDir: t.TempDir(), Runtime: rt, Inspector: rt,
		Fingerprint: func(context.Context) (agent.Fingerprint, error) {
			return agent.Fingerprint{Hostname: "h", OS: "linux", Arch: "amd64", CPU: 1000, Memory: 1024}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() { adone <- a.Run(actx) }()
	defer func() { acancel(); <-adone }()
	cl := api.NewClient(hs.URL).WithToken(token)
	health := func(want bool) {
		t.Helper()
		waitFor(t, 10*time.Second, func() error {
			n, err := cl.Node(context.Background(), a.NodeID())
			if err != nil {
				return err
			}
			if n.Healthy != want || n.Status != "ready" {
				return fmt.Errorf("node healthy=%v status=%s (%s), want healthy=%v and ready", n.Healthy, n.Status, n.HealthReason, want)
			}
			if !want && !strings.Contains(n.HealthReason, "connection refused") {
				return fmt.Errorf("health reason %q", n.HealthReason)
			}
			return nil
		})
	}
	health(true)
	rt.broken.Store(true)
	health(false)
	rt.broken.Store(false)
	health(true)
	select {
	case err := <-adone:
		t.Fatalf("the agent stopped: %v", err)
	default:
	}
}

// TestServerRestartAgentResumes: the server goes away and comes back on
// the same address and data; the agent reconnects, keeps its running task
// and runs new work.
func TestServerRestartAgentResumes(t *testing.T) {
	dataDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var token string // bootstrapped by the first server, kept by the second
	serve := func(ln net.Listener) func() {
		srv, err := scheduler.New(scheduler.Config{DataDir: dataDir})
		if err != nil {
			t.Fatal(err)
		}
		if token == "" {
			token = bootstrap(t, srv)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		hs := &http.Server{Handler: httpapi.New(srv).Handler()}
		go hs.Serve(ln)
		return func() { hs.Close(); cancel(); <-done }
	}
	stopServer := serve(ln)
	fake := runtimetest.NewFake(runtimetest.FakeConfig{Images: map[string]ocibuild.Image{"img": runtimetest.TestProgImage(t, "img")}})
	defer fake.Shutdown()
	c := &cluster{t: t, cl: api.NewClient(addr).WithToken(token), url: "http://" + addr, token: token, fake: fake, dataDir: t.TempDir()}
	c.startAgent(fake)
	defer func() {
		if c.stop != nil {
			c.stop()
		}
	}()
	c.run(job("before", "service", `"echo", "up", ";", "sleep", "1h"`, ""))
	first := c.alloc("before", "running")

	stopServer()
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	stopServer = serve(ln2)
	defer stopServer()

	c.run(job("after", "batch", `"echo", "after the restart"`, ""))
	c.alloc("after", "complete")
	again := c.alloc("before", "running")
	if again.ID != first.ID || again.Tasks["main"].Restarts != 0 {
		t.Fatalf("the running task was disturbed by the server restart: %+v", again)
	}
	// The batch task's container goes once its end is reported.
	waitFor(t, 5*time.Second, func() error {
		if cs, _ := fake.List(context.Background()); len(cs) != 1 {
			return fmt.Errorf("containers %+v, want only the service's", cs)
		}
		return nil
	})
}

// TestMissingImageFailsWithItsReasonWithoutTightLoop: an image that cannot
// be had fails the allocation with that reason, and the replacement waits
// for the restart backoff instead of looping.
func TestMissingImageFailsWithItsReasonWithoutTightLoop(t *testing.T) {
	c := newCluster(t)
	c.run(`
job "noimage" {
  task "main" {
    image = "oci-archive:/nonexistent/image.tar"
    restart {
      attempts = 1
      delay    = "2s"
    }
  }
}
`)
	failed := c.alloc("noimage", "failed")
	ts := failed.Tasks["main"]
	if !strings.Contains(ts.Reason, "/nonexistent/image.tar") || !strings.Contains(ts.Reason, "no such file") || ts.Restarts != 1 {
		t.Fatalf("task %+v, want the image error as the reason after 1 restart", ts)
	}
	// The scheduler replaces it only after the backoff (2s doubling).
	time.Sleep(500 * time.Millisecond)
	if n := len(c.allocsOf("noimage")); n != 1 {
		t.Fatalf("%d allocations within 500 ms of the failure, want 1 (backoff)", n)
	}
}

func (c *cluster) allocsOf(job string) []api.Allocation {
	c.t.Helper()
	as, _, err := c.cl.Allocations(context.Background(), job, "", "", api.QueryOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return as
}

// TestHeartbeatsCarryTaskUse: the agent measures its running tasks and the
// server shows the figures with the node.
func TestHeartbeatsCarryTaskUse(t *testing.T) {
	c := newCluster(t)
	c.run(job("mem", "service", `"alloc-mem", "8", ";", "sleep", "1h"`, ""))
	a := c.alloc("mem", "running")
	waitFor(t, 10*time.Second, func() error {
		n, err := c.cl.Node(context.Background(), c.agent.NodeID())
		if err != nil {
			return err
		}
		if n.Measured == nil {
			return fmt.Errorf("no measured use yet")
		}
		for _, u := range n.Measured.Tasks {
			if u.AllocID == a.ID && u.Task == "main" && u.MemoryBytes >= 8<<20 && u.CPUSeconds > 0 {
				return nil
			}
		}
		return fmt.Errorf("measured %+v, want main of %s using at least 8 MiB", n.Measured.Tasks, a.ID)
	})
}

// The agent makes and stores its node secret before it first registers:
// an agent stopped between the server's answer and storing a secret the
// server issued would otherwise lose its node for good.
func TestNodeSecretKeptBeforeRegistering(t *testing.T) {
	dir := t.TempDir()
	fake := runtimetest.NewFake(runtimetest.FakeConfig{})
	defer fake.Shutdown()
	if _, err := agent.New(agent.Config{Server: "http://127.0.0.1:1", DataDir: dir, Runtime: fake, Inspector: fake}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "node-secret"))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() < 33 {
		t.Fatalf("node-secret: %v, %v; want a private file of a 32-byte secret", st, err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "node-secret"))
	if _, err := agent.New(agent.Config{Server: "http://127.0.0.1:1", DataDir: dir, Runtime: fake, Inspector: fake}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "node-secret")); string(after) != string(before) {
		t.Error("a second start made another secret")
	}
}
