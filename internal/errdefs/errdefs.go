// Package errdefs defines the few classes of error that Docket's packages
// return and the API maps onto HTTP statuses. A package wraps a class with
// %w, or builds an [*Error] when the caller needs a stable code (such as
// "queue_not_found") to show to API clients; the HTTP layer decides with
// errors.Is and errors.As, never by matching strings.
package errdefs

import (
	"errors"
	"fmt"
)

// The classes. Each maps onto one HTTP status in the API layer.
var (
	ErrInvalid     = errors.New("invalid argument")    // 400
	ErrNotFound    = errors.New("not found")           // 404
	ErrConflict    = errors.New("conflict")            // 409
	ErrTooLarge    = errors.New("too large")           // 413
	ErrUnavailable = errors.New("unavailable")         // 503
	ErrClosed      = errors.New("closed")              // 503, the component is shutting down
	ErrInternal    = errors.New("internal error")      // 500, a bug or a broken disk
	ErrOutdated    = errors.New("precondition failed") // 409 by default; a stale receipt or index
)

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
