// Command echo is a Lambda function built with aws-lambda-go, as Lambda
// users build theirs: it answers an event with the event, and for tests
// fails, sleeps or answers big on request. An SQS event's records whose
// body contains "fail" are reported failed (batchItemFailures); an SNS
// event's messages are answered with. Docket runs it unchanged.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Fail    string `json:"fail,omitempty"`
	Sleep   int    `json:"sleep_ms,omitempty"`
	Big     int    `json:"big,omitempty"`
	Records []struct {
		EventSource  string `json:"eventSource"`
		EventSource2 string `json:"EventSource"`
	} `json:"Records"`
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var ev event
	json.Unmarshal(raw, &ev)
	if len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:sqs" {
		var sqs events.SQSEvent
		if err := json.Unmarshal(raw, &sqs); err != nil {
			return nil, err
		}
		var out events.SQSEventResponse
		for _, r := range sqs.Records {
			if strings.Contains(r.Body, "fail") {
				out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return out, nil
	}
	if len(ev.Records) > 0 && ev.Records[0].EventSource2 == "aws:sns" {
		var sns events.SNSEvent
		if err := json.Unmarshal(raw, &sns); err != nil {
			return nil, err
		}
		var msgs []string
		for _, r := range sns.Records {
			msgs = append(msgs, r.SNS.Message)
		}
		return map[string]any{"sns_messages": msgs}, nil
	}
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
