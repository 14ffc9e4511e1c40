package scheduler

import (
	"context"
	"time"

	"github.com/docketd/docket/scheduler/state"
)

// Blocking queries: a read called with Query.Index set answers once the
// data it reads has changed past that index, or after Query.Wait (default
// 5m, at most 10m), like Nomad's and Consul's. Every answer carries the
// index of what it shows, for the next call.
const (
	DefaultWait = 5 * time.Minute
	MaxWait     = 10 * time.Minute
)

// Query says how a read waits: not at all (Index 0), or until the index
// of what it reads passes Index, for at most Wait.
type Query struct {
	Index uint64
	Wait  time.Duration
}

// block waits, for a query with an index, until indexOf reports a change
// past it, and returns the index to report with the answer. It fails only
// when ctx ends first: the caller has gone away and nothing is to be
// answered.
func (s *Server) block(ctx context.Context, q Query, indexOf func(*state.Reader) uint64) (uint64, error) {
	if q.Index == 0 {
		var idx uint64
		s.state.View(func(rd *state.Reader) { idx = indexOf(rd) })
		return idx, nil
	}
	wait := q.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	sctx, stop := s.UntilStopping(ctx)
	defer stop()
	wctx, cancel := context.WithTimeout(sctx, min(wait, MaxWait))
	defer cancel()
	idx, err := s.state.WaitIndex(wctx, q.Index, indexOf)
	if err != nil && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return max(idx, 1), nil
}
