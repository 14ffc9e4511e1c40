package sqs

import (
	"crypto/md5"
	"encoding/hex"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/msgchars"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/aws"
)

var (
	// attrNameRE matches a message attribute name; dots are checked apart.
	attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)
	// dataTypeRE matches a message attribute data type, with an optional
	// custom label.
	dataTypeRE = regexp.MustCompile(`^(String|Number|Binary)(\.[^\x00-\x1f]{1,250})?$`)
	// numberRE matches the numbers SQS takes in Number attributes.
	numberRE = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)
)

// The receive system attributes.
const (
	sysReceiveCount = "ApproximateReceiveCount"
	sysSentAt       = "SentTimestamp"
	sysFirstReceive = "ApproximateFirstReceiveTimestamp"
	sysSenderID     = "SenderId"
	sysDLQSource    = "DeadLetterQueueSourceArn"
	sysGroup        = "MessageGroupId"
	sysDedup        = "MessageDeduplicationId"
	sysSequence     = "SequenceNumber"
)

// allSystemAttrs are the system attributes "All" asks for.
var allSystemAttrs = []string{sysReceiveCount, sysSentAt, sysFirstReceive, sysSenderID, sysDLQSource, sysGroup, sysDedup, sysSequence, sysTrace}

// isFIFO reports whether a queue's name is a FIFO queue's: the engine
// allows .fifo for FIFO queues alone.
func isFIFO(name string) bool { return strings.HasSuffix(name, queue.FIFOSuffix) }

// sequenceNumber is a message's SequenceNumber on a FIFO queue, "" on a
// standard one.
func sequenceNumber(queueName string, seq uint64) string {
	if !isFIFO(queueName) {
		return ""
	}
	return strconv.FormatUint(seq, 10)
}

// validText reports whether s holds only the characters SQS allows in
// bodies and string values (package msgchars).
func validText(s string) bool { return msgchars.Index(s) < 0 }

// md5Hex is the hex MD5 digest of b, as SQS reports for bodies.
func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// md5OfAttributes is SQS's MD5OfMessageAttributes of attrs.
func md5OfAttributes(attrs []queue.Attr) string { return queue.AttributesMD5(attrs) }

func isBinary(dataType string) bool { return queue.IsBinary(dataType) }

// messageAttributes validates the message attributes of a send and
// converts them to the engine's form, sorted by name.
func messageAttributes(in map[string]messageAttributeValue) ([]queue.Attr, *aws.Error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > queue.MaxMessageAttributes {
		return nil, aws.NewError(aws.InvalidParameterValue, "Number of message attributes [%d] exceeds the allowed maximum [%d].", len(in), queue.MaxMessageAttributes)
	}
	out := make([]queue.Attr, 0, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		v := in[name]
		lower := strings.ToLower(name)
		if !attrNameRE.MatchString(name) || strings.Contains(name, "..") ||
			strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
			strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
			return nil, aws.NewError(aws.InvalidParameterValue, "Message (user) attribute name '%s' is invalid.", name)
		}
		if v.DataType == "" {
			return nil, aws.NewError(aws.InvalidParameterValue, "The message attribute '%s' must contain non-empty message attribute type.", name)
		}
		if len(v.DataType) > 256 || !dataTypeRE.MatchString(v.DataType) || !validText(v.DataType) {
			return nil, aws.NewError(aws.InvalidParameterValue, "The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
		}
		if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
			return nil, aws.NewError(aws.InvalidParameterValue, "Message attribute list values in SendMessage operation are not supported.")
		}
		a := queue.Attr{Name: name, Type: v.DataType}
		if isBinary(v.DataType) {
			if len(v.BinaryValue) == 0 || v.StringValue != nil {
				return nil, aws.NewError(aws.InvalidParameterValue, "The message attribute '%s' with type 'Binary' must use field 'Binary' with a non-empty value.", name)
			}
			a.Value = v.BinaryValue
		} else {
			if v.StringValue == nil || *v.StringValue == "" || len(v.BinaryValue) > 0 {
				return nil, aws.NewError(aws.InvalidParameterValue, "The message attribute '%s' with type '%s' must use field 'String' with a non-empty value.", name, v.DataType)
			}
			s := *v.StringValue
			if !validText(s) {
				return nil, aws.NewError(aws.InvalidParameterValue, "Message (user) attribute '%s' value contains invalid characters.", name)
			}
			if strings.HasPrefix(v.DataType, "Number") && !numberRE.MatchString(s) {
				return nil, aws.NewError(aws.InvalidParameterValue, "Could not cast message attribute '%s' value to number.", name)
			}
			a.Value = []byte(s)
		}
		out = append(out, a)
	}
	return out, nil
}

