package scheduler

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/state"
)

// eventHeartbeat is how often an idle event stream sends a line, so that
// clients and proxies know it is alive.
const eventHeartbeat = 30 * time.Second

// topicFilter accepts events by ?topic=Topic or ?topic=Topic:Key, where
// either part may be "*". No topic accepts everything.
func topicFilter(topics []string) (func(state.Event) bool, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	type rule struct{ topic, key string }
	var rules []rule
	for _, t := range topics {
		topic, key, _ := strings.Cut(t, ":")
		switch topic {
		case "*", "Job", "Node", "Allocation", "Evaluation":
		default:
			return nil, errdefs.New(errdefs.ErrInvalid, "invalid_topic",
				"topic %q: use Job, Node, Allocation, Evaluation or *, optionally :key", t)
		}
		if key == "" {
			key = "*"
		}
		rules = append(rules, rule{topic, key})
	}
	return func(e state.Event) bool {
		for _, r := range rules {
			if (r.topic == "*" || r.topic == e.Topic) && (r.key == "*" || r.key == e.Key) {
				return true
			}
		}
		return false
	}, nil
}

// events streams state changes as NDJSON, one event a line, from ?index on.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	accept, err := topicFilter(q["topic"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var since uint64
	if v := q.Get("index"); v != "" {
		if since, err = strconv.ParseUint(v, 10, 64); err != nil {
			s.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_index", "index %q is not a number", v))
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	flush()
	for {
		ctx, cancel := context.WithTimeout(r.Context(), eventHeartbeat)
		evs, gap, err := s.state.Events(ctx, since, accept)
		cancel()
		if r.Context().Err() != nil {
			return
		}
		if err != nil { // the heartbeat interval passed with nothing new
			if _, err := w.Write([]byte("{}\n")); err != nil {
				return
			}
			flush()
			continue
		}
		if gap {
			enc.Encode(map[string]any{"gap": true, "index": since,
				"message": "events after this index are no longer kept: re-read the state and resume from its index"})
		}
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return
			}
			since = e.Index
		}
		if gap && len(evs) == 0 {
			var idx uint64
			s.state.View(func(rd *state.Reader) { idx = rd.Index() })
			since = idx
		}
		flush()
	}
}
