package containerd

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/containerdtest"
)

// TestLogRotation runs a task that prints more than its log files may hold:
// the log driver rotates them at the size limit, keeps the newest files,
// and keeps lines whole.
func TestLogRotation(t *testing.T) {
	d := containerdtest.Start(t)
	r := newRuntime(t, d)
	t.Cleanup(func() { r.Close() })

	// 60 lines of 50 bytes; 10 fit in a file of 500 bytes.
	line := func(i int) string { return fmt.Sprintf("line %02d %s\n", i, strings.Repeat("x", 41)) }
	var steps []string
	for i := range 60 {
		steps = append(steps, "echo", strings.TrimSuffix(line(i), "\n"), ";")
	}
	steps = append(steps, "stderr", "done")
	spec := taskSpec(t, testImage(t, "docket.test/testprog:rotation"), "")
	spec.Args = steps
	spec.LogMaxBytes, spec.LogMaxFiles = 500, 2
	startTask(t, r, spec)
	if exit := waitExit(t, r, spec.ID); exit.Code != 0 {
		t.Fatalf("got exit %+v, want 0", exit)
	}
	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			b.WriteString(line(i))
		}
		return b.String()
	}
	// The last rotation happens as the last line fills stdout.log.
	want := map[string]string{
		StdoutLog:        "",
		StdoutLog + ".1": lines(50, 60),
		StdoutLog + ".2": lines(40, 50),
		StderrLog:        "done\n",
	}
	waitFor(t, func() error {
		if got := readDir(t, spec.LogDir); !maps.Equal(got, want) {
			return fmt.Errorf("got log files %q, want %q", got, want)
		}
		return nil
	})
}