// sendEntry is one message of a send, checked and converted.
type sendEntry struct {
	input queue.SendInput
	md5s  [2]string // of the body and of the attributes
}

// checkSend validates one message of a send.
func checkSend(body *string, delay *int64, attrs map[string]messageAttributeValue) (sendEntry, *aws.Error) {
	if body == nil {
		return sendEntry{}, aws.NewError(aws.MissingParameter, "The request must contain the parameter MessageBody.")
	}
	if *body == "" {
		return sendEntry{}, aws.NewError(aws.InvalidParameterValue, "The request must contain a non-empty message body.")
	}
	if !validText(*body) {
		return sendEntry{}, aws.NewError(kindInvalidMessage, "Invalid characters found. Valid unicode characters are %s", msgchars.Allowed)
	}
	in := queue.SendInput{Body: []byte(*body)}
	if delay != nil {
		if *delay < 0 || *delay > int64(queue.MaxDelay/time.Second) {
			return sendEntry{}, aws.NewError(aws.InvalidParameterValue, "Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", *delay)
		}
		d := time.Duration(*delay) * time.Second
		in.Delay = &d
	}
	a, err := messageAttributes(attrs)
	if err != nil {
		return sendEntry{}, err
	}
	in.Attributes = a
	return sendEntry{input: in, md5s: [2]string{md5Hex(in.Body), md5OfAttributes(a)}}, nil
}

func (h *Handler) sendMessage(c *call, in *sendMessageRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	e, serr := checkSend(in.MessageBody, in.DelaySeconds, in.MessageAttributes)
	if serr != nil {
		return nil, serr
	}
	e.input.Group, e.input.DedupID = in.MessageGroupId, in.MessageDeduplicationId
	if e.input.TraceHeader, serr = traceHeader(in.MessageSystemAttributes); serr != nil {
		return nil, serr
	}
	res, err := h.engine.Send(name, []queue.SendInput{e.input})
	if err != nil {
		return nil, err
	}
	if res[0].Err != nil {
		return nil, res[0].Err
	}
	return sendMessageResponse{MessageId: res[0].ID, MD5OfMessageBody: e.md5s[0], MD5OfMessageAttributes: e.md5s[1],
		SequenceNumber: sequenceNumber(name, res[0].Seq)}, nil
}

// sysTrace is the one message system attribute a sender may set.
const sysTrace = "AWSTraceHeader"

// traceHeader is the AWSTraceHeader of a send's message system
// attributes, the only one SQS takes: a String of at most 1024 bytes.
func traceHeader(attrs map[string]messageAttributeValue) (string, *aws.Error) {
	var trace string
	for name, v := range attrs {
		if name != sysTrace {
			return "", aws.NewError(aws.InvalidParameterValue, "Message system attribute name '%s' is invalid.", name)
		}
		if v.DataType != "String" || v.StringValue == nil || *v.StringValue == "" || len(*v.StringValue) > 1024 || !validText(*v.StringValue) {
			return "", aws.NewError(aws.InvalidParameterValue, "Message system attribute AWSTraceHeader must be a String of 1 to 1024 characters.")
		}
		trace = *v.StringValue
	}
	return trace, nil
}

