package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/containerdtest"
	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// The end-to-end tests drive the real binary: `docket server` and `docket
// agent` run as their own processes, the agent on a real containerd
// (started by the test on its own socket), the tasks in images the tests
// build. Nothing is faked.

// e2e is one cluster: a server, an agent, a containerd.
type e2e struct {
	t        testing.TB
	bin      string
	logger   string // docket-logger, as make build puts it beside docket
	ctd      *containerdtest.Daemon
	addr     string
	token    string // the management token
	cl       *api.Client
	agentDir string
	agent    *exec.Cmd
	agentLog *syncBuffer
	image    string // oci-archive: reference to testprog
	opts     e2eOptions
}

// e2eOptions change how startE2EWith starts the cluster.
type e2eOptions struct {
	serverArgs []string
	agentArgs  []string
	// tls, if set, is the test's client configuration for a server that
	// serves HTTPS (serverArgs give it its certificate).
	tls *tls.Config
	// caFile is the CA certificate's file, for the AWS CLI.
	caFile string
}

// syncBuffer collects a process's output for failure reports.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startE2E(t testing.TB, serverArgs ...string) *e2e {
	t.Helper()
	return startE2EWith(t, e2eOptions{serverArgs: serverArgs})
}

func startE2EWith(t testing.TB, o e2eOptions) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	ctd := containerdtest.Start(t)
	e := &e2e{t: t, ctd: ctd, bin: imagetest.GoBinary(t, "github.com/docketd/docket/cmd/docket"),
		logger: imagetest.GoBinary(t, "github.com/docketd/docket/cmd/docket-logger"), agentDir: t.TempDir(), opts: o}
	e.image = "oci-archive:" + imagetest.TestProgArchive(t, "docket.test/e2e:latest")

	e.addr, e.token = startServerProcessTLS(t, e.bin, o.tls, append([]string{"--data-dir", t.TempDir()}, o.serverArgs...)...)
	e.cl = e.client().WithToken(e.token)
	e.startAgent()
	return e
}

// startServerProcess starts `docket server` on a free loopback port with args
// added, bootstraps its ACL, stops it at the end of the test, and returns
// its address and the management token.
func startServerProcess(t testing.TB, bin string, args ...string) (addr, token string) {
	t.Helper()
	return startServerProcessTLS(t, bin, nil, args...)
}

