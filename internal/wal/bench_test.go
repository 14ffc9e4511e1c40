package wal

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchModes are the storage settings the append benchmarks compare.
func benchModes() []struct {
	name string
	opts Options
} {
	return []struct {
		name string
		opts Options
	}{
		{"prealloc", Options{}},
		{"grow", Options{NoPreallocate: true}},
	}
}

// BenchmarkAppend measures group commit throughput: par goroutines each
// appending one record at a time and waiting for it to be durable.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range benchModes() {
		for _, par := range []int{1, 16, 64} {
			for _, size := range []int{64, 1024} {
				name := fmt.Sprintf("%s/par=%d/size=%d", mode.name, par, size)
				benchAppend(b, name, mode.opts, par, 1, size)
			}
		}
	}
}

// BenchmarkAppendBatch is the queue engine's pattern: 16 clients, each
// appending batches of 10 records.
func BenchmarkAppendBatch(b *testing.B) {
	for _, mode := range benchModes() {
		benchAppend(b, mode.name+"/par=16/batch=10/size=100", mode.opts, 16, 10, 100)
	}
}

// BenchmarkAppendRolling uses small segments, so that the cost of creating
// (and, by default, zero-filling) segments is a large part of the figure.
func BenchmarkAppendRolling(b *testing.B) {
	for _, mode := range benchModes() {
		opts := mode.opts
		opts.SegmentSize = 4 << 20
		benchAppend(b, mode.name+"/segment=4MiB/par=16/size=1024", opts, 16, 1, 1024)
	}
}

// benchAppend runs a sub-benchmark of appends of batch records of size
// bytes from par goroutines, and reports records and commits per second.
// All rounds share one log, opened once, so that what is measured is a log
// in use (rolling to prepared segments as it fills), not the files being
// created and deleted around each round.
func benchAppend(b *testing.B, name string, opts Options, par, batch, size int) {
	dir, err := os.MkdirTemp("", "walbench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var commits atomic.Int64
	opts.Dir = filepath.Join(dir, "wal")
	opts.OnCommit = func(int, int, time.Duration) { commits.Add(1) }
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	l, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	recs := make([][]byte, batch)
	for i := range recs {
		recs[i] = payload(uint64(i), size)
	}

	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(batch * size))
		before := commits.Load()
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for range par {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if _, err := l.Append(recs...); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		n := float64(commits.Load() - before)
		secs := b.Elapsed().Seconds()
		b.ReportMetric(float64(b.N*batch)/secs, "records/s")
		b.ReportMetric(n/secs, "commits/s")
		b.ReportMetric(float64(b.N*batch)/n, "records/commit")
	})
}

// BenchmarkRead measures reading durable records back (from the page
// cache), as the queue engine does when it delivers a message.
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{100, 1024, 8192} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			l := mustOpen(b, Options{Dir: filepath.Join(b.TempDir(), "wal"), SegmentSize: 16 << 20})
			recs := make([][]byte, 1000)
			for i := range recs {
				recs[i] = payload(uint64(i), size)
			}
			pos, err := l.Append(recs...)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.Run("Read", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := l.Read(pos[i%len(pos)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("ReadInto", func(b *testing.B) {
				b.ReportAllocs()
				buf := make([]byte, 0, size)
				i := 0
				for b.Loop() {
					if _, err := l.ReadInto(pos[i%len(pos)], buf); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
