package sqs

import (
	"slices"
	"strconv"

	"github.com/docketd/docket/internal/jsonfast"
	"github.com/docketd/docket/internal/queue"
)

// The requests of a queue worker's loop (SendMessageBatch, ReceiveMessage,
// DeleteMessageBatch and ChangeMessageVisibilityBatch) are decoded
// without reflection: encoding/json was an eighth of the
// server's work under load. The fast path takes only the plain form SDKs
// send (known fields, ASCII keys, strings without escapes, integers) and
// gives up on anything else, which encoding/json then decodes with its
// own answers, errors included (package jsonfast). FuzzFastJSON checks
// that whatever the fast path accepts, it decodes exactly as encoding/json
// does.

// fastDecode decodes data into v when v is one of the hot request shapes
// and data is in the plain form; ok is false otherwise, with v as it was.
func fastDecode(data []byte, v any) (ok bool) {
	d := jsonfast.NewDecoder(data)
	end := func(ok bool) bool { return ok && d.End() }
	switch v := v.(type) {
	case *sendMessageBatchRequest:
		var r sendMessageBatchRequest
		if ok = end(sendMessageBatch(d, &r)); ok {
			*v = r
		}
	case *receiveMessageRequest:
		var r receiveMessageRequest
		if ok = end(receiveMessage(d, &r)); ok {
			*v = r
		}
	case *receiptBatchRequest:
		var r receiptBatchRequest
		if ok = end(receiptBatch(d, &r)); ok {
			*v = r
		}
	}
	return ok
}

var (
	batchFields          = []string{"QueueUrl", "Entries"}
	sendBatchEntryFields = []string{"Id", "MessageBody", "DelaySeconds", "MessageDeduplicationId", "MessageGroupId",
		"MessageAttributes", "MessageSystemAttributes"}
	receiveFields = []string{"QueueUrl", "AttributeNames", "MessageSystemAttributeNames", "MessageAttributeNames",
		"MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds", "ReceiveRequestAttemptId"}
	receiptBatchEntryFields = []string{"Id", "ReceiptHandle", "VisibilityTimeout"}
)

// batch reads {"QueueUrl": ..., "Entries": [{...}, ...]}, each entry an
// object of fields whose field i entry reads into e.
func batch[E any](d *jsonfast.Decoder, url *string, entries *[]E, fields []string, entry func(e *E, i int) bool) bool {
	return d.Object(batchFields, func(i int) (ok bool) {
		if i == 0 {
			*url, ok = d.Str()
			return ok
		}
		*entries = make([]E, 0, queue.MaxBatch) // more is refused, after decoding
		return d.Array(func() bool {
			*entries = append(*entries, *new(E))
			e := &(*entries)[len(*entries)-1] // decoded in place
			return d.Object(fields, func(i int) bool { return entry(e, i) })
		})
	})
}

func sendMessageBatch(d *jsonfast.Decoder, v *sendMessageBatchRequest) bool {
	return batch(d, &v.QueueUrl, &v.Entries, sendBatchEntryFields, func(e *sendMessageBatchEntry, i int) (ok bool) {
		switch i {
		case 0:
			e.Id, ok = d.Str()
		case 1:
			var s string
			s, ok = d.Str()
			e.MessageBody = &s
		case 2:
			e.DelaySeconds, ok = d.Int64()
		case 3:
			e.MessageDeduplicationId, ok = d.Str()
		case 4:
			e.MessageGroupId, ok = d.Str()
		}
		return ok // message attributes: encoding/json's
	})
}

func receiveMessage(d *jsonfast.Decoder, v *receiveMessageRequest) bool {
	return d.Object(receiveFields, func(i int) (ok bool) {
		switch i {
		case 0:
			v.QueueUrl, ok = d.Str()
		case 1:
			v.AttributeNames, ok = d.Strs()
		case 2:
			v.MessageSystemAttributeNames, ok = d.Strs()
		case 3:
			v.MessageAttributeNames, ok = d.Strs()
		case 4:
			v.MaxNumberOfMessages, ok = d.Int64()
		case 5:
			v.VisibilityTimeout, ok = d.Int64()
		case 6:
			v.WaitTimeSeconds, ok = d.Int64()
		case 7:
			v.ReceiveRequestAttemptId, ok = d.Str()
		}
		return ok
	})
}

