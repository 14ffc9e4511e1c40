package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/spf13/cobra"

	"github.com/docketd/docket/specs"
)

func newFmtCommand(c *cli) *cobra.Command {
	var check, write bool
	cmd := &cobra.Command{
		Use:   "fmt [-check] FILE...",
		Short: "Rewrite job files in the canonical format",
		Long: "Fmt rewrites each job file in place in the canonical HCL layout, like\n" +
			"terraform fmt, and lists the files it changed. With -check it changes\n" +
			"nothing, lists the files that are not formatted and exits 1 if there are\n" +
			"any. A FILE of - formats stdin to stdout. Files that do not parse are\n" +
			"reported, never rewritten.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			unformatted, broken := 0, 0
			for _, name := range args {
				var src []byte
				var err error
				if name == "-" {
					src, err = io.ReadAll(c.stdin)
				} else {
					src, err = os.ReadFile(name)
				}
				if err != nil {
					return err
				}
				out, diags := format(name, src)
				for _, d := range diags {
					fmt.Fprintln(c.stderr, specs.FormatDiagnostic(d))
				}
				if diags.HasErrors() {
					broken++
					continue
				}
				if name == "-" {
					if _, err := c.stdout.Write(out); err != nil {
						return err
					}
					continue
				}
				if bytes.Equal(src, out) {
					continue
				}
				unformatted++
				fmt.Fprintln(c.stdout, name)
				if check || !write {
					continue
				}
				if err := writeFileKeepMode(name, out); err != nil {
					return err
				}
			}
			if broken > 0 || (check && unformatted > 0) {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "change nothing; exit 1 if any file is not formatted")
	cmd.Flags().BoolVar(&write, "write", true, "write the result back to the file")
	return cmd
}

// format returns src in canonical layout. Like terraform fmt it refuses what
// does not parse: the layout of broken input would be a guess.
func format(name string, src []byte) ([]byte, hcl.Diagnostics) {
	if _, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return specs.Format(src), nil
}

// writeFileKeepMode replaces name's content atomically, keeping its mode.
func writeFileKeepMode(name string, data []byte) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp := name + ".docket-fmt"
	if err := os.WriteFile(tmp, data, fi.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
