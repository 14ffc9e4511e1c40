package api

import (
	"time"

	"github.com/docketd/docket/specs"
)

// QueueSettings is the body of POST /v1/queues and PATCH /v1/queues/{name}:
// the queue block's fields. A field left out takes its default on create
// and keeps its value on update.
type QueueSettings struct {
	Name              string          `json:"name,omitempty"`
	VisibilityTimeout *specs.Duration `json:"visibility_timeout,omitempty"`
	Retention         *specs.Duration `json:"retention,omitempty"`
	Delay             *specs.Duration `json:"delay,omitempty"`
	ReceiveWait       *specs.Duration `json:"receive_wait,omitempty"`
	MaxMessageSize    *specs.Size     `json:"max_message_size,omitempty"`
	MaxReceives       *int            `json:"max_receives,omitempty"`
	DeadLetter        *string         `json:"dead_letter,omitempty"`
	// The FIFO settings (specs.Queue); fifo is fixed at creation.
	FIFO                      *bool   `json:"fifo,omitempty"`
	ContentBasedDeduplication *bool   `json:"content_based_deduplication,omitempty"`
	DeduplicationScope        *string `json:"deduplication_scope,omitempty"`
	FIFOThroughputLimit       *string `json:"fifo_throughput_limit,omitempty"`
}

// Queue describes a queue: its settings and its figures.
type Queue struct {
	specs.Queue
	// Tags are the queue's SQS tags (TagQueue); Docket itself does not
	// read them.
	Tags      map[string]string `json:"tags,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	Stats     QueueStats        `json:"stats"`
}

// QueueStats are a queue's current figures and its totals since the server
// started.
type QueueStats struct {
	Visible          int     `json:"visible"`
	InFlight         int     `json:"in_flight"`
	Delayed          int     `json:"delayed"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	Sent             uint64  `json:"sent"`
	Received         uint64  `json:"received"`
	Deleted          uint64  `json:"deleted"`
	DeadLettered     uint64  `json:"dead_lettered"`
	Expired          uint64  `json:"expired"`
	Purged           uint64  `json:"purged"`
}

// QueueCreated is the answer to POST /v1/queues.
type QueueCreated struct {
	Queue   Queue `json:"queue"`
	Created bool  `json:"created"`
}

// QueueList is the answer to GET /v1/queues.
type QueueList struct {
	Queues []Queue `json:"queues"`
}

// SendMessage is one message to send. Delay overrides the queue's delay.
type SendMessage struct {
	Body       string            `json:"body"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Delay      *specs.Duration   `json:"delay,omitempty"`
	// Group is the message group: required on a FIFO queue (its order),
	// a tenant on a standard one. DedupID is a FIFO message's
	// deduplication id.
	Group   string `json:"group,omitempty"`
	DedupID string `json:"dedup_id,omitempty"`
}

// SendRequest is the body of POST /v1/queues/{name}/messages: either one
// message inline, or up to ten in Messages.
type SendRequest struct {
	SendMessage
	Messages []SendMessage `json:"messages,omitempty"`
}

// SendResult is the outcome of one message of a send: its id, or an error.
type SendResult struct {
	ID    string `json:"id,omitempty"`
	Error *Error `json:"error,omitempty"`
	// Seq is the message's sequence number; Duplicate is set when a FIFO
	// queue had its deduplication id within five minutes, and ID and Seq
	// are the message stored then.
	Seq       uint64 `json:"sequence_number,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// SendResponse lists one result per message sent, in order.
type SendResponse struct {
	Messages []SendResult `json:"messages"`
}

// ReceiveRequest is the body of POST /v1/queues/{name}/receive. Wait and
// VisibilityTimeout default to the queue's settings.
type ReceiveRequest struct {
	Max               int             `json:"max,omitempty"`
	Wait              *specs.Duration `json:"wait,omitempty"`
	VisibilityTimeout *specs.Duration `json:"visibility_timeout,omitempty"`
}

// Message is a received message.
type Message struct {
	ID              string            `json:"id"`
	Receipt         string            `json:"receipt"`
	Body            string            `json:"body"`
	Attributes      map[string]string `json:"attributes,omitempty"`
	ReceiveCount    int               `json:"receive_count"`
	SentAt          time.Time         `json:"sent_at"`
	FirstReceivedAt time.Time         `json:"first_received_at"`
	SourceQueue     string            `json:"source_queue,omitempty"`
	Group           string            `json:"group,omitempty"`
	DedupID         string            `json:"dedup_id,omitempty"`
	// Seq is the message's sequence number: on a FIFO queue, its order.
	Seq uint64 `json:"sequence_number,omitempty"`
}

// ReceiveResponse holds the received messages, possibly none.
type ReceiveResponse struct {
	Messages []Message `json:"messages"`
}

// DeleteRequest is the body of POST /v1/queues/{name}/delete.
type DeleteRequest struct {
	Receipts []string `json:"receipts"`
}

// DeleteResult is the outcome of deleting by one receipt.
type DeleteResult struct {
	Receipt string `json:"receipt"`
	Error   *Error `json:"error,omitempty"`
}

// DeleteResponse lists one result per receipt, in order.
type DeleteResponse struct {
	Results []DeleteResult `json:"results"`
}

// VisibilityRequest is the body of POST /v1/queues/{name}/visibility.
type VisibilityRequest struct {
	Receipt string         `json:"receipt"`
	Timeout specs.Duration `json:"timeout"`
}

// PurgeResponse says how many messages a purge removed.
type PurgeResponse struct {
	Purged int `json:"purged"`
}

// RedriveRequest is the body of POST /v1/queues/{name}/redrive; Max 0
// moves every visible message.
type RedriveRequest struct {
	Max int `json:"max,omitempty"`
}

// RedriveResponse says how many messages went back to their source queues.
type RedriveResponse struct {
	Moved int `json:"moved"`
}
