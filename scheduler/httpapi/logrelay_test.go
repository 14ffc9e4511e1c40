package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/acltest"
	"github.com/docketd/docket/scheduler/api"
)

// relayFixture is a server (behind its real HTTP limits) with a node
// "n1" registered with acltest's secret and an allocation of a service
// job placed on it.
func relayFixture(t *testing.T) (a *API, cl *api.Client, alloc string) {
	t.Helper()
	a, cl, _ = newLimitedServer(t, HTTPConfig{})
	ctx := context.Background()
	agent := cl.WithNodeSecret(acltest.NodeSecret)
	if _, err := agent.RegisterNode(ctx, api.RegisterNodeRequest{ID: "n1", Name: "n1", OS: "linux", Arch: "amd64", CPU: 4000, Memory: 4096}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.RegisterJobsHCL(ctx, "web.hcl", []byte(`
job "web" {
  type = "service"
  task "main" {
    image = "img"
  }
}`), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		na, err := agent.NodeAllocations(ctx, "n1", api.QueryOptions{})
		if err != nil {
			return err
		}
		if len(na.Allocations) != 1 {
			return fmt.Errorf("allocations %+v", na.Allocations)
		}
		alloc = na.Allocations[0].ID
		return nil
	})
	return a, cl, alloc
}

// A client's request for logs reaches the agent on its poll, and what the
// agent sends comes to the client as it is sent; when the client goes
// away, the agent's answer ends.
func TestLogRelay(t *testing.T) {
	a, cl, alloc := relayFixture(t)
	ctx := context.Background()
	// The agent presents the node secret through acltest's handler; its
	// poll waits until the client asks.
	agent := cl.WithNodeSecret(acltest.NodeSecret)
	polled := make(chan []api.LogRequest, 1)
	go func() {
		reqs, err := agent.LogRequests(ctx, "n1", 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		polled <- reqs
	}()
	type opened struct {
		rc  io.ReadCloser
		err error
	}
	client := make(chan opened, 1)
	go func() {
		rc, err := cl.Logs(ctx, alloc, api.LogsOptions{Follow: true, Tail: 5})
		client <- opened{rc, err}
	}()
	reqs := <-polled
	if len(reqs) != 1 || reqs[0].Alloc != alloc || !strings.Contains(reqs[0].Query, "follow=true") || !strings.Contains(reqs[0].Query, "tail=5") {
		t.Fatalf("the agent was asked %+v", reqs)
	}
	// Neither a caller without the node's secret nor another node can
	// answer it.
	other := cl.WithNodeSecret("another-secret-of-at-least-32-bytes!!")
	if err := other.AnswerLogRequest(ctx, "n1", reqs[0].ID, 200, "", strings.NewReader("forged")); apiCode(err) != "node_secret_mismatch" {
		t.Errorf("an answer without the node's secret: %v, want node_secret_mismatch", err)
	}
	if _, err := other.RegisterNode(ctx, api.RegisterNodeRequest{ID: "n2", Name: "n2", OS: "linux", Arch: "amd64", CPU: 1000, Memory: 1024}); err != nil {
		t.Fatal(err)
	}
	if err := other.AnswerLogRequest(ctx, "n2", reqs[0].ID, 200, "", strings.NewReader("forged")); apiCode(err) != "log_request_not_found" {
		t.Errorf("node n2 answering n1's request: %v, want log_request_not_found", err)
	}

	pr, pw := io.Pipe()
	answered := make(chan error, 1)
	go func() {
		answered <- agent.AnswerLogRequest(ctx, "n1", reqs[0].ID, http.StatusOK, "text/plain; charset=utf-8", pr)
	}()
	pw.Write([]byte("line one\n"))
	o := <-client
	if o.err != nil {
		t.Fatal(o.err)
	}
	br := bufio.NewReader(o.rc)
	if line, err := br.ReadString('\n'); line != "line one\n" {
		t.Fatalf("the client read %q, %v", line, err)
	}
	// A second line, sent later, comes as it is sent.
	pw.Write([]byte("line two\n"))
	if line, err := br.ReadString('\n'); line != "line two\n" {
		t.Fatalf("the client read %q, %v", line, err)
	}
	// The client goes away: the agent's writes fail and its answer ends.
	o.rc.Close()
	writeFailed := make(chan struct{})
	go func() {
		defer close(writeFailed)
		for {
			if _, err := pw.Write([]byte("more\n")); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case <-writeFailed:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent's answer goes on after its client left")
	}
	<-answered
	waitFor(t, 10*time.Second, func() error {
		a.logs.mu.Lock()
		defer a.logs.mu.Unlock()
		if len(a.logs.byID) != 0 || len(a.logs.nodes) != 0 {
			return fmt.Errorf("the relay still holds %d requests, %d nodes", len(a.logs.byID), len(a.logs.nodes))
		}
		return nil
	})
	// A request already answered (or gone) cannot be answered again.
	if err := agent.AnswerLogRequest(ctx, "n1", reqs[0].ID, 200, "", strings.NewReader("again")); apiCode(err) != "log_request_not_found" {
		t.Errorf("a second answer: %v, want log_request_not_found", err)
	}
}

// An agent's error answer reaches the client as the error it is; a node
// whose agent does not answer is reported unreachable.
func TestLogRelayErrors(t *testing.T) {
	a, cl, alloc := relayFixture(t)
	ctx := context.Background()
	agent := cl.WithNodeSecret(acltest.NodeSecret)
	go func() {
		reqs, err := agent.LogRequests(ctx, "n1", 20*time.Second)
		if err != nil || len(reqs) != 1 {
			t.Errorf("poll: %v, %v", reqs, err)
			return
		}
		agent.AnswerLogRequest(ctx, "n1", reqs[0].ID, http.StatusNotFound, "application/json",
			strings.NewReader(`{"error":{"code":"logs_not_found","message":"no logs for allocation x on this node"}}`))
	}()
	if _, err := cl.Logs(ctx, alloc, api.LogsOptions{Tail: -1}); apiCode(err) != "logs_not_found" {
		t.Errorf("logs the agent does not have: %v, want logs_not_found", err)
	}

	a.logPickup = 50 * time.Millisecond
	var ae *api.Error
	if _, err := cl.Logs(ctx, alloc, api.LogsOptions{Tail: -1}); !errors.As(err, &ae) || ae.Code != "node_unreachable" || ae.Status != http.StatusServiceUnavailable {
		t.Errorf("logs of a node whose agent does not poll: %v, want 503 node_unreachable", err)
	}
	if _, err := agent.LogRequests(ctx, "n2", 0); apiCode(err) != "node_not_found" {
		t.Errorf("a poll for an unknown node: %v", err)
	}
	if _, err := agent.LogRequests(ctx, "n1", time.Hour); apiCode(err) != "invalid_wait" {
		t.Errorf("a poll of an hour: %v", err)
	}
}
