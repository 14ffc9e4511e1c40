package httpapi

import (
	"context"
	"testing"

	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/scheduler"
)

var waitFor = polltest.WaitFor

// runScheduler makes a Server with cfg in a temporary directory and runs
// it until the test ends (after the cleanups registered later, such as
// an HTTP server's).
func runScheduler(t testing.TB, cfg scheduler.Config) *scheduler.Server {
	t.Helper()
	cfg.DataDir = t.TempDir()
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}
