// Command docket is the single binary of Docket: the control plane, the node
// agent and the CLI that talks to them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run executes one invocation of the CLI. It is main without the process:
// tests call it with their own arguments, streams and environment.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	root := newRootCommand(&cli{stdin: stdin, stdout: stdout, stderr: stderr, environ: environ})
	root.SetArgs(acceptSingleDash(root, args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// exitError ends the process with a given status after its command has
// already told the user what went wrong.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode reports err on w unless the command already did, and returns the
// process status for it.
func exitCode(err error, w io.Writer) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(w, "docket: %v\n", err)
	return 1
}
