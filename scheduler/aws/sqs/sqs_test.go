package sqs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/internal/queue"
	awsproto "github.com/docketd/docket/scheduler/aws"
)

func TestQueueLifecycle(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	url := createQueue(t, c, "orders", map[string]string{
		"VisibilityTimeout": "45", "MessageRetentionPeriod": "3600", "DelaySeconds": "0",
		"ReceiveMessageWaitTimeSeconds": "2", "MaximumMessageSize": "2048",
	})
	if want := h.srv.URL + "/000000000000/orders"; url != want {
		t.Errorf("QueueUrl = %q, want %q", url, want)
	}

	// Idempotent with the same attributes, or a subset of them.
	if got := createQueue(t, c, "orders", map[string]string{"VisibilityTimeout": "45"}); got != url {
		t.Errorf("second CreateQueue = %q, want %q", got, url)
	}
	_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("orders"),
		Attributes: map[string]string{"VisibilityTimeout": "46"}})
	var exists *types.QueueNameExists
	if !errors.As(err, &exists) || errorCode(err) != "QueueAlreadyExists" {
		t.Errorf("CreateQueue with other attributes: err %v (code %q), want QueueNameExists / QueueAlreadyExists", err, errorCode(err))
	}

	got, err := c.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	if err != nil || aws.ToString(got.QueueUrl) != url {
		t.Errorf("GetQueueUrl = %v, %v; want %q", aws.ToString(got.QueueUrl), err, url)
	}

	attrs, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"VisibilityTimeout": "45", "MessageRetentionPeriod": "3600", "DelaySeconds": "0",
		"ReceiveMessageWaitTimeSeconds": "2", "MaximumMessageSize": "2048",
		"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0",
		"ApproximateNumberOfMessagesDelayed": "0", "QueueArn": "arn:aws:sqs:us-east-1:000000000000:orders",
	} {
		if attrs.Attributes[k] != want {
			t.Errorf("attribute %s = %q, want %q", k, attrs.Attributes[k], want)
		}
	}
	if ts, err := strconv.ParseInt(attrs.Attributes["CreatedTimestamp"], 10, 64); err != nil || time.Since(time.Unix(ts, 0)) > time.Minute {
		t.Errorf("CreatedTimestamp = %q, want about now", attrs.Attributes["CreatedTimestamp"])
	}

	if _, err := c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: &url,
		Attributes: map[string]string{"VisibilityTimeout": "7"}}); err != nil {
		t.Fatal(err)
	}
	attrs, err = c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{"VisibilityTimeout"}})
	if err != nil || len(attrs.Attributes) != 1 || attrs.Attributes["VisibilityTimeout"] != "7" {
		t.Errorf("after SetQueueAttributes: %v, %v; want only VisibilityTimeout=7", attrs.Attributes, err)
	}

	if _, err := c.DeleteQueue(ctx(t), &sqs.DeleteQueueInput{QueueUrl: &url}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) || errorCode(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("GetQueueUrl after delete: %v (code %q), want QueueDoesNotExist", err, errorCode(err))
	}
}

