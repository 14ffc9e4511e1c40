package sqs

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/docketd/docket/internal/queue"
	awsproto "github.com/docketd/docket/scheduler/aws"
)

// FIFO queues through aws-sdk-go-v2: the attributes, sends with groups
// and deduplication ids (SequenceNumber, duplicates answering the first
// message's id), receives in group order with nothing more of a group
// while one of its messages is in flight, ReceiveRequestAttemptId, and
// SQS's errors.
func TestFIFOQueue(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	if _, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("orders")}); err != nil {
		t.Fatal(err)
	}
	for name, attrs := range map[string]map[string]string{
		"orders.fifo":    nil,                   // a .fifo name without FifoQueue
		"plain":          {"FifoQueue": "true"}, // FifoQueue without the name
		"dedup-std":      {"ContentBasedDeduplication": "true"},
		"bad-scope.fifo": {"FifoQueue": "true", "DeduplicationScope": "everywhere"},
	} {
		if _, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs}); err == nil {
			t.Errorf("CreateQueue(%s, %v) succeeded", name, attrs)
		}
	}
	url := createQueue(t, c, "orders.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	attrs, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil || attrs.Attributes["FifoQueue"] != "true" || attrs.Attributes["ContentBasedDeduplication"] != "true" ||
		attrs.Attributes["DeduplicationScope"] != "queue" || attrs.Attributes["FifoThroughputLimit"] != "perQueue" {
		t.Fatalf("attributes %v, %v", attrs.Attributes, err)
	}
	std, _ := c.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	attrs, _ = c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: std.QueueUrl, AttributeNames: []types.QueueAttributeName{"All"}})
	if _, ok := attrs.Attributes["FifoQueue"]; ok {
		t.Errorf("a standard queue reports FifoQueue: %v", attrs.Attributes)
	}

	send := func(group, body string) *sqs.SendMessageOutput {
		t.Helper()
		out, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body), MessageGroupId: aws.String(group)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a1 := send("a", "a1")
	send("a", "a2")
	send("b", "b1")
	dup := send("a", "a1") // the same body: content-based duplicate
	if aws.ToString(dup.MessageId) != aws.ToString(a1.MessageId) || aws.ToString(dup.SequenceNumber) != aws.ToString(a1.SequenceNumber) {
		t.Errorf("duplicate answered %s/%s, want %s/%s", aws.ToString(dup.MessageId), aws.ToString(dup.SequenceNumber),
			aws.ToString(a1.MessageId), aws.ToString(a1.SequenceNumber))
	}
	if _, err := strconv.ParseUint(aws.ToString(a1.SequenceNumber), 10, 64); err != nil {
		t.Errorf("SequenceNumber %q", aws.ToString(a1.SequenceNumber))
	}
	batch, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("1"), MessageBody: aws.String("c1"), MessageGroupId: aws.String("c")},
		{Id: aws.String("2"), MessageBody: aws.String("c2"), MessageGroupId: aws.String("c"), MessageDeduplicationId: aws.String("x")},
		{Id: aws.String("3"), MessageBody: aws.String("nogroup")},
	}})
	if err != nil || len(batch.Successful) != 2 || len(batch.Failed) != 1 || aws.ToString(batch.Failed[0].Code) != "MissingParameter" {
		t.Fatalf("batch: %+v, %v", batch, err)
	}
	s1, _ := strconv.ParseUint(aws.ToString(batch.Successful[0].SequenceNumber), 10, 64)
	s2, _ := strconv.ParseUint(aws.ToString(batch.Successful[1].SequenceNumber), 10, 64)
	if s1 == 0 || s2 <= s1 {
		t.Errorf("a batch's sequence numbers %d, %d: want increasing", s1, s2)
	}

	receive := func(n int32, attempt string) []types.Message {
		t.Helper()
		in := &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: n,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}}
		if attempt != "" {
			in.ReceiveRequestAttemptId = aws.String(attempt)
		}
		out, err := c.ReceiveMessage(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	bodies := func(ms []types.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, aws.ToString(m.Body))
		}
		return out
	}
	first := receive(3, "try")
	if got := bodies(first); !slices.Equal(got, []string{"a1", "a2", "b1"}) {
		t.Fatalf("first receive %v", got)
	}
	if m := first[0]; m.Attributes["MessageGroupId"] != "a" || m.Attributes["SequenceNumber"] != aws.ToString(a1.SequenceNumber) ||
		m.Attributes["MessageDeduplicationId"] == "" {
		t.Errorf("system attributes %v", m.Attributes)
	}
	again := receive(3, "try")
	if len(again) != 3 || aws.ToString(again[0].ReceiptHandle) != aws.ToString(first[0].ReceiptHandle) {
		t.Errorf("a retried attempt: %v", bodies(again))
	}
	if got := bodies(receive(10, "")); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("second receive %v: groups a and b are in flight", got)
	}
	if got := receive(10, ""); len(got) != 0 {
		t.Fatalf("every group is in flight, yet %v", bodies(got))
	}
	if _, err := c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	// SQS's errors for FIFO input.
	for name, in := range map[string]*sqs.SendMessageInput{
		"no group":          {QueueUrl: &url, MessageBody: aws.String("x")},
		"a message's delay": {QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("g"), DelaySeconds: 5},
		"a dedup id on a standard queue": {QueueUrl: std.QueueUrl, MessageBody: aws.String("x"),
			MessageDeduplicationId: aws.String("d")},
	} {
		if _, err := c.SendMessage(ctx(t), in); err == nil {
			t.Errorf("%s: succeeded", name)
		}
	}
	plain := createQueue(t, c, "plain.fifo", map[string]string{"FifoQueue": "true"})
	_, err = c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &plain, MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
	if errorCode(err) != "InvalidParameterValue" {
		t.Errorf("no dedup id without content-based deduplication: %v", err)
	}
	for i := range 3 {
		out, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &plain, MessageBody: aws.String(fmt.Sprint(i)),
			MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("same")})
		if err != nil {
			t.Fatal(err)
		}
		_ = out
	}
	if st, _ := h.engine.Stats("plain.fifo"); st.Visible != 1 {
		t.Errorf("three sends with one dedup id stored %d", st.Visible)
	}
	_, err = c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("src.fifo"), Attributes: map[string]string{"FifoQueue": "true",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders","maxReceiveCount":"2"}`}})
	if err == nil {
		t.Errorf("a FIFO queue took a standard dead-letter queue")
	}
}

