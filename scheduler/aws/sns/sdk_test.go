package sns_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/docketd/docket/internal/acltest"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	dawsa "github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/scheduler/httpapi"
	"github.com/docketd/docket/specs"
)

const (
	keyID  = "AKIDSNSTEST"
	secret = "sns/test+secret"
)

// fixture is a server with its API on a loopback port, an operator key
// for the SNS endpoint, and a native client with the management token.
func fixture(t *testing.T) (*sns.Client, *api.Client) {
	t.Helper()
	s, err := scheduler.New(scheduler.Config{DataDir: t.TempDir(),
		SQSKeys: dawsa.StaticKeys{keyID: {ID: keyID, Secret: secret, Accessor: keyID, Access: dawsa.Everything}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	boot, err := s.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(acltest.Credentials(httpapi.New(s).Handler(), boot.SecretID))
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
	})
	cl := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""), HTTPClient: hs.Client(), RetryMaxAttempts: 1})
	return cl, api.NewClient(hs.URL)
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestSDKEveryAction drives every SNS action with aws-sdk-go-v2's client.
func TestSDKEveryAction(t *testing.T) {
	c, native := fixture(t)
	ctx := context.Background()
	for _, q := range []string{"billing", "audit"} {
		if _, err := native.CreateQueue(ctx, api.QueueSettings{Name: q}); err != nil {
			t.Fatal(err)
		}
	}
	created, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders"),
		Attributes: map[string]string{"DisplayName": "Orders"}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.TopicArn)
	if arn != "arn:aws:sns:us-east-1:000000000000:orders" {
		t.Fatalf("TopicArn %q", arn)
	}
	again, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders")})
	if err != nil || aws.ToString(again.TopicArn) != arn {
		t.Fatalf("CreateTopic again: %v, %v", again, err)
	}
	list, err := c.ListTopics(ctx, &sns.ListTopicsInput{})
	if err != nil || len(list.Topics) != 1 || aws.ToString(list.Topics[0].TopicArn) != arn {
		t.Fatalf("ListTopics: %+v, %v", list, err)
	}
	if _, err := c.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: &arn, AttributeName: aws.String("DisplayName"), AttributeValue: aws.String("All orders")}); err != nil {
		t.Fatal(err)
	}
	attrs, err := c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn})
	if err != nil || attrs.Attributes["DisplayName"] != "All orders" || attrs.Attributes["TopicArn"] != arn {
		t.Fatalf("GetTopicAttributes: %+v, %v", attrs, err)
	}

	sub, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:billing"), ReturnSubscriptionArn: true,
		Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": `{"kind":["paid"]}`}})
	if err != nil {
		t.Fatal(err)
	}
	subARN := aws.ToString(sub.SubscriptionArn)
	auditSub, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:audit")})
	if err != nil {
		t.Fatal(err)
	}
	subs, err := c.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: &arn})
	if err != nil || len(subs.Subscriptions) != 2 || aws.ToString(subs.Subscriptions[0].Protocol) != "sqs" {
		t.Fatalf("ListSubscriptionsByTopic: %+v, %v", subs, err)
	}
	all, err := c.ListSubscriptions(ctx, &sns.ListSubscriptionsInput{})
	if err != nil || len(all.Subscriptions) != 2 {
		t.Fatalf("ListSubscriptions: %+v, %v", all, err)
	}
	sa, err := c.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: &subARN})
	if err != nil || sa.Attributes["RawMessageDelivery"] != "true" || sa.Attributes["FilterPolicy"] != `{"kind":["paid"]}` ||
		sa.Attributes["Endpoint"] != "arn:aws:sqs:us-east-1:000000000000:billing" {
		t.Fatalf("GetSubscriptionAttributes: %+v, %v", sa, err)
	}
	if _, err := c.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: &subARN,
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"kind":["paid","refund"]}`)}); err != nil {
		t.Fatal(err)
	}

	pub, err := c.Publish(ctx, &sns.PublishInput{TopicArn: &arn, Message: aws.String(`{"order":1}`), Subject: aws.String("paid"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind":  {DataType: aws.String("String"), StringValue: aws.String("refund")},
			"total": {DataType: aws.String("Number"), StringValue: aws.String("12.5")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		}})
	if err != nil || aws.ToString(pub.MessageId) == "" {
		t.Fatalf("Publish: %+v, %v", pub, err)
	}
	zero := specs.Duration(0)
	for q, want := range map[string]string{"billing": `{"order":1}`, "audit": `"Type":"Notification"`} {
		msgs, err := native.Receive(ctx, q, api.ReceiveRequest{Max: 10, Wait: &zero})
		if err != nil || len(msgs) != 1 || !strings.Contains(msgs[0].Body, want) {
			t.Errorf("queue %s got %+v, %v; want %s", q, msgs, err, want)
		}
	}
	batch, err := c.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: &arn, PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		{Id: aws.String("a"), Message: aws.String("one")},
		{Id: aws.String("b"), Message: aws.String("two"), MessageAttributes: map[string]types.MessageAttributeValue{
			"n": {DataType: aws.String("Number"), StringValue: aws.String("not a number")}}},
	}})
	if err != nil || len(batch.Successful) != 1 || len(batch.Failed) != 1 || aws.ToString(batch.Failed[0].Id) != "b" ||
		aws.ToString(batch.Failed[0].Code) != "InvalidParameter" || !batch.Failed[0].SenderFault {
		t.Fatalf("PublishBatch: %+v, %v", batch, err)
	}
	if _, err := c.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: &arn, PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		{Id: aws.String("a"), Message: aws.String("one")}, {Id: aws.String("a"), Message: aws.String("two")}}}); code(err) != "BatchEntryIdsNotDistinct" {
		t.Errorf("PublishBatch with the same Id twice: %v", err)
	}

	if _, err := c.TagResource(ctx, &sns.TagResourceInput{ResourceArn: &arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &sns.UntagResourceInput{ResourceArn: &arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("ListTagsForResource: %+v, %v", tags, err)
	}
	if _, err := c.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: &arn, Token: aws.String("x")}); code(err) != "InvalidParameter" {
		t.Errorf("ConfirmSubscription: %v", err)
	}
	if _, err := c.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: auditSub.SubscriptionArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: &arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn}); code(err) != "NotFound" {
		t.Errorf("GetTopicAttributes of a deleted topic: %v", err)
	}
}

// Bad input gets SNS's errors, never a 500.
func TestSDKErrors(t *testing.T) {
	c, native := fixture(t)
	ctx := context.Background()
	native.CreateQueue(ctx, api.QueueSettings{Name: "q"})
	created, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("t")})
	if err != nil {
		t.Fatal(err)
	}
	arn := created.TopicArn
	for name, tt := range map[string]struct {
		call func() error
		code string
	}{
		"an invalid topic name": {func() error {
			_, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("bad name!")})
			return err
		}, "InvalidParameter"},
		"a FIFO topic": {func() error {
			_, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("t.fifo")})
			return err
		}, "InvalidParameter"},
		"publish to an unknown topic": {func() error {
			_, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:nope"), Message: aws.String("m")})
			return err
		}, "NotFound"},
		"an oversized message": {func() error {
			_, err := c.Publish(ctx, &sns.PublishInput{TopicArn: arn, Message: aws.String(strings.Repeat("x", 256<<10+1))})
			return err
		}, "InvalidParameter"},
		"a bad attribute type": {func() error {
			_, err := c.Publish(ctx, &sns.PublishInput{TopicArn: arn, Message: aws.String("m"),
				MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("Date"), StringValue: aws.String("x")}}})
			return err
		}, "InvalidParameter"},
		"an invalid filter policy": {func() error {
			_, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("sqs"), Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:q"),
				Attributes: map[string]string{"FilterPolicy": `{"a":[{"numeric":[">",5,"<",2]}]}`}})
			return err
		}, "InvalidParameter"},
		"an email endpoint": {func() error {
			_, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("email"), Endpoint: aws.String("ops@example.test")})
			return err
		}, "InvalidParameter"},
		"an http endpoint on loopback": {func() error {
			_, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("http"), Endpoint: aws.String("http://127.0.0.1:9/")})
			return err
		}, "InvalidParameter"},
		"an http endpoint with an https URL": {func() error {
			_, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("http"), Endpoint: aws.String("https://example.test/")})
			return err
		}, "InvalidParameter"},
		"a bad delivery policy": {func() error {
			_, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("https"), Endpoint: aws.String("https://example.test/"),
				Attributes: map[string]string{"DeliveryPolicy": `{"healthyRetryPolicy": {"numRetries": 500}}`}})
			return err
		}, "InvalidParameter"},
		"a redrive policy naming no queue": {func() error {
			_, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("https"), Endpoint: aws.String("https://example.test/"),
				Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope"}`}})
			return err
		}, "InvalidParameter"},
		"a confirmation with a wrong token": {func() error {
			_, err := c.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: arn, Token: aws.String("00ff")})
			return err
		}, "InvalidParameter"},
		"a missing queue": {func() error {
			_, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("sqs"), Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:none")})
			return err
		}, "InvalidParameter"},
		"a bad ARN": {func() error {
			_, err := c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String("orders")})
			return err
		}, "InvalidParameter"},
		"an empty batch": {func() error {
			_, err := c.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: arn, PublishBatchRequestEntries: []types.PublishBatchRequestEntry{}})
			return err
		}, "EmptyBatchRequest"},
	} {
		if err := tt.call(); code(err) != tt.code {
			t.Errorf("%s: %v, want %s", name, err, tt.code)
		}
	}
	bad := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(native.Addr()),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, "wrong", ""), RetryMaxAttempts: 1})
	if _, err := bad.ListTopics(ctx, &sns.ListTopicsInput{}); code(err) != "SignatureDoesNotMatch" {
		t.Errorf("a wrong secret: %v", err)
	}
}