func TestQueueTags(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	out, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("tagged"),
		Tags: map[string]string{"team": "ops", "env": "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	url := out.QueueUrl
	if _, err := c.TagQueue(ctx(t), &sqs.TagQueueInput{QueueUrl: url, Tags: map[string]string{"env": "prod", "cost": "42"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagQueue(ctx(t), &sqs.UntagQueueInput{QueueUrl: url, TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ListQueueTags(ctx(t), &sqs.ListQueueTagsInput{QueueUrl: url})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"env": "prod", "cost": "42"}; !maps.Equal(got.Tags, want) {
		t.Fatalf("ListQueueTags = %v, want %v", got.Tags, want)
	}
	// Creating the queue again with other tags returns it and keeps its own.
	if _, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("tagged"), Tags: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	if info, _ := h.engine.Queue("tagged"); len(info.Tags) != 2 || info.Tags["x"] != "" {
		t.Errorf("tags after a second CreateQueue = %v, want them unchanged", info.Tags)
	}
	// A queue without tags lists none.
	plain := createQueue(t, c, "plain", nil)
	if got, err := c.ListQueueTags(ctx(t), &sqs.ListQueueTagsInput{QueueUrl: &plain}); err != nil || len(got.Tags) != 0 {
		t.Fatalf("ListQueueTags(plain) = %v, %v; want no tags", got, err)
	}
	// A queue that does not exist.
	gone := h.srv.URL + "/000000000000/gone"
	if _, err := c.ListQueueTags(ctx(t), &sqs.ListQueueTagsInput{QueueUrl: &gone}); errorCode(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Fatalf("ListQueueTags(gone): got %v, want NonExistentQueue", err)
	}
}

func TestListQueues(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	for _, n := range []string{"a-1", "a-2", "a-3", "b-1"} {
		createQueue(t, c, n, nil)
	}
	tests := []struct {
		name   string
		prefix string
		max    int32
		want   [][]string // pages
	}{
		{"all", "", 0, [][]string{{"a-1", "a-2", "a-3", "b-1"}}},
		{"prefix", "a-", 0, [][]string{{"a-1", "a-2", "a-3"}}},
		{"pages", "a-", 2, [][]string{{"a-1", "a-2"}, {"a-3"}}},
		{"none", "zz", 0, [][]string{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &sqs.ListQueuesInput{QueueNamePrefix: aws.String(tt.prefix)}
			if tt.max > 0 {
				in.MaxResults = aws.Int32(tt.max)
			}
			var pages [][]string
			for {
				out, err := c.ListQueues(ctx(t), in)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, u := range out.QueueUrls {
					names = append(names, u[strings.LastIndex(u, "/")+1:])
				}
				pages = append(pages, append([]string{}, names...))
				if out.NextToken == nil {
					break
				}
				in.NextToken = out.NextToken
			}
			if fmt.Sprint(pages) != fmt.Sprint(tt.want) {
				t.Errorf("pages = %v, want %v", pages, tt.want)
			}
		})
	}
}

func TestSendReceiveDelete(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	url := createQueue(t, c, "work", nil)

	sent, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("héllo ✓ 𝄞")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(sent.MD5OfMessageBody), md5Hex([]byte("héllo ✓ 𝄞")); got != want {
		t.Errorf("MD5OfMessageBody = %s, want %s", got, want)
	}
	out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages, want 1", len(out.Messages))
	}
	m := out.Messages[0]
	if aws.ToString(m.Body) != "héllo ✓ 𝄞" || aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) {
		t.Errorf("got message %q id %s, want %q id %s", aws.ToString(m.Body), aws.ToString(m.MessageId), "héllo ✓ 𝄞", aws.ToString(sent.MessageId))
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" || m.Attributes["SentTimestamp"] == "" || m.Attributes["ApproximateFirstReceiveTimestamp"] == "" {
		t.Errorf("system attributes = %v, want receive count 1 and both timestamps", m.Attributes)
	}
	attrs, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessagesNotVisible"}})
	if err != nil || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Errorf("NotVisible = %v, %v; want 1", attrs.Attributes, err)
	}

	// Visibility: make it visible again, receive it a second time.
	if _, err := c.ChangeMessageVisibility(ctx(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: &url,
		ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	// AttributeNames, deprecated, is what older SDKs send: still honoured.
	out, err = c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}}) //lint:ignore SA1019 the older SDKs' field
	if err != nil || len(out.Messages) != 1 || out.Messages[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("second receive: %+v, %v; want the message with receive count 2", out, err)
	}
	// The first receipt is stale now.
	_, err = c.ChangeMessageVisibility(ctx(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: &url,
		ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 5})
	if errorCode(err) != "ReceiptHandleIsInvalid" {
		t.Errorf("ChangeMessageVisibility with a stale receipt: code %q, want ReceiptHandleIsInvalid", errorCode(err))
	}
	if _, err := c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ChangeMessageVisibility(ctx(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: &url,
		ReceiptHandle: out.Messages[0].ReceiptHandle, VisibilityTimeout: 5})
	if errorCode(err) != "AWS.SimpleQueueService.MessageNotInflight" {
		t.Errorf("ChangeMessageVisibility after delete: code %q, want MessageNotInflight", errorCode(err))
	}
	_, err = c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String("garbage")})
	var invalid *types.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Errorf("DeleteMessage(garbage) = %v, want ReceiptHandleIsInvalid", err)
	}
	st, _ := h.engine.Stats("work")
	if st.Visible+st.InFlight+st.Delayed != 0 {
		t.Errorf("queue holds %+v after delete, want nothing", st)
	}
}

