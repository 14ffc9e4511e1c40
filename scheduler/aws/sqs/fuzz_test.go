package sqs

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// FuzzQueryDecode sends arbitrary forms through the query protocol's
// decoder and the whole handler: whatever the form, the answer is XML in
// the protocol's namespace, never a server error or a panic.
func FuzzQueryDecode(f *testing.F) {
	const q = "QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq"
	seeds := []string{
		"Action=CreateQueue&QueueName=n&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=5&Tag.1.Key=a&Tag.1.Value=b",
		"Action=GetQueueAttributes&" + q + "&AttributeName.1=All",
		"Action=SendMessage&" + q + "&MessageBody=hi&MessageAttribute.1.Name=s&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v" +
			"&MessageAttribute.2.Name=b&MessageAttribute.2.Value.DataType=Binary&MessageAttribute.2.Value.BinaryValue=AAE%3D",
		"Action=SendMessageBatch&" + q + "&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.02.Id=b",
		"Action=ReceiveMessage&" + q + "&MaxNumberOfMessages=10&WaitTimeSeconds=0&AttributeName.1=All&MessageAttributeName.1=All&MessageSystemAttributeName.1=SenderId",
		"Action=DeleteMessageBatch&" + q + "&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle=x",
		"Action=ChangeMessageVisibilityBatch&" + q + "&ChangeMessageVisibilityBatchRequestEntry.1.Id=a&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=x&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=1",
		"Action=ListQueues&MaxResults=1",
		"Action=ListDeadLetterSourceQueues&" + q,
		"Action=StartMessageMoveTask&SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq",
		"Action=CancelMessageMoveTask&TaskHandle=eyJ9",
		"Action=%zz",
		"Action=SetQueueAttributes&" + q + "&Attribute.1.Value=1&Attribute.-1.Name=x",
	}
	for _, s := range seeds {
		f.Add(s)
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
	f.Fuzz(func(t *testing.T, form string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%q: status %d: %s", form, w.Code, w.Body)
		}
		var root struct{ XMLName xml.Name }
		if err := xml.Unmarshal(w.Body.Bytes(), &root); err != nil || root.XMLName.Space != queryNamespace {
			t.Fatalf("%q: answer is not XML of the query protocol (%v): %q", form, err, w.Body)
		}
	})
}

// FuzzValidText checks validText's ASCII fast path against a rune-by-rune
// reading of SQS's allowed characters.
func FuzzValidText(f *testing.F) {
	for _, s := range []string{"plain", "tab\t", "ü✓", "\x00", "\xff", "a\xed\xa0\x80", "\ufffe", "𝄞"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := true
		for i, r := range s {
			if r == utf8.RuneError {
				if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
					want = false
					break
				}
			}
			if !(r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
				want = false
				break
			}
		}
		if got := validText(s); got != want {
			t.Fatalf("validText(%q) = %v, want %v", s, got, want)
		}
	})
}