func receiptBatch(d *jsonfast.Decoder, v *receiptBatchRequest) bool {
	return batch(d, &v.QueueUrl, &v.Entries, receiptBatchEntryFields, func(e *receiptBatchEntry, i int) (ok bool) {
		switch i {
		case 0:
			e.Id, ok = d.Str()
		case 1:
			e.ReceiptHandle, ok = d.Str()
		case 2:
			e.VisibilityTimeout, ok = d.Int64()
		}
		return ok
	})
}

// fastEncode appends the JSON of the hot responses to dst, as
// encoding/json would write them but for HTML escaping, which SDKs do not
// need; ok is false for other values, and for messages with message
// attributes (rare, and left to encoding/json).
func fastEncode(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case sendMessageBatchResponse:
		dst = append(dst, `{"Successful":`...)
		dst = jsonfast.AppendList(dst, v.Successful, func(b []byte, e sendMessageBatchResult) []byte {
			b = jsonfast.AppendField(b, '{', "Id", e.Id)
			b = jsonfast.AppendField(b, ',', "MessageId", e.MessageId)
			b = jsonfast.AppendField(b, ',', "MD5OfMessageBody", e.MD5OfMessageBody)
			if e.MD5OfMessageAttributes != "" {
				b = jsonfast.AppendField(b, ',', "MD5OfMessageAttributes", e.MD5OfMessageAttributes)
			}
			if e.SequenceNumber != "" {
				b = jsonfast.AppendField(b, ',', "SequenceNumber", e.SequenceNumber)
			}
			return append(b, '}')
		})
		return appendFailed(dst, v.Failed), true
	case receiptBatchResponse:
		dst = append(dst, `{"Successful":`...)
		dst = jsonfast.AppendList(dst, v.Successful, func(b []byte, e batchResultEntry) []byte {
			return append(jsonfast.AppendField(b, '{', "Id", e.Id), '}')
		})
		return appendFailed(dst, v.Failed), true
	case receiveMessageResponse:
		size := 16 // one allocation: the bodies dominate, and escapes are rare
		for _, m := range v.Messages {
			if m.MessageAttributes != nil {
				return dst, false
			}
			size += 200 + len(m.MessageId) + len(m.ReceiptHandle) + len(m.Body)
		}
		dst = slices.Grow(dst, size)
		if len(v.Messages) == 0 {
			return append(dst, "{}\n"...), true
		}
		dst = append(dst, `{"Messages":`...)
		dst = jsonfast.AppendList(dst, v.Messages, func(b []byte, m message) []byte {
			b = jsonfast.AppendField(b, '{', "MessageId", m.MessageId)
			b = jsonfast.AppendField(b, ',', "ReceiptHandle", m.ReceiptHandle)
			b = jsonfast.AppendField(b, ',', "MD5OfBody", m.MD5OfBody)
			b = jsonfast.AppendField(b, ',', "Body", m.Body)
			if len(m.Attributes) > 0 {
				b = jsonfast.AppendStringMap(b, ',', "Attributes", m.Attributes)
			}
			if m.MD5OfMessageAttributes != "" {
				b = jsonfast.AppendField(b, ',', "MD5OfMessageAttributes", m.MD5OfMessageAttributes)
			}
			return append(b, '}')
		})
		return append(dst, "}\n"...), true
	}
	return dst, false
}

// appendFailed ends a batch response with its Failed list.
func appendFailed(dst []byte, failed []batchResultErrorEntry) []byte {
	dst = append(dst, `,"Failed":`...)
	dst = jsonfast.AppendList(dst, failed, func(b []byte, e batchResultErrorEntry) []byte {
		b = jsonfast.AppendField(b, '{', "Id", e.Id)
		b = append(b, `,"SenderFault":`...)
		b = strconv.AppendBool(b, e.SenderFault)
		b = jsonfast.AppendField(b, ',', "Code", e.Code)
		b = jsonfast.AppendField(b, ',', "Message", e.Message)
		return append(b, '}')
	})
	return append(dst, "}\n"...)
}
