package sqs

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/docketd/docket/scheduler/aws"
)

// Dead-letter queues: which queues feed one, and message move tasks, which
// send a dead-letter queue's messages back where they came from.

type listDeadLetterSourcesRequest struct {
	QueueUrl   string
	NextToken  string
	MaxResults *int64
}

type listDeadLetterSourcesResponse struct {
	QueueUrls []string `json:"queueUrls" query:"QueueUrl"`
	NextToken string   `json:",omitempty"`
}

type startMoveTaskRequest struct {
	SourceArn                    string
	DestinationArn               string
	MaxNumberOfMessagesPerSecond *int64
}

type startMoveTaskResponse struct {
	TaskHandle string
}

type listMoveTasksRequest struct {
	SourceArn  string
	MaxResults *int64
}

type listMoveTasksResponse struct {
	Results []moveTask `query:"ListMessageMoveTasksResultEntry"`
}

type cancelMoveTaskRequest struct {
	TaskHandle string
}

// moveTask is a message move task as ListMessageMoveTasks reports it.
type moveTask struct {
	TaskHandle                        string `json:",omitempty"`
	Status                            string
	SourceArn                         string
	DestinationArn                    string `json:",omitempty"`
	MaxNumberOfMessagesPerSecond      *int64 `json:",omitempty"`
	ApproximateNumberOfMessagesMoved  int64
	ApproximateNumberOfMessagesToMove *int64 `json:",omitempty"`
	FailureReason                     string `json:",omitempty"`
	StartedTimestamp                  int64
}

// kindResourceNotFound is SQS's error for a move task that does not exist
// or is no longer running.
var kindResourceNotFound = aws.Kind{Status: http.StatusBadRequest, Code: "ResourceNotFoundException", QueryCode: "ResourceNotFoundException"}

// maxMoveTasks is how many tasks ListMessageMoveTasks remembers per queue,
// as many as SQS lists.
const maxMoveTasks = 10

// moveTasks remembers the latest move tasks of each dead-letter queue, for
// ListMessageMoveTasks. Tasks run to completion within
// StartMessageMoveTask, so this is only their history, which a restart
// forgets.
type moveTasks struct {
	mu     sync.Mutex
	byName map[string][]moveTask // newest first
}

func (m *moveTasks) add(name string, t moveTask) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName == nil {
		m.byName = map[string][]moveTask{}
	}
	ts := append([]moveTask{t}, m.byName[name]...)
	m.byName[name] = ts[:min(len(ts), maxMoveTasks)]
}

func (m *moveTasks) list(name string, n int) []moveTask {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.byName[name]
	return slices.Clone(ts[:min(len(ts), n)])
}

// forget drops the history of a deleted queue.
func (m *moveTasks) forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byName, name)
}

// taskHandle is what a task handle encodes, so that it names its queue
// without a lookup.
type taskHandle struct {
	TaskID    string `json:"taskId"`
	SourceArn string `json:"sourceArn"`
}

// sourcesOf returns the queues whose dead-letter queue is name, by name.
func (h *Handler) sourcesOf(name string) []string {
	var out []string
	for _, info := range h.engine.Queues() {
		if info.Attributes.DeadLetter == name {
			out = append(out, info.Name)
		}
	}
	return out
}

func (h *Handler) listDeadLetterSources(c *call, in *listDeadLetterSourcesRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if _, err := h.engine.Queue(name); err != nil {
		return nil, err
	}
	urls, next, err := h.pageQueues(c, h.sourcesOf(name), in.MaxResults, in.NextToken, func(string) bool { return true })
	if err != nil {
		return nil, err
	}
	return listDeadLetterSourcesResponse{QueueUrls: urls, NextToken: next}, nil
}

// arnQueue returns the queue an ARN of this account names, after checking
// the caller's key may use it.
func (h *Handler) arnQueue(c *call, param, arn string) (string, error) {
	if arn == "" {
		return "", aws.NewError(aws.MissingParameter, "The request must contain the parameter %s.", param)
	}
	m := arnRE.FindStringSubmatch(arn)
	if m == nil {
		return "", aws.NewError(aws.InvalidParameterValue, "Value %s for parameter %s is invalid. Reason: not a valid SQS queue ARN.", arn, param)
	}
	if m[1] != h.cfg.AccountID {
		return "", aws.NewError(kindQueueDoesNotExist, "The specified queue does not exist.")
	}
	return m[2], h.authorize(c, m[2])
}