func TestMessageAttributesRoundTrip(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	url := createQueue(t, c, "attrs", map[string]string{"VisibilityTimeout": "0"})
	in := map[string]types.MessageAttributeValue{
		"s":        {DataType: aws.String("String"), StringValue: aws.String("value ünïcode")},
		"n":        {DataType: aws.String("Number"), StringValue: aws.String("-12.5e3")},
		"b":        {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 0xff}},
		"custom.s": {DataType: aws.String("String.json"), StringValue: aws.String(`{"a":1}`)},
		"custom.b": {DataType: aws.String("Binary.gzip"), BinaryValue: []byte("gz")},
	}
	sent, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageAttributes: in})
	if err != nil {
		t.Fatal(err)
	}
	// The SDK checks the body's digest itself; the attributes' digest is
	// checked here against our own computation over the SDK's input.
	if got, want := aws.ToString(sent.MD5OfMessageAttributes), sdkAttributesMD5(in); got != want {
		t.Errorf("MD5OfMessageAttributes = %s, want %s", got, want)
	}
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{"all", []string{"All"}, []string{"b", "custom.b", "custom.s", "n", "s"}},
		{"named", []string{"s", "b"}, []string{"b", "s"}},
		{"prefix", []string{"custom.*"}, []string{"custom.b", "custom.s"}},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: tt.names})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) != 1 {
				t.Fatalf("received %d messages, want 1", len(out.Messages))
			}
			m := out.Messages[0]
			var got []string
			for k, v := range m.MessageAttributes {
				got = append(got, k)
				if w := in[k]; aws.ToString(w.DataType) != aws.ToString(v.DataType) ||
					aws.ToString(w.StringValue) != aws.ToString(v.StringValue) || !bytes.Equal(w.BinaryValue, v.BinaryValue) {
					t.Errorf("attribute %s = %+v, want %+v", k, v, w)
				}
			}
			slices.Sort(got)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("attributes = %v, want %v", got, tt.want)
			}
			if got, want := aws.ToString(m.MD5OfMessageAttributes), sdkAttributesMD5(m.MessageAttributes); got != want {
				t.Errorf("received MD5OfMessageAttributes = %q, want %q", got, want)
			}
		})
	}
}

// sdkAttributesMD5 computes the attributes digest from SDK values.
func sdkAttributesMD5(in map[string]types.MessageAttributeValue) string {
	var attrs []queue.Attr
	for k, v := range in {
		val := v.BinaryValue
		if v.StringValue != nil {
			val = []byte(*v.StringValue)
		}
		attrs = append(attrs, queue.Attr{Name: k, Type: aws.ToString(v.DataType), Value: val})
	}
	return md5OfAttributes(attrs)
}

func TestSendMessageBatchPartialFailure(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	url := createQueue(t, c, "batch", nil)
	out, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("ok1"), MessageBody: aws.String("one")},
		{Id: aws.String("bad"), MessageBody: aws.String("nul \x00 here")},
		{Id: aws.String("ok2"), MessageBody: aws.String("two"), DelaySeconds: 1,
			MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}},
		{Id: aws.String("badattr"), MessageBody: aws.String("x"),
			MessageAttributes: map[string]types.MessageAttributeValue{"AWS.reserved": {DataType: aws.String("String"), StringValue: aws.String("v")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ok []string
	for _, s := range out.Successful {
		ok = append(ok, aws.ToString(s.Id))
		if aws.ToString(s.MessageId) == "" {
			t.Errorf("entry %s has no MessageId", aws.ToString(s.Id))
		}
	}
	slices.Sort(ok)
	if fmt.Sprint(ok) != "[ok1 ok2]" {
		t.Errorf("successful = %v, want [ok1 ok2]", ok)
	}
	fails := map[string]types.BatchResultErrorEntry{}
	for _, f := range out.Failed {
		fails[aws.ToString(f.Id)] = f
	}
	for id, code := range map[string]string{"bad": "InvalidMessageContents", "badattr": "InvalidParameterValue"} {
		f, found := fails[id]
		if !found || aws.ToString(f.Code) != code || !f.SenderFault || aws.ToString(f.Message) == "" {
			t.Errorf("failed entry %s = %+v, want code %s, sender fault, a message", id, f, code)
		}
	}

	tests := []struct {
		name    string
		entries []types.SendMessageBatchRequestEntry
		code    string
	}{
		{"too many", entries(11), "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
		{"duplicate ids", []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("a"), MessageBody: aws.String("2")}},
			"AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{"bad id", []types.SendMessageBatchRequestEntry{{Id: aws.String("no spaces"), MessageBody: aws.String("1")}},
			"AWS.SimpleQueueService.InvalidBatchEntryId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: tt.entries})
			if got := errorCode(err); got != tt.code {
				t.Errorf("code = %q, want %q (err %v)", got, tt.code, err)
			}
		})
	}
}

