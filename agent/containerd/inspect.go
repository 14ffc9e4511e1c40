package containerd

import (
	"context"
	"fmt"
	"maps"

	"github.com/containerd/containerd"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/errdefs"
	v1 "github.com/containerd/containerd/metrics/types/v1"
	v2 "github.com/containerd/containerd/metrics/types/v2"
	"github.com/containerd/typeurl/v2"

	"github.com/docketd/docket/agent"
)

// List returns every container of the runtime's namespace with its labels,
// whether its task runs, and, once it has exited, how it ended. It asks
// containerd for all containers and all tasks at once, then for the
// cgroup counters of the tasks that failed.
func (r *Runtime) List(ctx context.Context) ([]agent.Container, error) {
	ctrs, err := r.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	resp, err := r.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", errdefs.FromGRPC(err))
	}
	procs := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		procs[p.ID] = p
	}

	out := make([]agent.Container, 0, len(ctrs))
	var failed []string
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
		if err != nil {
			return nil, fmt.Errorf("list containers: %s: %w", ctr.ID(), err)
		}
		c := agent.Container{ID: ctr.ID(), Labels: maps.Clone(info.Labels)}
		if p := procs[ctr.ID()]; p != nil {
			switch p.Status {
			case tasktypes.Status_STOPPED:
				c.Exit = &agent.Exit{Code: int(p.ExitStatus), At: p.ExitedAt.AsTime()}
				if p.ExitStatus != 0 { // see Runtime.exit
					failed = append(failed, ctr.ID())
				}
			case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
				c.Running = true
			}
		}
		out = append(out, c)
	}

	if len(failed) > 0 {
		oom, err := r.oomKills(ctx, failed...)
		if err != nil {
			r.log.Warn("cannot tell whether exited tasks were OOM-killed", "error", err)
		}
		for i := range out {
			if e := out[i].Exit; e != nil && oom[out[i].ID] {
				e.OOMKilled = true
				e.Reason = ReasonOOMKilled
			}
		}
	}
	return out, nil
}

// Stats returns the CPU time and memory use of task id, from its cgroup.
func (r *Runtime) Stats(ctx context.Context, id string) (agent.Usage, error) {
	ms, err := r.metrics(ctx, id)
	if err != nil {
		return agent.Usage{}, fmt.Errorf("stats %s: %w", id, err)
	}
	if len(ms) == 0 {
		return agent.Usage{}, fmt.Errorf("stats %s: %w", id, agent.ErrNotFound)
	}
	s, err := decodeMetrics(ms[0])
	if err != nil {
		return agent.Usage{}, fmt.Errorf("stats %s: %w", id, err)
	}
	return s.usage, nil
}

// oomKilled reports whether the kernel OOM-killed a process of task id,
// which has exited but not been deleted.
func (r *Runtime) oomKilled(ctx context.Context, id string) (bool, error) {
	oom, err := r.oomKills(ctx, id)
	return oom[id], err
}

// oomKills returns, for the tasks ids, whether their cgroup records an OOM
// kill.
func (r *Runtime) oomKills(ctx context.Context, ids ...string) (map[string]bool, error) {
	ms, err := r.metrics(ctx, ids...)
	if err != nil {
		return nil, err
	}
	oom := make(map[string]bool, len(ms))
	for _, m := range ms {
		s, err := decodeMetrics(m)
		if err != nil {
			return oom, err
		}
		oom[m.ID] = s.oomKills > 0
	}
	return oom, nil
}

// metrics returns the cgroup metrics of the tasks ids, in one request.
// Tasks containerd does not know are left out.
func (r *Runtime) metrics(ctx context.Context, ids ...string) ([]*types.Metric, error) {
	filters := make([]string, len(ids))
	for i, id := range ids {
		filters[i] = "id==" + id // filters are alternatives
	}
	resp, err := r.client.TaskService().Metrics(ctx, &tasksapi.MetricsRequest{Filters: filters})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return resp.Metrics, nil
}

// cgroupStats is what Docket reads from a task's cgroup metrics.
type cgroupStats struct {
	usage    agent.Usage
	oomKills uint64
}

// decodeMetrics reads a task's metrics, from cgroup v1 or v2. Memory use is
// the working set: usage less the inactive page cache, which the kernel
// reclaims before it kills for memory.
func decodeMetrics(m *types.Metric) (cgroupStats, error) {
	if m.Data == nil {
		return cgroupStats{}, fmt.Errorf("task %s: no metrics", m.ID)
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return cgroupStats{}, fmt.Errorf("task %s metrics: %w", m.ID, err)
	}
	switch s := v.(type) {
	case *v1.Metrics:
		mem := s.GetMemory()
		return cgroupStats{
			usage: agent.Usage{
				CPUSeconds:  float64(s.GetCPU().GetUsage().GetTotal()) / 1e9,
				MemoryBytes: saturatingSub(mem.GetUsage().GetUsage(), mem.GetTotalInactiveFile()),
			},
			oomKills: s.GetMemoryOomControl().GetOomKill(),
		}, nil
	case *v2.Metrics:
		mem := s.GetMemory()
		return cgroupStats{
			usage: agent.Usage{
				CPUSeconds:  float64(s.GetCPU().GetUsageUsec()) / 1e6,
				MemoryBytes: saturatingSub(mem.GetUsage(), mem.GetInactiveFile()),
			},
			oomKills: s.GetMemoryEvents().GetOomKill(),
		}, nil
	default:
		return cgroupStats{}, fmt.Errorf("task %s: unknown metrics type %s", m.ID, m.Data.GetTypeUrl())
	}
}

func saturatingSub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
