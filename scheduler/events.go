package scheduler

import (
	"context"
	"strings"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/state"
)

// EventFilter is what an event stream accepts; nil accepts everything.
type EventFilter func(state.Event) bool

// ParseEventTopics reads a stream's topics: Topic or Topic:Key, where
// either part may be "*". No topic accepts everything.
func ParseEventTopics(topics []string) (EventFilter, error) {
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

// Events returns the events after index since that accept takes, waiting
// until there is one or ctx ends. gap reports that events after since
// are no longer kept: the caller re-reads the state and resumes from
// [Server.Index].
func (s *Server) Events(ctx context.Context, caller Identity, since uint64, accept EventFilter) (evs []state.Event, gap bool, err error) {
	ctx, stop := s.UntilStopping(ctx)
	defer stop()
	return s.state.Events(ctx, since, accept)
}

// Index is the index of the state's latest change.
func (s *Server) Index() uint64 {
	var idx uint64
	s.state.View(func(rd *state.Reader) { idx = rd.Index() })
	return idx
}