func entries(n int) []types.SendMessageBatchRequestEntry {
	out := make([]types.SendMessageBatchRequestEntry, n)
	for i := range out {
		out[i] = types.SendMessageBatchRequestEntry{Id: aws.String("e" + strconv.Itoa(i)), MessageBody: aws.String("m")}
	}
	return out
}

func TestBatchDeleteAndVisibility(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	url := createQueue(t, c, "b", nil)
	if _, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries(3)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 3 {
		t.Fatalf("received %d, %v; want 3 messages", len(out.Messages), err)
	}
	vis, err := c.ChangeMessageVisibilityBatch(ctx(t), &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &url,
		Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
			{Id: aws.String("v0"), ReceiptHandle: out.Messages[0].ReceiptHandle, VisibilityTimeout: 100},
			{Id: aws.String("v1"), ReceiptHandle: aws.String("nonsense"), VisibilityTimeout: 100},
		}})
	if err != nil || len(vis.Successful) != 1 || len(vis.Failed) != 1 || aws.ToString(vis.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Errorf("ChangeMessageVisibilityBatch = %+v, %v; want v0 ok, v1 ReceiptHandleIsInvalid", vis, err)
	}
	del, err := c.DeleteMessageBatch(ctx(t), &sqs.DeleteMessageBatchInput{QueueUrl: &url,
		Entries: []types.DeleteMessageBatchRequestEntry{
			{Id: aws.String("d0"), ReceiptHandle: out.Messages[0].ReceiptHandle},
			{Id: aws.String("d1"), ReceiptHandle: out.Messages[1].ReceiptHandle},
			{Id: aws.String("d2"), ReceiptHandle: aws.String("nonsense")},
		}})
	if err != nil || len(del.Successful) != 2 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Id) != "d2" {
		t.Errorf("DeleteMessageBatch = %+v, %v; want d0, d1 ok and d2 failed", del, err)
	}
	if _, err := c.PurgeQueue(ctx(t), &sqs.PurgeQueueInput{QueueUrl: &url}); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.engine.Stats("b"); st.Visible+st.InFlight+st.Delayed != 0 {
		t.Errorf("after purge: %+v, want empty", st)
	}
}

func TestLongPoll(t *testing.T) {
	arrived := make(chan struct{}, 1)
	h := newHarness(t, Config{})
	inner := h.srv.Config.Handler
	h.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "AmazonSQS.ReceiveMessage" {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
		inner.ServeHTTP(w, r)
	})
	c := h.defaultClient()
	url := createQueue(t, c, "poll", nil)

	var wg sync.WaitGroup
	var out *sqs.ReceiveMessageOutput
	var err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, err = c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 20})
	}()
	<-arrived
	polltest.WaitFor(t, 10*time.Second, func() error {
		// The engine counts no receive until the message is taken, so the
		// receive must still be waiting.
		if st, _ := h.engine.Stats("poll"); st.Totals.Received != 0 {
			return fmt.Errorf("received before send: %+v", st)
		}
		return nil
	})
	if _, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("late")}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "late" {
		t.Fatalf("long poll = %+v, %v; want the message sent while waiting", out, err)
	}
}

