package sqs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// The JSON protocol's request and response shapes, field names as in the
// SQS API model. Integers are pointers where "not given" differs from 0.

type createQueueRequest struct {
	QueueName  string
	Attributes map[string]string
	Tags       map[string]string `json:"tags"`
}

type queueURLResponse struct {
	QueueUrl string
}

type getQueueURLRequest struct {
	QueueName              string
	QueueOwnerAWSAccountId string
}

type listQueuesRequest struct {
	QueueNamePrefix string
	NextToken       string
	MaxResults      *int64
}

type listQueuesResponse struct {
	QueueUrls []string
	NextToken string `json:",omitempty"`
}

type queueURLRequest struct {
	QueueUrl string
}

type getQueueAttributesRequest struct {
	QueueUrl       string
	AttributeNames []string
}

type attributesResponse struct {
	Attributes map[string]string `json:",omitempty"`
}

type setQueueAttributesRequest struct {
	QueueUrl   string
	Attributes map[string]string
}

// messageAttributeValue is one message attribute on the wire; BinaryValue
// is base64 in JSON, which encoding/json does for []byte.
type messageAttributeValue struct {
	DataType         string
	StringValue      *string  `json:",omitempty"`
	BinaryValue      []byte   `json:",omitempty"`
	StringListValues []string `json:",omitempty"`
	BinaryListValues [][]byte `json:",omitempty"`
}

type sendMessageRequest struct {
	QueueUrl                string
	MessageBody             *string
	DelaySeconds            *int64
	MessageAttributes       map[string]messageAttributeValue
	MessageSystemAttributes map[string]messageAttributeValue
	MessageDeduplicationId  string
	MessageGroupId          string
}

type sendMessageResponse struct {
	MessageId              string
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
}

type sendMessageBatchEntry struct {
	Id                      string
	MessageBody             *string
	DelaySeconds            *int64
	MessageAttributes       map[string]messageAttributeValue
	MessageSystemAttributes map[string]messageAttributeValue
	MessageDeduplicationId  string
	MessageGroupId          string
}

type sendMessageBatchRequest struct {
	QueueUrl string
	Entries  []sendMessageBatchEntry
}

type sendMessageBatchResult struct {
	Id                     string
	MessageId              string
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
}

type batchResultErrorEntry struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

type sendMessageBatchResponse struct {
	Successful []sendMessageBatchResult
	Failed     []batchResultErrorEntry
}

type receiveMessageRequest struct {
	QueueUrl                    string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int64
	VisibilityTimeout           *int64
	WaitTimeSeconds             *int64
	ReceiveRequestAttemptId     string
}

type message struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string                `json:",omitempty"`
	MD5OfMessageAttributes string                           `json:",omitempty"`
	MessageAttributes      map[string]messageAttributeValue `json:",omitempty"`
}

type receiveMessageResponse struct {
	Messages []message `json:",omitempty"`
}

type deleteMessageRequest struct {
	QueueUrl      string
	ReceiptHandle string
}

type receiptBatchEntry struct {
	Id                string
	ReceiptHandle     string
	VisibilityTimeout *int64
}

type receiptBatchRequest struct {
	QueueUrl string
	Entries  []receiptBatchEntry
}

type batchResultEntry struct {
	Id string
}

type receiptBatchResponse struct {
	Successful []batchResultEntry
	Failed     []batchResultErrorEntry
}

type changeVisibilityRequest struct {
	QueueUrl          string
	ReceiptHandle     string
	VisibilityTimeout *int64
}

// decodeJSON decodes one JSON object from data into v. Unknown fields are
// ignored, as AWS services do, so newer SDKs keep working; malformed JSON
// and values of the wrong type are SerializationException. An empty body
// decodes as {}.
func decodeJSON(data []byte, v any) *Error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ):
			return newError(kindSerialization, "wrong type at offset %d: %s must be %s, not %s", typ.Offset, typ.Field, typ.Type, typ.Value)
		case errors.As(err, &syn):
			return newError(kindSerialization, "malformed JSON at offset %d: %v", syn.Offset, syn)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return newError(kindSerialization, "malformed JSON: unexpected end of input")
		default:
			return newError(kindSerialization, "malformed JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return newError(kindSerialization, "unexpected data after the JSON object at offset %d", dec.InputOffset())
	}
	return nil
}
