package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassAndCodeSurviveWrapping(t *testing.T) {
	err := fmt.Errorf("send: %w", New(ErrNotFound, "queue_not_found", "queue %q does not exist", "q1"))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is(%v, ErrNotFound) = false, want true", err)
	}
	if errors.Is(err, ErrConflict) {
		t.Errorf("errors.Is(%v, ErrConflict) = true, want false", err)
	}
	if got, want := Code(err, "internal"), "queue_not_found"; got != want {
		t.Errorf("Code = %q, want %q", got, want)
	}
	if got, want := err.Error(), `send: queue "q1" does not exist`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := Code(errors.New("plain"), "internal"), "internal"; got != want {
		t.Errorf("Code(plain) = %q, want %q", got, want)
	}
}
