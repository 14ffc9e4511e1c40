package sqs

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS behaviours AWS documents that clients rely on, through
// aws-sdk-go-v2: 1 MiB messages by default, Policy kept and edited by
// AddPermission and RemovePermission, a request id on every answer,
// LastModifiedTimestamp, AWSTraceHeader, MessageAttributeNames
// prefixes, the encryption settings kept, a malformed queue URL naming
// no queue, a delete with an earlier receipt succeeding, and SQS's texts.
func TestDocumentedBehaviours(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	url := createQueue(t, c, "docs", map[string]string{"KmsMasterKeyId": "alias/aws/sqs", "KmsDataKeyReusePeriodSeconds": "600",
		"SqsManagedSseEnabled": "true"})
	attrs := func() map[string]string {
		t.Helper()
		out, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := awsmw.GetRequestIDMetadata(out.ResultMetadata); !ok || id == "" {
			t.Errorf("no request id on GetQueueAttributes")
		}
		return out.Attributes
	}
	a := attrs()
	if a["MaximumMessageSize"] != "1048576" || a["KmsMasterKeyId"] != "alias/aws/sqs" || a["KmsDataKeyReusePeriodSeconds"] != "600" ||
		a["SqsManagedSseEnabled"] != "true" || a["LastModifiedTimestamp"] == "" || a["LastModifiedTimestamp"] < a["CreatedTimestamp"] {
		t.Errorf("attributes %v", a)
	}

	// 1 MiB bodies, and batches up to 1 MiB in all.
	if _, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(strings.Repeat("m", 1<<20))}); err != nil {
		t.Errorf("a 1 MiB message: %v", err)
	}
	half := strings.Repeat("h", 1<<19+1)
	_, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: &half}, {Id: aws.String("b"), MessageBody: &half}}})
	var tooLong *types.BatchRequestTooLong
	if !errors.As(err, &tooLong) {
		t.Errorf("a batch over 1 MiB: %v", err)
	}
	_, err = c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{}})
	if err == nil || !strings.Contains(err.Error(), "There should be at least one SendMessageBatchRequestEntry in the request.") {
		t.Errorf("an empty batch: %v", err)
	}

	// Policy: set, then edited by AddPermission and RemovePermission.
	if _, err := c.AddPermission(ctx(t), &sqs.AddPermissionInput{QueueUrl: &url, Label: aws.String("senders"),
		AWSAccountIds: []string{"111122223333"}, Actions: []string{"SendMessage", "ReceiveMessage"}}); err != nil {
		t.Fatal(err)
	}
	if p := attrs()["Policy"]; !strings.Contains(p, `"Sid":"senders"`) || !strings.Contains(p, "arn:aws:iam::111122223333:root") ||
		!strings.Contains(p, "SQS:SendMessage") {
		t.Errorf("Policy after AddPermission: %s", p)
	}
	if _, err := c.AddPermission(ctx(t), &sqs.AddPermissionInput{QueueUrl: &url, Label: aws.String("senders"),
		AWSAccountIds: []string{"1"}, Actions: []string{"SendMessage"}}); errorCode(err) != "InvalidParameterValue" {
		t.Errorf("the same label again: %v", err)
	}
	if _, err := c.RemovePermission(ctx(t), &sqs.RemovePermissionInput{QueueUrl: &url, Label: aws.String("senders")}); err != nil {
		t.Fatal(err)
	}
	if p, ok := attrs()["Policy"]; ok {
		t.Errorf("Policy after RemovePermission: %s", p)
	}
	policy := `{"Version":"2012-10-17","Statement":[]}`
	if _, err := c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"Policy": policy}}); err != nil {
		t.Fatal(err)
	}
	if p := attrs()["Policy"]; p != policy {
		t.Errorf("Policy %q, want %q", p, policy)
	}

	// AWSTraceHeader and attribute-name prefixes.
	trace := "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	if _, err := c.PurgeQueue(ctx(t), &sqs.PurgeQueueInput{QueueUrl: &url}); err != nil {
		t.Fatal(err)
	}
	_, err = c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("traced"),
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{"AWSTraceHeader": {DataType: aws.String("String"), StringValue: &trace}},
		MessageAttributes: map[string]types.MessageAttributeValue{
			"Custom.a": {DataType: aws.String("String"), StringValue: aws.String("1")},
			"Other":    {DataType: aws.String("String"), StringValue: aws.String("2")}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"Custom.*"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"AWSTraceHeader"}})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("receive: %+v, %v", got, err)
	}
	m := got.Messages[0]
	if m.Attributes["AWSTraceHeader"] != trace || len(m.MessageAttributes) != 1 || m.MessageAttributes["Custom.a"].StringValue == nil {
		t.Errorf("received %v, %v", m.Attributes, m.MessageAttributes)
	}

	// A delete with an earlier receipt succeeds; the message stays, as
	// it was received again since.
	if _, err := c.ChangeMessageVisibility(ctx(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	again, _ := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url})
	if len(again.Messages) != 1 {
		t.Fatalf("second receive: %+v", again)
	}
	if _, err := c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Errorf("a delete with the earlier receipt: %v", err)
	}
	if st, _ := h.engine.Stats("docs"); st.InFlight != 1 {
		t.Errorf("the message went with an outdated receipt: %+v", st)
	}
	_, err = c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String("garbage")})
	if err == nil || !strings.Contains(err.Error(), "The input receipt handle is invalid.") {
		t.Errorf("a garbage receipt: %v", err)
	}

	// A malformed queue URL names no queue.
	_, err = c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String("http://127.0.0.1/not/a/queue/url"), MessageBody: aws.String("x")})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Errorf("a malformed queue URL: %v", err)
	}
}
