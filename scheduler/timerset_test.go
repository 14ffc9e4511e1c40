package scheduler

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docketd/docket/internal/polltest"
)

func TestTimerSet(t *testing.T) {
	t.Run("fires", func(t *testing.T) {
		var ts timerSet
		var fired atomic.Bool
		ts.after("a", 0, func() { fired.Store(true) })
		polltest.WaitFor(t, 5*time.Second, func() error {
			if !fired.Load() {
				return errors.New("not fired")
			}
			return nil
		})
		if n := ts.pending(); n != 0 {
			t.Fatalf("got %d pending after it fired, want 0", n)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		var ts timerSet
		ts.after("a", time.Hour, func() {})
		ts.after("b", time.Hour, func() {})
		ts.cancel("a")
		if ts.has("a") || !ts.has("b") || ts.pending() != 1 {
			t.Fatalf("got a=%v b=%v pending=%d, want a cancelled and b pending", ts.has("a"), ts.has("b"), ts.pending())
		}
		ts.stop()
	})
	t.Run("replace", func(t *testing.T) {
		var ts timerSet
		var old, cur atomic.Bool
		ts.after("a", time.Hour, func() { old.Store(true) })
		ts.after("a", 0, func() { cur.Store(true) })
		polltest.WaitFor(t, 5*time.Second, func() error {
			if !cur.Load() {
				return errors.New("the new timer did not fire")
			}
			return nil
		})
		if old.Load() || ts.pending() != 0 {
			t.Fatalf("got old fired %v, pending %d; want the replaced timer gone", old.Load(), ts.pending())
		}
	})
	t.Run("stop waits and refuses", func(t *testing.T) {
		var ts timerSet
		started, release := make(chan struct{}), make(chan struct{})
		var finished atomic.Bool
		ts.after("slow", 0, func() {
			close(started)
			<-release
			finished.Store(true)
		})
		ts.after("later", time.Hour, func() { t.Error("a stopped timer fired") })
		<-started
		stopped := make(chan struct{})
		go func() {
			ts.stop()
			close(stopped)
		}()
		polltest.WaitFor(t, 5*time.Second, func() error {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			if !ts.stopped {
				return errors.New("stop has not begun")
			}
			return nil
		})
		close(release)
		<-stopped
		if !finished.Load() {
			t.Fatal("stop returned before the callback it found running")
		}
		if ts.after("new", 0, func() { t.Error("a timer started after stop fired") }) || ts.pending() != 0 {
			t.Fatalf("a stopped set took a timer: %d pending", ts.pending())
		}
	})
}
