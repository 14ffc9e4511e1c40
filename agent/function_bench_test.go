package agent_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/agent/runtimetest"
	"github.com/docketd/docket/internal/benchloop"
	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/scheduler/api"
)

// hostLambda runs function environments as host processes of a Lambda
// function's binary (the aws-lambda-go echo example) beside the fake's
// task: the warm path of an invocation — the Invoke API, the server, the
// agent's poll, the runtime API and the runtime — is all real; only the
// container around the runtime is missing, which the warm path does not
// touch.
type hostLambda struct {
	*runtimetest.Fake
	bin string
	mu  sync.Mutex
	ps  map[string]*exec.Cmd
}

func (h *hostLambda) Start(ctx context.Context, spec agent.TaskSpec) error {
	if spec.Env["AWS_LAMBDA_RUNTIME_API"] == "" {
		return h.Fake.Start(ctx, spec)
	}
	spec.Command, spec.Args = nil, []string{"sleep", "1h"}
	if err := h.Fake.Start(ctx, spec); err != nil {
		return err
	}
	cmd := exec.Command(h.bin)
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	h.mu.Lock()
	h.ps[spec.ID] = cmd
	h.mu.Unlock()
	go func() {
		h.Fake.Wait(context.Background(), spec.ID)
		cmd.Process.Kill()
	}()
	go func() {
		cmd.Wait()
		h.Fake.Stop(context.Background(), spec.ID, "SIGKILL", 0)
	}()
	return nil
}

// benchFunction starts a server and an agent running function echo on
// the echo binary, with envs environments, warmed; with sqs, fed by
// queue "in" in batches of ten.
func benchFunction(b *testing.B, envs int, sqs bool) *cluster {
	c := newCluster(b)
	c.stop()
	h := &hostLambda{Fake: c.fake, bin: imagetest.GoBinary(b, "github.com/docketd/docket/examples/functions/echo"), ps: map[string]*exec.Cmd{}}
	c.startAgent(h)
	b.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, p := range h.ps {
			p.Process.Kill()
		}
	})
	queue, source := "", ""
	if sqs {
		queue, source = "queue \"in\" {\n}\n", "queue = \"in\"\n"
	}
	c.run(fmt.Sprintf(`%s
job "echo" {
  type = "function"
  %s
  function {
    concurrency {
      max = %d
    }
    warm {
      min = %d
    }
  }
  task "fn" {
    image = "img"
    resources {
      cpu    = 10
      memory = 16
    }
  }
}`, queue, source, envs, envs))
	// Warm every environment: envs invocations at once until each ran one.
	waitFor(b, 30*time.Second, func() error {
		var wg sync.WaitGroup
		for range envs {
			wg.Go(func() {
				c.cl.Invoke(context.Background(), "echo", api.InvokeRequest{Payload: []byte(`{"sleep_ms":50}`)})
			})
		}
		wg.Wait()
		fn, err := c.cl.Function(context.Background(), "echo")
		if err != nil {
			return err
		}
		warm := 0
		for _, e := range fn.Environments {
			if e.Invocations > 0 {
				warm++
			}
		}
		if warm < envs {
			return fmt.Errorf("%d of %d environments warm", warm, envs)
		}
		return nil
	})
	return c
}

// BenchmarkWarmInvokeAPI: a warm synchronous invocation of the echo
// function through Docket's Invoke API (native route), with one
// environment (latency) and four (throughput, four clients).
func BenchmarkWarmInvokeAPI(b *testing.B) {
	for _, envs := range []int{1, 4} {
		b.Run(fmt.Sprintf("envs=%d", envs), func(b *testing.B) {
			c := benchFunction(b, envs, false)
			ctx := context.Background()
			benchloop.Run(b, envs, "invokes/s", func(int, int) error {
				out, err := c.cl.Invoke(ctx, "echo", api.InvokeRequest{Payload: []byte(`{"k":1}`)})
				if err == nil && out.FunctionError != "" {
					err = fmt.Errorf("function error %s", out.Payload)
				}
				return err
			})
		})
	}
}

// BenchmarkWarmInvokeRIE is the same invocation of the same binary
// through AWS's runtime interface emulator (aws-lambda-rie, built from its
// module; DOCKET_RIE names the binary), for the same-run ratio. The
// emulator runs one environment.
func BenchmarkWarmInvokeRIE(b *testing.B) {
	rie := os.Getenv("DOCKET_RIE")
	if rie == "" {
		b.Skip("DOCKET_RIE (the aws-lambda-rie binary) is not set")
	}
	bin := imagetest.GoBinary(b, "github.com/docketd/docket/examples/functions/echo")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, bin)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_TIMEOUT=60")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	post := func() error {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"k":1}`))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	waitFor(b, 20*time.Second, post)
	benchloop.Run(b, 1, "invokes/s", func(int, int) error { return post() })
}

// BenchmarkSQSTriggered: messages sent to a queue in batches of ten are
// taken by the function in batches of ten (four environments) and
// deleted; b.N is the messages.
func BenchmarkSQSTriggered(b *testing.B) {
	c := benchFunction(b, 4, true)
	b.StopTimer()
	ctx := context.Background()
	send := func(n int) {
		for i := 0; i < n; i += 10 {
			var msgs []api.SendMessage
			for j := i; j < min(i+10, n); j++ {
				msgs = append(msgs, api.SendMessage{Body: fmt.Sprintf(`{"n":%d}`, j)})
			}
			if _, err := c.cl.Send(ctx, "in", msgs...); err != nil {
				b.Fatal(err)
			}
		}
	}
	drained := func(want uint64) error {
		q, err := c.cl.Queue(ctx, "in")
		if err != nil {
			return err
		}
		if q.Stats.Deleted < want {
			return fmt.Errorf("%d of %d deleted", q.Stats.Deleted, want)
		}
		return nil
	}
	send(40) // warm the path
	waitFor(b, 30*time.Second, func() error { return drained(40) })
	b.StartTimer()
	start := time.Now()
	send(b.N)
	for drained(uint64(40+b.N)) != nil {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}
