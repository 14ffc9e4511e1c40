// Package benchload holds the load generators of Docket's benchmarks
// (`docket bench …` and the packages' go test benchmarks), out of the
// product packages they measure.
package benchload

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// SchedulerConfig sizes [RunScheduler].
type SchedulerConfig struct {
	Nodes       int // simulated nodes, default 5000
	Allocations int // allocations to place in all, default 100000
	PerJob      int // allocations per job (one evaluation each), default 100
	IdleJobs    int // jobs then submitted one at a time for latency, default 200
	Workers     int // scheduler workers, default the server's
	// DataDir for the server's state; default a temporary directory,
	// removed afterwards.
	DataDir string
}

// SchedulerResult is what [RunScheduler] measured.
type SchedulerResult struct {
	Nodes, Placed, Jobs int
	Elapsed             time.Duration
	PlacementsPerSecond float64
	// EvalP50 and EvalP99 are the times from an evaluation's start to its
	// plan being committed while the scheduler is saturated.
	EvalP50, EvalP99 time.Duration
	// IdleP50 and IdleP99 are the same for one job at a time, once the
	// allocations are in place: the latency a single submission sees.
	IdleP50, IdleP99 time.Duration
	// BytesPerNode is the heap the server holds per registered node.
	BytesPerNode float64
}

func (r SchedulerResult) String() string {
	return fmt.Sprintf("%d allocations of %d jobs on %d nodes in %s: %.0f placements/s; evaluation to commit p50 %s, p99 %s saturated, p50 %s, p99 %s one job at a time; %.0f bytes of heap per node",
		r.Placed, r.Jobs, r.Nodes, r.Elapsed.Round(time.Millisecond), r.PlacementsPerSecond,
		r.EvalP50.Round(time.Microsecond), r.EvalP99.Round(time.Microsecond),
		r.IdleP50.Round(time.Microsecond), r.IdleP99.Round(time.Microsecond), r.BytesPerNode)
}

// RunScheduler measures the scheduler with simulated nodes on the real
// state store and commit path: it registers the nodes (five classes, ten
// zones), then jobs of PerJob allocations each with a class constraint and
// a zone spread, and times until every allocation is placed.
func RunScheduler(ctx context.Context, cfg SchedulerConfig) (*SchedulerResult, error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 5000
	}
	if cfg.Allocations <= 0 {
		cfg.Allocations = 100000
	}
	if cfg.PerJob <= 0 {
		cfg.PerJob = 100
	}
	if cfg.IdleJobs <= 0 {
		cfg.IdleJobs = 200
	}
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "docket-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}
	var mu sync.Mutex
	var evalTimes []time.Duration
	s, err := scheduler.New(scheduler.Config{DataDir: cfg.DataDir, Workers: cfg.Workers, HeartbeatTTL: time.Hour,
		EvalObserver: func(d time.Duration) {
			mu.Lock()
			evalTimes = append(evalTimes, d)
			mu.Unlock()
		}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	heapBefore := heapInUse()
	if err := benchNodes(s, cfg.Nodes); err != nil {
		return nil, err
	}
	res := &SchedulerResult{Nodes: cfg.Nodes}
	res.BytesPerNode = float64(heapInUse()-heapBefore) / float64(cfg.Nodes)

	jobs := (cfg.Allocations + cfg.PerJob - 1) / cfg.PerJob
	res.Jobs = jobs
	start := time.Now()
	for i := 0; i < jobs; i++ {
		n := min(cfg.PerJob, cfg.Allocations-i*cfg.PerJob)
		if err := registerJob(ctx, s, benchJob(fmt.Sprintf("bench-%05d", i), n)); err != nil {
			return nil, err
		}
	}
	for {
		var placed, blocked int
		s.State().View(func(rd *state.Reader) {
			placed = rd.AllocCount(state.AllocPending)
		})
		blocked = s.BlockedEvals()
		if placed >= cfg.Allocations {
			res.Placed = placed
			break
		}
		if blocked > 0 {
			return nil, fmt.Errorf("%d evaluations blocked after placing %d: the nodes are too small", blocked, placed)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	res.Elapsed = time.Since(start)
	res.PlacementsPerSecond = float64(res.Placed) / res.Elapsed.Seconds()
	mu.Lock()
	res.EvalP50, res.EvalP99 = percentiles(evalTimes)
	evalTimes = nil
	mu.Unlock()

	// One job at a time: submit, wait for its plan, submit the next.
	for i := 0; i < cfg.IdleJobs; i++ {
		if err := registerJob(ctx, s, benchJob(fmt.Sprintf("idle-%05d", i), cfg.PerJob)); err != nil {
			return nil, err
		}
		for {
			mu.Lock()
			n := len(evalTimes)
			mu.Unlock()
			if n > i {
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Microsecond):
			}
		}
	}
	mu.Lock()
	res.IdleP50, res.IdleP99 = percentiles(evalTimes)
	mu.Unlock()
	return res, nil
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	return d[len(d)/2], d[min(len(d)-1, len(d)*99/100)]
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// benchNodes registers n simulated nodes through the state's commit path,
// from 32 goroutines so that their commits group as agents' would.
func benchNodes(s *scheduler.Server, n int) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				node := &state.Node{
					ID:      fmt.Sprintf("node-%05d", i),
					Name:    fmt.Sprintf("node-%05d", i),
					Class:   fmt.Sprintf("class-%d", i%5),
					OS:      "linux",
					Arch:    "amd64",
					Meta:    map[string]string{"zone": fmt.Sprintf("zone-%d", i%10), "rack": fmt.Sprintf("rack-%d", i%50)},
					CPU:     8000 + int64(i%4)*4000,
					Memory:  16384 + int64(i%4)*8192,
					Healthy: true,
					TTL:     time.Hour,
				}
				if _, err := s.State().Apply(state.RegisterNode{Node: node}); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// registerJob registers one job, as a client registering its model would.
func registerJob(ctx context.Context, s *scheduler.Server, spec *specs.Job) error {
	_, err := s.RegisterJobs(ctx, scheduler.Identity{}, &scheduler.JobFile{Model: &specs.File{Jobs: []*specs.Job{spec}}})
	return err
}

func benchJob(name string, count int) *specs.Job {
	return &specs.Job{
		Name: name, Type: specs.JobService, Priority: 50, Count: count,
		Update:      specs.Update{MaxParallel: 1},
		Constraints: []specs.Constraint{{Attribute: "node.class", Operator: "in", Value: "class-1,class-3"}},
		Spreads:     []specs.Spread{{Attribute: "node.meta.zone", Weight: 50}},
		Tasks: []*specs.Task{{
			Name: "app", Image: "oci-archive:/bench.tar", KillSignal: "SIGTERM",
			Resources: specs.Resources{CPU: 100, Memory: 64},
		}},
	}
}
