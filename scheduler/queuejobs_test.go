package scheduler_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
)

const dispatchJob = `
queue "in" {
  visibility_timeout = "30s"
  max_receives       = 2
  dead_letter        = "in-dead"
}

queue "in-dead" {}

job "work" {
  type  = "dispatch"
  queue = "in"

  scaling {
    max = 2
  }

  task "t" {
    image = "oci-archive:/x.tar"
    retry {
      delay     = "1s"
      max_delay = "1s"
    }
  }
}
`

// pendingDispatches waits for a node's dispatch allocations waiting to
// start, and returns them.
func pendingDispatches(t *testing.T, cl *api.Client, node string) []api.NodeAllocation {
	t.Helper()
	var running []api.NodeAllocation
	waitFor(t, 5*time.Second, func() error {
		na, err := cl.NodeAllocations(context.Background(), node, api.QueryOptions{})
		if err != nil {
			return err
		}
		running = running[:0]
		for _, a := range na.Allocations {
			if a.DesiredStatus == "run" && a.ClientStatus == "pending" {
				running = append(running, a)
			}
		}
		if len(running) == 0 {
			return fmt.Errorf("no dispatch allocation pending")
		}
		return nil
	})
	return running
}

// finish reports a dispatch allocation's task as exited with code.
func finish(t *testing.T, cl *api.Client, id string, code int) {
	t.Helper()
	status := "complete"
	if code != 0 {
		status = "failed"
	}
	err := cl.UpdateAllocStatus(context.Background(), id, api.AllocStatusRequest{ClientStatus: status,
		Tasks: map[string]*api.TaskState{"t": {State: "dead", ExitCode: code, Failed: code != 0, Reason: fmt.Sprintf("exit code %d", code)}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDispatchOneAllocationPerMessage(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
	startNode(t, cl, "n1", 8000, 8192, nil, "")
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, dispatchJob, nil)); err != nil {
		t.Fatal(err)
	}
	bodies := map[string]bool{}
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf("message %d", i)
		bodies[body] = true
		if _, err := cl.Send(context.Background(), "in", api.SendMessage{Body: body, Attributes: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < 5 {
		running := pendingDispatches(t, cl, "n1")
		if len(running) > 2 {
			t.Fatalf("%d allocations at once, want at most scaling.max = 2", len(running))
		}
		for _, a := range running {
			if a.Message == nil || a.Dispatch == nil || !bodies[a.Message.Body] || a.Message.Attributes["n"] == "" {
				t.Fatalf("allocation %s carries message %+v", a.ID, a.Message)
			}
			if seen[a.Message.Body] {
				t.Fatalf("message %q dispatched twice", a.Message.Body)
			}
			seen[a.Message.Body] = true
			finish(t, cl, a.ID, 0)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		q, err := cl.Queue(context.Background(), "in")
		if err != nil {
			return err
		}
		if q.Stats.Visible+q.Stats.InFlight != 0 || q.Stats.Deleted != 5 {
			return fmt.Errorf("queue %+v, want empty with 5 deleted", q.Stats)
		}
		return nil
	})
}

func TestDispatchFailureRetriesThenDeadLetters(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
	startNode(t, cl, "n1", 8000, 8192, nil, "")
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, dispatchJob, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Send(context.Background(), "in", api.SendMessage{Body: "poison"}); err != nil {
		t.Fatal(err)
	}
	var attempts []time.Time
	for attempt := 1; attempt <= 2; attempt++ {
		var id string
		waitFor(t, 10*time.Second, func() error {
			allocs, _, err := cl.Allocations(context.Background(), "work", "", "pending", api.QueryOptions{})
			if err != nil || len(allocs) == 0 {
				return fmt.Errorf("attempt %d: no allocation yet (%v)", attempt, err)
			}
			if allocs[0].Dispatch.ReceiveCount != attempt {
				return fmt.Errorf("receive count %d, want %d", allocs[0].Dispatch.ReceiveCount, attempt)
			}
			id = allocs[0].ID
			return nil
		})
		attempts = append(attempts, time.Now())
		finish(t, cl, id, 3)
	}
	if gap := attempts[1].Sub(attempts[0]); gap < time.Second {
		t.Errorf("second attempt %s after the first, want at least the retry delay of 1s", gap)
	}
	waitFor(t, 10*time.Second, func() error {
		dq, err := cl.Queue(context.Background(), "in-dead")
		if err != nil {
			return err
		}
		if dq.Stats.Visible != 1 {
			return fmt.Errorf("dead-letter queue %+v, want the message", dq.Stats)
		}
		return nil
	})
	zero := specsDuration(0)
	msgs, err := cl.Receive(context.Background(), "in-dead", api.ReceiveRequest{Wait: &zero})
	if err != nil || len(msgs) != 1 {
		t.Fatal(msgs, err)
	}
	m := msgs[0]
	if m.Body != "poison" || m.SourceQueue != "in" || m.Attributes["docket.failure.exit_code"] != "3" ||
		!strings.Contains(m.Attributes["docket.failure.reason"], "exit code 3") || m.Attributes["docket.failure.alloc"] == "" {
		t.Fatalf("dead-lettered message %+v, want the failure in its attributes", m)
	}
}

const scaledJob = `
queue "jobs" {
  visibility_timeout = "1h"
}

job "workers" {
  type  = "service"
  queue = "jobs"

  scaling {
    min               = 0
    max               = 4
    messages_per_task = 2
    cooldown          = "300ms"
  }

  task "w" {
    image = "oci-archive:/x.tar"
  }
}
`

func TestServiceScalesOnBacklogAndStopsIdleWorkersFirst(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	startNode(t, cl, "n1", 8000, 8192, nil, "")
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, scaledJob, nil)); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		st, _, err := cl.Job(context.Background(), "workers", api.QueryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return st.Count
	}
	if n := count(); n != 0 {
		t.Fatalf("idle job count %d, want 0", n)
	}
	for i := 0; i < 5; i++ {
		cl.Send(context.Background(), "jobs", api.SendMessage{Body: fmt.Sprint(i)})
	}
	waitFor(t, 5*time.Second, func() error {
		if n := total(liveAllocs(t, cl, "workers")); n != 3 {
			return fmt.Errorf("%d workers, want ceil(5/2) = 3", n)
		}
		return nil
	})
	runAll(t, cl, "workers")
	// One worker takes a message and holds it; the rest are drained by
	// an anonymous consumer.
	na, err := cl.NodeAllocations(context.Background(), "n1", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var busy api.NodeAllocation
	for _, a := range na.Allocations {
		if a.DesiredStatus == "run" {
			busy = a
			break
		}
	}
	if busy.QueueToken == "" {
		t.Fatalf("worker allocation %+v has no queue token", busy.Allocation)
	}
	req, _ := http.NewRequest("POST", base+"/v1/queues/jobs/receive", strings.NewReader(`{"max":1}`))
	req.Header.Set("X-Docket-Token", busy.QueueToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("worker receive: %v %v", resp, err)
	}
	resp.Body.Close()
	req.Header.Set("X-Docket-Token", busy.QueueToken+"x")
	req.Body = http.NoBody
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged token: %v %v, want 401", resp, err)
	}
	zero := specsDuration(0)
	for {
		msgs, _ := cl.Receive(context.Background(), "jobs", api.ReceiveRequest{Max: 10, Wait: &zero})
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			cl.Delete(context.Background(), "jobs", m.Receipt)
		}
	}
	// Backlog 1 (the busy worker's message): after the cooldown, one worker
	// — and it must be the busy one.
	waitFor(t, 5*time.Second, func() error {
		live := liveAllocs(t, cl, "workers")
		if total(live) != 1 {
			return fmt.Errorf("%d workers, want 1", total(live))
		}
		a, err := cl.Allocation(context.Background(), busy.ID)
		if err != nil {
			return err
		}
		if a.DesiredStatus != "run" {
			t.Fatalf("scale-in stopped the worker holding a message")
		}
		return nil
	})
	// The busy worker dies: its message is visible again at once.
	if err := cl.UpdateAllocStatus(context.Background(), busy.ID, api.AllocStatusRequest{ClientStatus: "failed"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		q, _ := cl.Queue(context.Background(), "jobs")
		if q.Stats.Visible != 1 {
			return fmt.Errorf("queue %+v, want the dead worker's message visible", q.Stats)
		}
		return nil
	})
	msgs, _ := cl.Receive(context.Background(), "jobs", api.ReceiveRequest{Max: 10, Wait: &zero})
	for _, m := range msgs {
		cl.Delete(context.Background(), "jobs", m.Receipt)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := count(); n != 0 {
			return fmt.Errorf("count %d after the queue drained, want 0", n)
		}
		return nil
	})
}