func TestDeadLetterQueue(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	dlq := createQueue(t, c, "dead", nil)
	// A zero visibility timeout makes every receive a failed one at once.
	src := createQueue(t, c, "src", map[string]string{
		"VisibilityTimeout": "0",
		"RedrivePolicy":     `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dead","maxReceiveCount":"2"}`,
	})
	attrs, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: &src, AttributeNames: []types.QueueAttributeName{"RedrivePolicy"}})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Arn string `json:"deadLetterTargetArn"`
		Max int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(attrs.Attributes["RedrivePolicy"]), &p); err != nil || p.Arn != "arn:aws:sqs:us-east-1:000000000000:dead" || p.Max != 2 {
		t.Errorf("RedrivePolicy = %q, want the dead queue with 2 receives", attrs.Attributes["RedrivePolicy"])
	}
	if _, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &src, MessageBody: aws.String("poison")}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &src})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("receive %d: %+v, %v; want the message", i, out, err)
		}
	}
	out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &src})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("receive past maxReceiveCount: %+v, %v; want none", out, err)
	}
	out, err = c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &dlq, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "poison" {
		t.Fatalf("receive from the dead-letter queue: %+v, %v; want the message", out, err)
	}
	if got, want := out.Messages[0].Attributes["DeadLetterQueueSourceArn"], "arn:aws:sqs:us-east-1:000000000000:src"; got != want {
		t.Errorf("DeadLetterQueueSourceArn = %q, want %q", got, want)
	}
	// Clearing the policy.
	if _, err := c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: &src, Attributes: map[string]string{"RedrivePolicy": ""}}); err != nil {
		t.Fatal(err)
	}
	if info, _ := h.engine.Queue("src"); info.Attributes.DeadLetter != "" {
		t.Errorf("dead letter after clearing = %q, want none", info.Attributes.DeadLetter)
	}
}

