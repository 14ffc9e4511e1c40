package lambdaevent

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/docketd/docket/internal/queue"
)

// The SQS event decodes as aws-lambda-go's events.SQSEvent, the type
// functions built for Lambda take, with every field Lambda fills.
func TestSQSEventIsLambdas(t *testing.T) {
	sent := time.UnixMilli(1_700_000_000_123)
	msgs := []queue.Message{
		{ID: "m1", Receipt: "r1", Body: []byte(`{"order":1}`), ReceiveCount: 2, SentAt: sent, FirstReceivedAt: sent.Add(time.Second),
			Attributes: []queue.Attr{{Name: "kind", Type: "String", Value: []byte("paid")}, {Name: "blob", Type: "Binary", Value: []byte{0, 1, 2}}}},
		{ID: "m2", Receipt: "r2", Body: []byte("plain"), ReceiveCount: 1, SentAt: sent, FirstReceivedAt: sent,
			Group: "g", DedupID: "d", Seq: 42, TraceHeader: "Root=1-x"},
	}
	b, err := SQSEvent(Source{QueueARN: "arn:aws:sqs:us-east-1:000000000000:orders", Region: "us-east-1", SenderID: "AKID"}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 2 {
		t.Fatalf("%d records", len(ev.Records))
	}
	r := ev.Records[0]
	sum := md5.Sum(msgs[0].Body)
	if r.MessageId != "m1" || r.ReceiptHandle != "r1" || r.Body != `{"order":1}` || r.Md5OfBody != hex.EncodeToString(sum[:]) ||
		r.EventSource != "aws:sqs" || r.EventSourceARN != "arn:aws:sqs:us-east-1:000000000000:orders" || r.AWSRegion != "us-east-1" {
		t.Errorf("record %+v", r)
	}
	if r.Attributes["ApproximateReceiveCount"] != "2" || r.Attributes["SentTimestamp"] != "1700000000123" ||
		r.Attributes["ApproximateFirstReceiveTimestamp"] != "1700000001123" || r.Attributes["SenderId"] != "AKID" {
		t.Errorf("attributes %v", r.Attributes)
	}
	if a := r.MessageAttributes["kind"]; a.DataType != "String" || a.StringValue == nil || *a.StringValue != "paid" {
		t.Errorf("string attribute %+v", a)
	}
	if a := r.MessageAttributes["blob"]; a.DataType != "Binary" || !slices.Equal(a.BinaryValue, []byte{0, 1, 2}) {
		t.Errorf("binary attribute %+v", a)
	}
	if r.Md5OfMessageAttributes != queue.AttributesMD5(msgs[0].Attributes) || r.Md5OfMessageAttributes == "" {
		t.Errorf("md5OfMessageAttributes %q", r.Md5OfMessageAttributes)
	}
	f := ev.Records[1]
	if f.Attributes["MessageGroupId"] != "g" || f.Attributes["MessageDeduplicationId"] != "d" || f.Attributes["SequenceNumber"] != "42" ||
		f.Attributes["AWSTraceHeader"] != "Root=1-x" || f.Md5OfMessageAttributes != "" || len(f.MessageAttributes) != 0 {
		t.Errorf("FIFO record %+v", f)
	}
}

// A function's partial-failure report is read as Lambda reads it.
func TestSQSBatchResult(t *testing.T) {
	ids := []string{"a", "b", "c"}
	for answer, want := range map[string][]string{
		``:                           nil,
		`null`:                       nil,
		`{}`:                         nil,
		`{"batchItemFailures":null}`: nil,
		`{"batchItemFailures":[]}`:   nil,
		`{"batchItemFailures":[{"itemIdentifier":"b"}]}`:                                               {"b"},
		`{"batchItemFailures":[{"itemIdentifier":"c"},{"itemIdentifier":"a"},{"itemIdentifier":"c"}]}`: {"c", "a"},
		`{"batchItemFailures":[{"itemIdentifier":""}]}`:                                                ids, // an empty id fails the batch
		`{"batchItemFailures":[{"itemIdentifier":null}]}`:                                              ids,
		`{"batchItemFailures":[{"id":"b"}]}`:                                                           ids, // a bad key name
		`{"batchItemFailures":[{"itemIdentifier":"zzz"}]}`:                                             ids, // not in the batch
		`{not json`: ids,
		`"done"`:    nil,
	} {
		if got := SQSBatchResult([]byte(answer), ids, true).Failed; !slices.Equal(got, want) {
			t.Errorf("answer %s: failed %v, want %v", answer, got, want)
		}
	}
	if got := SQSBatchResult([]byte(`{"batchItemFailures":[{"itemIdentifier":"b"}]}`), ids, false).Failed; got != nil {
		t.Errorf("without report_batch_item_failures the report is ignored: %v", got)
	}
	// The report aws-lambda-go's types write is understood.
	b, _ := json.Marshal(events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "a"}}})
	if got := SQSBatchResult(b, ids, true).Failed; !slices.Equal(got, []string{"a"}) {
		t.Errorf("aws-lambda-go's SQSEventResponse: %v", got)
	}
}

// Whatever a function answers, the result names only messages of the
// batch, each once.
func FuzzSQSBatchResult(f *testing.F) {
	f.Add([]byte(`{"batchItemFailures":[{"itemIdentifier":"b"}]}`))
	f.Add([]byte(`{"batchItemFailures":[{"itemIdentifier":""},{"itemIdentifier":"a"}]}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, answer []byte) {
		ids := []string{"a", "b", "c"}
		seen := map[string]bool{}
		for _, id := range SQSBatchResult(answer, ids, true).Failed {
			if !slices.Contains(ids, id) || seen[id] {
				t.Fatalf("answer %q failed %q", answer, id)
			}
			seen[id] = true
		}
	})
}