// A dispatch task's start is measured also when the agent's first report
// is already the final one (a task that ran shorter than the agent's
// report delay), and not for a task that never started.
func TestDispatchMessageToStartFromFinalReport(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	startNode(t, cl, "n1", 8000, 8192, nil, "")
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, dispatchJob, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Send(context.Background(), "in", api.SendMessage{Body: "quick"}, api.SendMessage{Body: "never started"}); err != nil {
		t.Fatal(err)
	}
	var allocs []api.NodeAllocation
	waitFor(t, 5*time.Second, func() error {
		na, err := cl.NodeAllocations(context.Background(), "n1", api.QueryOptions{})
		if err != nil {
			return err
		}
		allocs = na.Allocations
		if len(allocs) != 2 {
			return fmt.Errorf("%d allocations, want 2", len(allocs))
		}
		return nil
	})
	for _, a := range allocs {
		req := api.AllocStatusRequest{ClientStatus: "failed", Tasks: map[string]*api.TaskState{"t": {State: "dead", ExitCode: -1, Failed: true, Reason: "image not found"}}}
		if a.Message.Body == "quick" {
			req = api.AllocStatusRequest{ClientStatus: "complete", Tasks: map[string]*api.TaskState{"t": {State: "dead",
				StartedAt: time.Now().UTC(), FinishedAt: time.Now().UTC()}}}
		}
		if err := cl.UpdateAllocStatus(context.Background(), a.ID, req); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		_, body := call(t, base, "GET", "/metrics", "")
		if want := "docket_dispatch_message_to_start_seconds_count 1\n"; !strings.Contains(string(body), want) {
			return fmt.Errorf("metrics lack %q:\n%s", want, grepMetric(body, "docket_dispatch_message_to_start_seconds_count"))
		}
		return nil
	})
}

