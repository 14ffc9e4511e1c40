package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/internal/pki"
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
	// tls is the TLS configuration clients of the server use, from
	// --ca-cert, --client-cert and --client-key (or $DOCKET_CACERT,
	// $DOCKET_CLIENT_CERT, $DOCKET_CLIENT_KEY); nil speaks plain HTTP.
	tls *tls.Config
}

// clientTLS builds c.tls from the flags and the environment.
func (c *cli) clientTLS(cmd *cobra.Command) error {
	ca, cert, key := c.clientTLSFiles(cmd)
	if ca == "" {
		if cert != "" || key != "" {
			return errors.New("a client certificate needs the CA too: --ca-cert or $DOCKET_CACERT")
		}
		return nil
	}
	cfg, err := pki.ClientConfig(ca, cert, key, "")
	if err != nil {
		return fmt.Errorf("TLS: %w", err)
	}
	c.tls = cfg
	return nil
}

// clientTLSFiles are the CA, certificate and key files a client names
// by flag or environment.
func (c *cli) clientTLSFiles(cmd *cobra.Command) (ca, cert, key string) {
	get := func(flag, env string) string {
		if v, _ := cmd.Flags().GetString(flag); v != "" {
			return v
		}
		return c.getenv(env)
	}
	return get("ca-cert", "DOCKET_CACERT"), get("client-cert", "DOCKET_CLIENT_CERT"), get("client-key", "DOCKET_CLIENT_KEY")
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
	cl := api.NewClient(addr).WithToken(c.token(cmd))
	if c.tls != nil {
		cl = cl.WithTLS(c.tls)
	}
	return cl
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
	root.PersistentFlags().String("ca-cert", "", "the cluster's CA certificate, to reach a server over TLS (default $DOCKET_CACERT)")
	root.PersistentFlags().String("client-cert", "", "a client certificate to present over TLS (default $DOCKET_CLIENT_CERT)")
	root.PersistentFlags().String("client-key", "", "the client certificate's key (default $DOCKET_CLIENT_KEY)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return c.clientTLS(cmd) }
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
		newTLSCommand(c),
		newTopicCommand(c),
		newFunctionCommand(c),
	)
	return root
}
