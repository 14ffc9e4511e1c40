package queue

import (
	"testing"
	"time"
)

// TestNoTimerAfterClose checks that a closed engine arms no visibility
// timer again, even from a timer that fired as Close ran.
func TestNoTimerAfterClose(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	if _, err := e.Send("q", []SendInput{{Body: []byte("later"), Delay: dur(10 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	q, err := e.queue("q")
	if err != nil {
		t.Fatal(err)
	}
	armed := func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.timer != nil
	}
	if !armed() {
		t.Fatal("no timer for a delayed message")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if armed() {
		t.Fatal("timer still armed after Close")
	}
	q.onTimer() // as if it had fired while Close ran
	if armed() {
		t.Fatal("a timer that fired during Close armed another after it")
	}
}