func grepMetric(body []byte, name string) string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, name) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A dispatch job on a FIFO queue runs one task at a time per message
// group, in the group's order, and groups in parallel.
func TestDispatchFIFOOneTaskPerGroup(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
	startNode(t, cl, "n1", 8000, 8192, nil, "")
	job := `
queue "in.fifo" {
  fifo                        = true
  content_based_deduplication = true
}

job "work" {
  type  = "dispatch"
  queue = "in.fifo"
  scaling {
    max = 4
  }
  task "t" {
    image = "oci-archive:/x.tar"
  }
}
`
	if _, err := cl.RegisterJobs(context.Background(), parseFile(t, job, nil)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, g := range []string{"a", "b"} {
		for i := range 3 {
			body := fmt.Sprintf("%s%d", g, i)
			want[g] = append(want[g], body)
			if _, err := cl.Send(context.Background(), "in.fifo", api.SendMessage{Body: body, Group: g}); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := map[string][]string{}
	for done := 0; done < 6; {
		running := pendingDispatches(t, cl, "n1")
		groups := map[string]bool{}
		for _, a := range running {
			g := a.Message.Body[:1]
			if groups[g] {
				t.Fatalf("two tasks at once for group %s: %+v", g, running)
			}
			groups[g] = true
		}
		if done == 0 && len(running) != 2 {
			t.Errorf("%d tasks at first, want one per group (2)", len(running))
		}
		for _, a := range running {
			g := a.Message.Body[:1]
			got[g] = append(got[g], a.Message.Body)
			finish(t, cl, a.ID, 0)
			done++
		}
	}
	for g, bodies := range want {
		if strings.Join(got[g], ",") != strings.Join(bodies, ",") {
			t.Errorf("group %s ran %v, want %v", g, got[g], bodies)
		}
	}
}

// A fair queue's tenants are reported one by one; the receive took the
// oldest message, both tenants having nothing in flight.
func TestQueueGroupMetrics(t *testing.T) {
	s, cl, _ := newCluster(t, scheduler.Config{})
	ctx := context.Background()
	if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "shared"}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"noisy", "noisy", "noisy", "quiet"} {
		if _, err := cl.Send(ctx, "shared", api.SendMessage{Body: "m", Group: g}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Receive(ctx, "shared", api.ReceiveRequest{Max: 1}); err != nil {
		t.Fatal(err)
	}
	if n := metric(t, s, "docket_queue_groups", map[string]string{"queue": "shared"}); n != 2 {
		t.Errorf("docket_queue_groups = %v, want 2", n)
	}
	for labels, want := range map[[2]string]float64{{"noisy", "queued"}: 2, {"noisy", "in_flight"}: 1, {"quiet", "queued"}: 1, {"quiet", "in_flight"}: 0} {
		got := metric(t, s, "docket_queue_group_messages", map[string]string{"queue": "shared", "group": labels[0], "state": labels[1]})
		if got != want {
			t.Errorf("docket_queue_group_messages{group=%q,state=%q} = %v, want %v", labels[0], labels[1], got, want)
		}
	}
}
