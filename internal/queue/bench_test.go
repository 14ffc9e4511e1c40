package queue

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCycle measures the engine's send+receive+delete cycle: clients
// each send a batch, receive a batch and delete it, with every step durable
// before it returns. One b.N is one message; msgs/s is the figure the issue
// targets (>= 100,000 at 16 clients, batches of 10).
func BenchmarkCycle(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		for _, size := range []int{256, 1024} {
			b.Run(fmt.Sprintf("clients=%d/batch=10/size=%d", clients, size), func(b *testing.B) {
				benchCycle(b, clients, 10, size)
			})
		}
	}
}

func benchCycle(b *testing.B, clients, batch, size int) {
	e := newEngine(b)
	for c := 0; c < clients; c++ {
		mustCreate(b, e, fmt.Sprintf("q%d", c%4), nil)
	}
	body := bytes.Repeat([]byte("x"), size)
	in := make([]SendInput, batch)
	for i := range in {
		in[i] = SendInput{Body: body}
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprintf("q%d", c%4)
			receipts := make([]string, 0, batch)
			for left.Add(-int64(batch)) > -int64(batch) {
				if _, err := e.Send(q, in); err != nil {
					b.Error(err)
					return
				}
				got := 0
				for got < batch {
					msgs, err := e.Receive(context.Background(), q, ReceiveOptions{Max: batch - got, Wait: dur(time.Second)})
					if err != nil {
						b.Error(err)
						return
					}
					receipts = receipts[:0]
					for _, m := range msgs {
						receipts = append(receipts, m.Receipt)
					}
					if len(receipts) > 0 {
						if _, err := e.Delete(q, receipts); err != nil {
							b.Error(err)
							return
						}
					}
					got += len(msgs)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}

// BenchmarkSendLatency measures one message sent at a time by one client:
// the latency of a durable single send on an idle disk.
func BenchmarkSendLatency(b *testing.B) {
	e := newEngine(b)
	mustCreate(b, e, "q", nil)
	in := []SendInput{{Body: bytes.Repeat([]byte("x"), 256)}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Send("q", in); err != nil {
			b.Fatal(err)
		}
	}
}