func TestInvalidParameters(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	url := createQueue(t, c, "p", nil)
	other := strings.Replace(url, "/p", "/nope", 1)
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown queue attribute", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("x"), Attributes: map[string]string{"Bogus": "1"}})
			return err
		}, "InvalidAttributeName"},
		{"attribute out of range", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("x"), Attributes: map[string]string{"DelaySeconds": "901"}})
			return err
		}, "InvalidAttributeValue"},
		{"bad redrive policy", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("x"), Attributes: map[string]string{"RedrivePolicy": "{"}})
			return err
		}, "InvalidAttributeValue"},
		{"missing dead-letter queue", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("x"), Attributes: map[string]string{
				"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:gone","maxReceiveCount":3}`}})
			return err
		}, "InvalidParameterValue"},
		{"bad queue name", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("no spaces")})
			return err
		}, "InvalidParameterValue"},
		{"unknown get attribute", func() error {
			_, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"Nope"}})
			return err
		}, "InvalidAttributeName"},
		{"unknown queue", func() error {
			_, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &other, MessageBody: aws.String("x")})
			return err
		}, "AWS.SimpleQueueService.NonExistentQueue"},
		{"forbidden character", func() error {
			_, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("\uffff")})
			return err
		}, "InvalidMessageContents"},
		{"delay too long", func() error {
			_, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), DelaySeconds: 901})
			return err
		}, "InvalidParameterValue"},
		{"too large", func() error {
			_, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(strings.Repeat("x", 1<<20+1))})
			return err
		}, "InvalidParameterValue"},
		{"bad number attribute", func() error {
			_, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"),
				MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String("ten")}}})
			return err
		}, "InvalidParameterValue"},
		{"receive max 11", func() error {
			_, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 11})
			return err
		}, "InvalidParameterValue"},
		{"missing queue url", func() error {
			_, err := c.PurgeQueue(ctx(t), &sqs.PurgeQueueInput{QueueUrl: aws.String("")})
			return err
		}, "MissingParameter"},
		{"a permission with a bad label", func() error {
			_, err := c.AddPermission(ctx(t), &sqs.AddPermissionInput{QueueUrl: &url, Label: aws.String("a b"),
				AWSAccountIds: []string{"111111111111"}, Actions: []string{"SendMessage"}})
			return err
		}, "InvalidParameterValue"},
		{"removing a permission that is not there", func() error {
			_, err := c.RemovePermission(ctx(t), &sqs.RemovePermissionInput{QueueUrl: &url, Label: aws.String("nope")})
			return err
		}, "InvalidParameterValue"},
		{"reserved tag key", func() error {
			_, err := c.TagQueue(ctx(t), &sqs.TagQueueInput{QueueUrl: &url, Tags: map[string]string{"aws:x": "b"}})
			return err
		}, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := errorCode(err); got != tt.code {
				t.Errorf("code = %q, want %q (err %v)", got, tt.code, err)
			}
			if s := httpStatus(err); s != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", s)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	keys := awsproto.StaticKeys{
		testKeyID: {ID: testKeyID, Secret: testSecret, Access: awsproto.Everything},
		"SCOPED":  {ID: "SCOPED", Secret: "scoped-secret", Access: awsproto.Queues{"mine"}},
	}
	tests := []struct {
		name       string
		skew       time.Duration
		id, secret string
		queue      string
		code       string
		status     int
	}{
		{"good", 0, testKeyID, testSecret, "mine", "", 200},
		{"small skew", 10 * time.Minute, testKeyID, testSecret, "mine", "", 200},
		{"wrong secret", 0, testKeyID, "not-it", "mine", "SignatureDoesNotMatch", 403},
		{"unknown key", 0, "NOBODY", testSecret, "mine", "InvalidClientTokenId", 403},
		{"clock skew", 20 * time.Minute, testKeyID, testSecret, "mine", "RequestExpired", 400},
		{"clock skew behind", -20 * time.Minute, testKeyID, testSecret, "mine", "RequestExpired", 400},
		{"scoped key, its queue", 0, "SCOPED", "scoped-secret", "mine", "", 200},
		{"scoped key, other queue", 0, "SCOPED", "scoped-secret", "theirs", "AccessDenied", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{Keys: keys, Now: func() time.Time { return time.Now().Add(tt.skew) }})
			for _, q := range []string{"mine", "theirs"} {
				if _, err := h.engine.CreateQueue(q, queue.DefaultAttributes()); err != nil {
					t.Fatal(err)
				}
			}
			c := h.client(tt.id, tt.secret)
			url := h.srv.URL + "/000000000000/" + tt.queue
			_, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")})
			if got := errorCode(err); got != tt.code {
				t.Errorf("code = %q, want %q (err %v)", got, tt.code, err)
			}
			if tt.code != "" && httpStatus(err) != tt.status {
				t.Errorf("status = %d, want %d", httpStatus(err), tt.status)
			}
		})
	}
}

func TestScopedKeyListsAndCreatesOnlyItsQueues(t *testing.T) {
	h := newHarness(t, Config{Keys: awsproto.StaticKeys{"S": {ID: "S", Secret: "x", Access: awsproto.Queues{"mine", "mine-dlq"}}}})
	for _, q := range []string{"mine", "theirs"} {
		if _, err := h.engine.CreateQueue(q, queue.DefaultAttributes()); err != nil {
			t.Fatal(err)
		}
	}
	c := h.client("S", "x")
	out, err := c.ListQueues(ctx(t), &sqs.ListQueuesInput{})
	if err != nil || len(out.QueueUrls) != 1 || !strings.HasSuffix(out.QueueUrls[0], "/mine") {
		t.Errorf("ListQueues = %v, %v; want only mine", out.QueueUrls, err)
	}
	_, err = c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("new")})
	if errorCode(err) != "AccessDenied" {
		t.Errorf("CreateQueue(new) code %q, want AccessDenied", errorCode(err))
	}
	_, err = c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(h.srv.URL + "/000000000000/mine"),
		Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:theirs","maxReceiveCount":3}`}})
	if errorCode(err) != "AccessDenied" {
		t.Errorf("redrive to another key's queue: code %q, want AccessDenied", errorCode(err))
	}
}

// rawPost sends body as action to an unsigned handler.
func rawPost(t *testing.T, url, target, body string) (int, errorBody, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb errorBody
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(data, &eb); err != nil {
			t.Errorf("error body %q is not JSON: %v", data, err)
		}
	}
	return resp.StatusCode, eb, resp.Header
}

