package queue

import (
	"errors"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
)

func TestOwnersAndRelease(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", func(a *Attributes) { a.VisibilityTimeout = time.Hour })
	mustSend(t, e, "q", "a", "b", "c")
	mustReceive(t, e, "q", ReceiveOptions{Max: 2, Owner: "worker-1"})
	mustReceive(t, e, "q", ReceiveOptions{Max: 1, Owner: "worker-2"})
	got, err := e.InFlightByOwner("q")
	if err != nil || got["worker-1"] != 2 || got["worker-2"] != 1 || len(got) != 2 {
		t.Fatalf("InFlightByOwner = %v, %v; want worker-1:2 worker-2:1", got, err)
	}
	n, err := e.ReleaseOwner("q", "worker-1")
	if err != nil || n != 2 {
		t.Fatalf("ReleaseOwner = %d, %v; want 2", n, err)
	}
	wantStats(t, e, "q", 2, 1, 0)
	got, _ = e.InFlightByOwner("q")
	if got["worker-1"] != 0 || got["worker-2"] != 1 {
		t.Fatalf("after release: %v", got)
	}
	if n, _ := e.ReleaseOwner("q", "nobody"); n != 0 {
		t.Fatalf("releasing an unknown owner released %d", n)
	}
}

func TestPeekAndDeadLetterWithAttributes(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, Config{})
	mustCreate(t, e, "dead", nil)
	mustCreate(t, e, "q", func(a *Attributes) { a.MaxReceives, a.DeadLetter = 5, "dead" })
	if _, err := e.Send("q", []SendInput{{Body: []byte("job"), Attributes: []Attr{{Name: "k", Type: "String", Value: []byte("v")}}}}); err != nil {
		t.Fatal(err)
	}
	m := mustReceive(t, e, "q", ReceiveOptions{})
	p, err := e.Peek("q", m[0].Receipt)
	if err != nil || string(p.Body) != "job" || p.ReceiveCount != 1 {
		t.Fatalf("Peek = %+v, %v", p, err)
	}
	reason := []Attr{{Name: "docket.failure", Type: "String", Value: []byte("exit code 3")}}
	if err := e.DeadLetter("q", m[0].Receipt, reason); err != nil {
		t.Fatal(err)
	}
	wantStats(t, e, "q", 0, 0, 0)
	if err := e.DeadLetter("q", m[0].Receipt, nil); err == nil {
		t.Fatal("dead-lettering a message that is gone: got no error")
	}
	check := func(e *Engine) {
		t.Helper()
		dm := mustReceive(t, e, "dead", ReceiveOptions{VisibilityTimeout: dur(0)})
		if len(dm) != 1 || string(dm[0].Body) != "job" || dm[0].SourceQueue != "q" || len(dm[0].Attributes) != 2 ||
			dm[0].Attributes[0].Name != "docket.failure" || string(dm[0].Attributes[0].Value) != "exit code 3" {
			t.Fatalf("dead-lettered message %+v", dm)
		}
	}
	check(e)
	e.Close()
	e2 := openEngine(t, dir, Config{})
	check(e2)
	if err := e2.Compact(true); err != nil {
		t.Fatal(err)
	}
	e2.Close()
	check(openEngine(t, dir, Config{}))

	e3 := newEngine(t)
	mustCreate(t, e3, "nodl", nil)
	mustSend(t, e3, "nodl", "x")
	m3 := mustReceive(t, e3, "nodl", ReceiveOptions{})
	if err := e3.DeadLetter("nodl", m3[0].Receipt, nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("dead-letter without a dead-letter queue: got %v, want invalid", err)
	}
	wantStats(t, e3, "nodl", 0, 1, 0)
}

// TestInFlightIsDecidedByTheClock: once a received message's timeout has
// run out on the engine's clock it is no longer in flight, though the
// timer that makes it visible has not fired yet (it runs on real time):
// ChangeVisibility refuses it and ReleaseOwner does not count it. Their
// outcomes depended on whether the timer had fired.
func TestInFlightIsDecidedByTheClock(t *testing.T) {
	clk := &stoppedClock{}
	clk.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	e := openEngine(t, t.TempDir(), Config{Now: clk.now})
	mustCreate(t, e, "q", nil)
	mustSend(t, e, "q", "a", "b")
	got := mustReceive(t, e, "q", ReceiveOptions{Max: 2, VisibilityTimeout: dur(time.Hour), Owner: "w1"})
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	clk.advance(2 * time.Hour)
	if err := e.ChangeVisibility("q", got[0].Receipt, time.Minute); !errors.Is(err, errdefs.ErrOutdated) {
		t.Errorf("ChangeVisibility after the timeout ran out: got %v, want message_not_in_flight", err)
	}
	if n, err := e.ReleaseOwner("q", "w1"); err != nil || n != 0 {
		t.Errorf("ReleaseOwner after the timeout ran out: got %d, %v; want 0", n, err)
	}
	wantStats(t, e, "q", 2, 0, 0)
}