// startServerProcessTLS is startServerProcess for a server that serves
// HTTPS when cfg, the test's client configuration, is set.
func startServerProcessTLS(t testing.TB, bin string, cfg *tls.Config, args ...string) (addr, token string) {
	t.Helper()
	serverLog := &syncBuffer{}
	args = append([]string{"server", "--http-addr", "127.0.0.1:0", "--log-level", "info"}, args...)
	server := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	server.Stderr = io.MultiWriter(serverLog, pw)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		server.Process.Signal(syscall.SIGTERM)
		server.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", tail(serverLog.String(), 40))
		}
	})
	addrRE := regexp.MustCompile(`msg="server listening" addr=(\S+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatalf("the server did not start:\n%s", serverLog.String())
	}
	cl := api.NewClient(addr)
	if cfg != nil {
		cl = cl.WithTLS(cfg)
	}
	return addr, bootstrapWith(t, cl)
}

// bootstrap bootstraps the ACL of the server at addr and returns the
// management token.
func bootstrap(t testing.TB, addr string) string {
	t.Helper()
	return bootstrapWith(t, api.NewClient(addr))
}

func bootstrapWith(t testing.TB, cl *api.Client) string {
	t.Helper()
	boot, err := cl.Bootstrap(context.Background())
	if err != nil {
		t.Fatalf("bootstrap the ACL: %v", err)
	}
	return boot.SecretID
}

// awsCLI returns Debian's AWS CLI, or another on PATH; without one the test
// is skipped, except in CI, where .ci/run installs it.
func awsCLI(t testing.TB) string {
	t.Helper()
	for _, p := range []string{debianAWS, "aws"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the AWS CLI is not installed (Debian's awscli)")
	}
	t.Skip("the AWS CLI is not installed (Debian's awscli)")
	return ""
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startAgent starts `docket agent` and waits for its node to be ready.
func (e *e2e) startAgent() {
	e.t.Helper()
	e.agentLog = &syncBuffer{}
	e.agent = exec.Command(e.bin, append([]string{"agent", "--server", e.url(), "--token", e.token, "--data-dir", e.agentDir,
		"--containerd", e.ctd.Address, "--logger", e.logger, "--name", "e2e-node", "--log-level", "info",
		"--image-dir", os.TempDir()}, e.opts.agentArgs...)...)
	e.agent.Stdout, e.agent.Stderr = e.agentLog, e.agentLog
	if err := e.agent.Start(); err != nil {
		e.t.Fatal(err)
	}
	agent, log := e.agent, e.agentLog
	e.t.Cleanup(func() {
		agent.Process.Signal(syscall.SIGTERM)
		agent.Wait()
		if e.t.Failed() {
			e.t.Logf("agent log:\n%s", tail(log.String(), 40))
		}
	})
	e.waitFor(30*time.Second, func() error {
		nodes, _, err := e.cl.Nodes(context.Background(), api.QueryOptions{})
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Name == "e2e-node" && n.Status == "ready" && n.Healthy {
				return nil
			}
		}
		return fmt.Errorf("no ready node yet: %+v", nodes)
	})
}

// client is a client of the server, without a token.
func (e *e2e) client() *api.Client {
	if e.opts.tls != nil {
		return api.NewClient(e.addr).WithTLS(e.opts.tls)
	}
	return api.NewClient(e.addr)
}

// url is the server's base URL.
func (e *e2e) url() string {
	if e.opts.tls != nil {
		return "https://" + e.addr
	}
	return "http://" + e.addr
}

// killAgent ends the agent with SIGKILL: its containers run on.
func (e *e2e) killAgent() {
	e.t.Helper()
	e.agent.Process.Signal(syscall.SIGKILL)
	e.agent.Wait()
}

func (e *e2e) waitFor(timeout time.Duration, cond func() error) {
	e.t.Helper()
	polltest.WaitFor(e.t, timeout, cond)
}

// run registers a job file, with IMAGE replaced by the test image.
func (e *e2e) run(src string) {
	e.t.Helper()
	src = strings.ReplaceAll(src, "IMAGE", e.image)
	f, diags := specs.Parse("e2e.hcl", []byte(src), specs.ParseOptions{})
	if diags.HasErrors() {
		e.t.Fatal(diags.Error())
	}
	if _, err := e.cl.RegisterJobs(context.Background(), f); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) allocs(job string) []api.Allocation {
	e.t.Helper()
	as, _, err := e.cl.Allocations(context.Background(), job, "", "", api.QueryOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

// waitRunning waits until n allocations of job report running.
func (e *e2e) waitRunning(job string, n int) {
	e.t.Helper()
	e.waitFor(time.Minute, func() error {
		running := 0
		for _, a := range e.allocs(job) {
			if a.ClientStatus == "running" {
				running++
			}
		}
		if running != n {
			return fmt.Errorf("%d allocations of %s running, want %d", running, job, n)
		}
		return nil
	})
}

func (e *e2e) logs(alloc string) string {
	e.t.Helper()
	rc, err := e.cl.Logs(context.Background(), alloc, api.LogsOptions{Tail: -1})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func (e *e2e) queue(name string) api.QueueStats {
	e.t.Helper()
	q, err := e.cl.Queue(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return q.Stats
}

func (e *e2e) send(queue string, bodies ...string) {
	e.t.Helper()
	for start := 0; start < len(bodies); start += 10 {
		var msgs []api.SendMessage
		for _, b := range bodies[start:min(start+10, len(bodies))] {
			msgs = append(msgs, api.SendMessage{Body: b})
		}
		if _, err := e.cl.Send(context.Background(), queue, msgs...); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestE2EDispatchHundredMessages: 100 messages to a dispatch job give
// exactly 100 successful allocations, an empty queue, and each body seen by
// its own container.
func TestE2EDispatchHundredMessages(t *testing.T) {
	e := startE2E(t)
	e.run(`
queue "in" {}

job "echo" {
  type  = "dispatch"
  queue = "in"
  scaling {
    max = 8
  }
  task "main" {
    image = "IMAGE"
    args  = ["cat", "/docket/message"]
    resources {
      cpu    = 50
      memory = 32
    }
  }
}
`)
	var bodies []string
	for i := 0; i < 100; i++ {
		bodies = append(bodies, fmt.Sprintf("body-%03d", i))
	}
	e.send("in", bodies...)
	e.waitFor(3*time.Minute, func() error {
		q := e.queue("in")
		if q.Deleted != 100 {
			return fmt.Errorf("%d messages deleted, %d visible, %d in flight", q.Deleted, q.Visible, q.InFlight)
		}
		return nil
	})
	allocs := e.allocs("echo")
	seen := map[string]string{}
	complete := 0
	for _, a := range allocs {
		if a.ClientStatus != "complete" {
			t.Errorf("allocation %s is %s (%s), want complete", a.ID, a.ClientStatus, a.ClientReason)
			continue
		}
		complete++
		body := strings.TrimSpace(e.logs(a.ID))
		if other, dup := seen[body]; dup {
			t.Errorf("body %q seen by %s and %s", body, other, a.ID)
		}
		seen[body] = a.ID
	}
	if complete != 100 || len(allocs) != 100 {
		t.Fatalf("%d allocations, %d complete; want exactly 100", len(allocs), complete)
	}
	for _, b := range bodies {
		if seen[b] == "" {
			t.Errorf("no container saw %q", b)
		}
	}
	if q := e.queue("in"); q.Visible+q.InFlight+q.Delayed != 0 {
		t.Fatalf("queue not empty: %+v", q)
	}
	// The image was imported once for the hundred containers.
	if m := e.agentMetrics(); !strings.Contains(m, `docket_agent_image_pulls_total{kind="import",result="ok"} 1`+"\n") ||
		!strings.Contains(m, "docket_agent_task_starts_total{result=\"ok\"} 100\n") {
		t.Errorf("agent metrics lack one import and 100 starts:\n%s", grepLines(m, "docket_agent_"))
	}
}

// agentMetrics reads the agent's /metrics at the address its node registered.
func (e *e2e) agentMetrics() string {
	e.t.Helper()
	nodes, _, err := e.cl.Nodes(context.Background(), api.QueryOptions{})
	if err != nil || len(nodes) != 1 {
		e.t.Fatalf("nodes %+v, %v", nodes, err)
	}
	return scrape(e.t, "http://"+nodes[0].Address)
}

// scrape returns the Prometheus exposition of the agent at base.
func scrape(t testing.TB, base string) string {
	t.Helper()
	return scrapeWith(t, base, "")
}

// scrapeWith returns the Prometheus exposition at base, presenting token
// (the server's needs one with operator:read).
func scrapeWith(t testing.TB, base, token string) string {
	t.Helper()
	return scrapeClient(t, http.DefaultClient, base, token)
}

// scrapeClient is scrapeWith with hc.
func scrapeClient(t testing.TB, hc *http.Client, base, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(api.TokenHeader, token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestE2EFailingMessageDeadLetters: a message the task always fails is
// retried max_receives times with backoff, then dead-lettered with the
// failure.
func TestE2EFailingMessageDeadLetters(t *testing.T) {
	e := startE2E(t)
	e.run(`
queue "in" {
  max_receives = 3
  dead_letter  = "dead"
}
queue "dead" {}

job "fail" {
  type  = "dispatch"
  queue = "in"
  task "main" {
    image = "IMAGE"
    args  = ["stderr", "cannot do it", ";", "exit", "7"]
    retry {
      delay     = "1s"
      max_delay = "2s"
    }
  }
}
`)
	start := time.Now()
	e.send("in", "poison")
	e.waitFor(time.Minute, func() error {
		if q := e.queue("dead"); q.Visible != 1 {
			return fmt.Errorf("dead-letter queue %+v", q)
		}
		return nil
	})
	// Backoff: 1s after the first failure, 2s after the second.
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("dead-lettered after %s, want at least the 1s+2s of backoff", took)
	}
	allocs := e.allocs("fail")
	if len(allocs) != 3 {
		t.Fatalf("%d attempts, want max_receives = 3", len(allocs))
	}
	zero := specs.Duration(0)
	msgs, err := e.cl.Receive(context.Background(), "dead", api.ReceiveRequest{Wait: &zero})
	if err != nil || len(msgs) != 1 {
		t.Fatal(msgs, err)
	}
	m := msgs[0]
	if m.Body != "poison" || m.Attributes["docket.failure.exit_code"] != "7" || !strings.Contains(m.Attributes["docket.failure.reason"], "exit code 7") {
		t.Fatalf("dead-lettered %+v, want the exit code 7 failure", m)
	}
}

// TestE2ELongTaskNotDuplicated: a task that runs longer than the
// visibility timeout keeps its message; nothing else receives it.
func TestE2ELongTaskNotDuplicated(t *testing.T) {
	e := startE2E(t)
	e.run(`
queue "in" {
  visibility_timeout = "3s"
}

job "slow" {
  type  = "dispatch"
  queue = "in"
  task "main" {
    image = "IMAGE"
    args  = ["sleep", "8s", ";", "echo", "done"]
  }
}
`)
	e.send("in", "slow one")
	e.waitFor(time.Minute, func() error {
		if q := e.queue("in"); q.Deleted != 1 {
			return fmt.Errorf("queue %+v", q)
		}
		return nil
	})
	if allocs := e.allocs("slow"); len(allocs) != 1 || allocs[0].Dispatch.ReceiveCount != 1 {
		t.Fatalf("allocations %+v, want one, with the message received once", allocs)
	}
	if q := e.queue("in"); q.Received != 1 {
		t.Fatalf("the message was received %d times, want once", q.Received)
	}
}

// TestE2EAgentKilledMidRun: SIGKILL the agent while dispatch tasks run; on
// restart nothing is lost and nothing runs twice.
func TestE2EAgentKilledMidRun(t *testing.T) {
	e := startE2E(t)
	e.run(`
queue "in" {}

job "work" {
  type  = "dispatch"
  queue = "in"
  scaling {
    max = 4
  }
  task "main" {
    image = "IMAGE"
    args  = ["cat", "/docket/message", ";", "sleep", "3s", ";", "echo", "finished"]
  }
}
`)
	e.send("in", "a", "b", "c", "d")
	e.waitRunning("work", 4)
	e.killAgent()
	time.Sleep(500 * time.Millisecond)
	e.startAgent()
	e.waitFor(time.Minute, func() error {
		if q := e.queue("in"); q.Deleted != 4 {
			return fmt.Errorf("queue %+v", q)
		}
		return nil
	})
	allocs := e.allocs("work")
	if len(allocs) != 4 {
		t.Fatalf("%d allocations, want 4: a task ran twice or a message was redelivered", len(allocs))
	}
	for _, a := range allocs {
		out := e.logs(a.ID)
		if a.ClientStatus != "complete" || strings.Count(out, "finished") != 1 || a.Tasks["main"].Restarts != 0 {
			t.Errorf("allocation %s: %s, restarts %d, output %q; want complete, once", a.ID, a.ClientStatus, a.Tasks["main"].Restarts, out)
		}
	}
}

// TestE2EServiceScalesToZeroAndBack: a queue-scaled service goes from 0
// to N with a backlog and back to 0 once it drains; the workers are real
// containers using the queue API with their tokens.
func TestE2EServiceScalesToZeroAndBack(t *testing.T) {
	e := startE2E(t)
	worker := imagetest.GoBinary(t, "github.com/docketd/docket/examples/workers/worker")
	archive := imagetest.Archive(t, "docket.test/worker:latest", map[string]string{"/worker": worker}, "/worker")
	e.run(strings.ReplaceAll(`
queue "jobs" {
  visibility_timeout = "1m"
}

job "workers" {
  type  = "service"
  queue = "jobs"
  scaling {
    min               = 0
    max               = 3
    messages_per_task = 10
    cooldown          = "1s"
  }
  task "w" {
    image = "oci-archive:WORKER"
    args  = ["work", "--batch", "5", "--work", "400ms"]
    kill_timeout = "5s"
  }
}
`, "WORKER", archive))
	live := func() int {
		n := 0
		for _, a := range e.allocs("workers") {
			if a.DesiredStatus == "run" && (a.ClientStatus == "pending" || a.ClientStatus == "running") {
				n++
			}
		}
		return n
	}
	if n := live(); n != 0 {
		t.Fatalf("%d workers before any message, want 0", n)
	}
	var bodies []string
	for i := 0; i < 60; i++ {
		bodies = append(bodies, fmt.Sprint(i))
	}
	e.send("jobs", bodies...)
	// Each batch of 5 takes 2 s: the backlog per worker falls below
	// messages_per_task while workers still hold messages, so scale-in
	// happens mid-drain and must pick the idle ones.
	peak, scaledInMidDrain := 0, false
	e.waitFor(2*time.Minute, func() error {
		n := live()
		peak = max(peak, n)
		q := e.queue("jobs")
		if n < peak && q.Deleted < 60 {
			scaledInMidDrain = true
		}
		if q.Deleted != 60 {
			return fmt.Errorf("queue %+v, %d workers", q, n)
		}
		return nil
	})
	if peak < 2 {
		t.Errorf("at most %d workers for 60 messages, want the backlog to scale out", peak)
	}
	if !scaledInMidDrain {
		t.Errorf("no worker was stopped while messages were left, so scale-in of idle workers was not exercised")
	}
	// A worker stopped while it held messages would have them released to
	// the others: each message must have been received exactly once.
	if q := e.queue("jobs"); q.Received != 60 {
		t.Errorf("%d receives for 60 messages: a worker holding messages was stopped", q.Received)
	}
	e.waitFor(time.Minute, func() error {
		if n := live(); n != 0 {
			return fmt.Errorf("%d workers after the queue drained", n)
		}
		return nil
	})
	for _, a := range e.allocs("workers") {
		if a.ClientStatus == "failed" {
			t.Errorf("worker %s failed: %s", a.ID, a.ClientReason)
		}
		if logs := e.logs(a.ID); strings.Contains(logs, "delete:") {
			t.Errorf("worker %s could not delete what it processed:\n%s", a.ID, logs)
		}
	}
}

// TestE2ESQSWorkerUnchanged: a worker written for SQS with aws-sdk-go-v2
// (receive, process, delete) runs as a backlog-scaled service and drains
// its queue with the endpoint and access key Docket gives it.
func TestE2ESQSWorkerUnchanged(t *testing.T) {
	cli := awsCLI(t)
	keys := producerKeys(t)
	e := startE2E(t, "--sqs-keys", keys)
	e.drainWithSQSWorkers(cli)
}

// producerKeys writes an --aws-keys file with AKIDPRODUCER, which may send
// to the queue "orders".
func producerKeys(t testing.TB) string {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("AKIDPRODUCER producer-secret orders\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return keys
}

// drainWithSQSWorkers runs the aws-sdk-go-v2 worker as a service on the
// queue "orders", sends it 40 messages with the AWS CLI (cli) and the key
// of producerKeys, and checks the workers process and delete every one.
func (e *e2e) drainWithSQSWorkers(cli string) {
	t := e.t
	t.Helper()
	worker := imagetest.GoBinary(t, "github.com/docketd/docket/examples/workers/sqsworker")
	archive := imagetest.Archive(t, "docket.test/sqsworker:latest", map[string]string{"/sqsworker": worker}, "/sqsworker")
	e.run(strings.ReplaceAll(`
queue "orders" {}

job "sqs-workers" {
  type  = "service"
  queue = "orders"
  scaling {
    min               = 0
    max               = 2
    messages_per_task = 20
    cooldown          = "2s"
  }
  task "w" {
    image = "oci-archive:WORKER"
    kill_timeout = "5s"
  }
}
`, "WORKER", archive))
	// The producer is the AWS CLI with an operator key scoped to the queue:
	// four batches of ten.
	for b := range 4 {
		var entries []string
		for i := range 10 {
			entries = append(entries, fmt.Sprintf(`{"Id":"m%d","MessageBody":"order %d"}`, i, b*10+i))
		}
		cmd := exec.Command(cli, "--endpoint-url", e.url(), "sqs", "send-message-batch",
			"--queue-url", e.url()+"/000000000000/orders", "--entries", "["+strings.Join(entries, ",")+"]",
			"--query", "length(Successful)", "--output", "text")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDPRODUCER", "AWS_SECRET_ACCESS_KEY=producer-secret",
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		if e.opts.caFile != "" {
			cmd.Env = append(cmd.Env, "AWS_CA_BUNDLE="+e.opts.caFile)
		}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "10" {
			t.Fatalf("aws sqs send-message-batch: %v\n%s", err, out)
		}
	}
	e.waitFor(2*time.Minute, func() error {
		if q := e.queue("orders"); q.Deleted != 40 {
			return fmt.Errorf("queue %+v", q)
		}
		return nil
	})
	processed := 0
	for _, a := range e.allocs("sqs-workers") {
		processed += strings.Count(e.logs(a.ID), "processed ")
		if a.ClientStatus == "failed" {
			t.Errorf("worker %s failed: %s", a.ID, a.ClientReason)
		}
	}
	if processed != 40 {
		t.Errorf("the SQS workers logged %d messages processed, want 40", processed)
	}
}

// TestE2ETopicFeedsDispatch: a topic with a filtered subscription feeds a
// dispatch job, which runs one real container per matching event.
func TestE2ETopicFeedsDispatch(t *testing.T) {
	e := startE2E(t)
	e.run(`
queue "paid" {}

topic "orders" {
  subscription {
    queue         = "paid"
    raw           = true
    filter_policy = jsonencode({ kind = ["paid"] })
  }
}

job "bill" {
  type  = "dispatch"
  queue = "paid"
  task "main" {
    image = "IMAGE"
    args  = ["cat", "/docket/message"]
  }
}
`)
	ctx := context.Background()
	want := map[string]bool{}
	for i, kind := range []string{"paid", "refund", "paid", "cancelled", "paid"} {
		body := fmt.Sprintf("order %d %s", i, kind)
		res, err := e.cl.Publish(ctx, "orders", api.PublishRequest{Message: body,
			Attributes: map[string]api.MessageAttribute{"kind": {Type: "String", Value: kind}}})
		if err != nil {
			t.Fatal(err)
		}
		if (res.Delivered == 1) != (kind == "paid") {
			t.Fatalf("publish %q: %+v", body, res)
		}
		if kind == "paid" {
			want[body] = true
		}
	}
	e.waitFor(time.Minute, func() error {
		if q := e.queue("paid"); q.Deleted != 3 {
			return fmt.Errorf("queue paid %+v", q)
		}
		return nil
	})
	allocs := e.allocs("bill")
	if len(allocs) != 3 {
		t.Fatalf("%d allocations, want one per paid order", len(allocs))
	}
	for _, a := range allocs {
		logs := e.logs(a.ID)
		if !want[logs] {
			t.Errorf("allocation %s printed %q", a.ID, logs)
		}
		delete(want, logs)
	}
}
