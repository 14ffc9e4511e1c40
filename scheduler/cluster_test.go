package scheduler_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docketd/docket/internal/acltest"
	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/httpapi"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

var waitFor = polltest.WaitFor

// newCluster starts a server with the given config on a loopback port,
// its ACL bootstrapped; the client and the address it returns present
// the management token and acltest's node secret on every request that
// has none of its own.
func newCluster(t testing.TB, cfg scheduler.Config) (*scheduler.Server, *api.Client, string) {
	t.Helper()
	s, _, token := newSecureCluster(t, cfg)
	hs := httptest.NewServer(acltest.Credentials(httpapi.New(s).Handler(), token))
	t.Cleanup(hs.Close)
	return s, api.NewClient(hs.URL), hs.URL
}

// trustedClient serves s's API on a loopback port, its ACL bootstrapped,
// and returns a client whose requests carry the management token and
// acltest's node secret.
func trustedClient(t testing.TB, s *scheduler.Server) *api.Client {
	t.Helper()
	boot, err := s.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(acltest.Credentials(httpapi.New(s).Handler(), boot.SecretID))
	t.Cleanup(hs.Close)
	return api.NewClient(hs.URL)
}

// newSecureCluster starts a server with the given config on a loopback
// port and bootstraps its ACL; it returns the server's address, which
// adds no credentials, and the management token.
func newSecureCluster(t testing.TB, cfg scheduler.Config) (*scheduler.Server, string, string) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(s).Handler())
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
	})
	boot, err := s.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, hs.URL, boot.SecretID
}

// newTestServer starts a Server with its real API on a loopback port.
func newTestServer(t testing.TB) (*scheduler.Server, *api.Client, string) {
	t.Helper()
	return newCluster(t, scheduler.Config{})
}