// A token's AWS key acts with the token's policies: it may publish to the
// topic its policy names, and nothing else.
func TestSDKTokenKeys(t *testing.T) {
	c, native := fixture(t)
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("events")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("private")}); err != nil {
		t.Fatal(err)
	}
	if _, err := native.ApplyPolicy(ctx, api.ACLPolicy{Name: "producer", Rules: `topic "events" { capabilities = ["publish"] }`}); err != nil {
		t.Fatal(err)
	}
	tok, err := native.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"producer"}, AWSKey: true})
	if err != nil || tok.AWSAccessKeyID == "" {
		t.Fatalf("token: %+v, %v", tok, err)
	}
	producer := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(native.Addr()),
		Credentials: credentials.NewStaticCredentialsProvider(tok.AWSAccessKeyID, tok.AWSSecretAccessKey, ""), RetryMaxAttempts: 1})
	if _, err := producer.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:events"), Message: aws.String("m")}); err != nil {
		t.Errorf("publish to its topic: %v", err)
	}
	for name, call := range map[string]func() error{
		"publish to another topic": func() error {
			_, err := producer.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:private"), Message: aws.String("m")})
			return err
		},
		"create a topic": func() error {
			_, err := producer.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("mine")})
			return err
		},
		"read a topic's attributes": func() error {
			_, err := producer.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:events")})
			return err
		},
	} {
		if err := call(); code(err) != "AuthorizationError" {
			t.Errorf("%s: %v, want AuthorizationError", name, err)
		}
	}
	if out, err := producer.ListTopics(ctx, &sns.ListTopicsInput{}); err != nil || len(out.Topics) != 0 {
		t.Errorf("ListTopics shows %+v, %v; want none (it may read none)", out, err)
	}
	if err := native.DeleteToken(ctx, tok.AccessorID); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:events"), Message: aws.String("m")}); code(err) != "InvalidClientTokenId" {
		t.Errorf("a revoked token's key: %v", err)
	}
}