// checkBatchIDs applies SQS's rules for batch entries: 1 to 10 of them,
// with distinct well-formed ids.
func checkBatchIDs(ids []string, entry string) *aws.Error {
	switch {
	case len(ids) == 0:
		return aws.NewError(kindEmptyBatch, "There should be at least one %s in the request.", entry)
	case len(ids) > queue.MaxBatch:
		return aws.NewError(kindTooManyEntries, "Maximum number of entries per request are %d. You have sent %d.", queue.MaxBatch, len(ids))
	}
	for i, id := range ids {
		if !validBatchID(id) {
			return aws.NewError(kindInvalidBatchEntryID, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if slices.Contains(ids[:i], id) {
			return aws.NewError(kindBatchIDsNotDistinct, "Id %s repeated.", id)
		}
	}
	return nil
}

// validBatchID reports whether id is a batch entry id: 1 to 80 of
// A-Z a-z 0-9 _ -.
func validBatchID(id string) bool {
	if len(id) == 0 || len(id) > 80 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// failed is a batch entry's failure as SQS reports it.
func failed(id string, err error) batchResultErrorEntry {
	e := engineError(err)
	return batchResultErrorEntry{Id: id, SenderFault: e.Sender, Code: e.Code, Message: e.Message}
}

func (h *Handler) sendMessageBatch(c *call, in *sendMessageBatchRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatchIDs(ids, "SendMessageBatchRequestEntry"); err != nil {
		return nil, err
	}
	info, err := h.engine.Queue(name)
	if err != nil {
		return nil, err
	}
	out := sendMessageBatchResponse{Successful: []sendMessageBatchResult{}, Failed: []batchResultErrorEntry{}}
	var inputs []queue.SendInput
	var checked []sendEntry
	var sentIDs []string
	total := 0
	for _, e := range in.Entries {
		se, serr := checkSend(e.MessageBody, e.DelaySeconds, e.MessageAttributes)
		if serr != nil {
			out.Failed = append(out.Failed, failed(e.Id, serr))
			continue
		}
		se.input.Group, se.input.DedupID = e.MessageGroupId, e.MessageDeduplicationId
		if se.input.TraceHeader, serr = traceHeader(e.MessageSystemAttributes); serr != nil {
			out.Failed = append(out.Failed, failed(e.Id, serr))
			continue
		}
		total += len(se.input.Body)
		for _, a := range se.input.Attributes {
			total += len(a.Name) + len(a.Type) + len(a.Value)
		}
		inputs = append(inputs, se.input)
		checked = append(checked, se)
		sentIDs = append(sentIDs, e.Id)
	}
	if int64(total) > info.Attributes.MaxMessageSize {
		return nil, aws.NewError(kindBatchRequestTooLong, "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", info.Attributes.MaxMessageSize, total)
	}
	if len(inputs) > 0 {
		res, err := h.engine.Send(name, inputs)
		if err != nil {
			return nil, err
		}
		for i, r := range res {
			if r.Err != nil {
				out.Failed = append(out.Failed, failed(sentIDs[i], r.Err))
				continue
			}
			out.Successful = append(out.Successful, sendMessageBatchResult{
				Id: sentIDs[i], MessageId: r.ID, MD5OfMessageBody: checked[i].md5s[0], MD5OfMessageAttributes: checked[i].md5s[1],
				SequenceNumber: sequenceNumber(name, r.Seq),
			})
		}
	}
	return out, nil
}

// seconds checks an optional count of seconds against a range.
func seconds(name string, v *int64, max time.Duration) (*time.Duration, *aws.Error) {
	if v == nil {
		return nil, nil
	}
	if *v < 0 || *v > int64(max/time.Second) {
		return nil, aws.NewError(aws.InvalidParameterValue, "Value %d for parameter %s is invalid. Reason: must be between 0 and %d.", *v, name, int64(max/time.Second))
	}
	d := time.Duration(*v) * time.Second
	return &d, nil
}

func (h *Handler) receiveMessage(c *call, in *receiveMessageRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	opts := queue.ReceiveOptions{Max: 1}
	if in.MaxNumberOfMessages != nil {
		n := *in.MaxNumberOfMessages
		if n < 1 || n > queue.MaxBatch {
			return nil, aws.NewError(aws.InvalidParameterValue, "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
		}
		opts.Max = int(n)
	}
	var serr *aws.Error
	if opts.Wait, serr = seconds("WaitTimeSeconds", in.WaitTimeSeconds, queue.MaxReceiveWait); serr != nil {
		return nil, serr
	}
	if opts.VisibilityTimeout, serr = seconds("VisibilityTimeout", in.VisibilityTimeout, queue.MaxVisibilityTimeout); serr != nil {
		return nil, serr
	}
	opts.AttemptID = in.ReceiveRequestAttemptId
	sys := map[string]bool{}
	for _, n := range slices.Concat(in.AttributeNames, in.MessageSystemAttributeNames) {
		if n == "All" {
			for _, a := range allSystemAttrs {
				sys[a] = true
			}
		}
		sys[n] = true
	}
	msgs, err := h.engine.Receive(c.ctx, name, opts)
	if err != nil {
		return nil, err
	}
	out := receiveMessageResponse{Messages: make([]message, 0, len(msgs))}
	for _, m := range msgs {
		out.Messages = append(out.Messages, h.message(c, m, sys, in.MessageAttributeNames))
	}
	return out, nil
}

// message is a received message as SQS shows it: the system attributes
// asked for, and the message attributes named (or all, with "All" or
// ".*", or by prefix, with "prefix.*").
func (h *Handler) message(c *call, m queue.Message, sys map[string]bool, names []string) message {
	out := message{
		MessageId:     m.ID,
		ReceiptHandle: m.Receipt,
		MD5OfBody:     md5Hex(m.Body),
		Body:          string(m.Body),
	}
	// Most receivers ask for no system attributes: no map for them.
	set := func(name, v string) {
		if out.Attributes == nil {
			out.Attributes = make(map[string]string, 2)
		}
		out.Attributes[name] = v
	}
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	if sys[sysReceiveCount] {
		set(sysReceiveCount, strconv.Itoa(m.ReceiveCount))
	}
	if sys[sysSentAt] {
		set(sysSentAt, ms(m.SentAt))
	}
	if sys[sysFirstReceive] {
		set(sysFirstReceive, ms(m.FirstReceivedAt))
	}
	if sys[sysSenderID] {
		id := c.key.ID
		if id == "" {
			id = "anonymous"
		}
		set(sysSenderID, id)
	}
	if sys[sysDLQSource] && m.SourceQueue != "" {
		set(sysDLQSource, h.queueARN(m.SourceQueue))
	}
	if sys[sysGroup] && m.Group != "" {
		set(sysGroup, m.Group)
	}
	if sys[sysDedup] && m.DedupID != "" {
		set(sysDedup, m.DedupID)
	}
	if sys[sysSequence] && m.DedupID != "" { // a FIFO queue's message
		set(sysSequence, strconv.FormatUint(m.Seq, 10))
	}
	if sys[sysTrace] && m.TraceHeader != "" {
		set(sysTrace, m.TraceHeader)
	}
	var picked []queue.Attr
	for _, a := range m.Attributes {
		if wantAttribute(a.Name, names) {
			picked = append(picked, a)
		}
	}
	if len(picked) > 0 {
		out.MessageAttributes = make(map[string]messageAttributeValue, len(picked))
		for _, a := range picked {
			v := messageAttributeValue{DataType: a.Type}
			if isBinary(a.Type) {
				v.BinaryValue = a.Value
			} else {
				s := string(a.Value)
				v.StringValue = &s
			}
			out.MessageAttributes[a.Name] = v
		}
		out.MD5OfMessageAttributes = md5OfAttributes(picked)
	}
	return out
}

func wantAttribute(name string, names []string) bool {
	for _, n := range names {
		if n == "All" || n == ".*" || n == name {
			return true
		}
		if prefix, ok := strings.CutSuffix(n, ".*"); ok && strings.HasPrefix(name, prefix+".") {
			return true
		}
	}
	return false
}

func (h *Handler) deleteMessage(c *call, in *deleteMessageRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.ReceiptHandle == "" {
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter ReceiptHandle.")
	}
	res, err := h.engine.Delete(name, []string{in.ReceiptHandle})
	if err != nil {
		return nil, err
	}
	return empty{}, deleteResult(res[0])
}

// deleteResult is a delete's outcome as SQS reports it: a receipt from an
// earlier receive of a message received again since deletes nothing and
// succeeds, as SQS documents; the message stays.
func deleteResult(err error) error {
	if errdefs.Code(err, "") == "receipt_outdated" {
		return nil
	}
	return err
}

// receiptBatchQueue checks a batch of receipts' queue and entry ids, the
// same for deletes and visibility changes, and returns the queue's name.
func (h *Handler) receiptBatchQueue(c *call, in *receiptBatchRequest, entry string) (string, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return "", err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatchIDs(ids, entry); err != nil {
		return "", err
	}
	return name, nil
}

func (h *Handler) deleteMessageBatch(c *call, in *receiptBatchRequest) (any, error) {
	name, err := h.receiptBatchQueue(c, in, "DeleteMessageBatchRequestEntry")
	if err != nil {
		return nil, err
	}
	out := receiptBatchResponse{Successful: []batchResultEntry{}, Failed: []batchResultErrorEntry{}}
	var receipts, rids []string
	for _, e := range in.Entries {
		if e.ReceiptHandle == "" {
			out.Failed = append(out.Failed, failed(e.Id, aws.NewError(aws.MissingParameter, "The request must contain the parameter ReceiptHandle.")))
			continue
		}
		receipts = append(receipts, e.ReceiptHandle)
		rids = append(rids, e.Id)
	}
	if len(receipts) > 0 {
		res, err := h.engine.Delete(name, receipts)
		if err != nil {
			return nil, err
		}
		for i, rerr := range res {
			if rerr = deleteResult(rerr); rerr != nil {
				out.Failed = append(out.Failed, failed(rids[i], rerr))
			} else {
				out.Successful = append(out.Successful, batchResultEntry{Id: rids[i]})
			}
		}
	}
	return out, nil
}

func (h *Handler) changeVisibility(c *call, in *changeVisibilityRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := h.changeOne(name, in.ReceiptHandle, in.VisibilityTimeout); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func (h *Handler) changeOne(name, receipt string, timeout *int64) error {
	if receipt == "" {
		return aws.NewError(aws.MissingParameter, "The request must contain the parameter ReceiptHandle.")
	}
	if timeout == nil {
		return aws.NewError(aws.MissingParameter, "The request must contain the parameter VisibilityTimeout.")
	}
	d, serr := seconds("VisibilityTimeout", timeout, queue.MaxVisibilityTimeout)
	if serr != nil {
		return serr
	}
	return h.engine.ChangeVisibility(name, receipt, *d)
}

func (h *Handler) changeVisibilityBatch(c *call, in *receiptBatchRequest) (any, error) {
	name, err := h.receiptBatchQueue(c, in, "ChangeMessageVisibilityBatchRequestEntry")
	if err != nil {
		return nil, err
	}
	out := receiptBatchResponse{Successful: []batchResultEntry{}, Failed: []batchResultErrorEntry{}}
	for _, e := range in.Entries {
		if err := h.changeOne(name, e.ReceiptHandle, e.VisibilityTimeout); err != nil {
			if engineError(err).Code == kindQueueDoesNotExist.Code {
				return nil, err
			}
			out.Failed = append(out.Failed, failed(e.Id, err))
			continue
		}
		out.Successful = append(out.Successful, batchResultEntry{Id: e.Id})
	}
	return out, nil
}
