// Package benchloop runs a benchmark's operation from several clients at
// once and reports its throughput and latency, the way Docket's
// benchmarks report them: ops/s by a unit's name, p50 and p99 in
// microseconds.
package benchloop

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Run runs b.N calls of op, shared by clients goroutines (op gets its
// client's number and the call's number within it), with b's timer
// running only around them, and reports the throughput as unit (e.g.
// "invokes/s") and the latency's p50 and p99. A failed call fails b and
// ends its client.
func Run(b *testing.B, clients int, unit string, op func(client, n int) error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var mu sync.Mutex
	var took []time.Duration
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			var mine []time.Duration
			for n := 0; left.Add(-1) >= 0; n++ {
				t0 := time.Now()
				if err := op(c, n); err != nil {
					b.Error(err)
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
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
	if len(took) > 0 {
		b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	}
}
