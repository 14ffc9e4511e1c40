package agent_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/agent/runtimetest"
)

// heldRuntime is the fake runtime, except that a Wait whose context ended
// returns only once release is closed, and that it counts the Lists asked
// on behalf of an HTTP request.
type heldRuntime struct {
	*runtimetest.Fake
	release  chan struct{}
	held     atomic.Int32 // Waits whose context ended, held until release
	inFlight atomic.Int32 // Waits not returned
	scrapes  atomic.Int32 // Lists on an HTTP request's context
}

func (h *heldRuntime) Wait(ctx context.Context, id string) (agent.Exit, error) {
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	e, err := h.Fake.Wait(ctx, id)
	if ctx.Err() != nil {
		h.held.Add(1)
		<-h.release
	}
	return e, err
}

func (h *heldRuntime) List(ctx context.Context) ([]agent.Container, error) {
	if ctx.Value(http.ServerContextKey) != nil {
		h.scrapes.Add(1)
	}
	return h.Fake.List(ctx)
}

// TestRunWaitsForItsRunners checks that Run returns only once the
// allocation runners it started have returned: nothing of the agent still
// uses the runtime after it.
func TestRunWaitsForItsRunners(t *testing.T) {
	c := newCluster(t)
	c.stop()
	rt := &heldRuntime{Fake: c.fake.Reopen(), release: make(chan struct{})}
	c.startAgent(rt)
	c.run(job("web", "service", `"sleep", "1h"`, ""))
	c.alloc("web", "running")

	var waitsAtReturn atomic.Int32
	returned := make(chan struct{})
	stop := c.stop
	go func() {
		stop() // the containers keep running
		waitsAtReturn.Store(rt.inFlight.Load())
		close(returned)
	}()
	waitFor(t, 5*time.Second, func() error {
		if rt.held.Load() == 0 {
			return errors.New("the task's Wait has not seen the agent stop")
		}
		return nil
	})
	close(rt.release)
	<-returned
	if n := waitsAtReturn.Load(); n != 0 {
		t.Fatalf("got %d runtime Waits still in progress when Run returned, want 0", n)
	}
}

// TestMetricsAskTheRuntimeOnTheScrapesContext checks that the task
// metrics are read from the runtime on the scrape's context, not one of
// their own.
func TestMetricsAskTheRuntimeOnTheScrapesContext(t *testing.T) {
	c := newCluster(t)
	c.stop()
	rt := &heldRuntime{Fake: c.fake.Reopen(), release: make(chan struct{})}
	close(rt.release)
	c.startAgent(rt)
	c.run(job("web", "service", `"sleep", "1h"`, ""))
	c.alloc("web", "running")
	resp, err := http.Get("http://" + c.agent.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "docket_agent_running_tasks 1\n") || !strings.Contains(string(body), "docket_agent_task_starts_total") {
		t.Fatalf("metrics without the running task or the agent's counters:\n%s", body)
	}
	if n := rt.scrapes.Load(); n == 0 {
		t.Fatal("the scrape listed the containers on a context of its own, not the request's")
	}
}
