package sqs

import (
	"context"
	"errors"
	"net/http"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/msgchars"
	"github.com/docketd/docket/scheduler/aws"
)

// The errors of SQS alone, with the query-protocol codes real SQS
// reports; those every AWS API shares are package aws's.
var (
	kindQueueDoesNotExist     = aws.Kind{Status: http.StatusBadRequest, Code: "QueueDoesNotExist", QueryCode: "AWS.SimpleQueueService.NonExistentQueue"}
	kindQueueNameExists       = aws.Kind{Status: http.StatusBadRequest, Code: "QueueNameExists", QueryCode: "QueueAlreadyExists"}
	kindReceiptHandleInvalid  = aws.Kind{Status: http.StatusBadRequest, Code: "ReceiptHandleIsInvalid", QueryCode: "ReceiptHandleIsInvalid"}
	kindMessageNotInflight    = aws.Kind{Status: http.StatusBadRequest, Code: "MessageNotInflight", QueryCode: "AWS.SimpleQueueService.MessageNotInflight"}
	kindInvalidAttributeName  = aws.Kind{Status: http.StatusBadRequest, Code: "InvalidAttributeName", QueryCode: "InvalidAttributeName"}
	kindInvalidAttributeValue = aws.Kind{Status: http.StatusBadRequest, Code: "InvalidAttributeValue", QueryCode: "InvalidAttributeValue"}
	kindInvalidMessage        = aws.Kind{Status: http.StatusBadRequest, Code: "InvalidMessageContents", QueryCode: "InvalidMessageContents"}
	kindTooManyEntries        = aws.Kind{Status: http.StatusBadRequest, Code: "TooManyEntriesInBatchRequest", QueryCode: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"}
	kindEmptyBatch            = aws.Kind{Status: http.StatusBadRequest, Code: "EmptyBatchRequest", QueryCode: "AWS.SimpleQueueService.EmptyBatchRequest"}
	kindBatchIDsNotDistinct   = aws.Kind{Status: http.StatusBadRequest, Code: "BatchEntryIdsNotDistinct", QueryCode: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"}
	kindInvalidBatchEntryID   = aws.Kind{Status: http.StatusBadRequest, Code: "InvalidBatchEntryId", QueryCode: "AWS.SimpleQueueService.InvalidBatchEntryId"}
	kindBatchRequestTooLong   = aws.Kind{Status: http.StatusBadRequest, Code: "BatchRequestTooLong", QueryCode: "AWS.SimpleQueueService.BatchRequestTooLong"}
	kindUnsupportedOperation  = aws.Kind{Status: http.StatusBadRequest, Code: "UnsupportedOperation", QueryCode: "AWS.SimpleQueueService.UnsupportedOperation"}
	kindAccessDenied          = aws.Kind{Status: http.StatusForbidden, Code: "AccessDenied", QueryCode: "AccessDenied"}
	kindInternal              = aws.Kind{Status: http.StatusInternalServerError, Code: "InternalError", QueryCode: "InternalError"}
	kindOverLimit             = aws.Kind{Status: http.StatusForbidden, Code: "OverLimit", QueryCode: "OverLimit"}
)

// engineError maps an error of the queue engine onto an SQS error: by its
// class, refined by its errdefs code where SQS distinguishes cases.
func engineError(err error) *aws.Error {
	var se *aws.Error
	if errors.As(err, &se) {
		return se
	}
	msg := err.Error()
	code := errdefs.Code(err, "")
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return aws.NewError(aws.ServiceUnavailable, "request canceled")
	case errors.Is(err, errdefs.ErrNotFound) && code == "queue_not_found":
		return aws.NewError(kindQueueDoesNotExist, "The specified queue does not exist.")
	case errors.Is(err, errdefs.ErrNotFound) && code == "message_not_found":
		return aws.NewError(kindReceiptHandleInvalid, "%s", msg)
	case errors.Is(err, errdefs.ErrNotFound):
		return aws.NewError(aws.InvalidParameterValue, "%s", msg)
	case code == "invalid_receipt", code == "receipt_outdated", code == "message_gone":
		return aws.NewError(kindReceiptHandleInvalid, "The input receipt handle is invalid.")
	case code == "message_not_in_flight":
		return aws.NewError(kindMessageNotInflight, "%s", msg)
	case code == "queue_exists":
		return aws.NewError(kindQueueNameExists, "%s", msg)
	case code == msgchars.Code:
		return aws.NewError(kindInvalidMessage, "%s", msg)
	case code == "request_too_large":
		return aws.NewError(aws.RequestEntityTooLarge, "%s", msg)
	case code == "missing_message_group_id":
		return aws.NewError(aws.MissingParameter, "The request must contain the parameter MessageGroupId.")
	case code == "missing_deduplication_id":
		return aws.NewError(aws.InvalidParameterValue, "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
	case errors.Is(err, errdefs.ErrInvalid), errors.Is(err, errdefs.ErrConflict),
		errors.Is(err, errdefs.ErrOutdated), errors.Is(err, errdefs.ErrTooLarge):
		return aws.NewError(aws.InvalidParameterValue, "%s", msg)
	case errors.Is(err, errdefs.ErrStorageFull), errors.Is(err, errdefs.ErrStorageFailed):
		// SQS has no error for a full disk; ServiceUnavailable (503) is the
		// one its SDKs retry with backoff.
		return aws.NewError(aws.ServiceUnavailable, "%s", msg)
	case errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, errdefs.ErrClosed):
		return aws.NewError(aws.ServiceUnavailable, "%s", msg)
	default:
		e := aws.NewError(kindInternal, "internal error")
		e.Cause = err
		return e
	}
}
