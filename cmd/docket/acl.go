package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

func newACLCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Bootstrap the ACL, manage its policies and tokens",
		Long: "Every API route needs a token whose policies grant the route's capability.\n" +
			"`docket acl bootstrap` makes the first (management) token once; with it,\n" +
			"policies (HCL rules such as `queue \"orders-*\" { capabilities = [\"send\"] }`)\n" +
			"and the tokens that carry them are made. Commands present $DOCKET_TOKEN or\n" +
			"--token.",
	}
	policy := &cobra.Command{Use: "policy", Short: "Apply, list, show and delete ACL policies"}
	policy.AddCommand(newACLPolicyApplyCommand(c), newACLPolicyListCommand(c), newACLPolicyInfoCommand(c), newACLPolicyDeleteCommand(c))
	token := &cobra.Command{Use: "token", Short: "Create, list, show and revoke ACL tokens"}
	token.AddCommand(newACLTokenCreateCommand(c), newACLTokenListCommand(c), newACLTokenInfoCommand(c), newACLTokenDeleteCommand(c))
	cmd.AddCommand(newACLBootstrapCommand(c), policy, token)
	return cmd
}

func newACLBootstrapCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "bootstrap",
		Short: "Make the first management token (works once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := c.client(cmd).Bootstrap(cmd.Context())
			if err != nil {
				return err
			}
			return printToken(cmd, c.stdout, t)
		},
	}
}

// printToken shows a token; a new one's secrets come with it, once.
func printToken(cmd *cobra.Command, w io.Writer, t *api.ACLToken) error {
	return output(cmd, w, t, func(w io.Writer) {
		fmt.Fprintf(w, "Accessor ID\t%s\n", t.AccessorID)
		if t.SecretID != "" {
			fmt.Fprintf(w, "Secret ID\t%s\n", t.SecretID)
		}
		fmt.Fprintf(w, "Name\t%s\n", dash(t.Name))
		fmt.Fprintf(w, "Type\t%s\n", t.Type)
		fmt.Fprintf(w, "Policies\t%s\n", dash(strings.Join(t.Policies, ", ")))
		fmt.Fprintf(w, "Expires\t%s\n", expiry(t.ExpiresAt))
		if t.AWSAccessKeyID != "" {
			fmt.Fprintf(w, "AWS Access Key ID\t%s\n", t.AWSAccessKeyID)
		}
		if t.AWSSecretAccessKey != "" {
			fmt.Fprintf(w, "AWS Secret Access Key\t%s\n", t.AWSSecretAccessKey)
		}
		fmt.Fprintf(w, "Created\t%s\n", t.CreatedAt.Local().Format(time.RFC3339))
		if t.SecretID != "" {
			fmt.Fprintf(w, "\nThe secret is shown this once. Use it with: export DOCKET_TOKEN=%s\n", t.SecretID)
		}
	})
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.RFC3339)
}

func newACLPolicyApplyCommand(c *cli) *cobra.Command {
	var description string
	cmd := &cobra.Command{
		Use:   "apply NAME FILE",
		Short: "Create or replace a policy from an HCL file (- for stdin)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var src []byte
			var err error
			if args[1] == "-" {
				src, err = io.ReadAll(io.LimitReader(c.stdin, 1<<20))
			} else {
				src, err = os.ReadFile(args[1])
			}
			if err != nil {
				return err
			}
			p, err := c.client(cmd).ApplyPolicy(cmd.Context(), api.ACLPolicy{Name: args[0], Description: description, Rules: string(src)})
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, p, func(w io.Writer) {
				fmt.Fprintf(w, "policy %s applied (index %d)\n", p.Name, p.ModifyIndex)
			})
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "what the policy is for")
	return cmd
}

func newACLPolicyListCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List policies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := c.client(cmd).Policies(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, ps, func(w io.Writer) {
				fmt.Fprintln(w, "NAME\tDESCRIPTION\tMODIFIED")
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%d\n", p.Name, dash(p.Description), p.ModifyIndex)
				}
			})
		},
	}
}

func newACLPolicyInfoCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "info NAME",
		Short: "Show a policy's rules",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := c.client(cmd).Policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, p, func(w io.Writer) {
				fmt.Fprintf(w, "# %s: %s\n%s", p.Name, dash(p.Description), p.Rules)
			})
		},
	}
}

func newACLPolicyDeleteCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a policy (tokens naming it lose what it granted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.client(cmd).DeletePolicy(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "policy %s deleted\n", args[0])
			return nil
		},
	}
}

func newACLTokenCreateCommand(c *cli) *cobra.Command {
	var (
		req api.ACLTokenRequest
		ttl string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a token carrying policies (its secret is shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl != "" {
				d, err := specs.ParseDuration(ttl)
				if err != nil {
					return fmt.Errorf("--ttl: %w", err)
				}
				req.TTL = d
			}
			t, err := c.client(cmd).CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printToken(cmd, c.stdout, t)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "what the token is for")
	f.StringVar(&req.Type, "type", "client", "client (what its policies grant) or management (anything)")
	f.StringArrayVar(&req.Policies, "policy", nil, "policy the token carries (repeatable)")
	f.StringVar(&ttl, "ttl", "", "expire the token this long after it is made, e.g. 24h")
	f.BoolVar(&req.AWSKey, "aws-key", false, "give the token an AWS access key pair for the SQS endpoint")
	return cmd
}

func newACLTokenListCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List tokens (without secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := c.client(cmd).Tokens(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, ts, func(w io.Writer) {
				fmt.Fprintln(w, "ACCESSOR\tNAME\tTYPE\tPOLICIES\tEXPIRES\tAWS KEY")
				for _, t := range ts {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.AccessorID, dash(t.Name), t.Type,
						dash(strings.Join(t.Policies, ",")), expiry(t.ExpiresAt), dash(t.AWSAccessKeyID))
				}
			})
		},
	}
}

func newACLTokenInfoCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "info ACCESSOR",
		Short: "Show a token (without its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.client(cmd).Token(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printToken(cmd, c.stdout, t)
		},
	}
}

func newACLTokenDeleteCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ACCESSOR",
		Short: "Revoke a token at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.client(cmd).DeleteToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
}