// FIFO topics through aws-sdk-go-v2: FifoTopic and ContentBasedDeduplication
// on CreateTopic, publishes and batches with MessageGroupId fanned out to
// a FIFO queue in order, a duplicate stored once, and SNS's errors.
func TestSDKFIFOTopic(t *testing.T) {
	c, native := fixture(t)
	ctx := context.Background()
	yes := true
	if _, err := native.CreateQueue(ctx, api.QueueSettings{Name: "ordered.fifo", FIFO: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders.fifo")}); code(err) != "InvalidParameter" {
		t.Errorf("a .fifo topic without FifoTopic: %v", err)
	}
	topic, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders.fifo"),
		Attributes: map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: topic.TopicArn})
	if err != nil || attrs.Attributes["FifoTopic"] != "true" || attrs.Attributes["ContentBasedDeduplication"] != "true" {
		t.Fatalf("attributes %v, %v", attrs, err)
	}
	if _, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:ordered.fifo"), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String("x")}); code(err) != "InvalidParameter" {
		t.Errorf("a publish without MessageGroupId: %v", err)
	}
	for _, m := range []string{"1", "2", "1"} {
		if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(m), MessageGroupId: aws.String("g")}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: topic.TopicArn, PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		{Id: aws.String("a"), Message: aws.String("3"), MessageGroupId: aws.String("g")},
		{Id: aws.String("b"), Message: aws.String("4"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("four")},
		{Id: aws.String("c"), Message: aws.String("5")},
	}})
	if err != nil || len(res.Successful) != 2 || len(res.Failed) != 1 || aws.ToString(res.Failed[0].Id) != "c" {
		t.Fatalf("batch: %+v, %v", res, err)
	}
	zero := specs.Duration(0)
	msgs, err := native.Receive(ctx, "ordered.fifo", api.ReceiveRequest{Max: 10, Wait: &zero})
	var got []string
	for _, m := range msgs {
		got = append(got, m.Body)
	}
	if err != nil || strings.Join(got, "") != "1234" {
		t.Errorf("the FIFO queue received %v, %v; want 1, 2, 3, 4 once each, in order", got, err)
	}
}
