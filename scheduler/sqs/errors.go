package sqs

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/msgchars"
)

// Error is an SQS error as the JSON protocol reports it: a code (the
// shape name in __type), the code of the older query protocol (sent in the
// x-amzn-query-error header, which SDKs prefer as the error code), an HTTP
// status and whether the sender is at fault.
type Error struct {
	Status    int
	Code      string // e.g. "QueueDoesNotExist"
	QueryCode string // e.g. "AWS.SimpleQueueService.NonExistentQueue"
	Sender    bool
	Message   string
	// Namespace is the __type prefix; "com.amazonaws.sqs" when empty.
	Namespace string
	cause     error // of an internal error, for the log
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorKind is a row of the table of SQS errors this package returns.
type errorKind struct {
	status    int
	code      string
	queryCode string
	namespace string
}

// The SQS errors, with the query-protocol codes real SQS reports.
var (
	kindQueueDoesNotExist     = errorKind{http.StatusBadRequest, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", ""}
	kindQueueNameExists       = errorKind{http.StatusBadRequest, "QueueNameExists", "QueueAlreadyExists", ""}
	kindReceiptHandleInvalid  = errorKind{http.StatusBadRequest, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", ""}
	kindMessageNotInflight    = errorKind{http.StatusBadRequest, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", ""}
	kindInvalidParameterValue = errorKind{http.StatusBadRequest, "InvalidParameterValue", "InvalidParameterValue", ""}
	kindMissingParameter      = errorKind{http.StatusBadRequest, "MissingParameter", "MissingParameter", ""}
	kindInvalidAttributeName  = errorKind{http.StatusBadRequest, "InvalidAttributeName", "InvalidAttributeName", ""}
	kindInvalidAttributeValue = errorKind{http.StatusBadRequest, "InvalidAttributeValue", "InvalidAttributeValue", ""}
	kindInvalidMessage        = errorKind{http.StatusBadRequest, "InvalidMessageContents", "InvalidMessageContents", ""}
	kindTooManyEntries        = errorKind{http.StatusBadRequest, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", ""}
	kindEmptyBatch            = errorKind{http.StatusBadRequest, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", ""}
	kindBatchIDsNotDistinct   = errorKind{http.StatusBadRequest, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", ""}
	kindInvalidBatchEntryID   = errorKind{http.StatusBadRequest, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", ""}
	kindBatchRequestTooLong   = errorKind{http.StatusBadRequest, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", ""}
	kindInvalidAddress        = errorKind{http.StatusBadRequest, "InvalidAddress", "InvalidAddress", ""}
	kindUnsupportedOperation  = errorKind{http.StatusBadRequest, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", ""}
	kindInvalidAction         = errorKind{http.StatusBadRequest, "InvalidAction", "InvalidAction", ""}
	kindSerialization         = errorKind{http.StatusBadRequest, "SerializationException", "", "com.amazon.coral.service"}
	kindMissingAuth           = errorKind{http.StatusForbidden, "MissingAuthenticationToken", "MissingAuthenticationToken", ""}
	kindIncompleteSignature   = errorKind{http.StatusBadRequest, "IncompleteSignature", "IncompleteSignature", ""}
	kindInvalidClientTokenID  = errorKind{http.StatusForbidden, "InvalidClientTokenId", "InvalidClientTokenId", ""}
	kindSignatureDoesNotMatch = errorKind{http.StatusForbidden, "SignatureDoesNotMatch", "SignatureDoesNotMatch", ""}
	kindRequestExpired        = errorKind{http.StatusBadRequest, "RequestExpired", "RequestExpired", ""}
	kindAccessDenied          = errorKind{http.StatusForbidden, "AccessDenied", "AccessDenied", ""}
	kindRequestTooLarge       = errorKind{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "RequestEntityTooLarge", ""}
	kindServiceUnavailable    = errorKind{http.StatusServiceUnavailable, "ServiceUnavailable", "ServiceUnavailable", ""}
	kindInternal              = errorKind{http.StatusInternalServerError, "InternalError", "InternalError", ""}
)

// newError returns an error of kind with a formatted message.
func newError(k errorKind, format string, args ...any) *Error {
	return &Error{
		Status:    k.status,
		Code:      k.code,
		QueryCode: k.queryCode,
		Sender:    k.status < 500,
		Message:   fmt.Sprintf(format, args...),
		Namespace: k.namespace,
	}
}

// engineError maps an error of the queue engine onto an SQS error: by its
// class, refined by its errdefs code where SQS distinguishes cases.
func engineError(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	msg := err.Error()
	code := errdefs.Code(err, "")
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return newError(kindServiceUnavailable, "request canceled")
	case errors.Is(err, errdefs.ErrNotFound) && code == "queue_not_found":
		return newError(kindQueueDoesNotExist, "The specified queue does not exist.")
	case errors.Is(err, errdefs.ErrNotFound) && code == "message_not_found":
		return newError(kindReceiptHandleInvalid, "%s", msg)
	case errors.Is(err, errdefs.ErrNotFound):
		return newError(kindInvalidParameterValue, "%s", msg)
	case code == "invalid_receipt", code == "receipt_outdated", code == "message_gone":
		return newError(kindReceiptHandleInvalid, "%s", msg)
	case code == "message_not_in_flight":
		return newError(kindMessageNotInflight, "%s", msg)
	case code == "queue_exists":
		return newError(kindQueueNameExists, "%s", msg)
	case code == msgchars.Code:
		return newError(kindInvalidMessage, "%s", msg)
	case code == "request_too_large":
		return newError(kindRequestTooLarge, "%s", msg)
	case errors.Is(err, errdefs.ErrInvalid), errors.Is(err, errdefs.ErrConflict),
		errors.Is(err, errdefs.ErrOutdated), errors.Is(err, errdefs.ErrTooLarge):
		return newError(kindInvalidParameterValue, "%s", msg)
	case errors.Is(err, errdefs.ErrStorageFull), errors.Is(err, errdefs.ErrStorageFailed):
		// SQS has no error for a full disk; ServiceUnavailable (503) is the
		// one its SDKs retry with backoff.
		return newError(kindServiceUnavailable, "%s", msg)
	case errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, errdefs.ErrClosed):
		return newError(kindServiceUnavailable, "%s", msg)
	default:
		e := newError(kindInternal, "internal error")
		e.cause = err
		return e
	}
}
