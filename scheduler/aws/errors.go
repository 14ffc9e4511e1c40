package aws

import (
	"fmt"
	"net/http"
)

// Error is an AWS error as both protocols report it: a code (the shape
// name of the JSON protocol's __type), the code of the older query
// protocol where it differs (also sent in the JSON protocol's
// x-amzn-query-error header, which SDKs prefer as the error code), an HTTP
// status and whether the sender is at fault.
type Error struct {
	Status    int
	Code      string // e.g. "QueueDoesNotExist"
	QueryCode string // e.g. "AWS.SimpleQueueService.NonExistentQueue"; Code when empty
	Sender    bool
	Message   string
	// Namespace is the __type prefix; the [JSONProtocol]'s when empty.
	Namespace string
	// Cause is what went wrong in an internal error, for the server's log;
	// it is never sent to the client.
	Cause error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Kind is a row of a service's table of errors: everything of an [Error]
// but its message.
type Kind struct {
	Status    int
	Code      string
	QueryCode string
	Namespace string
}

// The errors every AWS API shares, which this package returns itself.
var (
	MissingAuthenticationToken = Kind{http.StatusForbidden, "MissingAuthenticationToken", "MissingAuthenticationToken", ""}
	IncompleteSignature        = Kind{http.StatusBadRequest, "IncompleteSignature", "IncompleteSignature", ""}
	InvalidClientTokenID       = Kind{http.StatusForbidden, "InvalidClientTokenId", "InvalidClientTokenId", ""}
	SignatureDoesNotMatch      = Kind{http.StatusForbidden, "SignatureDoesNotMatch", "SignatureDoesNotMatch", ""}
	RequestExpired             = Kind{http.StatusBadRequest, "RequestExpired", "RequestExpired", ""}
	InvalidAction              = Kind{http.StatusBadRequest, "InvalidAction", "InvalidAction", ""}
	InvalidParameterValue      = Kind{http.StatusBadRequest, "InvalidParameterValue", "InvalidParameterValue", ""}
	MissingParameter           = Kind{http.StatusBadRequest, "MissingParameter", "MissingParameter", ""}
	MalformedQueryString       = Kind{http.StatusBadRequest, "MalformedQueryString", "MalformedQueryString", ""}
	SerializationException     = Kind{http.StatusBadRequest, "SerializationException", "", "com.amazon.coral.service"}
	RequestEntityTooLarge      = Kind{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "RequestEntityTooLarge", ""}
	RequestTimeout             = Kind{http.StatusRequestTimeout, "RequestTimeout", "RequestTimeout", ""}
	ServiceUnavailable         = Kind{http.StatusServiceUnavailable, "ServiceUnavailable", "ServiceUnavailable", ""}
)

// NewError returns an error of kind k with a formatted message; the
// sender is at fault for every status below 500.
func NewError(k Kind, format string, args ...any) *Error {
	return &Error{
		Status:    k.Status,
		Code:      k.Code,
		QueryCode: k.QueryCode,
		Sender:    k.Status < 500,
		Message:   fmt.Sprintf(format, args...),
		Namespace: k.Namespace,
	}
}

// fault is the query protocol's name for who is at fault.
func (e *Error) fault() string {
	if e.Sender {
		return "Sender"
	}
	return "Receiver"
}
