package wal

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend measures group commit throughput: par goroutines each
// appending one record at a time and waiting for it to be durable.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts Options
	}{
		{"prealloc", Options{}},
		{"grow", Options{NoPreallocate: true}},
	} {
		for _, par := range []int{1, 16, 64} {
			for _, size := range []int{64, 1024} {
				b.Run(fmt.Sprintf("%s/par=%d/size=%d", mode.name, par, size), func(b *testing.B) {
					benchAppend(b, mode.opts, par, 1, size)
				})
			}
		}
	}
}

// BenchmarkAppendBatch is the queue engine's pattern: 16 clients, each
// appending batches of 10 records.
func BenchmarkAppendBatch(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts Options
	}{
		{"prealloc", Options{}},
		{"grow", Options{NoPreallocate: true}},
	} {
		b.Run(mode.name+"/par=16/batch=10/size=100", func(b *testing.B) {
			benchAppend(b, mode.opts, 16, 10, 100)
		})
	}
}

// BenchmarkAppendRolling uses small segments, so that the cost of creating
// (and, by default, zero-filling) segments is part of the figure.
func BenchmarkAppendRolling(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts Options
	}{
		{"prealloc", Options{SegmentSize: 4 << 20}},
		{"grow", Options{SegmentSize: 4 << 20, NoPreallocate: true}},
	} {
		b.Run(mode.name+"/segment=4MiB/par=16/size=1024", func(b *testing.B) {
			benchAppend(b, mode.opts, 16, 1, 1024)
		})
	}
}

// benchAppend runs b.N appends of batch records of size bytes from par
// goroutines on a new log and reports records and commits per second.
func benchAppend(b *testing.B, opts Options, par, batch, size int) {
	var commits atomic.Int64
	opts.Dir = filepath.Join(b.TempDir(), "wal")
	opts.OnCommit = func(int, int, time.Duration) { commits.Add(1) }
	l := mustOpen(b, opts)
	if l.prep != nil && opts.SegmentSize == 0 {
		// Measure the steady state between segment preparations; the
		// rolling benchmark covers their cost.
		waitFor(b, time.Minute, func() error {
			if len(l.prep.ready) == 0 {
				return errors.New("spare segment not ready")
			}
			return nil
		})
	}
	recs := make([][]byte, batch)
	for i := range recs {
		recs[i] = payload(uint64(i), size)
	}
	b.SetBytes(int64(batch * size))
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
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
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*batch)/secs, "records/s")
	b.ReportMetric(float64(commits.Load())/secs, "commits/s")
	b.ReportMetric(float64(b.N*batch)/float64(commits.Load()), "records/commit")
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
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
