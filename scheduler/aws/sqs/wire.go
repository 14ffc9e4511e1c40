package sqs

import (
	"bytes"

	"github.com/docketd/docket/internal/jsonfast"
	"github.com/docketd/docket/internal/msgchars"
	"github.com/docketd/docket/scheduler/aws"
)

// The request and response shapes of both protocols, field names as in the
// SQS API model. Integers are pointers where "not given" differs from 0.
//
// The query tags name a field in the query protocol where its flattened
// name differs: lists and maps repeat an element named by the singular
// ("AttributeName.1", "Attribute.1.Name"), ",Key" names a map's keys Key
// rather than Name, and "*Entry" stands for the action's own entry element
// ("SendMessageBatchRequestEntry", "DeleteMessageBatchResultEntry"). See
// package aws's query.go.

type createQueueRequest struct {
	QueueName  string
	Attributes map[string]string `query:"Attribute"`
	Tags       map[string]string `json:"tags" query:"Tag,Key"`
}

type tagQueueRequest struct {
	QueueUrl string
	Tags     map[string]string `query:"Tag,Key"`
}

type untagQueueRequest struct {
	QueueUrl string
	TagKeys  []string `query:"TagKey"`
}

type listQueueTagsResponse struct {
	Tags map[string]string `json:",omitempty" query:"Tag,Key"`
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
	QueueUrls []string `query:"QueueUrl"`
	NextToken string   `json:",omitempty"`
}

type queueURLRequest struct {
	QueueUrl string
}

type getQueueAttributesRequest struct {
	QueueUrl       string
	AttributeNames []string `query:"AttributeName"`
}

type attributesResponse struct {
	Attributes map[string]string `json:",omitempty" query:"Attribute"`
}

type addPermissionRequest struct {
	QueueUrl      string
	Label         string
	AWSAccountIds []string `query:"AWSAccountId"`
	Actions       []string `query:"ActionName"`
}

type removePermissionRequest struct {
	QueueUrl string
	Label    string
}

type setQueueAttributesRequest struct {
	QueueUrl   string
	Attributes map[string]string `query:"Attribute"`
}

// messageAttributeValue is one message attribute on the wire; BinaryValue
// is base64 in JSON, which encoding/json does for []byte.
type messageAttributeValue struct {
	DataType         string
	StringValue      *string  `json:",omitempty"`
	BinaryValue      []byte   `json:",omitempty"`
	StringListValues []string `json:",omitempty" query:"StringListValue"`
	BinaryListValues [][]byte `json:",omitempty" query:"BinaryListValue"`
}

type sendMessageRequest struct {
	QueueUrl                string
	MessageBody             *string
	DelaySeconds            *int64
	MessageAttributes       map[string]messageAttributeValue `query:"MessageAttribute"`
	MessageSystemAttributes map[string]messageAttributeValue `query:"MessageSystemAttribute"`
	MessageDeduplicationId  string
	MessageGroupId          string
}

type sendMessageResponse struct {
	MessageId              string
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
	SequenceNumber         string `json:",omitempty"`
}

type sendMessageBatchEntry struct {
	Id                      string
	MessageBody             *string
	DelaySeconds            *int64
	MessageAttributes       map[string]messageAttributeValue `query:"MessageAttribute"`
	MessageSystemAttributes map[string]messageAttributeValue `query:"MessageSystemAttribute"`
	MessageDeduplicationId  string
	MessageGroupId          string
}

type sendMessageBatchRequest struct {
	QueueUrl string
	Entries  []sendMessageBatchEntry `query:"*Entry"`
}

type sendMessageBatchResult struct {
	Id                     string
	MessageId              string
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
	SequenceNumber         string `json:",omitempty"`
}

type batchResultErrorEntry struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

type sendMessageBatchResponse struct {
	Successful []sendMessageBatchResult `query:"*Entry"`
	Failed     []batchResultErrorEntry  `query:"BatchResultErrorEntry"`
}

type receiveMessageRequest struct {
	QueueUrl                    string
	AttributeNames              []string `query:"AttributeName"`
	MessageSystemAttributeNames []string `query:"MessageSystemAttributeName"`
	MessageAttributeNames       []string `query:"MessageAttributeName"`
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
	Attributes             map[string]string                `json:",omitempty" query:"Attribute"`
	MD5OfMessageAttributes string                           `json:",omitempty"`
	MessageAttributes      map[string]messageAttributeValue `json:",omitempty" query:"MessageAttribute"`
}

type receiveMessageResponse struct {
	Messages []message `json:",omitempty" query:"Message"`
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
	Entries  []receiptBatchEntry `query:"*Entry"`
}

type batchResultEntry struct {
	Id string
}

type receiptBatchResponse struct {
	Successful []batchResultEntry      `query:"*Entry"`
	Failed     []batchResultErrorEntry `query:"BatchResultErrorEntry"`
}

type changeVisibilityRequest struct {
	QueueUrl          string
	ReceiptHandle     string
	VisibilityTimeout *int64
}

// decodeJSON decodes one JSON object from data into v, as
// [aws.DecodeJSON] does, the hot request shapes on the fast path. Text
// that encoding/json would decode altered (invalid UTF-8, an unpaired
// surrogate escape) is InvalidMessageContents: a body is never stored, nor
// its MD5 reported, other than as sent. An empty body decodes as {}.
func decodeJSON(data []byte, v any) *aws.Error {
	if len(bytes.TrimSpace(data)) == 0 || fastDecode(data, v) { // the fast path takes valid UTF-8 only
		return nil
	}
	if i := jsonfast.InvalidText(data); i >= 0 {
		return aws.NewError(kindInvalidMessage, "Invalid characters found: invalid UTF-8 or an unpaired surrogate escape at byte %d of the request. Valid unicode characters are %s", i, msgchars.Allowed)
	}
	return aws.DecodeJSON(data, v)
}
