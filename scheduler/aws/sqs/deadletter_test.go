package sqs

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/internal/queue"
	awsproto "github.com/docketd/docket/scheduler/aws"
)

const deadArn = "arn:aws:sqs:us-east-1:000000000000:dead"

// redriveTo is the RedrivePolicy attribute of a queue that dead-letters
// into the queue "dead" after max receives.
func redriveTo(max int) map[string]string {
	return map[string]string{
		"VisibilityTimeout": "0",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, deadArn, max),
	}
}

func TestListDeadLetterSourceQueues(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	dead := createQueue(t, c, "dead", nil)
	srcB := createQueue(t, c, "src-b", redriveTo(3))
	srcA := createQueue(t, c, "src-a", redriveTo(3))
	createQueue(t, c, "other", nil)

	out, err := c.ListDeadLetterSourceQueues(ctx(t), &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dead})
	if err != nil || !slices.Equal(out.QueueUrls, []string{srcA, srcB}) {
		t.Fatalf("ListDeadLetterSourceQueues = %v, %v; want %v", out.QueueUrls, err, []string{srcA, srcB})
	}
	// Page by page.
	var got []string
	in := &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dead, MaxResults: aws.Int32(1)}
	for p := sqs.NewListDeadLetterSourceQueuesPaginator(c, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.QueueUrls...)
	}
	if !slices.Equal(got, []string{srcA, srcB}) {
		t.Errorf("paged = %v, want %v", got, []string{srcA, srcB})
	}
	if out, err := c.ListDeadLetterSourceQueues(ctx(t), &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &srcA}); err != nil || len(out.QueueUrls) != 0 {
		t.Errorf("sources of a queue nothing dead-letters into = %v, %v; want none", out.QueueUrls, err)
	}

	// A key limited to some queues sees only those.
	h2 := newHarness(t, Config{Keys: awsproto.StaticKeys{"scoped": {ID: "scoped", Secret: "x", Access: awsproto.Queues{"dead", "src-b"}}}})
	scoped := h2.client("scoped", "x")
	if _, err := h2.engine.CreateQueue("dead", queue.DefaultAttributes()); err != nil {
		t.Fatal(err)
	}
	redrive := queue.DefaultAttributes()
	redrive.DeadLetter, redrive.MaxReceives = "dead", 3
	for _, n := range []string{"src-a", "src-b"} {
		if _, err := h2.engine.CreateQueue(n, redrive); err != nil {
			t.Fatal(err)
		}
	}
	out, err = scoped.ListDeadLetterSourceQueues(ctx(t), &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(h2.srv.URL + "/000000000000/dead")})
	if want := []string{h2.srv.URL + "/000000000000/src-b"}; err != nil || !slices.Equal(out.QueueUrls, want) {
		t.Errorf("scoped ListDeadLetterSourceQueues = %v, %v; want %v", out.QueueUrls, err, want)
	}

	// The query protocol.
	status, b := h.query(t, "/000000000000/dead", url.Values{"Action": {"ListDeadLetterSourceQueues"}})
	var x struct {
		QueueUrls []string `xml:"ListDeadLetterSourceQueuesResult>QueueUrl"`
	}
	unmarshalXML(t, b, &x)
	if status != 200 || !slices.Equal(x.QueueUrls, []string{srcA, srcB}) {
		t.Errorf("query ListDeadLetterSourceQueues: %d %v, want %v", status, x.QueueUrls, []string{srcA, srcB})
	}
}

