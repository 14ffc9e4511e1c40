package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/docketd/docket/internal/acltest"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// Stopping the server ends the long polls, blocking queries and event
// streams in progress at once, each answered as if its wait ran out, so
// that Serve returns cleanly instead of when its five seconds of grace
// run out.
func TestShutdownEndsWaits(t *testing.T) {
	s, err := scheduler.New(scheduler.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	boot, err := s.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := New(s)
	hs, lln := a.HTTPServer(acltest.Credentials(a.Handler(), boot.SecretID), ln, HTTPConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, hs, lln) }()
	cl := api.NewClient(ln.Addr().String())
	bg := context.Background()
	if _, err := cl.CreateQueue(bg, api.QueueSettings{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	_, index, err := cl.Allocations(bg, "", "", "", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}

	type answer struct {
		what string
		err  error
	}
	answers := make(chan answer, 3)
	go func() {
		wait := specs.Duration(20 * time.Second)
		msgs, err := cl.Receive(bg, "q", api.ReceiveRequest{Wait: &wait})
		if err == nil && len(msgs) != 0 {
			err = errors.New("got messages")
		}
		answers <- answer{"receive", err}
	}()
	go func() {
		_, idx, err := cl.Allocations(bg, "", "", "", api.QueryOptions{Index: index, Wait: 5 * time.Minute})
		if err == nil && idx != index {
			err = errors.New("the index moved")
		}
		answers <- answer{"blocking query", err}
	}()
	events, err := cl.Events(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	go func() {
		_, err := io.Copy(io.Discard, events)
		answers <- answer{"event stream", err}
	}()
	time.Sleep(50 * time.Millisecond) // let the calls start waiting; the test holds either way

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v, want a clean stop", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return")
	}
	for range 3 {
		if a := <-answers; a.err != nil {
			t.Errorf("%s: %v, want an answer as if its wait ran out", a.what, a.err)
		}
	}
}

// A connection that has sent nothing (a client's pool dials ahead) does
// not hold the shutdown up: net/http would wait five seconds for it, the
// whole grace, and Serve would fail.
func TestShutdownClosesSilentConnections(t *testing.T) {
	s, err := scheduler.New(scheduler.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := New(s)
	hs, lln := a.HTTPServer(a.Handler(), ln, HTTPConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, hs, lln) }()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(100 * time.Millisecond) // accepted
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the shutdown waited for a connection that sent nothing")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %s", took)
	}
}
