// Package lambdaevent builds the events Lambda hands functions from the
// sources Docket runs them for, and reads their answers: SQS batches
// (events.SQSEvent in aws-lambda-go) and their partial-failure reports
// ({"batchItemFailures": [{"itemIdentifier": ...}]}). It is pure: the
// server's event source mapping gathers the messages and settles them by
// what it returns.
package lambdaevent

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/docketd/docket/internal/queue"
)

// sqsEvent and sqsRecord are Lambda's SQS event as it is on the wire.
type sqsEvent struct {
	Records []sqsRecord `json:"Records"`
}

type sqsRecord struct {
	MessageID              string                  `json:"messageId"`
	ReceiptHandle          string                  `json:"receiptHandle"`
	Body                   string                  `json:"body"`
	Attributes             map[string]string       `json:"attributes"`
	MessageAttributes      map[string]sqsAttribute `json:"messageAttributes"`
	MD5OfBody              string                  `json:"md5OfBody"`
	MD5OfMessageAttributes *string                 `json:"md5OfMessageAttributes"`
	EventSource            string                  `json:"eventSource"`
	EventSourceARN         string                  `json:"eventSourceARN"`
	AWSRegion              string                  `json:"awsRegion"`
}

type sqsAttribute struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

// Source names where a batch comes from: the queue's ARN and region, and
// the sender id its messages report.
type Source struct {
	QueueARN, Region, SenderID string
}

// SQSEvent is Lambda's SQS event of msgs, received from src: one record
// per message with its id, receipt handle, body and its MD5, the system
// attributes Lambda sends (ApproximateReceiveCount, SentTimestamp,
// SenderId, ApproximateFirstReceiveTimestamp, and MessageGroupId,
// MessageDeduplicationId and SequenceNumber from FIFO queues), the
// message attributes, eventSource aws:sqs, eventSourceARN and awsRegion.
func SQSEvent(src Source, msgs []queue.Message) ([]byte, error) {
	ev := sqsEvent{Records: make([]sqsRecord, len(msgs))}
	for i, m := range msgs {
		sum := md5.Sum(m.Body)
		attrs := map[string]string{
			"ApproximateReceiveCount":          strconv.Itoa(m.ReceiveCount),
			"SentTimestamp":                    strconv.FormatInt(m.SentAt.UnixMilli(), 10),
			"SenderId":                         src.SenderID,
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.FirstReceivedAt.UnixMilli(), 10),
		}
		if m.Group != "" {
			attrs["MessageGroupId"] = m.Group
		}
		if m.DedupID != "" {
			attrs["MessageDeduplicationId"] = m.DedupID
			attrs["SequenceNumber"] = strconv.FormatUint(m.Seq, 10)
		}
		if m.TraceHeader != "" {
			attrs["AWSTraceHeader"] = m.TraceHeader
		}
		r := sqsRecord{MessageID: m.ID, ReceiptHandle: m.Receipt, Body: string(m.Body), Attributes: attrs,
			MessageAttributes: map[string]sqsAttribute{}, MD5OfBody: hex.EncodeToString(sum[:]),
			EventSource: "aws:sqs", EventSourceARN: src.QueueARN, AWSRegion: src.Region}
		if len(m.Attributes) > 0 {
			digest := queue.AttributesMD5(m.Attributes)
			r.MD5OfMessageAttributes = &digest
		}
		for _, a := range m.Attributes {
			v := sqsAttribute{DataType: a.Type, StringListValues: []string{}, BinaryListValues: [][]byte{}}
			if queue.IsBinary(a.Type) {
				v.BinaryValue = a.Value
			} else {
				s := string(a.Value)
				v.StringValue = &s
			}
			r.MessageAttributes[a.Name] = v
		}
		ev.Records[i] = r
	}
	return json.Marshal(ev)
}

// BatchResult is what a function's answer to an SQS batch says to do
// with its messages.
type BatchResult struct {
	// Failed lists the message ids to leave in the queue (they come back
	// after their visibility timeout and follow the redrive policy); the
	// others are deleted.
	Failed []string
}

// SQSBatchResult reads a function's answer to a batch of the message ids
// ids. Without reportFailures any successful answer settles the whole
// batch. With it, Lambda's rules: an answer without batchItemFailures,
// or with an empty list, is a complete success; one that lists ids of
// the batch fails those; one that is not a valid report (an item with an
// empty or unknown itemIdentifier, or a body that is not such an object)
// fails the whole batch. A function error fails the whole batch either
// way; the caller handles that.
func SQSBatchResult(answer []byte, ids []string, reportFailures bool) BatchResult {
	if !reportFailures {
		return BatchResult{}
	}
	var rep struct {
		BatchItemFailures *[]struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	all := BatchResult{Failed: ids}
	if len(answer) == 0 || string(answer) == "null" {
		return BatchResult{}
	}
	if json.Unmarshal(answer, &rep) != nil {
		// Not an object with the list, such as a plain string: as Lambda,
		// a success of the whole batch.
		var v any
		if json.Unmarshal(answer, &v) != nil {
			return all
		}
		return BatchResult{}
	}
	if rep.BatchItemFailures == nil {
		return BatchResult{}
	}
	in := make(map[string]bool, len(ids))
	for _, id := range ids {
		in[id] = true
	}
	var failed []string
	seen := map[string]bool{}
	for _, f := range *rep.BatchItemFailures {
		if f.ItemIdentifier == nil || *f.ItemIdentifier == "" || !in[*f.ItemIdentifier] {
			return all
		}
		if !seen[*f.ItemIdentifier] {
			seen[*f.ItemIdentifier] = true
			failed = append(failed, *f.ItemIdentifier)
		}
	}
	return BatchResult{Failed: failed}
}
