package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// acceptSingleDash rewrites "-name" and "-name=value" to their double-dash
// form when name is a long flag of the command args select. Docket's
// documentation writes flags the way Nomad and Terraform users type them
// (`-var k=v`, `-check`, `-detach`), while cobra only knows "--name" for
// long flags; single-letter shorthands keep working as before.
func acceptSingleDash(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	long := func(name string) bool {
		if len(name) < 2 {
			return false
		}
		return cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil ||
			name == "help"
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") {
			name, _, _ := strings.Cut(a[1:], "=")
			if long(name) {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// stringMap is a repeatable k=v flag that keeps the values' order of
// precedence: a later value for the same key wins.
type stringMap map[string]string

var _ pflag.Value = stringMap(nil)

func (m stringMap) String() string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m stringMap) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errInvalidKV(s)
	}
	m[k] = v
	return nil
}

func (m stringMap) Type() string { return "key=value" }

type errInvalidKV string

func (e errInvalidKV) Error() string {
	return "expected key=value, got " + `"` + string(e) + `"`
}
