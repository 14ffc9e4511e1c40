// Package polltest waits for asynchronous outcomes in tests by polling,
// never by sleeping a fixed time: a condition is checked every few
// milliseconds until it holds or a generous deadline passes, so tests are
// as fast as the machine allows and do not fail on a slow one.
package polltest

import (
	"testing"
	"time"
)

// Interval is how often a condition is checked.
const Interval = 10 * time.Millisecond

// WaitFor calls cond until it returns nil, failing the test with cond's
// last error once timeout has passed.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after %s: %v", timeout, err)
		}
		time.Sleep(Interval)
	}
}