func TestMessageMoveTask(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.defaultClient()
	createQueue(t, c, "dead", nil)
	src := createQueue(t, c, "src", redriveTo(1))
	for i := range 3 {
		if _, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &src, MessageBody: aws.String(fmt.Sprint("m", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// Received once each, then dead-lettered by the next receive.
	polltest.WaitFor(t, 10*time.Second, func() error {
		if _, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10}); err != nil {
			return err
		}
		if s, _ := h.engine.Stats("dead"); s.Visible != 3 {
			return fmt.Errorf("dead-letter queue has %d visible, want 3", s.Visible)
		}
		return nil
	})

	start, err := c.StartMessageMoveTask(ctx(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(deadArn), MaxNumberOfMessagesPerSecond: aws.Int32(50)})
	if err != nil || aws.ToString(start.TaskHandle) == "" {
		t.Fatalf("StartMessageMoveTask = %+v, %v; want a task handle", start, err)
	}
	if s, _ := h.engine.Stats("src"); s.Visible != 3 {
		t.Errorf("source queue has %d visible after the move, want 3", s.Visible)
	}
	if s, _ := h.engine.Stats("dead"); s.Visible != 0 {
		t.Errorf("dead-letter queue has %d visible after the move, want 0", s.Visible)
	}

	list, err := c.ListMessageMoveTasks(ctx(t), &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(deadArn), MaxResults: aws.Int32(10)})
	if err != nil || len(list.Results) != 1 {
		t.Fatalf("ListMessageMoveTasks = %+v, %v; want one task", list, err)
	}
	task := list.Results[0]
	if aws.ToString(task.Status) != "COMPLETED" || task.ApproximateNumberOfMessagesMoved != 3 ||
		aws.ToInt64(task.ApproximateNumberOfMessagesToMove) != 3 || aws.ToString(task.SourceArn) != deadArn ||
		aws.ToInt32(task.MaxNumberOfMessagesPerSecond) != 50 || time.Since(time.UnixMilli(task.StartedTimestamp)) > time.Minute {
		t.Errorf("task = %+v; want COMPLETED, 3 of 3 moved, from %s at 50/s, started now", task, deadArn)
	}

	var notFound *types.ResourceNotFoundException
	for _, handle := range []string{aws.ToString(start.TaskHandle), "not-a-handle"} {
		_, err = c.CancelMessageMoveTask(ctx(t), &sqs.CancelMessageMoveTaskInput{TaskHandle: aws.String(handle)})
		if !errors.As(err, &notFound) {
			t.Errorf("CancelMessageMoveTask(%q): %v, want ResourceNotFoundException", handle, err)
		}
	}

	tests := []struct {
		name string
		in   sqs.StartMessageMoveTaskInput
		code string
	}{
		{"not a dead-letter queue", sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:src")}, "InvalidParameterValue"},
		{"no such queue", sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:nope")}, "AWS.SimpleQueueService.NonExistentQueue"},
		{"not an ARN", sqs.StartMessageMoveTaskInput{SourceArn: aws.String("dead")}, "InvalidParameterValue"},
		{"destination", sqs.StartMessageMoveTaskInput{SourceArn: aws.String(deadArn), DestinationArn: aws.String("arn:aws:sqs:us-east-1:000000000000:src")}, "AWS.SimpleQueueService.UnsupportedOperation"},
		{"rate", sqs.StartMessageMoveTaskInput{SourceArn: aws.String(deadArn), MaxNumberOfMessagesPerSecond: aws.Int32(501)}, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.StartMessageMoveTask(ctx(t), &tt.in)
			if got := errorCode(err); got != tt.code {
				t.Errorf("got %q (%v), want %q", got, err, tt.code)
			}
		})
	}

	// The query protocol: a second task, listed first.
	status, b := h.query(t, "/", url.Values{"Action": {"StartMessageMoveTask"}, "SourceArn": {deadArn}})
	var started struct {
		TaskHandle string `xml:"StartMessageMoveTaskResult>TaskHandle"`
	}
	unmarshalXML(t, b, &started)
	if status != 200 || started.TaskHandle == "" {
		t.Fatalf("query StartMessageMoveTask: %d %s", status, b)
	}
	status, b = h.query(t, "/", url.Values{"Action": {"ListMessageMoveTasks"}, "SourceArn": {deadArn}, "MaxResults": {"10"}})
	var listed struct {
		XMLName xml.Name `xml:"ListMessageMoveTasksResponse"`
		Results []struct {
			Status                           string
			ApproximateNumberOfMessagesMoved int64
		} `xml:"ListMessageMoveTasksResult>ListMessageMoveTasksResultEntry"`
	}
	unmarshalXML(t, b, &listed)
	if status != 200 || len(listed.Results) != 2 || listed.Results[0].Status != "COMPLETED" ||
		listed.Results[0].ApproximateNumberOfMessagesMoved != 0 || listed.Results[1].ApproximateNumberOfMessagesMoved != 3 {
		t.Errorf("query ListMessageMoveTasks: %d %+v; want the empty move, then the move of 3\n%s", status, listed.Results, b)
	}
	status, b = h.query(t, "/", url.Values{"Action": {"CancelMessageMoveTask"}, "TaskHandle": {started.TaskHandle}})
	var e xmlError
	unmarshalXML(t, b, &e)
	if status != 400 || e.Code != "ResourceNotFoundException" || e.Type != "Sender" {
		t.Errorf("query CancelMessageMoveTask: %d %+v, want 400 ResourceNotFoundException", status, e)
	}
}
