package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/scheduler/api"
)

// cli carries what every command needs from the process: its streams and
// environment. Commands read these instead of package os, so tests can run
// them in-process.
type cli struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string
}

// getenv looks key up in the command's environment.
func (c *cli) getenv(key string) string {
	prefix := key + "="
	for i := len(c.environ) - 1; i >= 0; i-- {
		if strings.HasPrefix(c.environ[i], prefix) {
			return c.environ[i][len(prefix):]
		}
	}
	return ""
}

// client returns an API client for the server the command talks to (the
// --addr flag, else DOCKET_ADDR, else the default address) with its ACL
// token (--token, else DOCKET_TOKEN).
func (c *cli) client(cmd *cobra.Command) *api.Client {
	addr, _ := cmd.Flags().GetString("addr")
	if addr == "" {
		addr = c.getenv("DOCKET_ADDR")
	}
	return api.NewClient(addr).WithToken(c.token(cmd))
}

// token is the ACL token the command presents: --token, else
// DOCKET_TOKEN.
func (c *cli) token(cmd *cobra.Command) string {
	if t, _ := cmd.Flags().GetString("token"); t != "" {
		return t
	}
	return c.getenv("DOCKET_TOKEN")
}

func newRootCommand(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:           "docket",
		Short:         "Docket runs containers from queues on your own hosts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("output", "o", "table", "output format: table or json")
	root.PersistentFlags().String("addr", "", "server address (default $DOCKET_ADDR or "+api.DefaultAddr+")")
	root.PersistentFlags().String("token", "", "ACL token's secret (default $DOCKET_TOKEN)")
	root.AddCommand(
		newVersionCommand(c),
		newJobCommand(c),
		newFmtCommand(c),
		newServerCommand(c),
		newAgentCommand(c),
		newDevCommand(c),
		newLoggerCommand(c),
		newQueueCommand(c),
		newNodeCommand(c),
		newAllocCommand(c),
		newBenchCommand(c),
		newACLCommand(c),
	)
	return root
}