// A FIFO queue's deduplication survives a restart: the same id sent again
// after the engine reopened its log answers with the first message's id
// and sequence number, and the queue holds one message.
func TestFIFODeduplicationAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	keys := awsproto.StaticKeys{testKeyID: {ID: testKeyID, Secret: testSecret, Access: awsproto.Everything}}
	start := func() (*queue.Engine, *sqs.Client, func()) {
		e, err := queue.Open(queue.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(New(Config{Engine: e, Keys: keys}))
		h := &harness{engine: e, srv: srv}
		return e, h.defaultClient(), func() { srv.Close(); e.Close() }
	}
	_, c, stop := start()
	url := createQueue(t, c, "pay.fifo", map[string]string{"FifoQueue": "true"})
	first, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("charge"),
		MessageGroupId: aws.String("customer-1"), MessageDeduplicationId: aws.String("charge-42")})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	e, c, stop := start()
	defer stop()
	again, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("charge"),
		MessageGroupId: aws.String("customer-1"), MessageDeduplicationId: aws.String("charge-42")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.MessageId) != aws.ToString(first.MessageId) || aws.ToString(again.SequenceNumber) != aws.ToString(first.SequenceNumber) {
		t.Errorf("after a restart the resend answered %s/%s, want %s/%s", aws.ToString(again.MessageId), aws.ToString(again.SequenceNumber),
			aws.ToString(first.MessageId), aws.ToString(first.SequenceNumber))
	}
	if st, _ := e.Stats("pay.fifo"); st.Visible != 1 {
		t.Errorf("the queue holds %d messages, want 1", st.Visible)
	}
}
