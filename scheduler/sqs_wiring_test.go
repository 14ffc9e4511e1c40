package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	awsproto "github.com/docketd/docket/scheduler/aws"
)

// TestSQSEndpointSharesTheServer: an AWS SDK client pointed at the
// server's address creates a queue and sends to it with a signed request;
// the native API sees the message, and an unsigned client is refused.
func TestSQSEndpointSharesTheServer(t *testing.T) {
	keys := awsproto.StaticKeys{"AKIDOCKETTEST": {ID: "AKIDOCKETTEST", Secret: "secret-for-tests"}}
	_, cl, base := newCluster(t, scheduler.Config{SQSKeys: keys})
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
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("from-sdk"), Tags: map[string]string{"team": "ops"}})
	if err != nil {
		t.Fatal(err)
	}
	if q, err := cl.Queue(ctx, "from-sdk"); err != nil || q.Tags["team"] != "ops" {
		t.Fatalf("native queue status: %+v, %v; want tag team=ops", q, err)
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

// TestJobKeysReachTheirQueueOnly: a worker allocation of a service on a
// queue gets an access key from the server; with it an AWS SDK reaches
// the job's queue, and no other.
func TestJobKeysReachTheirQueueOnly(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	startNode(t, cl, "n1", 8000, 8192, nil, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.RegisterJobs(ctx, parseFile(t, scaledJob, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ScaleJob(ctx, "workers", 1); err != nil {
		t.Fatal(err)
	}
	var creds *api.SQSCredentials
	waitFor(t, 5*time.Second, func() error {
		na, err := cl.NodeAllocations(ctx, "n1", api.QueryOptions{})
		if err != nil {
			return err
		}
		for _, a := range na.Allocations {
			if a.Allocation.Job == "workers" && a.SQS != nil {
				creds = a.SQS
				return nil
			}
		}
		return fmt.Errorf("no worker allocation with SQS credentials: %+v", na.Allocations)
	})
	c := awssqs.New(awssqs.Options{
		Region: creds.Region, BaseEndpoint: aws.String(base), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
	})
	url, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("from a worker")}); err != nil {
		t.Fatalf("send to the job's own queue: %v", err)
	}
	other := strings.Replace(*url.QueueUrl, "/jobs", "/elsewhere", 1)
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(other), MessageBody: aws.String("x")}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("send to another queue with the job's key: got %v, want AccessDenied", err)
	}
}
