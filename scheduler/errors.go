package scheduler

import (
	"errors"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/api"
)

// APIError is err as the API shows it: its stable code (or its class's,
// when it has none of its own) and its message. Transports map the class
// onto their status codes.
func APIError(err error) *api.Error {
	return &api.Error{Code: errdefs.Code(err, classCode(err)), Message: err.Error()}
}

// classCode is the code of an error that has none of its own.
func classCode(err error) string {
	switch {
	case errors.Is(err, errdefs.ErrInvalid):
		return "invalid_request"
	case errors.Is(err, errdefs.ErrNotFound):
		return "not_found"
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrOutdated):
		return "conflict"
	case errors.Is(err, errdefs.ErrTooLarge):
		return "too_large"
	case errors.Is(err, errdefs.ErrTooManyRequests):
		return "too_many_requests"
	case errors.Is(err, errdefs.ErrUnauthenticated):
		return "acl_token_invalid"
	case errors.Is(err, errdefs.ErrPermissionDenied):
		return "permission_denied"
	case errors.Is(err, errdefs.ErrStorageFull):
		return "storage_full"
	case errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, errdefs.ErrClosed),
		errors.Is(err, errdefs.ErrStorageFailed):
		return "unavailable"
	default:
		return "internal"
	}
}
