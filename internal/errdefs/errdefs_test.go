package errdefs

import (
	"errors"
	"fmt"
	"syscall"
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

func TestStorageClasses(t *testing.T) {
	tests := []struct {
		cause     error
		wantClass error
		wantCode  string
	}{
		{fmt.Errorf("wal: write: %w", syscall.ENOSPC), ErrStorageFull, "storage_full"},
		{fmt.Errorf("wal: write: %w", syscall.EDQUOT), ErrStorageFull, "storage_full"},
		{fmt.Errorf("wal: fdatasync: %w", syscall.EIO), ErrStorageFailed, "storage_failed"},
	}
	for _, tt := range tests {
		err := fmt.Errorf("send: %w", Storage("queue log", tt.cause))
		if !errors.Is(err, tt.wantClass) {
			t.Errorf("Storage(%v): class is not %v", tt.cause, tt.wantClass)
		}
		if got := Code(err, ""); got != tt.wantCode {
			t.Errorf("Storage(%v): code %q, want %q", tt.cause, got, tt.wantCode)
		}
	}
}
