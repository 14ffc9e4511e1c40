package sqs

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/docketd/docket/scheduler/aws"
)

// The query protocol is SQS's older wire format, still spoken by AWS CLI v1
// and older boto3: a form-encoded POST of Action=...&Version=2012-11-05 and
// the action's parameters, flattened ("Attribute.1.Name"), to / or to the
// queue's URL, answered in XML. Its actions run the very functions the
// JSON protocol runs: an [aws.QueryDecoder] fills the same request shapes
// from the form, and [aws.QueryProtocol] writes the same results as XML,
// both led by the query tags of wire.go.

// queryNamespace is the XML namespace of every query-protocol answer.
const queryNamespace = "http://queue.amazonaws.com/doc/2012-11-05/"

// isQueryPath reports whether path is one the query protocol posts to: /
// or a queue's /ACCOUNT/NAME.
func isQueryPath(path string) bool {
	trimmed := strings.Trim(path, "/")
	return trimmed == "" || strings.Count(trimmed, "/") == 1
}

// queryAction returns the Action of a query-protocol request and whether
// it is one SQS knows. The form is read from the body, which is put back
// for the handler to read again; a form over MaxRequestBody is not read,
// and counts as SQS's, for the handler to refuse.
func queryAction(r *http.Request) (string, bool) {
	if !aws.IsFormPost(r) || !isQueryPath(r.URL.Path) {
		return "", false
	}
	action, tooLarge, err := aws.PeekAction(r, MaxRequestBody)
	if tooLarge {
		return "", true // not to be read: the handler refuses it
	}
	if err != nil {
		return "", false
	}
	_, known := actions[action]
	return action, known
}

// queryForm returns the parameters of a query-protocol request: those of
// the body, and those of the URL's query the body lacks. A request posted
// to a queue's URL names that queue when it has no QueueUrl parameter.
func queryForm(r *http.Request, body []byte, host string) (url.Values, *aws.Error) {
	vals, err := aws.ParseForm(r, body)
	if err != nil {
		return nil, err
	}
	if _, ok := vals["QueueUrl"]; !ok && strings.Trim(r.URL.Path, "/") != "" {
		vals.Set("QueueUrl", host+r.URL.Path)
	}
	return vals, nil
}
