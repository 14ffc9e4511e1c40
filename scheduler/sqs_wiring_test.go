package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	awsproto "github.com/docketd/docket/scheduler/aws"
)

// TestSQSEndpointSharesTheServer: an AWS SDK client pointed at the
// server's address creates a queue and sends to it with a signed request;
// the native API sees the message, and an unsigned client is refused.
func TestSQSEndpointSharesTheServer(t *testing.T) {
	keys := awsproto.StaticKeys{"AKIDOCKETTEST": {ID: "AKIDOCKETTEST", Secret: "secret-for-tests", Access: awsproto.Everything}}
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

// sqsClient is an AWS SDK client of the server at base, signing with the
// key pair.
func sqsClient(base, region, id, secret string) *awssqs.Client {
	return awssqs.New(awssqs.Options{
		Region: region, BaseEndpoint: aws.String(base), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
	})
}

// sqsCode is the SQS error code of err, "" for none.
func sqsCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestWorkerKeysReachTheirQueueOnly: a worker allocation of a service on
// a queue gets an access key of its own from the server; with it an AWS
// SDK reads, sends to and receives from the job's queue, and nothing
// else, and the key stops working when the allocation ends.
func TestWorkerKeysReachTheirQueueOnly(t *testing.T) {
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
	var w api.NodeAllocation
	waitFor(t, 5*time.Second, func() error {
		na, err := cl.NodeAllocations(ctx, "n1", api.QueryOptions{})
		if err != nil {
			return err
		}
		for _, a := range na.Allocations {
			if a.Allocation.Job == "workers" && a.SQS != nil {
				w = a
				return nil
			}
		}
		return fmt.Errorf("no worker allocation with SQS credentials: %+v", na.Allocations)
	})
	creds := w.SQS
	c := sqsClient(base, creds.Region, creds.AccessKeyID, creds.SecretAccessKey)
	url, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("from a worker")}); err != nil {
		t.Fatalf("send to the job's own queue: %v", err)
	}
	got, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 1})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("receive from the job's own queue: %+v, %v", got, err)
	}
	if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: url.QueueUrl, ReceiptHandle: got.Messages[0].ReceiptHandle}); err != nil {
		t.Fatalf("delete from the job's own queue: %v", err)
	}
	if _, err := c.PurgeQueue(ctx, &awssqs.PurgeQueueInput{QueueUrl: url.QueueUrl}); sqsCode(err) != "AccessDenied" {
		t.Errorf("purge of the job's queue (write, not granted): %v", err)
	}
	other := strings.Replace(*url.QueueUrl, "/jobs", "/elsewhere", 1)
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(other), MessageBody: aws.String("x")}); sqsCode(err) != "AccessDenied" {
		t.Fatalf("send to another queue with the worker's key: got %v, want AccessDenied", err)
	}
	if out, err := c.ListQueues(ctx, &awssqs.ListQueuesInput{}); err != nil || len(out.QueueUrls) != 1 || out.QueueUrls[0] != *url.QueueUrl {
		t.Errorf("the worker's queue list: %v, %v; want only jobs", out, err)
	}
	if err := cl.UpdateAllocStatus(ctx, w.Allocation.ID, api.AllocStatusRequest{ClientStatus: "complete", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("late")}); sqsCode(err) != "InvalidClientTokenId" {
		t.Errorf("send with the key of an ended allocation: %v, want InvalidClientTokenId", err)
	}
}

// TestTokenAWSKeys: an ACL token made with an AWS key pair signs SDK
// requests that its policies authorize per queue and action, and the key
// stops working once the token is revoked or has expired.
func TestTokenAWSKeys(t *testing.T) {
	_, base, root := newSecureCluster(t, scheduler.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := api.NewClient(base).WithToken(root)
	for _, q := range []string{"orders-eu", "payroll"} {
		if _, err := admin.CreateQueue(ctx, api.QueueSettings{Name: q}); err != nil {
			t.Fatal(err)
		}
	}
	rules := `
queue "orders-*" {
  capabilities = ["send", "read"]
}
`
	if _, err := admin.ApplyPolicy(ctx, api.ACLPolicy{Name: "producer", Rules: rules}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"producer"}, AWSKey: true})
	if err != nil || tok.AWSAccessKeyID == "" || tok.AWSSecretAccessKey == "" {
		t.Fatalf("token with an AWS key: %+v, %v", tok, err)
	}
	c := sqsClient(base, "eu-west-1", tok.AWSAccessKeyID, tok.AWSSecretAccessKey)
	orders, payroll := aws.String(base+"/000000000000/orders-eu"), aws.String(base+"/000000000000/payroll")
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: orders, MessageBody: aws.String("o1")}); err != nil {
		t.Fatalf("send (granted): %v", err)
	}
	for name, call := range map[string]func() error{
		"receive (not granted)": func() error {
			_, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: orders})
			return err
		},
		"send to payroll": func() error {
			_, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: payroll, MessageBody: aws.String("x")})
			return err
		},
		"create (write, not granted)": func() error {
			_, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("orders-us")})
			return err
		},
		"delete queue": func() error {
			_, err := c.DeleteQueue(ctx, &awssqs.DeleteQueueInput{QueueUrl: orders})
			return err
		},
	} {
		if err := call(); sqsCode(err) != "AccessDenied" {
			t.Errorf("%s: %v, want AccessDenied", name, err)
		}
	}
	if out, err := c.ListQueues(ctx, &awssqs.ListQueuesInput{}); err != nil || len(out.QueueUrls) != 1 || !strings.HasSuffix(out.QueueUrls[0], "/orders-eu") {
		t.Errorf("list: %v, %v; want only orders-eu", out, err)
	}
	// A policy's change applies at once.
	rules += "queue \"payroll\" {\n  capabilities = [\"send\"]\n}\n"
	if _, err := admin.ApplyPolicy(ctx, api.ACLPolicy{Name: "producer", Rules: rules}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: payroll, MessageBody: aws.String("p1")}); err != nil {
		t.Errorf("send to payroll after the policy granted it: %v", err)
	}
	if err := admin.DeleteToken(ctx, tok.AccessorID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: orders, MessageBody: aws.String("late")}); sqsCode(err) != "InvalidClientTokenId" {
		t.Errorf("send with a revoked token's key: %v, want InvalidClientTokenId", err)
	}

	brief, err := admin.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"producer"}, AWSKey: true, TTL: specsDuration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	c = sqsClient(base, "us-east-1", brief.AWSAccessKeyID, brief.AWSSecretAccessKey)
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: orders, MessageBody: aws.String("o2")}); err != nil {
		t.Fatalf("send before the token expires: %v", err)
	}
	time.Sleep(time.Until(brief.ExpiresAt) + 10*time.Millisecond)
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: orders, MessageBody: aws.String("late")}); sqsCode(err) != "InvalidClientTokenId" {
		t.Errorf("send with an expired token's key: %v, want InvalidClientTokenId", err)
	}
}
