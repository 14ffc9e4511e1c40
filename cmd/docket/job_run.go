package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// loadJobFile parses a job file on this machine, as `job run` and `job
// plan` do: variables come from this shell, queues that already exist on
// the server may be referenced, and relative oci-archive image paths are
// made absolute against the file's directory, so the agents find them.
func loadJobFile(ctx context.Context, c *cli, cl *api.Client, vars *varFlags, name string) (*specs.File, error) {
	opts, err := vars.parseOptions(c)
	if err != nil {
		return nil, err
	}
	if opts.QueueExists == nil {
		qs, err := cl.Queues(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the server's queues: %w", err)
		}
		existing := map[string]bool{}
		for _, q := range qs {
			existing[q.Name] = true
		}
		opts.QueueExists = func(n string) bool { return existing[n] }
	}
	f, diags := parseJobFile(name, opts)
	if diags.HasErrors() {
		for _, d := range diags {
			fmt.Fprintln(c.stderr, specs.FormatDiagnostic(d))
		}
		return nil, exitError{code: 1}
	}
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, err
	}
	for _, j := range f.Jobs {
		for _, t := range j.Tasks {
			if p, ok := strings.CutPrefix(t.Image, "oci-archive:"); ok && !filepath.IsAbs(p) {
				t.Image = "oci-archive:" + filepath.Join(dir, p)
			}
		}
	}
	return f, nil
}

func newJobRunCommand(c *cli) *cobra.Command {
	var vars varFlags
	var detach bool
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Register a job file's queues and jobs, and follow their placement",
		Long: "Run registers the queues and jobs of FILE. Without -detach it follows each\n" +
			"job's evaluation and shows placements until the allocations run or fail,\n" +
			"like `nomad job run`; it exits 2 when allocations could not be placed or\n" +
			"failed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl := c.client(cmd)
			f, err := loadJobFile(ctx, c, cl, &vars, args[0])
			if err != nil {
				return err
			}
			res, err := cl.RegisterJobs(ctx, f)
			if err != nil {
				return err
			}
			for _, q := range res.Queues {
				verb := "exists"
				if q.Created {
					verb = "created"
				}
				fmt.Fprintf(c.stdout, "==> queue %q %s\n", q.Queue.Name, verb)
			}
			for _, t := range res.Topics {
				verb := "exists"
				if t.Created {
					verb = "created"
				}
				fmt.Fprintf(c.stdout, "==> topic %q %s, %s registered\n", t.Name, verb, plural(t.Subscriptions, "subscription"))
			}
			failed := false
			for _, j := range res.Jobs {
				verb := "unchanged"
				if j.Changed {
					verb = "registered"
				}
				fmt.Fprintf(c.stdout, "==> job %q %s (version %d)\n", j.Name, verb, j.Version)
				if detach || j.Evaluation == "" {
					if j.Evaluation != "" {
						fmt.Fprintf(c.stdout, "    evaluation %s\n", j.Evaluation)
					}
					continue
				}
				ok, err := monitorJob(ctx, c.stdout, cl, j)
				if err != nil {
					return err
				}
				failed = failed || !ok
			}
			if failed {
				return exitError{code: 2}
			}
			return nil
		},
	}
	vars.register(cmd)
	cmd.Flags().BoolVar(&detach, "detach", false, "return once registered, without following placement")
	return cmd
}

