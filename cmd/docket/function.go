package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/api"
)

func newFunctionCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "fn",
		Aliases: []string{"function"},
		Short:   "Invoke functions and inspect their execution environments",
		Long: "A function is a job of type \"function\": its image runs in execution environments that\n" +
			"serve invocations through the Lambda runtime API, kept warm between them. Invoke one\n" +
			"synchronously (the answer is printed), as an event (queued durably), or as a dry run.",
	}
	cmd.AddCommand(newFunctionInvokeCommand(c), newFunctionListCommand(c), newFunctionStatusCommand(c), newFunctionLogsCommand(c))
	return cmd
}

func newFunctionInvokeCommand(c *cli) *cobra.Command {
	var file, typ string
	cmd := &cobra.Command{
		Use:   "invoke NAME [PAYLOAD]",
		Short: "Invoke a function with the PAYLOAD argument or a --file (default {}); print its answer",
		Long: "Invoke a function and print its answer. A failed function's error report is printed\n" +
			"and the command exits 1. --type Event queues the invocation and prints its request id.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			payload := []byte("{}")
			if file == "-" {
				b, err := c.messageBody(args[1:], "", "payload")
				if err != nil {
					return err
				}
				payload = b
			} else if len(args) == 2 || file != "" {
				b, err := c.messageBody(args[1:], file, "payload")
				if err != nil {
					return err
				}
				payload = b
			}
			out, err := c.client(cmd).Invoke(cmd.Context(), args[0], api.InvokeRequest{Payload: payload, Type: typ})
			if err != nil {
				return err
			}
			if err := output(cmd, c.stdout, out, func(w io.Writer) {
				switch out.StatusCode {
				case 202:
					fmt.Fprintf(w, "Queued\t%s\n", out.RequestID)
				case 204:
					fmt.Fprintf(w, "Dry run of %s: ok\n", args[0])
				default:
					w.Write(out.Payload)
					fmt.Fprintln(w)
				}
			}); err != nil {
				return err
			}
			if out.FunctionError != "" {
				return errdefs.New(errdefs.ErrInvalid, "function_error", "the function failed (%s); request %s", out.FunctionError, out.RequestID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "read the payload from this file (- for stdin)")
	cmd.Flags().StringVar(&typ, "type", api.InvokeSync, "invocation type: RequestResponse, Event or DryRun")
	return cmd
}

func newFunctionListCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List functions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs, err := c.client(cmd).Functions(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, fs, func(w io.Writer) {
				fmt.Fprintln(w, "NAME\tENVIRONMENTS\tPENDING\tQUEUED\tMEMORY\tTIMEOUT\tQUEUE")
				for _, f := range fs {
					fmt.Fprintf(w, "%s\t%d/%d\t%d\t%d\t%d MiB\t%s\t%s\n", f.Name, len(f.Environments), f.Concurrency,
						f.Pending, f.Queued, f.Memory, f.Timeout, dash(f.Queue))
				}
			})
		},
	}
}

func newFunctionStatusCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show a function and its execution environments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := c.client(cmd).Function(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, f, func(w io.Writer) {
				fmt.Fprintf(w, "Name\t%s\nARN\t%s\nVersion\t%d\nHandler\t%s\nMemory\t%d MiB\nTimeout\t%s\n", f.Name, f.ARN, f.Version, dash(f.Handler), f.Memory, f.Timeout)
				fmt.Fprintf(w, "Concurrency\t%d (warm minimum %d)\nEnvironments\t%d wanted\nPending\t%d\nQueued events\t%d\n",
					f.Concurrency, f.WarmMin, f.Desired, f.Pending, f.Queued)
				if f.Queue != "" {
					fmt.Fprintf(w, "Event source\tqueue %s\n", f.Queue)
				}
				fmt.Fprintln(w, "\nENVIRONMENT\tNODE\tSTATE\tINVOCATIONS\tLAST USED")
				for _, e := range f.Environments {
					last := "-"
					if !e.LastUsed.IsZero() {
						last = e.LastUsed.Local().Format(time.RFC3339)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", e.Alloc, e.Node, e.State, e.Invocations, last)
				}
			})
		},
	}
}

func newFunctionLogsCommand(c *cli) *cobra.Command {
	var o api.LogsOptions
	var alloc string
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print what a function's environments wrote (stdout, or stderr), and with -f follow one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl := c.client(cmd)
			f, err := cl.Function(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var envs []string
			for _, e := range f.Environments {
				if alloc == "" || e.Alloc == alloc {
					envs = append(envs, e.Alloc)
				}
			}
			if alloc != "" && len(envs) == 0 {
				envs = []string{alloc} // an environment that ended: its logs are kept a while
			}
			if o.Follow && len(envs) > 1 {
				envs = envs[len(envs)-1:]
				fmt.Fprintf(os.Stderr, "following environment %s (--alloc chooses another)\n", envs[0])
			}
			for _, id := range envs {
				if len(envs) > 1 {
					fmt.Fprintf(c.stdout, "==> %s <==\n", id)
				}
				rc, err := cl.Logs(cmd.Context(), id, o)
				if err != nil {
					return err
				}
				_, err = io.Copy(c.stdout, rc)
				rc.Close()
				if cmd.Context().Err() != nil {
					return nil
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep printing what the environment writes")
	cmd.Flags().BoolVar(&o.Stderr, "stderr", false, "print stderr instead of stdout")
	cmd.Flags().IntVar(&o.Tail, "tail", -1, "print only the last N lines")
	cmd.Flags().StringVar(&alloc, "alloc", "", "only this environment (allocation ID)")
	return cmd
}
