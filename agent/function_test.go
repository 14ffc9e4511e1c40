package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/agent/runtimetest"
	"github.com/docketd/docket/scheduler/api"
)

// lambdaFake runs function environments on the fake runtime: each task
// with AWS_LAMBDA_RUNTIME_API gets, beside its fake process, a custom
// runtime in this process that polls the API as a real one does. The
// runtime echoes its event with the request id and the environment it
// saw; {"fail":msg} fails, {"sleep_ms":n} sleeps, {"crash":true} kills its
// container; an SQS event's records whose body contains "bad" are
// reported failed.
type lambdaFake struct {
	*runtimetest.Fake
	starts atomic.Int64
	paused sync.Map // container id → true while paused
	pauses atomic.Int64
}

func (l *lambdaFake) Start(ctx context.Context, spec agent.TaskSpec) error {
	addr := spec.Env["AWS_LAMBDA_RUNTIME_API"]
	if addr == "" {
		return l.Fake.Start(ctx, spec)
	}
	spec.Command, spec.Args = nil, []string{"sleep", "1h"}
	if err := l.Fake.Start(ctx, spec); err != nil {
		return err
	}
	l.starts.Add(1)
	go l.runtime(spec, addr)
	return nil
}

func (l *lambdaFake) Pause(_ context.Context, id string) error {
	l.paused.Store(id, true)
	l.pauses.Add(1)
	return nil
}

func (l *lambdaFake) Resume(_ context.Context, id string) error {
	l.paused.Delete(id)
	return nil
}

