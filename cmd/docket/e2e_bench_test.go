package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd"

	"github.com/docketd/docket/internal/containerdtest"
	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/scheduler/api"
)

// BenchmarkE2EDispatch measures dispatch on the real binary and a real
// containerd, each figure beside its floor from the bare containerd client
// in the same run:
//
//   - idle latency: one message at a time to an idle dispatch job, from the
//     send to the task's process running (the agent's start time), against
//     the floor's create-start-first-line (targets p50 <= 300 ms, p99 <=
//     600 ms);
//   - sustained cold throughput: bursts of messages, one container each, at
//     most 4 at once, against the bare client creating, running and
//     removing the same container 4 at a time (target >= 80 %); with the
//     whole machine's busy CPU time per container on each side.
//
// Floor and Docket take turns, sample by sample for latency and in
// segments for throughput, with the order flipped every segment: on a
// shared machine the speed drifts over a minute, and containerd's
// garbage collection of one side's containers runs on into what follows.
func BenchmarkE2EDispatch(b *testing.B) {
	e := startE2E(b)
	client := e.ctd.Client(b)
	img := containerdtest.Import(b, client, strings.TrimPrefix(e.image, "oci-archive:"))
	const rounds, segments, perSegment, parallel = 30, 4, 50, 4

	e.run(fmt.Sprintf(`
queue "in" {}

job "echo" {
  type  = "dispatch"
  queue = "in"
  scaling {
    max = %d
  }
  task "main" {
    image = "IMAGE"
    args  = ["echo", "x"]
    resources {
      cpu    = 50
      memory = 32
    }
  }
}
`, parallel))
	var deleted uint64
	settled := e.watchSettled()
	drained := func() { settled(deleted) }
	b.ResetTimer()
	var latency, floor []time.Duration
	for i := range rounds {
		floor = append(floor, containerdtest.ColdStart(b, e.ctd, client, img, "echo", "x").FirstLine)
		began := time.Now()
		res, err := e.cl.Send(context.Background(), "in", api.SendMessage{Body: fmt.Sprint(i)})
		if err != nil {
			b.Fatal(err)
		}
		latency = append(latency, e.startedAt(res[0].ID).Sub(began))
		deleted++
		drained()
	}

	// Throughput: each side's time and busy CPU, summed over its segments.
	var floorTime, floorCPU, docketTime, docketCPU time.Duration
	measure := func(t, cpu *time.Duration, run func()) {
		c0, t0 := machineCPU(b), time.Now()
		run()
		*t += time.Since(t0)
		*cpu += machineCPU(b) - c0
	}
	runFloor := func() {
		measure(&floorTime, &floorCPU, func() { floorThroughput(b, e.ctd, client, img, perSegment, parallel) })
	}
	runDocket := func(seg int) {
		bodies := make([]string, perSegment)
		for i := range bodies {
			bodies[i] = fmt.Sprintf("burst %d/%d", seg, i)
		}
		measure(&docketTime, &docketCPU, func() {
			e.send("in", bodies...)
			deleted += perSegment
			drained()
		})
	}
	for seg := range segments {
		if seg%2 == 0 {
			runFloor()
			runDocket(seg)
		} else {
			runDocket(seg)
			runFloor()
		}
	}
	b.StopTimer()

	n := float64(segments * perSegment)
	rate, floorRate := n/docketTime.Seconds(), n/floorTime.Seconds()
	slices.Sort(latency)
	slices.Sort(floor)
	b.ReportMetric(ms(latency[len(latency)/2]), "p50-ms")
	b.ReportMetric(ms(latency[len(latency)*99/100]), "p99-ms")
	b.ReportMetric(ms(floor[len(floor)/2]), "floor-p50-ms")
	b.ReportMetric(rate, "dispatch/s")
	b.ReportMetric(floorRate, "floor-runs/s")
	b.ReportMetric(100*rate/floorRate, "%-of-floor")
	b.ReportMetric(ms(docketCPU)/n, "cpu-ms/dispatch")
	b.ReportMetric(ms(floorCPU)/n, "floor-cpu-ms/run")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// watchSettled follows the server's allocation events and returns a
// function that waits until the messages of n dispatch allocations have
// been settled (deleted, for tasks that succeed), counting messages, not
// allocations. Waiting on the stream rather than polling keeps the
// waiting off the server being measured.
func (e *e2e) watchSettled() func(n uint64) {
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	resp, err := e.cl.Request(ctx, http.MethodGet, "/v1/events?topic=Allocation", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	var mu sync.Mutex
	changed := sync.NewCond(&mu)
	settled := map[string]bool{} // message IDs
	var lost error               // why the stream ended
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				Gap     bool `json:"gap"`
				Payload struct {
					Dispatch *struct {
						MessageID string `json:"message_id"`
						Settled   bool   `json:"settled"`
					} `json:"dispatch"`
				} `json:"payload"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			mu.Lock()
			if ev.Gap {
				lost = errors.New("the event stream has a gap")
			} else if d := ev.Payload.Dispatch; d != nil && d.Settled {
				settled[d.MessageID] = true
			}
			changed.Broadcast()
			mu.Unlock()
		}
		mu.Lock()
		if lost == nil {
			lost = fmt.Errorf("the event stream ended: %v", sc.Err())
		}
		changed.Broadcast()
		mu.Unlock()
	}()
	return func(n uint64) {
		e.t.Helper()
		const limit = 5 * time.Minute
		timeout := time.AfterFunc(limit, func() {
			mu.Lock()
			changed.Broadcast()
			mu.Unlock()
		})
		defer timeout.Stop()
		began := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for uint64(len(settled)) < n {
			if lost != nil && ctx.Err() == nil {
				e.t.Fatalf("%d messages settled, want %d: %v", len(settled), n, lost)
			}
			if time.Since(began) > limit {
				e.t.Fatalf("%d messages settled after %s, want %d", len(settled), limit, n)
			}
			changed.Wait()
		}
	}
}

// machineCPU is the CPU time this machine's processes and kernel have
// spent (user, nice, system, irq and softirq; not idle, I/O wait, or time
// the hypervisor took), from /proc/stat: a dispatch's cost is spread over
// containerd, shims, runc, the log driver and Docket's processes.
func machineCPU(tb testing.TB) time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		tb.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal guest guest_nice
	if len(f) < 8 {
		tb.Fatalf("/proc/stat: %q", line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			tb.Fatalf("/proc/stat: %q", line)
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// floorThroughput runs n create-run-remove cycles with the bare client,
// parallel at a time, and returns cycles per second.
func floorThroughput(b *testing.B, d *containerdtest.Daemon, client *containerd.Client, img containerd.Image, n, parallel int) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				containerdtest.ColdStart(b, d, client, img, "echo", "x")
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(began).Seconds()
}

// startedAt waits for the dispatch allocation of a message to report its
// task running and returns when it started.
func (e *e2e) startedAt(messageID string) time.Time {
	var at time.Time
	var index uint64
	for at.IsZero() {
		allocs, idx, err := e.cl.Allocations(context.Background(), "", "", "", api.QueryOptions{Index: index, Wait: 10 * time.Second})
		if err != nil {
			e.t.Fatal(err)
		}
		index = idx
		for _, a := range allocs {
			if a.Dispatch != nil && a.Dispatch.MessageID == messageID && a.Tasks["main"] != nil && !a.Tasks["main"].StartedAt.IsZero() {
				at = a.Tasks["main"].StartedAt
			}
		}
	}
	return at
}

// BenchmarkE2EWarmWorkers measures warm service workers (the example
// worker image, real containers) doing no-op work through the HTTP queue
// API in batches of 10, fed by producers in this process: messages
// received and deleted per second end to end (target >= 20,000). The
// workers share the machine's two cores with the server and the
// producers: each gets a quarter core (a hard CFS quota) and, being
// sequential, GOMAXPROCS=1, which saves the Go runtime's idle spinning
// across eight processes.
func BenchmarkE2EWarmWorkers(b *testing.B) {
	e := startE2E(b)
	worker := imagetest.GoBinary(b, "github.com/docketd/docket/examples/workers/worker")
	archive := imagetest.Archive(b, "docket.test/worker:latest", map[string]string{"/worker": worker}, "/worker")
	e.run(strings.ReplaceAll(`
queue "jobs" {}

job "workers" {
  type  = "service"
  queue = "jobs"
  count = 8
  task "w" {
    image = "oci-archive:WORKER"
    args  = ["work", "--batch", "10", "--work", "0s", "--quiet"]
    env   = { GOGC = "400", GOMAXPROCS = "1" }
    resources {
      cpu    = 240
      memory = 64
    }
  }
}
`, "WORKER", archive))
	e.waitRunning("workers", 8)
	const duration = 5 * time.Second
	msgs := make([]api.SendMessage, 10)
	for i := range msgs {
		msgs[i] = api.SendMessage{Body: "noop"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	start := e.queue("jobs").Deleted
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				e.cl.Send(ctx, "jobs", msgs...)
			}
		}()
	}
	wg.Wait()
	deleted := e.queue("jobs").Deleted - start
	b.StopTimer()
	b.ReportMetric(float64(deleted)/time.Since(began).Seconds(), "msgs/s")
}
