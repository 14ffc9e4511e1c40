package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The server's heap is mostly the queue index: small when queues are
// drained, and then the collector's fixed cost per cycle dominates (a cycle
// every 4 MB of garbage at Go's default); large when millions of messages
// wait, and then the default of doubling the live heap wastes hundreds of
// MB. tuneGC keeps the collector's headroom between 64 and 96 MiB
// whatever the live heap: frequent enough to bound resident memory,
// rare enough to cost little. GOGC set in the environment turns it off.
// The load generator of `docket bench` uses it too, so that the client's
// own garbage does not limit what it measures.
const (
	minGCHeadroom = 64 << 20
	maxGCHeadroom = 96 << 20
)

// gogcFor returns the GOGC that gives a live heap of live bytes a headroom
// of the live heap itself (Go's default) kept between minGCHeadroom and
// maxGCHeadroom, and never a GOGC below 25.
func gogcFor(live uint64) int {
	if live == 0 {
		return 100
	}
	headroom := min(max(live, minGCHeadroom), maxGCHeadroom)
	return max(int(headroom*100/live), 25)
}

// tuneGC adjusts GOGC to the live heap every second until ctx ends.
func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := 0
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if want := gogcFor(sample[0].Value.Uint64()); want != current {
				debug.SetGCPercent(want)
				current = want
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
