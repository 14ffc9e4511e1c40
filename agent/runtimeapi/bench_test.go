package runtimeapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/docketd/docket/internal/benchloop"
)

// BenchmarkWarmInvoke measures the runtime API leg of a warm invocation:
// an event handed to an environment whose aws-lambda-go runtime is
// waiting, until its answer is back (issue 17's warm-invoke figures add
// the Invoke API and the agent to this). envs=1 reports the latency;
// envs=4 the throughput of four environments at once.
func BenchmarkWarmInvoke(b *testing.B) {
	for _, envs := range []int{1, 4} {
		b.Run(fmt.Sprintf("envs=%d", envs), func(b *testing.B) {
			servers := make([]*Server, envs)
			for i := range servers {
				s := New(Config{FunctionARN: arn})
				hs := httptest.NewServer(s.Handler())
				b.Cleanup(hs.Close)
				b.Cleanup(s.Close)
				startRuntime(b, hs)
				servers[i] = s
			}
			// Warm them: the first invocation waits for the runtime to start.
			for _, s := range servers {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				if _, err := s.Invoke(ctx, Invocation{RequestID: "warm", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)}); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
			benchloop.Run(b, envs, "invokes/s", func(i, n int) error {
				t0 := time.Now()
				r, err := servers[i].Invoke(context.Background(), Invocation{RequestID: fmt.Sprint(i, "-", n), Payload: []byte(`{"k":1}`),
					Deadline: t0.Add(time.Minute)})
				if err == nil && r.Error != nil {
					err = r.Error
				}
				return err
			})
		})
	}
}
