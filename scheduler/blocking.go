package scheduler

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/state"
)

// Blocking queries: a list endpoint called with ?index=N answers once the
// data it lists has changed past index N, or after ?wait (default 5m, at
// most 10m), like Nomad's and Consul's. Every answer carries the index of
// what it shows in X-Docket-Index, for the next call.
const (
	indexHeader     = "X-Docket-Index"
	defaultWait     = 5 * time.Minute
	maxBlockingWait = 10 * time.Minute
)

// block waits, for a request with ?index, until indexOf reports a change
// past it. It returns the index to report and whether the request is still
// to be answered (false after it wrote an error).
func (s *Server) block(w http.ResponseWriter, r *http.Request, indexOf func(*state.Reader) uint64) (uint64, bool) {
	q := r.URL.Query()
	var since uint64
	if v := q.Get("index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_index", "index %q is not a number", v))
			return 0, false
		}
		since = n
	}
	wait := defaultWait
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			s.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_wait", "wait %q is not a duration", v))
			return 0, false
		}
		wait = min(d, maxBlockingWait)
	}
	if since == 0 {
		var idx uint64
		s.state.View(func(rd *state.Reader) { idx = indexOf(rd) })
		w.Header().Set(indexHeader, strconv.FormatUint(idx, 10))
		return idx, true
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	idx, err := s.state.WaitIndex(ctx, since, indexOf)
	if err != nil && r.Context().Err() != nil {
		return 0, false // the client went away
	}
	w.Header().Set(indexHeader, strconv.FormatUint(max(idx, 1), 10))
	return idx, true
}
