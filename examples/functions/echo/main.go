// Command echo is a Lambda function built with aws-lambda-go, as Lambda
// users build theirs: it answers an event with the event, and for tests
// fails, sleeps or answers big on request. Docket runs it unchanged.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Fail  string `json:"fail,omitempty"`
	Sleep int    `json:"sleep_ms,omitempty"`
	Big   int    `json:"big,omitempty"`
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var ev event
	json.Unmarshal(raw, &ev)
	switch {
	case ev.Fail != "":
		return nil, errors.New(ev.Fail)
	case ev.Sleep > 0:
		time.Sleep(time.Duration(ev.Sleep) * time.Millisecond)
	case ev.Big > 0:
		return strings.Repeat("b", ev.Big), nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	return map[string]any{"event": raw, "request_id": lc.AwsRequestID, "function_arn": lc.InvokedFunctionArn,
		"deadline_ms": deadline.UnixMilli()}, nil
}

func main() { lambda.Start(handle) }
