package containerd

import "github.com/docketd/docket/agent/logdriver"

// Log file names in a task's log directory; rotated files get ".1" (the
// newest) to ".N".
const (
	StdoutLog = logdriver.StdoutLog
	StderrLog = logdriver.StderrLog
)

// RunLogger is the log driver (see [logdriver.Run]), for binaries that
// serve it from a command of their own, as "docket logger" does.
func RunLogger(args []string) error { return logdriver.Run(args) }
