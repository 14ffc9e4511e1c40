package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/docketd/docket/specs"
)

func newJobCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Validate, run and inspect jobs",
	}
	cmd.AddCommand(
		newJobValidateCommand(c),
		newJobRunCommand(c),
		newJobPlanCommand(c),
		newJobStatusCommand(c),
		newJobStopCommand(c),
		newJobScaleCommand(c),
	)
	return cmd
}

// varFlags are the -var and -var-file flags shared by every command that
// reads a job file.
type varFlags struct {
	vars     stringMap
	files    []string
	existing []string
}

func (v *varFlags) register(cmd *cobra.Command) {
	v.vars = stringMap{}
	cmd.Flags().Var(v.vars, "var", "set a variable (`key=value`, repeatable)")
	cmd.Flags().StringArrayVar(&v.files, "var-file", nil, "read variables from an HCL `file` (repeatable)")
	cmd.Flags().StringArrayVar(&v.existing, "existing-queue", nil,
		"accept references to this `queue` although the file does not define it (it exists on the server; repeatable)")
}

// parseOptions reads the variable files and returns what specs.Parse needs.
func (v *varFlags) parseOptions(c *cli) (specs.ParseOptions, error) {
	opts := specs.ParseOptions{Vars: v.vars, Env: c.environ}
	if len(v.existing) > 0 {
		existing := map[string]bool{}
		for _, q := range v.existing {
			existing[q] = true
		}
		opts.QueueExists = func(name string) bool { return existing[name] }
	}
	for _, name := range v.files {
		src, err := os.ReadFile(name)
		if err != nil {
			return opts, err
		}
		opts.VarFiles = append(opts.VarFiles, specs.Source{Filename: name, Src: src})
	}
	return opts, nil
}

func newJobValidateCommand(c *cli) *cobra.Command {
	var vars varFlags
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check job files and print every problem with its position",
		Long: "Validate parses each job file, checks it against the job language and\n" +
			"prints each problem as file:line:col: summary; detail. It exits 1 when\n" +
			"any file has an error.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := vars.parseOptions(c)
			if err != nil {
				return err
			}
			failed := false
			for _, name := range args {
				f, diags := parseJobFile(name, opts)
				for _, d := range diags {
					fmt.Fprintln(c.stdout, specs.FormatDiagnostic(d))
				}
				if diags.HasErrors() {
					failed = true
					continue
				}
				fmt.Fprintf(c.stdout, "%s: ok (%s, %s)\n", name,
					plural(len(f.Queues), "queue"), plural(len(f.Jobs), "job"))
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
	vars.register(cmd)
	return cmd
}

// parseJobFile reads and parses one job file, turning a read failure into a
// diagnostic so that it is reported like any other problem.
func parseJobFile(name string, opts specs.ParseOptions) (*specs.File, hcl.Diagnostics) {
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read file",
			Detail:   err.Error(),
			Subject:  &hcl.Range{Filename: name},
		}}
	}
	return specs.Parse(name, src, opts)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
