package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

func newQueueCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Create queues, send and receive messages",
	}
	cmd.AddCommand(
		newQueueCreateCommand(c),
		newQueueListCommand(c),
		newQueueStatusCommand(c),
		newQueueSendCommand(c),
		newQueueReceiveCommand(c),
		newQueueDeleteCommand(c),
		newQueuePurgeCommand(c),
		newQueueRedriveCommand(c),
	)
	return cmd
}

// queueSettingFlags registers the queue block's settings as flags and
// returns a function that builds the settings from those the user set.
func queueSettingFlags(cmd *cobra.Command) func() (api.QueueSettings, error) {
	f := cmd.Flags()
	f.String("visibility-timeout", "", "how long a received message stays hidden (default 30s)")
	f.String("retention", "", "how long messages are kept (default 4d)")
	f.String("delay", "", "how long new messages stay hidden (default 0s)")
	f.String("receive-wait", "", "default long-poll wait of receives (default 0s)")
	f.String("max-message-size", "", "largest message, e.g. 256KiB (default 256KiB)")
	f.Int("max-receives", 0, "receives before a message goes to the dead-letter queue")
	f.String("dead-letter", "", "dead-letter queue")
	f.Bool("fifo", false, "a FIFO queue (its name ends in .fifo): ordered per message group, deduplicated")
	f.Bool("content-based-dedup", false, "FIFO: deduplicate by the body's SHA-256 when a send gives no --dedup-id")
	f.String("dedup-scope", "", "FIFO: queue (default) or messageGroup")
	f.String("throughput-limit", "", "FIFO: perQueue (default) or perMessageGroupId")
	return func() (api.QueueSettings, error) {
		var s api.QueueSettings
		for _, b := range []struct {
			flag string
			dst  **bool
		}{{"fifo", &s.FIFO}, {"content-based-dedup", &s.ContentBasedDeduplication}} {
			if f.Changed(b.flag) {
				v, _ := f.GetBool(b.flag)
				*b.dst = &v
			}
		}
		for _, o := range []struct {
			flag string
			dst  **string
		}{{"dedup-scope", &s.DeduplicationScope}, {"throughput-limit", &s.FIFOThroughputLimit}} {
			if f.Changed(o.flag) {
				v, _ := f.GetString(o.flag)
				*o.dst = &v
			}
		}
		for _, d := range []struct {
			flag string
			dst  **specs.Duration
		}{
			{"visibility-timeout", &s.VisibilityTimeout},
			{"retention", &s.Retention},
			{"delay", &s.Delay},
			{"receive-wait", &s.ReceiveWait},
		} {
			if !f.Changed(d.flag) {
				continue
			}
			v, _ := f.GetString(d.flag)
			parsed, err := specs.ParseDuration(v)
			if err != nil {
				return s, fmt.Errorf("--%s: %w", d.flag, err)
			}
			*d.dst = &parsed
		}
		if f.Changed("max-message-size") {
			v, _ := f.GetString("max-message-size")
			size, err := specs.ParseSize(v)
			if err != nil {
				return s, fmt.Errorf("--max-message-size: %w", err)
			}
			s.MaxMessageSize = &size
		}
		if f.Changed("max-receives") {
			v, _ := f.GetInt("max-receives")
			s.MaxReceives = &v
		}
		if f.Changed("dead-letter") {
			v, _ := f.GetString("dead-letter")
			s.DeadLetter = &v
		}
		return s, nil
	}
}

func newQueueCreateCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a queue (or change one with --update)",
		Args:  cobra.ExactArgs(1),
	}
	settings := queueSettingFlags(cmd)
	update := cmd.Flags().Bool("update", false, "change the settings of an existing queue")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		s, err := settings()
		if err != nil {
			return err
		}
		cl := c.client(cmd)
		var q *api.Queue
		verb := "created"
		if *update {
			q, err = cl.UpdateQueue(cmd.Context(), args[0], s)
			verb = "updated"
		} else {
			s.Name = args[0]
			var res *api.QueueCreated
			res, err = cl.CreateQueue(cmd.Context(), s)
			if err == nil {
				q = &res.Queue
				if !res.Created {
					verb = "already exists"
				}
			}
		}
		if err != nil {
			return err
		}
		return output(cmd, c.stdout, q, func(w io.Writer) {
			fmt.Fprintf(w, "queue %s %s\n", q.Name, verb)
		})
	}
	return cmd
}

// messageBody is a message given as the one argument in args, in file,
// or on standard input; what names the argument in errors.
func (c *cli) messageBody(args []string, file, what string) ([]byte, error) {
	switch {
	case len(args) == 1 && file != "":
		return nil, fmt.Errorf("give the %s as an argument or with --file, not both", what)
	case len(args) == 1:
		return []byte(args[0]), nil
	case file != "":
		return os.ReadFile(file)
	}
	return io.ReadAll(c.stdin)
}

func newQueueListCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List queues with their depth",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			qs, err := c.client(cmd).Queues(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, qs, func(w io.Writer) {
				fmt.Fprintln(w, "NAME\tVISIBLE\tIN FLIGHT\tDELAYED\tOLDEST\tDEAD LETTER")
				for _, q := range qs {
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\n", q.Name, q.Stats.Visible, q.Stats.InFlight,
						q.Stats.Delayed, age(q.Stats.OldestAgeSeconds), dash(q.DeadLetter))
				}
			})
		},
	}
}

func age(seconds float64) string {
	if seconds <= 0 {
		return "-"
	}
	return time.Duration(seconds * float64(time.Second)).Round(time.Second).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newQueueStatusCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show a queue's settings and figures",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := c.client(cmd).Queue(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, q, func(w io.Writer) {
				st := q.Stats
				rows := [][2]string{
					{"Name", q.Name},
					{"Created", q.CreatedAt.Local().Format(time.RFC3339)},
					{"Visibility timeout", q.VisibilityTimeout.String()},
					{"Retention", q.Retention.String()},
					{"Delay", q.Delay.String()},
					{"Receive wait", q.ReceiveWait.String()},
					{"Max message size", q.MaxMessageSize.String()},
					{"Max receives", fmt.Sprint(q.MaxReceives)},
					{"Dead letter", dash(q.DeadLetter)},
					{"Visible", fmt.Sprint(st.Visible)},
					{"In flight", fmt.Sprint(st.InFlight)},
					{"Delayed", fmt.Sprint(st.Delayed)},
					{"Oldest message", age(st.OldestAgeSeconds)},
					{"Sent", fmt.Sprint(st.Sent)},
					{"Received", fmt.Sprint(st.Received)},
					{"Deleted", fmt.Sprint(st.Deleted)},
					{"Dead-lettered", fmt.Sprint(st.DeadLettered)},
					{"Expired", fmt.Sprint(st.Expired)},
					{"Purged", fmt.Sprint(st.Purged)},
				}
				for _, k := range slices.Sorted(maps.Keys(q.Tags)) {
					rows = append(rows, [2]string{"Tag " + k, q.Tags[k]})
				}
				for _, r := range rows {
					fmt.Fprintf(w, "%s\t%s\n", r[0], r[1])
				}
			})
		},
	}
}

