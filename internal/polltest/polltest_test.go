package polltest

import (
	"errors"
	"testing"
	"time"
)

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	WaitFor(t, time.Minute, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}

// fatalRecorder records Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = format
	panic(f)
}

func TestWaitForFailsAfterTheTimeout(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	defer func() {
		if r := recover(); r != rec || rec.msg == "" {
			t.Fatalf("WaitFor did not fail the test: recovered %v", r)
		}
	}()
	WaitFor(rec, 30*time.Millisecond, func() error { return errors.New("never") })
}
