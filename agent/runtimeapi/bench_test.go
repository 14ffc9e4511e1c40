package runtimeapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
			var left atomic.Int64
			left.Store(int64(b.N))
			var mu sync.Mutex
			var took []time.Duration
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i, s := range servers {
				wg.Go(func() {
					var mine []time.Duration
					for n := 0; left.Add(-1) >= 0; n++ {
						t0 := time.Now()
						r, err := s.Invoke(context.Background(), Invocation{RequestID: fmt.Sprint(i, "-", n), Payload: []byte(`{"k":1}`),
							Deadline: t0.Add(time.Minute)})
						if err != nil || r.Error != nil {
							b.Error(err, r.Error)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					took = append(took, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(b.N)/el.Seconds(), "invokes/s")
			if len(took) > 0 {
				b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