// runtime is a custom runtime's loop, until its container ends.
func (l *lambdaFake) runtime(spec agent.TaskSpec, addr string) {
	base := "http://" + addr + "/2018-06-01/runtime/invocation/"
	ended := make(chan struct{})
	go func() {
		l.Fake.Wait(context.Background(), spec.ID)
		close(ended)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-ended
		cancel()
	}()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"next", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // the API is gone: a runtime exits
		}
		event, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return
		}
		if _, paused := l.paused.Load(spec.ID); paused {
			panic("an invocation reached a paused environment")
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		var in struct {
			Fail    string `json:"fail"`
			SleepMS int    `json:"sleep_ms"`
			Crash   bool   `json:"crash"`
			Records []struct {
				MessageID string `json:"messageId"`
				Body      string `json:"body"`
			} `json:"Records"`
		}
		json.Unmarshal(event, &in)
		if in.SleepMS > 0 {
			select {
			case <-time.After(time.Duration(in.SleepMS) * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
		if in.Crash {
			l.Fake.Stop(context.Background(), spec.ID, "SIGKILL", 0)
			return
		}
		path, body := base+id+"/response", []byte(nil)
		switch {
		case in.Fail != "":
			path = base + id + "/error"
			body, _ = json.Marshal(map[string]string{"errorType": "Handled", "errorMessage": in.Fail})
		case len(in.Records) > 0:
			var failures []map[string]string
			for _, r := range in.Records {
				if strings.Contains(r.Body, "bad") {
					failures = append(failures, map[string]string{"itemIdentifier": r.MessageID})
				}
			}
			body, _ = json.Marshal(map[string]any{"batchItemFailures": failures})
		default:
			body, _ = json.Marshal(map[string]any{
				"event": json.RawMessage(event), "request_id": id,
				"arn":      resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn"),
				"function": spec.Env["AWS_LAMBDA_FUNCTION_NAME"], "memory": spec.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
				"handler": spec.Env["_HANDLER"], "region": spec.Env["AWS_REGION"],
			})
		}
		post, _ := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
		resp, err = http.DefaultClient.Do(post)
		if err != nil {
			return
		}
		resp.Body.Close()
	}
}

func newFunctionCluster(t testing.TB) (*cluster, *lambdaFake) {
	c := newCluster(t)
	c.stop()
	lf := &lambdaFake{Fake: c.fake}
	c.startAgent(lf)
	return c, lf
}

func invoke(t *testing.T, c *cluster, name, payload string) *api.InvokeResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.cl.Invoke(ctx, name, api.InvokeRequest{Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("invoke %s %s: %v", name, payload, err)
	}
	return out
}

// A function scales from zero on its first invocation, answers it, and
// answers the next ones in the same (warm) environment; the runtime sees
// Lambda's environment, and a function error comes back as one.
func TestFunctionInvocations(t *testing.T) {
	c, lf := newFunctionCluster(t)
	c.run(`
job "echo" {
  type = "function"
  function {
    handler = "main"
    memory  = 192
  }
  task "fn" {
    image = "img"
  }
}`)
	out := invoke(t, c, "echo", `{"n":1}`)
	var got struct {
		Event                                  map[string]int `json:"event"`
		RequestID                              string         `json:"request_id"`
		ARN, Function, Memory, Handler, Region string
	}
	if err := json.Unmarshal(out.Payload, &got); err != nil || out.StatusCode != 200 || out.FunctionError != "" {
		t.Fatalf("invoke: %+v %s (%v)", out, out.Payload, err)
	}
	if got.Event["n"] != 1 || got.RequestID != out.RequestID || got.Function != "echo" || got.Memory != "192" ||
		got.Handler != "main" || got.Region != "us-east-1" || got.ARN != "arn:aws:lambda:us-east-1:000000000000:function:echo" {
		t.Errorf("the runtime saw %+v (request %s)", got, out.RequestID)
	}
	for i := 2; i <= 20; i++ {
		out := invoke(t, c, "echo", fmt.Sprintf(`{"n":%d}`, i))
		if !strings.Contains(string(out.Payload), fmt.Sprintf(`"n":%d`, i)) {
			t.Fatalf("invocation %d: %s", i, out.Payload)
		}
	}
	if n := lf.starts.Load(); n != 1 {
		t.Errorf("%d environments started for 20 sequential invocations, want 1 (warm reuse)", n)
	}
	out = invoke(t, c, "echo", `{"fail":"no good"}`)
	if out.FunctionError != api.FunctionErrorUnhandled || !strings.Contains(string(out.Payload), `"errorMessage":"no good"`) {
		t.Errorf("failed invocation: %+v %s", out, out.Payload)
	}
	fn, err := c.cl.Function(context.Background(), "echo")
	if err != nil || len(fn.Environments) != 1 || fn.Environments[0].Invocations != 21 || fn.Desired != 1 {
		t.Errorf("function: %+v, %v", fn, err)
	}
	// Idle, the environment is paused; the next invocation resumes it.
	waitFor(t, 5*time.Second, func() error {
		if lf.pauses.Load() == 0 {
			return fmt.Errorf("not paused")
		}
		return nil
	})
	invoke(t, c, "echo", `{}`)
	if _, err := c.cl.Invoke(context.Background(), "nope", api.InvokeRequest{}); !isStatus(err, 404) {
		t.Errorf("invoke of an unknown function: %v", err)
	}
}

func isStatus(err error, status int) bool {
	e, ok := err.(*api.Error)
	return ok && e.Status == status
}

// An invocation that runs past the function's timeout fails with "Task
// timed out", and its environment is replaced; a runtime that crashes
// fails its invocation and restarts; concurrent invocations run in as many
// environments, up to concurrency.max, beyond which they are throttled.
func TestFunctionTimeoutCrashAndConcurrency(t *testing.T) {
	c, lf := newFunctionCluster(t)
	c.run(`
job "slow" {
  type = "function"
  function {
    timeout = "1s"
    concurrency {
      max = 2
    }
  }
  task "fn" {
    image = "img"
  }
}`)
	invoke(t, c, "slow", `{}`)
	out := invoke(t, c, "slow", `{"sleep_ms":3000}`)
	if out.FunctionError == "" || !strings.Contains(string(out.Payload), "Task timed out after 1.00 seconds") {
		t.Fatalf("timed-out invocation: %+v %s", out, out.Payload)
	}
	if out := invoke(t, c, "slow", `{"n":2}`); out.FunctionError != "" {
		t.Fatalf("after the timeout: %s", out.Payload)
	}
	if n := lf.starts.Load(); n != 2 {
		t.Errorf("%d environment starts, want 2: the timed-out one is replaced", n)
	}
	out = invoke(t, c, "slow", `{"crash":true}`)
	if out.FunctionError == "" || !strings.Contains(string(out.Payload), "Runtime.ExitError") {
		t.Errorf("crashed invocation: %+v %s", out, out.Payload)
	}
	if out := invoke(t, c, "slow", `{"n":3}`); out.FunctionError != "" {
		t.Fatalf("after the crash: %s", out.Payload)
	}

	var wg sync.WaitGroup
	var ok, throttled atomic.Int64
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.cl.Invoke(context.Background(), "slow", api.InvokeRequest{Payload: []byte(`{"sleep_ms":600}`)})
			switch {
			case err == nil:
				ok.Add(1)
			case isStatus(err, 429):
				throttled.Add(1)
			default:
				t.Errorf("concurrent invoke: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() < 2 || throttled.Load() < 1 || ok.Load()+throttled.Load() != 5 {
		t.Errorf("5 concurrent invocations at concurrency.max 2: %d ran, %d throttled", ok.Load(), throttled.Load())
	}
	fn, _ := c.cl.Function(context.Background(), "slow")
	if fn.Desired > 2 {
		t.Errorf("desired %d environments, above concurrency.max 2", fn.Desired)
	}
}

// An asynchronous invocation is queued and answered 202, then runs.
func TestFunctionAsyncInvocation(t *testing.T) {
	c, _ := newFunctionCluster(t)
	c.run(`
job "ev" {
  type = "function"
  task "fn" {
    image = "img"
  }
}`)
	out, err := c.cl.Invoke(context.Background(), "ev", api.InvokeRequest{Payload: []byte(`{"n":1}`), Type: api.InvokeAsync})
	if err != nil || out.StatusCode != 202 || out.RequestID == "" {
		t.Fatalf("async invoke: %+v, %v", out, err)
	}
	waitFor(t, 10*time.Second, func() error {
		fn, err := c.cl.Function(context.Background(), "ev")
		if err != nil {
			return err
		}
		if len(fn.Environments) == 0 || fn.Environments[0].Invocations != 1 || fn.Queued != 0 {
			return fmt.Errorf("function %+v", fn)
		}
		return nil
	})
}

// A queue feeds a function in batches; the records it reports failed
// come back, and past max_receives they are dead-lettered; the rest are
// deleted.
func TestFunctionEventSource(t *testing.T) {
	c, _ := newFunctionCluster(t)
	c.run(`
queue "in" {
  max_receives = 2
  dead_letter  = "dlq"
}
queue "dlq" {
}
job "batches" {
  type  = "function"
  queue = "in"
  function {
    event_source {
      batch_size                 = 10
      batching_window            = "200ms"
      report_batch_item_failures = true
    }
  }
  task "fn" {
    image = "img"
    retry {
      delay = "1s"
    }
  }
}`)
	ctx := context.Background()
	var msgs []api.SendMessage
	for i := range 10 {
		body := fmt.Sprintf("ok-%d", i)
		if i%5 == 0 {
			body = fmt.Sprintf("bad-%d", i)
		}
		msgs = append(msgs, api.SendMessage{Body: body})
	}
	if _, err := c.cl.Send(ctx, "in", msgs...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() error {
		in, err := c.cl.Queue(ctx, "in")
		if err != nil {
			return err
		}
		dlq, err := c.cl.Queue(ctx, "dlq")
		if err != nil {
			return err
		}
		if in.Stats.Visible+in.Stats.InFlight+in.Stats.Delayed != 0 || dlq.Stats.Visible != 2 {
			return fmt.Errorf("in %+v, dlq %+v", in.Stats, dlq.Stats)
		}
		return nil
	})
	got, err := c.cl.Receive(ctx, "dlq", api.ReceiveRequest{Max: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("dead letters: %+v, %v", got, err)
	}
	for _, m := range got {
		if !strings.HasPrefix(m.Body, "bad-") {
			t.Errorf("dead-lettered %q", m.Body)
		}
	}
}

// A topic delivers to a subscribed function, as Lambda's SNS event; an
// unknown function cannot be subscribed, nor one the caller cannot invoke.
func TestFunctionTopicSubscription(t *testing.T) {
	c, _ := newFunctionCluster(t)
	c.run(`
job "notify" {
  type = "function"
  task "fn" {
    image = "img"
  }
}`)
	ctx := context.Background()
	if _, err := c.cl.CreateTopic(ctx, api.TopicSettings{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	sub, err := c.cl.Subscribe(ctx, "events", api.SubscribeRequest{Protocol: "lambda", Endpoint: "notify"})
	if err != nil || sub.Pending || sub.Endpoint != "arn:aws:lambda:us-east-1:000000000000:function:notify" {
		t.Fatalf("subscribe: %+v, %v", sub, err)
	}
	if _, err := c.cl.Subscribe(ctx, "events", api.SubscribeRequest{Protocol: "lambda", Endpoint: "missing"}); !isStatus(err, 400) {
		t.Errorf("subscribing an unknown function: %v, want 400", err)
	}
	if _, err := c.cl.Subscribe(ctx, "events", api.SubscribeRequest{Protocol: "lambda", Endpoint: "notify", Raw: true}); !isStatus(err, 400) {
		t.Errorf("a raw lambda subscription: %v, want 400", err)
	}
	for i := range 3 {
		if _, err := c.cl.Publish(ctx, "events", api.PublishRequest{Message: fmt.Sprintf("event %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		fn, err := c.cl.Function(ctx, "notify")
		if err != nil {
			return err
		}
		n := 0
		for _, e := range fn.Environments {
			n += e.Invocations
		}
		if n != 3 {
			return fmt.Errorf("%d invocations of 3: %+v", n, fn)
		}
		return nil
	})
}