// startMoveTask moves every visible message of a dead-letter queue back to
// the queue it was dead-lettered from, with [queue.Engine.Redrive], and
// reports a task that has already completed. Messages in flight stay, as
// do those whose source queue is gone.
func (h *Handler) startMoveTask(c *call, in *startMoveTaskRequest) (any, error) {
	name, err := h.arnQueue(c, "SourceArn", in.SourceArn)
	if err != nil {
		return nil, err
	}
	if in.DestinationArn != "" {
		return nil, aws.NewError(kindUnsupportedOperation, "moving messages to a DestinationArn is not supported by this server; leave it out to move them back to their source queues")
	}
	if r := in.MaxNumberOfMessagesPerSecond; r != nil && (*r < 1 || *r > 500) {
		return nil, aws.NewError(aws.InvalidParameterValue, "Value %d for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: must be between 1 and 500.", *r)
	}
	info, err := h.engine.Queue(name)
	if err != nil {
		return nil, err
	}
	sources := h.sourcesOf(name)
	if len(sources) == 0 {
		return nil, aws.NewError(aws.InvalidParameterValue, "Source queue must be configured as a Dead Letter Queue.")
	}
	// The messages go to their source queues, which the key must reach too.
	for _, src := range sources {
		if err := h.authorize(c, src); err != nil {
			return nil, err
		}
	}
	started := time.Now()
	moved, err := h.engine.Redrive(name, 0)
	if err != nil {
		return nil, err
	}
	var id [16]byte
	rand.Read(id[:])
	handle, _ := json.Marshal(taskHandle{TaskID: hex.EncodeToString(id[:]), SourceArn: in.SourceArn})
	toMove := int64(info.Stats.Visible)
	t := moveTask{
		TaskHandle:                        base64.RawURLEncoding.EncodeToString(handle),
		Status:                            "COMPLETED",
		SourceArn:                         in.SourceArn,
		MaxNumberOfMessagesPerSecond:      in.MaxNumberOfMessagesPerSecond,
		ApproximateNumberOfMessagesMoved:  int64(moved),
		ApproximateNumberOfMessagesToMove: &toMove,
		StartedTimestamp:                  started.UnixMilli(),
	}
	h.tasks.add(name, t)
	return startMoveTaskResponse{TaskHandle: t.TaskHandle}, nil
}

func (h *Handler) listMoveTasks(c *call, in *listMoveTasksRequest) (any, error) {
	name, err := h.arnQueue(c, "SourceArn", in.SourceArn)
	if err != nil {
		return nil, err
	}
	n := 1
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > maxMoveTasks {
			return nil, aws.NewError(aws.InvalidParameterValue, "Value %d for parameter MaxResults is invalid. Reason: must be between 1 and %d.", *in.MaxResults, maxMoveTasks)
		}
		n = int(*in.MaxResults)
	}
	if _, err := h.engine.Queue(name); err != nil {
		return nil, err
	}
	out := listMoveTasksResponse{Results: h.tasks.list(name, n)}
	if out.Results == nil {
		out.Results = []moveTask{}
	}
	// Only the running task shows its handle, as in SQS; none runs.
	for i := range out.Results {
		out.Results[i].TaskHandle = ""
	}
	return out, nil
}

// cancelMoveTask always fails: tasks complete before StartMessageMoveTask
// returns, and only a running task can be canceled.
func (h *Handler) cancelMoveTask(c *call, in *cancelMoveTaskRequest) (any, error) {
	if in.TaskHandle == "" {
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter TaskHandle.")
	}
	var th taskHandle
	b, err := base64.RawURLEncoding.DecodeString(in.TaskHandle)
	if err != nil || json.Unmarshal(b, &th) != nil || th.TaskID == "" {
		return nil, aws.NewError(kindResourceNotFound, "The task handle %q is not valid.", in.TaskHandle)
	}
	if _, err := h.arnQueue(c, "SourceArn", th.SourceArn); err != nil {
		return nil, err
	}
	return nil, aws.NewError(kindResourceNotFound, "The message move task is not running: it is COMPLETED, and only a RUNNING task can be canceled.")
}