func newQueueSendCommand(c *cli) *cobra.Command {
	var (
		file  string
		lines bool
		attrs = stringMap{}
		delay string
		group string
		dedup string
	)
	cmd := &cobra.Command{
		Use:   "send NAME [BODY]",
		Short: "Send a message: the BODY argument, a --file, or stdin",
		Long: "Send sends one message whose body is the BODY argument, the content of\n" +
			"--file, or standard input. With --lines every non-empty line is its own\n" +
			"message, sent in batches of ten.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := c.messageBody(args[1:], file, "body")
			if err != nil {
				return err
			}
			tmpl := api.SendMessage{Group: group, DedupID: dedup}
			if len(attrs) > 0 {
				tmpl.Attributes = attrs
			}
			if delay != "" {
				d, err := specs.ParseDuration(delay)
				if err != nil {
					return fmt.Errorf("--delay: %w", err)
				}
				tmpl.Delay = &d
			}
			var msgs []api.SendMessage
			if lines {
				sc := bufio.NewScanner(bytes.NewReader(body))
				sc.Buffer(make([]byte, 0, 64<<10), 2<<20)
				for sc.Scan() {
					if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
						m := tmpl
						m.Body = line
						msgs = append(msgs, m)
					}
				}
				if err := sc.Err(); err != nil {
					return err
				}
			} else {
				m := tmpl
				m.Body = string(body)
				msgs = append(msgs, m)
			}
			var results []api.SendResult
			failed := 0
			cl := c.client(cmd)
			for start := 0; start < len(msgs); start += 10 {
				batch := msgs[start:min(start+10, len(msgs))]
				res, err := cl.Send(cmd.Context(), args[0], batch...)
				if err != nil {
					return err
				}
				for _, r := range res {
					if r.Error != nil {
						failed++
					}
				}
				results = append(results, res...)
			}
			err = output(cmd, c.stdout, results, func(w io.Writer) {
				for _, r := range results {
					switch {
					case r.Error != nil:
						fmt.Fprintf(w, "error\t%s\n", r.Error)
					case r.Duplicate:
						fmt.Fprintf(w, "%s\tduplicate (sequence %d)\n", r.ID, r.Seq)
					default:
						fmt.Fprintln(w, r.ID)
					}
				}
			})
			if err == nil && failed > 0 {
				return fmt.Errorf("%d of %d messages were not sent", failed, len(results))
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the body from `file`")
	cmd.Flags().BoolVar(&lines, "lines", false, "send each line as its own message")
	cmd.Flags().Var(attrs, "attr", "message attribute `name=value` (repeatable)")
	cmd.Flags().StringVar(&delay, "delay", "", "hide the message(s) for this long")
	cmd.Flags().StringVar(&group, "group", "", "message group: required on a FIFO queue (messages of a group are delivered in order), a tenant on a standard one")
	cmd.Flags().StringVar(&dedup, "dedup-id", "", "FIFO: deduplication id (a send with one seen in the last five minutes stores nothing)")
	return cmd
}

func newQueueReceiveCommand(c *cli) *cobra.Command {
	var (
		max   int
		wait  string
		vt    string
		doDel bool
	)
	cmd := &cobra.Command{
		Use:   "receive NAME",
		Short: "Receive messages (and with --delete, delete them)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.ReceiveRequest{Max: max}
			if wait != "" {
				d, err := specs.ParseDuration(wait)
				if err != nil {
					return fmt.Errorf("--wait: %w", err)
				}
				req.Wait = &d
			}
			if vt != "" {
				d, err := specs.ParseDuration(vt)
				if err != nil {
					return fmt.Errorf("--visibility-timeout: %w", err)
				}
				req.VisibilityTimeout = &d
			}
			cl := c.client(cmd)
			msgs, err := cl.Receive(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if doDel && len(msgs) > 0 {
				receipts := make([]string, len(msgs))
				for i, m := range msgs {
					receipts[i] = m.Receipt
				}
				res, err := cl.Delete(cmd.Context(), args[0], receipts...)
				if err != nil {
					return err
				}
				for _, r := range res {
					if r.Error != nil {
						return fmt.Errorf("delete: %v", r.Error)
					}
				}
			}
			return output(cmd, c.stdout, msgs, func(w io.Writer) {
				for _, m := range msgs {
					fmt.Fprintf(w, "id:\t%s\nreceipt:\t%s\nreceive count:\t%d\nsent:\t%s\n",
						m.ID, m.Receipt, m.ReceiveCount, m.SentAt.Local().Format(time.RFC3339Nano))
					if m.SourceQueue != "" {
						fmt.Fprintf(w, "source queue:\t%s\n", m.SourceQueue)
					}
					if m.Group != "" {
						fmt.Fprintf(w, "group:\t%s\n", m.Group)
					}
					if m.DedupID != "" {
						fmt.Fprintf(w, "sequence number:\t%d\ndeduplication id:\t%s\n", m.Seq, m.DedupID)
					}
					keys := make([]string, 0, len(m.Attributes))
					for k := range m.Attributes {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						fmt.Fprintf(w, "attribute:\t%s=%s\n", k, m.Attributes[k])
					}
					fmt.Fprintf(w, "body:\t%s\n\n", m.Body)
				}
			})
		},
	}
	cmd.Flags().IntVarP(&max, "max", "n", 1, "receive up to this many messages (1 to 10)")
	cmd.Flags().StringVar(&wait, "wait", "", "long-poll up to this long (default: the queue's receive_wait)")
	cmd.Flags().StringVar(&vt, "visibility-timeout", "", "hide the messages for this long (default: the queue's)")
	cmd.Flags().BoolVar(&doDel, "delete", false, "delete the messages once received")
	return cmd
}

func newQueueDeleteCommand(c *cli) *cobra.Command {
	var receipts []string
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a queue, or with --receipt, messages of it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl := c.client(cmd)
			if len(receipts) == 0 {
				if err := cl.DeleteQueue(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "queue %s deleted\n", args[0])
				return nil
			}
			failed := 0
			var all []api.DeleteResult
			for start := 0; start < len(receipts); start += 10 {
				res, err := cl.Delete(cmd.Context(), args[0], receipts[start:min(start+10, len(receipts))]...)
				if err != nil {
					return err
				}
				all = append(all, res...)
			}
			for _, r := range all {
				if r.Error != nil {
					failed++
				}
			}
			err := output(cmd, c.stdout, all, func(w io.Writer) {
				for _, r := range all {
					if r.Error != nil {
						fmt.Fprintf(w, "%s\terror: %s\n", r.Receipt, r.Error)
					} else {
						fmt.Fprintf(w, "%s\tdeleted\n", r.Receipt)
					}
				}
			})
			if err == nil && failed > 0 {
				return exitError{code: 1}
			}
			return err
		},
	}
	cmd.Flags().StringArrayVar(&receipts, "receipt", nil, "delete the message received with this `receipt` (repeatable)")
	return cmd
}

func newQueuePurgeCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "purge NAME",
		Short: "Delete every message of a queue",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := c.client(cmd).Purge(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, api.PurgeResponse{Purged: n}, func(w io.Writer) {
				fmt.Fprintf(w, "purged %d messages from %s\n", n, args[0])
			})
		},
	}
}

func newQueueRedriveCommand(c *cli) *cobra.Command {
	var max int
	cmd := &cobra.Command{
		Use:   "redrive NAME",
		Short: "Move messages of a dead-letter queue back to their source queues",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := c.client(cmd).Redrive(cmd.Context(), args[0], max)
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, api.RedriveResponse{Moved: n}, func(w io.Writer) {
				fmt.Fprintf(w, "moved %d messages from %s back to their source queues\n", n, args[0])
			})
		},
	}
	cmd.Flags().IntVar(&max, "max", 0, "move at most this many messages (0: all visible)")
	return cmd
}
