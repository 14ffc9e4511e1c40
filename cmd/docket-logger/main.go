// Command docket-logger is the log driver containerd's shim runs for every
// task Docket starts ("docket-logger logger OPTIONS"): it copies the task's
// output into rotated files. It does what the hidden `docket logger` does,
// from a binary that imports only the standard library: the shim waits for
// it before each container starts, and it starts in about a millisecond
// where the full docket binary takes ten. The agent uses it when it lies
// next to the docket executable (or is given with --logger).
package main

import (
	"fmt"
	"os"

	"github.com/docketd/docket/agent/logdriver"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: docket-logger logger OPTIONS (run by containerd's shim)")
		os.Exit(2)
	}
	if err := logdriver.Run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