// monitorJob follows a registration's evaluation and the allocations of
// the new version until they all run (or finish, for batch jobs), one
// fails, or placement is blocked. It reports whether all went well.
func monitorJob(ctx context.Context, w io.Writer, cl *api.Client, reg api.RegisteredJob) (bool, error) {
	fmt.Fprintf(w, "    evaluation %s\n", reg.Evaluation)
	var index uint64
	seen := map[string]string{}
	evalDone := false
	for {
		st, idx, err := cl.Job(ctx, reg.Name, api.QueryOptions{Index: index, Wait: 30 * time.Second})
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return false, err
			}
			return false, err
		}
		index = idx
		if e := st.LatestEval; e != nil && !evalDone && e.Status != api.EvalPending {
			evalDone = true
			fmt.Fprintf(w, "    evaluation %s: %s (%d placed)\n", e.Status, dash(e.Description), e.Placed)
			if e.Status == api.EvalBlocked {
				fmt.Fprintf(w, "    placement blocked: %s\n", e.BlockedReason)
				return false, nil
			}
			if e.Status == api.EvalFailed {
				return false, nil
			}
		}
		if !evalDone {
			continue
		}
		allocs, _, err := cl.Allocations(ctx, reg.Name, "", "", api.QueryOptions{})
		if err != nil {
			return false, err
		}
		sort.Slice(allocs, func(i, j int) bool { return allocs[i].Index < allocs[j].Index })
		want, running, bad := 0, 0, 0
		for _, a := range allocs {
			if a.JobVersion != reg.Version || a.DesiredStatus != api.DesiredRun {
				continue
			}
			want++
			if seen[a.ID] != a.ClientStatus {
				seen[a.ID] = a.ClientStatus
				reason := ""
				if a.ClientReason != "" {
					reason = ": " + a.ClientReason
				}
				fmt.Fprintf(w, "    %s[%d] %s on %s: %s%s\n", a.Job, a.Index, short(a.ID), short(a.NodeID), a.ClientStatus, reason)
			}
			switch a.ClientStatus {
			case api.AllocRunning, api.AllocComplete:
				running++
			case api.AllocFailed, api.AllocLost:
				bad++
			}
		}
		if st.Spec != nil && st.Spec.Kind().Plan == specs.PlanPerMessage {
			fmt.Fprintf(w, "    dispatch job ready: one task per message on queue %q (up to %d at once)\n", st.Spec.Queue, st.Spec.Scaling.Max)
			return true, nil
		}
		if bad > 0 {
			return false, nil
		}
		if want > 0 && running == want || want == 0 && st.Count == 0 {
			fmt.Fprintf(w, "    %d of %d allocations running\n", running, want)
			return true, nil
		}
	}
}

// short abbreviates an ID to its last eight characters: Docket's IDs
// begin with a timestamp (allocations, evaluations) or a per-server prefix
// (messages), so their ends tell them apart.
func short(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func newJobPlanCommand(c *cli) *cobra.Command {
	var vars varFlags
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show what running a job file would change, changing nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl := c.client(cmd)
			f, err := loadJobFile(ctx, c, cl, &vars, args[0])
			if err != nil {
				return err
			}
			plan, err := cl.PlanJobs(ctx, f)
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, plan, func(w io.Writer) {
				for _, q := range plan.Queues {
					fmt.Fprintf(w, "queue %s\t%s\n", q.Name, q.Change)
				}
				for _, t := range plan.Topics {
					fmt.Fprintf(w, "topic %s\t%s\n", t.Name, t.Change)
					for _, sub := range t.Subscriptions {
						fmt.Fprintf(w, "  %s\n", sub)
					}
				}
				for _, j := range plan.Jobs {
					fmt.Fprintf(w, "job %s\t%s (version %d)\n", j.Name, j.Change, j.Version)
					for _, d := range j.Diff {
						fmt.Fprintf(w, "  ~ %s\n", d)
					}
					for _, p := range j.Place {
						fmt.Fprintf(w, "  + %s[%d] on %s\t(%s)\n", j.Name, p.Index, p.Node, p.Reason)
					}
					for _, s := range j.Stop {
						fmt.Fprintf(w, "  - %s\t(%s)\n", short(s.AllocID), s.Reason)
					}
					if j.Failed > 0 {
						fmt.Fprintf(w, "  ! %d allocations cannot be placed: %s\n", j.Failed, j.Blocked)
					}
				}
			})
		},
	}
	vars.register(cmd)
	return cmd
}
