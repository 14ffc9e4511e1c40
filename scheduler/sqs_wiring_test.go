package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/sqs"
)

// TestSQSEndpointSharesTheServer: an AWS SDK client pointed at the
// server's address creates a queue and sends to it with a signed request;
// the native API sees the message, and an unsigned client is refused.
func TestSQSEndpointSharesTheServer(t *testing.T) {
	keys := sqs.StaticKeys{"AKIDOCKETTEST": {ID: "AKIDOCKETTEST", Secret: "secret-for-tests"}}
	_, cl, base := newCluster(t, Config{SQSKeys: keys})
	client := func(id, secret string) *awssqs.Client {
		return awssqs.New(awssqs.Options{
			Region:           "us-east-1",
			BaseEndpoint:     aws.String(base),
			Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
			RetryMaxAttempts: 1,
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := client("AKIDOCKETTEST", "secret-for-tests")
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("from-sdk")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("hello from the SDK")}); err != nil {
		t.Fatal(err)
	}
	zero := specsDuration(0)
	msgs, err := cl.Receive(ctx, "from-sdk", api.ReceiveRequest{Wait: &zero})
	if err != nil || len(msgs) != 1 || msgs[0].Body != "hello from the SDK" {
		t.Fatalf("native receive: %+v, %v", msgs, err)
	}
	if _, err := client("AKIDOCKETTEST", "wrong").ListQueues(ctx, &awssqs.ListQueuesInput{}); err == nil {
		t.Fatal("a request signed with the wrong secret was accepted")
	}
	// The native API is unaffected by the SQS routing.
	if h, err := cl.Health(ctx); err != nil || h.Status != "ok" {
		t.Fatalf("health: %+v, %v", h, err)
	}
}
