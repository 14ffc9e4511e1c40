package agent

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/docketd/docket/scheduler/api"
)

// Labels the agent puts on its containers.
const (
	labelAlloc = "docket.alloc"
	labelTask  = "docket.task"
	labelJob   = "docket.job"
	labelNode  = "docket.node"
)

// watch follows the node's allocations with a blocking query and makes
// the host match them.
func (a *Agent) watch(ctx context.Context) error {
	var index uint64
	first := true
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		na, err := a.client().NodeAllocations(ctx, a.nodeID, api.QueryOptions{Index: index, Wait: 5 * time.Minute})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var apiErr *api.Error
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
				index = 0 // the server lost us; heartbeat re-registers
			}
			if !a.retryAfter(ctx, &delay, "watch allocations", err) {
				return nil
			}
			continue
		}
		delay = 100 * time.Millisecond
		if na.Index < index {
			index = 0 // the server's state went back (restored); start over
		} else {
			index = na.Index
		}
		var orphans []Container
		if first {
			// Containers from before a restart: reattach or remove them.
			orphans, err = a.adopt(ctx, na.Allocations)
			if err != nil {
				a.logger.Error("list containers", "err", err)
				index = 0
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
				continue
			}
			first = false
		}
		a.sync(ctx, na.Allocations)
		for _, c := range orphans {
			a.removeOrphan(ctx, c)
		}
	}
	return nil
}

// adopt is the first sync after a start: it creates runners that reattach
// to containers of allocations that should still run (or that finished
// while the agent was away), and returns the containers no current
// allocation owns.
func (a *Agent) adopt(ctx context.Context, allocs []api.NodeAllocation) ([]Container, error) {
	containers, err := a.cfg.Inspector.List(ctx)
	if err != nil {
		return nil, err
	}
	byAlloc := map[string][]Container{}
	for _, c := range containers {
		if id := c.Labels[labelAlloc]; id != "" {
			byAlloc[id] = append(byAlloc[id], c)
		}
	}
	var orphans []Container
	known := map[string]bool{}
	for _, na := range allocs {
		known[na.ID] = true
		cs := byAlloc[na.ID]
		if len(cs) == 0 || na.Job == nil {
			continue
		}
		// The runner reattaches to what should run, reports what finished
		// meanwhile, and stops and removes what should not run.
		a.startRunner(ctx, na, cs)
	}
	for id, cs := range byAlloc {
		if !known[id] {
			orphans = append(orphans, cs...)
		}
	}
	return orphans, nil
}

// sync starts runners for new allocations and tells existing runners
// what the server wants of theirs.
func (a *Agent) sync(ctx context.Context, allocs []api.NodeAllocation) {
	seen := map[string]bool{}
	for _, na := range allocs {
		seen[na.ID] = true
		a.mu.Lock()
		r := a.runners[na.ID]
		a.mu.Unlock()
		if r != nil {
			r.update(na)
			continue
		}
		if na.DesiredStatus == api.DesiredRun && !api.Terminal(na.ClientStatus) && na.Job != nil {
			a.startRunner(ctx, na, nil)
		}
	}
	// Allocations the server no longer lists (garbage-collected or
	// purged) stop.
	a.mu.Lock()
	var gone []*allocRunner
	for id, r := range a.runners {
		if !seen[id] {
			gone = append(gone, r)
		}
	}
	a.mu.Unlock()
	for _, r := range gone {
		r.stop("allocation removed by the server")
	}
}

func (a *Agent) startRunner(ctx context.Context, na api.NodeAllocation, existing []Container) {
	r := newAllocRunner(a, na, existing)
	a.mu.Lock()
	if a.runners[na.ID] != nil {
		a.mu.Unlock()
		return
	}
	a.runners[na.ID] = r
	a.mu.Unlock()
	a.running.Add(1)
	go func() {
		defer a.running.Done()
		r.run(ctx)
		a.mu.Lock()
		if a.runners[na.ID] == r {
			delete(a.runners, na.ID)
		}
		a.mu.Unlock()
	}()
}

// removeOrphan stops and removes a container no allocation owns: its
// allocation was replaced or purged while the agent was away.
func (a *Agent) removeOrphan(ctx context.Context, c Container) {
	a.logger.Info("removing orphaned container", "container", c.ID, "alloc", c.Labels[labelAlloc])
	if c.Running {
		if _, err := a.cfg.Runtime.Stop(ctx, c.ID, "SIGTERM", 5*time.Second); err != nil && !errors.Is(err, ErrNotFound) {
			a.logger.Warn("stop orphan", "container", c.ID, "err", err)
		}
	}
	if err := a.cfg.Runtime.Remove(ctx, c.ID); err != nil {
		a.logger.Warn("remove orphan", "container", c.ID, "err", err)
	}
}

// collectGarbage deletes the logs of allocations that finished longer ago
// than the retention.
func (a *Agent) collectGarbage(ctx context.Context) error {
	t := time.NewTicker(min(a.cfg.LogRetention/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		dirs, _ := os.ReadDir(filepath.Join(a.cfg.DataDir, "allocs"))
		for _, d := range dirs {
			a.mu.Lock()
			running := a.runners[d.Name()] != nil
			a.mu.Unlock()
			if running {
				continue
			}
			fi, err := os.Stat(filepath.Join(a.cfg.DataDir, "allocs", d.Name(), finishedFile))
			if err == nil && time.Since(fi.ModTime()) > a.cfg.LogRetention {
				os.RemoveAll(filepath.Join(a.cfg.DataDir, "allocs", d.Name()))
			}
		}
	}
}
