// Package errdefs defines the few classes of error that Docket's packages
// return and the API maps onto HTTP statuses. A package wraps a class with
// %w, or builds an [*Error] when the caller needs a stable code (such as
// "queue_not_found") to show to API clients; the HTTP layer decides with
// errors.Is and errors.As, never by matching strings.
package errdefs

import (
	"errors"
	"fmt"
	"syscall"
)

// The classes. Each maps onto one HTTP status in the API layer.
var (
	ErrInvalid  = errors.New("invalid argument") // 400
	ErrNotFound = errors.New("not found")        // 404
	ErrConflict = errors.New("conflict")         // 409
	ErrTooLarge = errors.New("too large")        // 413
	// ErrTooManyRequests is work refused because its limit of concurrent
	// work is reached (a throttled invocation): 429; trying later works.
	ErrTooManyRequests = errors.New("too many requests")
	ErrUnavailable     = errors.New("unavailable")         // 503
	ErrClosed          = errors.New("closed")              // 503, the component is shutting down
	ErrInternal        = errors.New("internal error")      // 500, a bug or a broken disk
	ErrOutdated        = errors.New("precondition failed") // 409 by default; a stale receipt or index
	// ErrUnauthenticated is a request without a credential, or with one
	// the server does not know (or no longer honours): 401.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied is a known caller without the capability the
	// request needs: 403.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrStorageFull is a write that could not be made durable because the
	// disk is full (ENOSPC, EDQUOT): 507, code "storage_full".
	ErrStorageFull = errors.New("storage full")
	// ErrStorageFailed is a write that could not be made durable for any
	// other I/O reason: 503, code "storage_failed".
	ErrStorageFailed = errors.New("storage failed")
)

// Storage wraps a failed durable write as [ErrStorageFull] when the cause
// is a full disk or an exhausted quota, and as [ErrStorageFailed]
// otherwise, with the stable codes "storage_full" and "storage_failed".
// what says what could not be written, e.g. "queue log".
func Storage(what string, cause error) *Error {
	if errors.Is(cause, syscall.ENOSPC) || errors.Is(cause, syscall.EDQUOT) {
		return &Error{Class: ErrStorageFull, Code: "storage_full",
			Message: fmt.Sprintf("%s: disk full, writes are refused until space is freed: %v", what, cause)}
	}
	return &Error{Class: ErrStorageFailed, Code: "storage_failed",
		Message: fmt.Sprintf("%s: write failed, writes are refused until storage recovers: %v", what, cause)}
}

// Error is an error with a stable machine-readable code inside one of the
// classes above.
type Error struct {
	Class   error  // one of the classes above
	Code    string // stable, snake_case, e.g. "queue_not_found"
	Message string // for humans, lowercase, no trailing period
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the class, so errors.Is(err, ErrNotFound) works.
func (e *Error) Unwrap() error { return e.Class }

// New returns an [*Error] of class with code and a formatted message.
func New(class error, code, format string, args ...any) *Error {
	return &Error{Class: class, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Code returns the code of the first [*Error] in err's chain, or fallback.
func Code(err error, fallback string) string {
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return fallback
}
