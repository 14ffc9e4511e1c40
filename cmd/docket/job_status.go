package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/scheduler/api"
)

func newJobStatusCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "status [NAME]",
		Short: "List jobs, or show one job with its allocations",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl := c.client(cmd)
			if len(args) == 0 {
				jobs, _, err := cl.Jobs(ctx, api.QueryOptions{})
				if err != nil {
					return err
				}
				return output(cmd, c.stdout, jobs, func(w io.Writer) {
					fmt.Fprintln(w, "NAME\tTYPE\tVERSION\tSTATUS\tDESIRED\tRUNNING")
					for _, j := range jobs {
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%d\n", j.Name, j.Spec.Type, j.Version, jobState(j), j.Count, j.Running)
					}
				})
			}
			j, _, err := cl.Job(ctx, args[0], api.QueryOptions{})
			if err != nil {
				return err
			}
			allocs, _, err := cl.Allocations(ctx, args[0], "", "", api.QueryOptions{})
			if err != nil {
				return err
			}
			view := struct {
				*api.JobStatus
				Allocs []api.Allocation `json:"allocation_list"`
			}{j, allocs}
			return output(cmd, c.stdout, view, func(w io.Writer) {
				fmt.Fprintf(w, "Name\t%s\nType\t%s\nVersion\t%d\nStatus\t%s\nDesired\t%d\nRunning\t%d\n",
					j.Name, j.Spec.Type, j.Version, jobState(*j), j.Count, j.Running)
				if j.Spec.Queue != "" {
					fmt.Fprintf(w, "Queue\t%s\n", j.Spec.Queue)
				}
				if e := j.LatestEval; e != nil {
					fmt.Fprintf(w, "Evaluation\t%s %s (%s)\n", short(e.ID), e.Status, e.TriggeredBy)
					if e.BlockedReason != "" {
						fmt.Fprintf(w, "Blocked\t%s\n", e.BlockedReason)
					}
				}
				fmt.Fprintln(w, "\nALLOCATION\tINDEX\tNODE\tVERSION\tDESIRED\tSTATUS\tAGE")
				for _, a := range allocs {
					fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", short(a.ID), a.Index, short(a.NodeID), a.JobVersion,
						a.DesiredStatus, a.ClientStatus, time.Since(a.CreatedAt).Round(time.Second))
				}
			})
		},
	}
}

func jobState(j api.JobStatus) string {
	switch {
	case j.Stopped:
		return "stopped"
	case j.Running > 0:
		return "running"
	case j.Allocations[api.AllocPending] > 0:
		return "pending"
	}
	return "idle"
}

func newJobStopCommand(c *cli) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a job's allocations (and with -purge, remove the job)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := c.client(cmd).StopJob(cmd.Context(), args[0], purge)
			if err != nil {
				return err
			}
			verb := "stopped"
			if purge {
				verb = "purged"
			}
			return output(cmd, c.stdout, res, func(w io.Writer) {
				fmt.Fprintf(w, "job %s %s (evaluation %s)\n", args[0], verb, short(res.Evaluation))
			})
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "remove the job as well")
	return cmd
}

func newJobScaleCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "scale NAME COUNT",
		Short: "Set a job's desired count",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("count %q is not a number", args[1])
			}
			res, err := c.client(cmd).ScaleJob(cmd.Context(), args[0], n)
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, res, func(w io.Writer) {
				fmt.Fprintf(w, "job %s scaled to %d (evaluation %s)\n", args[0], n, short(res.Evaluation))
			})
		},
	}
}

func newNodeCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Inspect and drain nodes"}
	cmd.AddCommand(newNodeStatusCommand(c), newNodeDrainCommand(c), newNodeEligibilityCommand(c))
	return cmd
}

func newNodeStatusCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "status [ID]",
		Short: "List nodes, or show one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl := c.client(cmd)
			if len(args) == 0 {
				nodes, _, err := cl.Nodes(ctx, api.QueryOptions{})
				if err != nil {
					return err
				}
				return output(cmd, c.stdout, nodes, func(w io.Writer) {
					fmt.Fprintln(w, "ID\tNAME\tCLASS\tSTATUS\tELIGIBLE\tDRAIN\tCPU\tMEMORY\tALLOCS")
					for _, n := range nodes {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%v\t%d/%d\t%d/%d MiB\t%d\n", short(n.ID), n.Name, dash(n.Class),
							n.Status, n.Eligible, n.Drain != nil, n.UsedCPU, n.CPU, n.UsedMemory, n.Memory, n.Allocations)
					}
				})
			}
			n, err := cl.Node(ctx, args[0])
			if err != nil {
				return err
			}
			allocs, _, err := cl.Allocations(ctx, "", n.ID, "", api.QueryOptions{})
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, n, func(w io.Writer) {
				fmt.Fprintf(w, "ID\t%s\nName\t%s\nClass\t%s\nStatus\t%s\nEligible\t%v\nHealthy\t%v %s\nAddress\t%s\nOS/Arch\t%s/%s\nCPU\t%d of %d millicores\nMemory\t%d of %d MiB\n",
					n.ID, n.Name, dash(n.Class), n.Status, n.Eligible, n.Healthy, n.HealthReason, dash(n.Address),
					n.OS, n.Arch, n.UsedCPU, n.CPU, n.UsedMemory, n.Memory)
				keys := make([]string, 0, len(n.Meta))
				for k := range n.Meta {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(w, "meta.%s\t%s\n", k, n.Meta[k])
				}
				if m := n.Measured; m != nil {
					fmt.Fprintf(w, "Measured\t%d millicores, %d MiB in use (%s ago)\n", m.CPU, m.Memory, time.Since(m.At).Round(time.Second))
				}
				use := map[string]api.TaskUsage{}
				if n.Measured != nil {
					for _, u := range n.Measured.Tasks {
						use[u.AllocID+"/"+u.Task] = u
					}
				}
				fmt.Fprintln(w, "\nALLOCATION\tJOB\tINDEX\tDESIRED\tSTATUS\tCPU SECONDS\tMEMORY")
				for _, a := range allocs {
					cpu, mem := "-", "-"
					for name := range a.Tasks {
						if u, ok := use[a.ID+"/"+name]; ok {
							cpu, mem = fmt.Sprintf("%.1f", u.CPUSeconds), fmt.Sprintf("%.1f MiB", float64(u.MemoryBytes)/(1<<20))
						}
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", short(a.ID), a.Job, a.Index, a.DesiredStatus, a.ClientStatus, cpu, mem)
				}
			})
		},
	}
}

func newNodeDrainCommand(c *cli) *cobra.Command {
	var disable, eligible bool
	var deadline string
	cmd := &cobra.Command{
		Use:   "drain ID",
		Short: "Drain a node: no new allocations, and its allocations move elsewhere",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := c.client(cmd).DrainNode(cmd.Context(), args[0], api.DrainRequest{Enable: !disable, Deadline: deadline, MarkEligible: eligible})
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, n, func(w io.Writer) {
				if disable {
					fmt.Fprintf(w, "node %s: drain ended (eligible %v)\n", n.Name, n.Eligible)
				} else {
					fmt.Fprintf(w, "node %s: draining\n", n.Name)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&disable, "disable", false, "end the drain")
	cmd.Flags().BoolVar(&eligible, "mark-eligible", false, "with -disable: make the node eligible again")
	cmd.Flags().StringVar(&deadline, "deadline", "", "stop what has not moved after this long, e.g. 1h")
	return cmd
}

func newNodeEligibilityCommand(c *cli) *cobra.Command {
	var disable bool
	cmd := &cobra.Command{
		Use:   "eligibility ID",
		Short: "Make a node eligible for new allocations (or not, with -disable)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := c.client(cmd).SetNodeEligibility(cmd.Context(), args[0], !disable)
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, n, func(w io.Writer) {
				fmt.Fprintf(w, "node %s: eligible %v\n", n.Name, n.Eligible)
			})
		},
	}
	cmd.Flags().BoolVar(&disable, "disable", false, "make the node ineligible")
	return cmd
}

func newAllocLogsCommand(c *cli) *cobra.Command {
	var o api.LogsOptions
	cmd := &cobra.Command{
		Use:   "logs ALLOC [TASK]",
		Short: "Print a task's stdout (or stderr), and with -f follow it",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				o.Task = args[1]
			}
			rc, err := c.client(cmd).Logs(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(c.stdout, rc)
			if cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep printing what the task writes")
	cmd.Flags().BoolVar(&o.Stderr, "stderr", false, "print stderr instead of stdout")
	cmd.Flags().IntVar(&o.Tail, "tail", -1, "print only the last N lines")
	return cmd
}

func newAllocCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "alloc", Short: "Inspect allocations"}
	cmd.AddCommand(newAllocLogsCommand(c))
	cmd.AddCommand(&cobra.Command{
		Use:   "status ID",
		Short: "Show an allocation and its tasks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := c.client(cmd).Allocation(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, a, func(w io.Writer) {
				fmt.Fprintf(w, "ID\t%s\nJob\t%s[%d] version %d\nNode\t%s\nDesired\t%s %s\nStatus\t%s %s\nResources\t%d millicores, %d MiB\nCreated\t%s\n",
					a.ID, a.Job, a.Index, a.JobVersion, a.NodeID, a.DesiredStatus, a.DesiredReason,
					a.ClientStatus, a.ClientReason, a.CPU, a.Memory, a.CreatedAt.Local().Format(time.RFC3339))
				if a.PreviousAlloc != "" {
					fmt.Fprintf(w, "Replaces\t%s\n", a.PreviousAlloc)
				}
				names := make([]string, 0, len(a.Tasks))
				for n := range a.Tasks {
					names = append(names, n)
				}
				sort.Strings(names)
				if len(names) > 0 {
					fmt.Fprintln(w, "\nTASK\tSTATE\tEXIT\tRESTARTS\tREASON")
				}
				for _, n := range names {
					t := a.Tasks[n]
					fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", n, t.State, t.ExitCode, t.Restarts, dash(t.Reason))
				}
			})
		},
	})
	return cmd
}
