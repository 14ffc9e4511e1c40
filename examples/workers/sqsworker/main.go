// Command sqsworker is a queue worker written for Amazon SQS with the AWS
// SDK for Go v2 — the standard receive, process, delete loop — that runs on
// Docket unchanged: a service on a queue gets AWS_ENDPOINT_URL_SQS,
// AWS_REGION and an access key scoped to its queue, which the SDK reads,
// and DOCKET_QUEUE names the queue.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws config:", err)
		os.Exit(1)
	}
	client := sqs.NewFromConfig(cfg)
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(os.Getenv("DOCKET_QUEUE"))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "queue url:", err)
		os.Exit(1)
	}
	done := 0
	for ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 20,
		})
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "receive:", err)
			}
			continue
		}
		var entries []types.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			fmt.Printf("processed %s: %s\n", aws.ToString(m.MessageId), aws.ToString(m.Body))
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if len(entries) > 0 {
			if _, err := client.DeleteMessageBatch(context.Background(), &sqs.DeleteMessageBatchInput{QueueUrl: url.QueueUrl, Entries: entries}); err != nil {
				fmt.Fprintln(os.Stderr, "delete:", err)
			}
			done += len(entries)
		}
	}
	fmt.Printf("stopping after %d messages\n", done)
}