func TestMalformedRequests(t *testing.T) {
	h := newHarness(t, Config{AllowUnsigned: true})
	if _, err := h.engine.CreateQueue("q", queue.DefaultAttributes()); err != nil {
		t.Fatal(err)
	}
	qurl := `"http://x/000000000000/q"`
	tests := []struct {
		name, target, body string
		status             int
		typ                string
	}{
		{"malformed json", "AmazonSQS.SendMessage", `{"QueueUrl":`, 400, "com.amazon.coral.service#SerializationException"},
		{"not an object", "AmazonSQS.SendMessage", `[1,2]`, 400, "com.amazon.coral.service#SerializationException"},
		{"trailing data", "AmazonSQS.ListQueues", `{} {}`, 400, "com.amazon.coral.service#SerializationException"},
		{"wrong type", "AmazonSQS.ReceiveMessage", `{"QueueUrl":` + qurl + `,"MaxNumberOfMessages":"5"}`, 400, "com.amazon.coral.service#SerializationException"},
		{"fraction", "AmazonSQS.ReceiveMessage", `{"QueueUrl":` + qurl + `,"WaitTimeSeconds":1.5}`, 400, "com.amazon.coral.service#SerializationException"},
		{"bad base64", "AmazonSQS.SendMessage", `{"QueueUrl":` + qurl + `,"MessageBody":"x","MessageAttributes":{"b":{"DataType":"Binary","BinaryValue":"!!"}}}`, 400, "com.amazon.coral.service#SerializationException"},
		{"unknown action", "AmazonSQS.Frobnicate", `{}`, 400, "com.amazonaws.sqs#InvalidAction"},
		{"a move to a destination", "AmazonSQS.StartMessageMoveTask", `{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:dlq","DestinationArn":"arn:aws:sqs:us-east-1:000000000000:other"}`, 400, "com.amazonaws.sqs#UnsupportedOperation"},
		{"tag without tags", "AmazonSQS.TagQueue", `{"QueueUrl":` + qurl + `}`, 400, "com.amazonaws.sqs#MissingParameter"},
		{"untag without keys", "AmazonSQS.UntagQueue", `{"QueueUrl":` + qurl + `,"TagKeys":[]}`, 400, "com.amazonaws.sqs#MissingParameter"},
		{"tags not a map", "AmazonSQS.TagQueue", `{"QueueUrl":` + qurl + `,"Tags":["a"]}`, 400, "com.amazon.coral.service#SerializationException"},
		{"missing body", "AmazonSQS.SendMessage", `{"QueueUrl":` + qurl + `}`, 400, "com.amazonaws.sqs#MissingParameter"},
		{"bad queue url", "AmazonSQS.SendMessage", `{"QueueUrl":"::::","MessageBody":"x"}`, 400, "com.amazonaws.sqs#QueueDoesNotExist"},
		{"empty batch", "AmazonSQS.SendMessageBatch", `{"QueueUrl":` + qurl + `,"Entries":[]}`, 400, "com.amazonaws.sqs#EmptyBatchRequest"},
		{"empty delete batch", "AmazonSQS.DeleteMessageBatch", `{"QueueUrl":` + qurl + `}`, 400, "com.amazonaws.sqs#EmptyBatchRequest"},
		{"no target", "", `{}`, 400, "com.amazonaws.sqs#InvalidAction"},
		{"huge max results", "AmazonSQS.ListQueues", `{"MaxResults":99999999999999999999}`, 400, "com.amazon.coral.service#SerializationException"},
		{"valid list", "AmazonSQS.ListQueues", ``, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, eb, hdr := rawPost(t, h.srv.URL, tt.target, tt.body)
			if status != tt.status || eb.Type != tt.typ {
				t.Errorf("got %d %q (%s), want %d %q", status, eb.Type, eb.Message, tt.status, tt.typ)
			}
			if status != 200 && eb.Message == "" {
				t.Errorf("error without a message")
			}
			if strings.HasPrefix(tt.typ, "com.amazonaws.sqs#") && !strings.HasSuffix(hdr.Get("x-amzn-query-error"), ";Sender") {
				t.Errorf("x-amzn-query-error = %q, want a Sender fault", hdr.Get("x-amzn-query-error"))
			}
		})
	}
}

func TestNoKeysRefusesEverything(t *testing.T) {
	e, err := queue.Open(queue.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	srv := newTestServer(t, New(Config{Engine: e}))
	status, eb, _ := rawPost(t, srv, "AmazonSQS.ListQueues", `{}`)
	if status != http.StatusForbidden || eb.Type != "com.amazonaws.sqs#MissingAuthenticationToken" {
		t.Errorf("got %d %q, want 403 MissingAuthenticationToken", status, eb.Type)
	}
}
