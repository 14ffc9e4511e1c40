package scheduler

import (
	"context"
	"time"

	"github.com/docketd/docket/scheduler/state"
)

// gcInterval is how often the server looks for records to collect.
const gcInterval = time.Minute

// runGC removes allocations that ended longer ago than cfg.GCAge (and whose
// dispatch message is settled), and finished evaluations as old, so that
// the state of a busy dispatch job does not grow without end; and ACL
// tokens that expired as long ago.
func (s *Server) runGC(ctx context.Context) error {
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n, err := s.collect(s.now().Add(-s.cfg.GCAge)); err != nil {
			s.logger.Error("garbage collection", "err", err)
		} else if n > 0 {
			s.logger.Info("garbage collected allocations", "count", n)
		}
	}
}

// collect deletes what ended before cutoff and returns how many
// allocations it deleted.
func (s *Server) collect(cutoff time.Time) (int, error) {
	var ids, tokens []string
	var evals []*state.Evaluation
	s.state.View(func(rd *state.Reader) {
		for _, t := range rd.ACLTokens() {
			if t.Expired(cutoff) {
				tokens = append(tokens, t.AccessorID)
			}
		}
		for _, status := range []string{state.AllocComplete, state.AllocFailed, state.AllocLost} {
			for _, a := range rd.Allocs("", "", status) {
				if a.ModifiedAt.Before(cutoff) && (a.Dispatch == nil || a.Dispatch.Settled) {
					ids = append(ids, a.ID)
				}
			}
		}
		for _, e := range rd.Evals("") {
			if e.Status != state.EvalPending && e.Status != state.EvalBlocked && e.CreatedAt.Before(cutoff) {
				evals = append(evals, e)
			}
		}
	})
	if len(tokens) > 0 {
		if _, err := s.state.Apply(state.DeleteACLTokens{AccessorIDs: tokens}); err != nil {
			return 0, err
		}
		s.logger.Info("garbage collected expired ACL tokens", "count", len(tokens))
	}
	total := len(ids)
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if _, err := s.state.Apply(state.DeleteAllocs{IDs: ids[:n]}); err != nil {
			return total - len(ids), err
		}
		ids = ids[n:]
	}
	if len(evals) > 0 {
		var keep []string
		for _, e := range evals {
			keep = append(keep, e.ID)
		}
		if _, err := s.state.Apply(state.DeleteEvals{IDs: keep}); err != nil {
			return total, err
		}
	}
	return total, nil
}
