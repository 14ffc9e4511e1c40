package containerd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/internal/containerdtest"
	"github.com/docketd/docket/internal/imagetest"
)

// BenchmarkColdStart measures how long a container takes from nothing to
// its first line of output, on one containerd with the image unpacked:
//
//   - first-line: in each iteration, the floor (the least the containerd
//     client can do: container with a new snapshot and spec, task with its
//     stdout on a FIFO, wait, start, until the line is read) and then
//     Runtime.Start of the same image and command until the line is in
//     stdout.log (polled every 200µs). It reports the median of each and
//     their ratio: what Docket's container setup (host network, labels,
//     log driver process, spec options) costs over the floor.
//   - sustained: echo tasks started, waited for and removed by 3 workers at
//     once, reported as starts per second.
//
// Run it with a fixed count for stable medians:
//
//	go test ./agent/containerd -run '^$' -bench ColdStart -benchtime 30x
func BenchmarkColdStart(b *testing.B) {
	d := containerdtest.Start(b)
	client := d.Client(b)
	const imageName = "docket.test/testprog:bench"
	image := testImage(b, imageName)
	// The log driver as production runs it: the small docket-logger.
	cfg := testConfig(b, d)
	cfg.LoggerBinary = imagetest.GoBinary(b, "github.com/docketd/docket/cmd/docket-logger")
	cfg.LoggerArgs = []string{"logger"}
	r, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })

	// Import and unpack the image through the runtime, outside the timing.
	warm := benchSpec(b, image)
	startTask(b, r, warm)
	waitExit(b, r, warm.ID)
	img, err := client.GetImage(context.Background(), imageName)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("first-line", func(b *testing.B) {
		var floor, docket []time.Duration
		for b.Loop() {
			floor = append(floor, floorStart(b, d, client, img))
			docket = append(docket, runtimeStart(b, r, image))
		}
		f, k := median(floor), median(docket)
		b.ReportMetric(ms(f), "floor-p50-ms")
		b.ReportMetric(ms(k), "docket-p50-ms")
		b.ReportMetric(float64(k)/float64(f), "ratio")
	})

	b.Run("sustained", func(b *testing.B) {
		const workers = 3
		var next atomic.Int64
		var wg sync.WaitGroup
		began := time.Now()
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					spec := benchSpec(b, image)
					ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
					if err := r.Start(ctx, spec); err != nil {
						b.Error(err)
					} else if _, err := r.Wait(ctx, spec.ID); err != nil {
						b.Error(err)
					}
					if err := r.Remove(ctx, spec.ID); err != nil {
						b.Error(err)
					}
					cancel()
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "starts/s")
	})
}

// benchSpec returns an "echo x" task of image.
func benchSpec(b testing.TB, image string) agent.TaskSpec {
	return agent.TaskSpec{
		ID:     containerdtest.UniqueID(b),
		Image:  image,
		Args:   []string{"echo", "x"},
		LogDir: b.TempDir(),
	}
}

// floorStart runs "echo x" with the bare containerd client and returns the
// time until its line is read; the removal is not timed.
func floorStart(b *testing.B, d *containerdtest.Daemon, client *containerd.Client, img containerd.Image) time.Duration {
	return containerdtest.ColdStart(b, d, client, img, "echo", "x").FirstLine
}

// runtimeStart runs "echo x" with r.Start and returns the time until its
// line is in stdout.log; the removal is not timed.
func runtimeStart(b *testing.B, r *Runtime, image string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	spec := benchSpec(b, image)
	path := filepath.Join(spec.LogDir, StdoutLog)
	began := time.Now()
	if err := r.Start(ctx, spec); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := r.Remove(ctx, spec.ID); err != nil {
			b.Error(err)
		}
	}()
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	for {
		if data, _ := os.ReadFile(path); len(data) > 0 && data[len(data)-1] == '\n' {
			took := time.Since(began)
			if string(data) != "x\n" {
				b.Fatalf("got stdout %q, want x", data)
			}
			r.Wait(ctx, spec.ID)
			return took
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			b.Fatalf("no output after %v", testTimeout)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
