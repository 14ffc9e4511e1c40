package containerd

import (
	"fmt"
	"os"
	"testing"
)

// testLoggerArg makes the test binary the log driver of the tasks its tests
// start: containerd's shim runs "TESTBINARY docket-test-logger OPTIONS",
// which the docket binary does as "docket logger OPTIONS".
const testLoggerArg = "docket-test-logger"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == testLoggerArg {
		if err := RunLogger(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