// call sends a raw request and returns the status and body.
func call(t testing.TB, base, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// fakeNode registers a node and heartbeats for it until stopped; it plays
// the agent's part of reporting allocations running.
type fakeNode struct {
	id   string
	stop chan struct{}
	once sync.Once
}

func startNode(t testing.TB, cl *api.Client, id string, cpu, mem int64, meta map[string]string, class string) *fakeNode {
	t.Helper()
	ctx := context.Background()
	res, err := cl.RegisterNode(ctx, api.RegisterNodeRequest{ID: id, Name: id, OS: "linux", Arch: "amd64", CPU: cpu, Memory: mem, Meta: meta, Class: class})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{id: id, stop: make(chan struct{})}
	go func() {
		tick := time.NewTicker(res.HeartbeatInterval / 2)
		defer tick.Stop()
		for {
			select {
			case <-n.stop:
				return
			case <-tick.C:
				cl.Heartbeat(ctx, id, api.HeartbeatRequest{Healthy: true})
			}
		}
	}()
	t.Cleanup(n.halt)
	return n
}

func (n *fakeNode) halt() { n.once.Do(func() { close(n.stop) }) }

// runAll reports every pending allocation as running, like agents would.
func runAll(t testing.TB, cl *api.Client, job string) {
	t.Helper()
	allocs, _, err := cl.Allocations(context.Background(), job, "", "pending", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range allocs {
		if a.DesiredStatus != "run" {
			continue
		}
		if err := cl.UpdateAllocStatus(context.Background(), a.ID, api.AllocStatusRequest{ClientStatus: "running"}); err != nil {
			t.Fatal(err)
		}
	}
}

// liveAllocs returns the job's allocations that should run and have not
// finished, by node.
func liveAllocs(t testing.TB, cl *api.Client, job string) map[string]int {
	t.Helper()
	allocs, _, err := cl.Allocations(context.Background(), job, "", "", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, a := range allocs {
		if a.DesiredStatus == "run" && (a.ClientStatus == "pending" || a.ClientStatus == "running") {
			out[a.NodeID]++
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func postHCL(t testing.TB, base, src string, query string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/jobs"+query, strings.NewReader(src))
	req.Header.Set("Content-Type", "application/hcl")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, []byte(b.String())
}

const webJob = `
variable "n" {
  type    = number
  default = 3
}

job "web" {
  count = var.n

  constraint {
    attribute = "node.class"
    value     = "general"
  }

  spread {
    attribute = "node.meta.zone"
  }

  task "app" {
    image = "oci-archive:/images/app.tar"
    resources {
      cpu    = 500
      memory = 256
    }
  }
}
`

func TestJobLifecycle(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	startNode(t, cl, "a1", 4000, 4096, map[string]string{"zone": "a"}, "general")
	startNode(t, cl, "b1", 4000, 4096, map[string]string{"zone": "b"}, "general")
	startNode(t, cl, "gpu", 4000, 4096, map[string]string{"zone": "c"}, "gpu")

	status, body := postHCL(t, base, webJob, "?var=n=4")
	if status != 200 {
		t.Fatalf("register: %d %s", status, body)
	}
	var reg api.RegisterResponse
	json.Unmarshal(body, &reg)
	if len(reg.Jobs) != 1 || reg.Jobs[0].Version != 1 || reg.Jobs[0].Evaluation == "" {
		t.Fatalf("register answer %s", body)
	}
	waitFor(t, 5*time.Second, func() error {
		live := liveAllocs(t, cl, "web")
		if total(live) != 4 {
			return fmt.Errorf("live allocations %v, want 4", live)
		}
		if live["gpu"] != 0 || live["a1"] != 2 || live["b1"] != 2 {
			return fmt.Errorf("placed %v, want 2 on a1 and 2 on b1 (constraint and spread)", live)
		}
		return nil
	})
	runAll(t, cl, "web")
	st, _, err := cl.Job(context.Background(), "web", api.QueryOptions{})
	if err != nil || st.Running != 4 || st.LatestEval == nil {
		t.Fatalf("job status %+v, %v; want 4 running", st, err)
	}

	// Registering the same file again changes nothing.
	_, body = postHCL(t, base, webJob, "?var=n=4")
	reg = api.RegisterResponse{}
	json.Unmarshal(body, &reg)
	if reg.Jobs[0].Changed || reg.Jobs[0].Evaluation != "" {
		t.Fatalf("same file again: %s; want unchanged and no evaluation", body)
	}

	// Scale in, then stop, then purge.
	if _, err := cl.ScaleJob(context.Background(), "web", 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := total(liveAllocs(t, cl, "web")); n != 2 {
			return fmt.Errorf("%d live allocations, want 2", n)
		}
		return nil
	})
	if _, err := cl.StopJob(context.Background(), "web", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := total(liveAllocs(t, cl, "web")); n != 0 {
			return fmt.Errorf("%d live allocations after stop, want 0", n)
		}
		return nil
	})
	if _, err := cl.StopJob(context.Background(), "web", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Job(context.Background(), "web", api.QueryOptions{}); err == nil {
		t.Fatal("purged job still answers")
	}
}

func TestRegisterBadJobs(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	if _, err := cl.CreateQueue(context.Background(), api.QueueSettings{Name: "existing"}); err != nil {
		t.Fatal(err)
	}
	status, body := postHCL(t, base, "job \"x\" {\n  type = \"dispatch\"\n  queue = \"nope\"\n  task \"t\" {\n    image = \"\"\n  }\n}\n", "?filename=x.hcl")
	if status != 400 {
		t.Fatalf("invalid job: status %d, want 400", status)
	}
	var er api.ErrorResponse
	json.Unmarshal(body, &er)
	if er.Error.Code != "invalid_job" || len(er.Error.Diagnostics) < 2 {
		t.Fatalf("got %s, want invalid_job with diagnostics", body)
	}
	for _, d := range er.Error.Diagnostics {
		if d.File != "x.hcl" || d.Line == 0 || d.Column == 0 || d.Summary == "" {
			t.Errorf("diagnostic without a position: %+v", d)
		}
	}
	// A queue that exists on the server may be referenced.
	status, body = postHCL(t, base, "job \"x\" {\n  type = \"dispatch\"\n  queue = \"existing\"\n  task \"t\" {\n    image = \"i\"\n  }\n}\n", "")
	if status != 200 {
		t.Fatalf("job on an existing queue: %d %s", status, body)
	}
	// A conflicting queue fails the whole file: the job in it is not registered.
	status, body = postHCL(t, base, "queue \"existing\" {\n  visibility_timeout = \"5m\"\n}\njob \"y\" {\n  task \"t\" {\n    image = \"i\"\n  }\n}\n", "")
	json.Unmarshal(body, &er)
	if status != 409 || er.Error.Code != "queue_conflict" {
		t.Fatalf("conflicting queue: %d %s, want 409 queue_conflict", status, body)
	}
	if _, _, err := cl.Job(context.Background(), "y", api.QueryOptions{}); err == nil {
		t.Fatal("job y registered although its file was refused")
	}
	// JSON model with a problem.
	resp, err := http.Post(base+"/v1/jobs", "application/json", strings.NewReader(`{"jobs":[{"name":"Bad Name","tasks":[{"name":"t","image":"i"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if resp.StatusCode != 400 || er.Error.Code != "invalid_job" || !strings.Contains(er.Error.Message, "jobs[0]") {
		t.Fatalf("bad JSON job: %d %+v, want 400 invalid_job naming jobs[0]", resp.StatusCode, er.Error)
	}
	// Scaling a dispatch job is refused.
	if _, err := cl.ScaleJob(context.Background(), "x", 3); err == nil || !strings.Contains(err.Error(), "invalid_count") {
		t.Fatalf("scale a dispatch job: got %v, want invalid_count", err)
	}
}

func TestPlanChangesNothing(t *testing.T) {
	s, cl, base := newCluster(t, scheduler.Config{})
	startNode(t, cl, "a1", 4000, 4096, map[string]string{"zone": "a"}, "general")
	before := s.State().Index()
	status, body := postHCL(t, base, webJob, "?plan=true")
	if status != 200 {
		t.Fatalf("plan: %d %s", status, body)
	}
	var plan api.PlanResponse
	json.Unmarshal(body, &plan)
	if len(plan.Jobs) != 1 || plan.Jobs[0].Change != "create" || len(plan.Jobs[0].Place) != 3 {
		t.Fatalf("plan %s; want create with 3 placements", body)
	}
	for _, p := range plan.Jobs[0].Place {
		if p.NodeID != "a1" {
			t.Errorf("planned placement on %s, want a1", p.NodeID)
		}
	}
	if after := s.State().Index(); after != before {
		t.Fatalf("plan changed the state: index %d -> %d", before, after)
	}
	if _, _, err := cl.Job(context.Background(), "web", api.QueryOptions{}); err == nil {
		t.Fatal("plan registered the job")
	}
	// Plan of a change shows the diff.
	postHCL(t, base, webJob, "")
	_, body = postHCL(t, base, webJob, "?plan=true&var=n=5")
	json.Unmarshal(body, &plan)
	if plan.Jobs[0].Change != "update" || len(plan.Jobs[0].Diff) != 1 || !strings.Contains(plan.Jobs[0].Diff[0], "count: 3 -> 5") {
		t.Fatalf("plan of a change: %s", body)
	}
}

func TestBlockedEvaluationRetriesWhenCapacityArrives(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	startNode(t, cl, "small", 8000, 21*1024, nil, "")
	big := strings.Replace(strings.Replace(webJob, "memory = 256", "memory = 65536", 1), `value     = "general"`, `operator = "!="
    value     = "none"`, 1)
	if status, body := postHCL(t, base, big, "?var=n=1"); status != 200 {
		t.Fatalf("register: %d %s", status, body)
	}
	waitFor(t, 5*time.Second, func() error {
		st, _, err := cl.Job(context.Background(), "web", api.QueryOptions{})
		if err != nil {
			return err
		}
		if st.LatestEval == nil || st.LatestEval.Status != "blocked" {
			return fmt.Errorf("latest evaluation %+v, want blocked", st.LatestEval)
		}
		if want := "no node has 64 GiB free memory; largest free: 21 GiB"; st.LatestEval.BlockedReason != want {
			return fmt.Errorf("blocked reason %q, want %q", st.LatestEval.BlockedReason, want)
		}
		return nil
	})
	startNode(t, cl, "big", 8000, 128*1024, nil, "")
	waitFor(t, 5*time.Second, func() error {
		if live := liveAllocs(t, cl, "web"); live["big"] != 1 {
			return fmt.Errorf("live allocations %v, want 1 on big", live)
		}
		return nil
	})
}

func TestNodeLossReplacesAllocations(t *testing.T) {
	ttl, grace := 300*time.Millisecond, 200*time.Millisecond
	_, cl, _ := newCluster(t, scheduler.Config{HeartbeatTTL: ttl, HeartbeatGrace: grace})
	a := startNode(t, cl, "a1", 2000, 2048, map[string]string{"zone": "a"}, "general")
	startNode(t, cl, "b1", 2000, 2048, map[string]string{"zone": "b"}, "general")
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, webJob, map[string]string{"n": "2"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if live := liveAllocs(t, cl, "web"); live["a1"] != 1 || live["b1"] != 1 {
			return fmt.Errorf("live %v, want one on each node", live)
		}
		return nil
	})
	runAll(t, cl, "web")
	a.halt()
	lostAt := time.Now()
	waitFor(t, 10*time.Second, func() error {
		n, err := cl.Node(context.Background(), "a1")
		if err != nil {
			return err
		}
		if n.Status != "down" {
			return fmt.Errorf("a1 is %s, want down", n.Status)
		}
		if live := liveAllocs(t, cl, "web"); live["b1"] != 2 || live["a1"] != 0 {
			return fmt.Errorf("live %v, want both on b1", live)
		}
		return nil
	})
	t.Logf("node loss to replacement: %s (ttl %s + grace %s)", time.Since(lostAt).Round(time.Millisecond), ttl, grace)
	lost, _, _ := cl.Allocations(context.Background(), "web", "a1", "lost", api.QueryOptions{})
	if len(lost) != 1 || lost[0].DesiredStatus != "stop" {
		t.Fatalf("allocations on the lost node: %+v, want one lost and told to stop", lost)
	}
	// The node comes back: it re-registers and is told to stop its old allocation.
	hb, err := cl.Heartbeat(context.Background(), "a1", api.HeartbeatRequest{Healthy: true})
	if err != nil || !hb.Reregister {
		t.Fatalf("heartbeat of a down node: %+v, %v; want a re-register request", hb, err)
	}
	startNode(t, cl, "a1", 2000, 2048, map[string]string{"zone": "a"}, "general")
	// Its old allocation, lost and replaced, is no longer in its list: the
	// agent stops and removes containers of allocations it does not find.
	na, err := cl.NodeAllocations(context.Background(), "a1", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range na.Allocations {
		if a.ID == lost[0].ID || a.DesiredStatus == "run" && a.ClientStatus == "lost" {
			t.Fatalf("returning node's allocations carry the lost one: %+v", na.Allocations)
		}
	}
}

func TestDrainMigratesAllocations(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
	startNode(t, cl, "a1", 8000, 8192, map[string]string{"zone": "a"}, "general")
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, webJob, map[string]string{"n": "3"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := total(liveAllocs(t, cl, "web")); n != 3 {
			return fmt.Errorf("%d live, want 3", n)
		}
		return nil
	})
	runAll(t, cl, "web")
	startNode(t, cl, "b1", 8000, 8192, map[string]string{"zone": "b"}, "general")
	if _, err := cl.DrainNode(context.Background(), "a1", api.DrainRequest{Enable: true}); err != nil {
		t.Fatal(err)
	}
	// With max_parallel 1 the drain moves one allocation at a time: each
	// replacement must run before the next moves.
	for moved := 1; moved <= 3; moved++ {
		waitFor(t, 5*time.Second, func() error {
			live := liveAllocs(t, cl, "web")
			if live["b1"] != moved {
				return fmt.Errorf("live %v, want %d on b1", live, moved)
			}
			return nil
		})
		live := liveAllocs(t, cl, "web")
		if live["a1"] < 3-moved-0 && total(live) < 2 {
			t.Fatalf("live %v: more than max_parallel allocations down at once", live)
		}
		// Old allocations that were told to stop finish.
		allocs, _, _ := cl.Allocations(context.Background(), "web", "a1", "", api.QueryOptions{})
		for _, a := range allocs {
			if a.DesiredStatus == "stop" && a.ClientStatus == "running" {
				cl.UpdateAllocStatus(context.Background(), a.ID, api.AllocStatusRequest{ClientStatus: "complete"})
			}
		}
		runAll(t, cl, "web")
	}
}

func TestBlockingQueryAndEvents(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	startNode(t, cl, "a1", 8000, 8192, map[string]string{"zone": "a"}, "general")
	first, err := cl.NodeAllocations(context.Background(), "a1", api.QueryOptions{})
	if err != nil || first.Index == 0 {
		t.Fatalf("node allocations: %+v, %v", first, err)
	}
	got := make(chan *api.NodeAllocations, 1)
	go func() {
		na, err := cl.NodeAllocations(context.Background(), "a1", api.QueryOptions{Index: first.Index, Wait: time.Minute})
		if err != nil {
			t.Error(err)
		}
		got <- na
	}()
	resp, err := http.Get(base + "/v1/events?topic=Allocation&index=" + fmt.Sprint(first.Index))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, webJob, map[string]string{"n": "1"})); err != nil {
		t.Fatal(err)
	}
	na := <-got
	if len(na.Allocations) != 1 || na.Index <= first.Index || na.Allocations[0].Job == nil || na.Allocations[0].Job.Spec.Tasks[0].Name != "app" {
		t.Fatalf("blocking query answered %+v; want the new allocation with its job", na)
	}
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var ev state.Event
	if err := json.Unmarshal(line, &ev); err != nil || ev.Topic != "Allocation" || ev.Type != "AllocationPlaced" {
		t.Fatalf("event line %s: want an AllocationPlaced event", line)
	}
}

// TestConcurrentEvaluationsNeverOvercommit registers many jobs at once on
// a few nodes with several workers, and checks on every view of the state
// taken meanwhile that no node holds more than its capacity.
func TestConcurrentEvaluationsNeverOvercommit(t *testing.T) {
	s, cl, _ := newCluster(t, scheduler.Config{Workers: 4})
	for i := 0; i < 3; i++ {
		startNode(t, cl, fmt.Sprintf("n%d", i), 2000, 2048, map[string]string{"zone": fmt.Sprint(i)}, "general")
	}
	stop := make(chan struct{})
	checked := make(chan int)
	go func() {
		views := 0
		for {
			select {
			case <-stop:
				checked <- views
				return
			default:
			}
			s.State().View(func(rd *state.Reader) {
				for _, n := range rd.Nodes() {
					if cpu, mem := rd.NodeUsage(n.ID); cpu > n.CPU || mem > n.Memory {
						t.Errorf("node %s over-committed: %d/%d cpu, %d/%d memory", n.ID, cpu, n.CPU, mem, n.Memory)
					}
				}
			})
			views++
		}
	}()
	var wg sync.WaitGroup
	for j := 0; j < 12; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := strings.Replace(webJob, `job "web"`, fmt.Sprintf(`job "web%d"`, j), 1)
			if _, err := cl.RegisterJobs(context.Background(), parseFile(t, src, map[string]string{"n": "2"})); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// 3 nodes × 4 allocations of 500 millicores = 12 of the 24 asked for.
	waitFor(t, 10*time.Second, func() error {
		placed := 0
		s.State().View(func(rd *state.Reader) {
			for _, a := range rd.Allocs("", "", "") {
				if a.Live() {
					placed++
				}
			}
		})
		if placed != 12 {
			return fmt.Errorf("%d placed, want 12 (the capacity)", placed)
		}
		return nil
	})
	close(stop)
	if views := <-checked; views == 0 {
		t.Fatal("checked no view")
	}
}

func parseFile(t testing.TB, src string, vars map[string]string) *specs.File {
	t.Helper()
	f, diags := specs.Parse("test.hcl", []byte(src), specs.ParseOptions{Vars: vars})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return f
}

// TestRollingUpdate changes a job and checks that its allocations are
// replaced update.max_parallel at a time, each batch only after the
// previous one runs.
func TestRollingUpdate(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
	startNode(t, cl, "a1", 16000, 16384, map[string]string{"zone": "a"}, "general")
	src := strings.Replace(webJob, `  task "app" {`, "  update {\n    max_parallel = 2\n  }\n\n  task \"app\" {", 1)
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, src, map[string]string{"n": "5"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := total(liveAllocs(t, cl, "web")); n != 5 {
			return fmt.Errorf("%d live", n)
		}
		return nil
	})
	runAll(t, cl, "web")
	changed := strings.Replace(src, "cpu    = 500", "cpu    = 400", 1)
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, changed, map[string]string{"n": "5"})); err != nil {
		t.Fatal(err)
	}
	batches := 0
	for round := 0; ; round++ {
		if round > 10 {
			t.Fatal("the update did not finish in 10 rounds")
		}
		var allocs []api.Allocation
		// Wait for the scheduler to place this round's batch.
		waitFor(t, 5*time.Second, func() error {
			var err error
			allocs, _, err = cl.Allocations(context.Background(), "web", "", "", api.QueryOptions{})
			if err != nil {
				return err
			}
			pending := 0
			for _, a := range allocs {
				if a.DesiredStatus == "run" && a.ClientStatus == "pending" {
					pending++
				}
			}
			if pending == 0 {
				return fmt.Errorf("no new allocations placed in round %d", round)
			}
			return nil
		})
		oldRunning, newPending, stopping := 0, 0, 0
		for _, a := range allocs {
			switch {
			case a.DesiredStatus == "run" && a.JobVersion == 1 && a.ClientStatus == "running":
				oldRunning++
			case a.DesiredStatus == "run" && a.JobVersion == 2 && a.ClientStatus == "pending":
				newPending++
			case a.DesiredStatus == "stop" && a.ClientStatus == "running":
				stopping++
			}
		}
		if newPending > 0 {
			batches++
		}
		if newPending > 2 || stopping > 2 {
			t.Fatalf("round %d: %d new pending and %d old stopping at once, want at most max_parallel = 2", round, newPending, stopping)
		}
		if oldRunning == 0 && newPending == 0 {
			break
		}
		// The agent's part: old ones finish, new ones run.
		for _, a := range allocs {
			if a.DesiredStatus == "stop" && a.ClientStatus == "running" {
				cl.UpdateAllocStatus(context.Background(), a.ID, api.AllocStatusRequest{ClientStatus: "complete"})
			}
		}
		runAll(t, cl, "web")
		if oldRunning == 0 {
			break
		}
	}
	waitFor(t, 5*time.Second, func() error {
		allocs, _, _ := cl.Allocations(context.Background(), "web", "", "", api.QueryOptions{})
		live := 0
		for _, a := range allocs {
			if a.DesiredStatus == "run" && !strings.Contains("complete failed lost", a.ClientStatus) {
				if a.JobVersion != 2 {
					return fmt.Errorf("allocation %s still at version %d", a.ID, a.JobVersion)
				}
				live++
			}
		}
		if live != 5 {
			return fmt.Errorf("%d live allocations, want 5 of version 2", live)
		}
		return nil
	})
	if batches < 3 {
		t.Fatalf("the update went in %d batches, want at least 3 (5 allocations, 2 at a time)", batches)
	}
}

func TestGarbageCollectionKeepsWhatStillMatters(t *testing.T) {
	s, cl, _ := newCluster(t, scheduler.Config{})
	startNode(t, cl, "a1", 8000, 8192, map[string]string{"zone": "a"}, "general")
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, webJob, map[string]string{"n": "2"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := total(liveAllocs(t, cl, "web")); n != 2 {
			return fmt.Errorf("%d live", n)
		}
		return nil
	})
	allocs, _, _ := cl.Allocations(context.Background(), "web", "", "", api.QueryOptions{})
	if err := cl.UpdateAllocStatus(context.Background(), allocs[0].ID, api.AllocStatusRequest{ClientStatus: "failed"}); err != nil {
		t.Fatal(err)
	}
	// Nothing is old enough yet.
	if n, err := s.Collect(time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("collect with an hour's age: %d, %v; want 0", n, err)
	}
	n, err := s.Collect(time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("collect: %d, %v; want the failed allocation", n, err)
	}
	if _, err := cl.Allocation(context.Background(), allocs[0].ID); err == nil {
		t.Fatal("the collected allocation still answers")
	}
	if _, err := cl.Allocation(context.Background(), allocs[1].ID); err != nil {
		t.Fatalf("a running allocation was collected: %v", err)
	}
	na, _ := cl.NodeAllocations(context.Background(), "a1", api.QueryOptions{})
	for _, a := range na.Allocations {
		if a.ClientStatus == "failed" || a.ClientStatus == "complete" {
			t.Errorf("the node's list carries ended allocation %s", a.ID)
		}
	}
}

// An agent's own status report does not wake its watch of the node's
// allocations; the same report from anyone else (an operator, another
// node) does, since the agent has not seen it.
func TestOwnReportDoesNotWakeTheAgent(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
	startNode(t, cl, "n1", 4000, 4096, nil, "")
	ctx := context.Background()
	if _, err := cl.RegisterJobs(ctx, parseFile(t, `
job "svc" {
  task "t" {
    image = "oci-archive:/x.tar"
  }
}
`, nil)); err != nil {
		t.Fatal(err)
	}
	var alloc string
	var index uint64
	waitFor(t, 5*time.Second, func() error {
		na, err := cl.NodeAllocations(ctx, "n1", api.QueryOptions{})
		if err != nil || len(na.Allocations) != 1 {
			return fmt.Errorf("allocations %+v, %v; want 1", na, err)
		}
		alloc, index = na.Allocations[0].ID, na.Index
		return nil
	})
	report := func(node, reason string) uint64 {
		t.Helper()
		if err := cl.UpdateAllocStatus(ctx, alloc, api.AllocStatusRequest{ClientStatus: "running", ClientReason: reason, Node: node}); err != nil {
			t.Fatal(err)
		}
		na, err := cl.NodeAllocations(ctx, "n1", api.QueryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return na.Index
	}
	if got := report("n1", "own"); got != index {
		t.Errorf("the node's own report moved its view from %d to %d", index, got)
	}
	for _, node := range []string{"", "n2"} {
		if got := report(node, "from "+node); got <= index {
			t.Errorf("a report from %q left the node's view at %d", node, got)
		} else {
			index = got
		}
	}
}
