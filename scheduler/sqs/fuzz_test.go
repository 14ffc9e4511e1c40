package sqs

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/queue"
)

// FuzzDecode sends arbitrary bodies for every action through the whole
// handler: whatever the input, the answer is JSON and never a server
// error or a panic.
func FuzzDecode(f *testing.F) {
	const q = `"http://h/000000000000/q"`
	seeds := []struct{ action, body string }{
		{"CreateQueue", `{"QueueName":"n","Attributes":{"VisibilityTimeout":"5","RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:q\",\"maxReceiveCount\":\"2\"}"}}`},
		{"GetQueueUrl", `{"QueueName":"q"}`},
		{"ListQueues", `{"QueueNamePrefix":"q","MaxResults":1,"NextToken":"cQ"}`},
		{"GetQueueAttributes", `{"QueueUrl":` + q + `,"AttributeNames":["All"]}`},
		{"SetQueueAttributes", `{"QueueUrl":` + q + `,"Attributes":{"DelaySeconds":"0"}}`},
		{"SendMessage", `{"QueueUrl":` + q + `,"MessageBody":"hi","DelaySeconds":0,"MessageAttributes":{"s":{"DataType":"String.x","StringValue":"v"},"b":{"DataType":"Binary","BinaryValue":"AAE="},"n":{"DataType":"Number","StringValue":"1.5"}}}`},
		{"SendMessageBatch", `{"QueueUrl":` + q + `,"Entries":[{"Id":"a","MessageBody":"1"},{"Id":"b","MessageBody":"\u0000"}]}`},
		{"ReceiveMessage", `{"QueueUrl":` + q + `,"MaxNumberOfMessages":10,"WaitTimeSeconds":0,"VisibilityTimeout":0,"AttributeNames":["All"],"MessageAttributeNames":["All"]}`},
		{"DeleteMessage", `{"QueueUrl":` + q + `,"ReceiptHandle":"AAAA"}`},
		{"DeleteMessageBatch", `{"QueueUrl":` + q + `,"Entries":[{"Id":"a","ReceiptHandle":"x"}]}`},
		{"ChangeMessageVisibility", `{"QueueUrl":` + q + `,"ReceiptHandle":"x","VisibilityTimeout":3}`},
		{"ChangeMessageVisibilityBatch", `{"QueueUrl":` + q + `,"Entries":[{"Id":"a","ReceiptHandle":"x","VisibilityTimeout":1}]}`},
		{"PurgeQueue", `{"QueueUrl":` + q + `}`},
		{"DeleteQueue", `{"QueueUrl":"http://h/000000000000/other"}`},
		{"Nope", `{`},
	}
	for _, s := range seeds {
		f.Add(s.action, []byte(s.body))
	}
	e, err := queue.Open(queue.Config{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	if _, err := e.CreateQueue("q", queue.DefaultAttributes()); err != nil {
		f.Fatal(err)
	}
	h := New(Config{Engine: e, AllowUnsigned: true})
	f.Fuzz(func(t *testing.T, action string, body []byte) {
		// A long poll the fuzzer asks for must not stall it.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(string(body)))
		r.Header.Set("X-Amz-Target", targetPrefix+action)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q: status %d: %s", action, body, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: answer is not JSON: %q", action, body, w.Body)
		}
	})
}
