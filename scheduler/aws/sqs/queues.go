package sqs

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/aws"
)

// The SQS queue attributes, as named in requests and answers.
const (
	attrVisibilityTimeout = "VisibilityTimeout"
	attrRetention         = "MessageRetentionPeriod"
	attrDelay             = "DelaySeconds"
	attrReceiveWait       = "ReceiveMessageWaitTimeSeconds"
	attrMaxMessageSize    = "MaximumMessageSize"
	attrRedrivePolicy     = "RedrivePolicy"
	attrFifoQueue         = "FifoQueue"
	attrContentDedup      = "ContentBasedDeduplication"
	attrDedupScope        = "DeduplicationScope"
	attrThroughputLimit   = "FifoThroughputLimit"
	attrSSE               = "SqsManagedSseEnabled"
	attrPolicy            = "Policy"
	attrKMSKey            = "KmsMasterKeyId"
	attrKMSReuse          = "KmsDataKeyReusePeriodSeconds"
	attrModified          = "LastModifiedTimestamp"
	attrQueueArn          = "QueueArn"
	attrCreated           = "CreatedTimestamp"
	attrVisible           = "ApproximateNumberOfMessages"
	attrNotVisible        = "ApproximateNumberOfMessagesNotVisible"
	attrDelayed           = "ApproximateNumberOfMessagesDelayed"
)

// readableAttrs are the queue attributes GetQueueAttributes knows, in
// the order "All" lists them.
var readableAttrs = []string{
	attrVisible, attrNotVisible, attrDelayed, attrCreated, attrQueueArn,
	attrVisibilityTimeout, attrRetention, attrDelay, attrReceiveWait,
	attrMaxMessageSize, attrRedrivePolicy, attrSSE, attrPolicy, attrKMSKey, attrKMSReuse, attrModified,
}

// fifoAttrs are the attributes a FIFO queue reports besides readableAttrs.
var fifoAttrs = []string{attrFifoQueue, attrContentDedup, attrDedupScope, attrThroughputLimit}

// arnRE matches a queue ARN: arn:PARTITION:sqs:REGION:ACCOUNT:NAME.
var arnRE = regexp.MustCompile(`^arn:[a-z-]+:sqs:[a-z0-9-]*:([0-9A-Za-z]+):([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$`)

func (h *Handler) queueURL(c *call, name string) string {
	return c.host + "/" + h.cfg.AccountID + "/" + name
}

func (h *Handler) queueARN(name string) string {
	return "arn:aws:sqs:" + h.cfg.Region + ":" + h.cfg.AccountID + ":" + name
}

// queueName returns the name of the queue a URL names, after checking the
// caller's key may use it. Any host is accepted: clients reach a server
// under many names.
func (h *Handler) queueName(c *call, rawURL string) (string, error) {
	if rawURL == "" {
		return "", aws.NewError(aws.MissingParameter, "The request must contain the parameter QueueUrl.")
	}
	// A malformed URL names no queue, as SQS answers it.
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", aws.NewError(kindQueueDoesNotExist, "The specified queue does not exist.")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 {
		return "", aws.NewError(kindQueueDoesNotExist, "The specified queue does not exist.")
	}
	if parts[0] != h.cfg.AccountID || queue.ValidateName(parts[1]) != nil {
		return "", aws.NewError(kindQueueDoesNotExist, "The specified queue does not exist.")
	}
	return parts[1], h.authorize(c, parts[1])
}

// authorize reports whether the caller's key has the capability the
// action needs on the queue. A refusal is logged with the key's accessor,
// never its secret.
func (h *Handler) authorize(c *call, name string) error {
	if !c.key.Allowed("queue", name, c.need) {
		h.logger.Info("request denied", "accessor", c.key.Accessor, "queue", name, "capability", c.need)
		return aws.NewError(kindAccessDenied, "Access to the resource %s is denied: the key (%s) lacks queue:%s on it.", h.queueARN(name), c.key.Accessor, c.need)
	}
	return nil
}

func (h *Handler) createQueue(c *call, in *createQueueRequest) (any, error) {
	if in.QueueName == "" {
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter QueueName.")
	}
	if err := queue.ValidateName(in.QueueName); err != nil {
		return nil, aws.NewError(aws.InvalidParameterValue, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	if strings.HasSuffix(in.QueueName, queue.FIFOSuffix) != (in.Attributes[attrFifoQueue] == "true") {
		return nil, aws.NewError(aws.InvalidParameterValue, "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length; FifoQueue=true is required for it, and refused for any other name.")
	}
	if err := h.authorize(c, in.QueueName); err != nil {
		return nil, err
	}
	// An existing queue is returned when the attributes given match its
	// own; the ones not given are not compared, as SQS does.
	if info, err := h.engine.Queue(in.QueueName); err == nil {
		a, err := h.applyAttributes(c, info.Attributes, in.Attributes)
		if err != nil {
			return nil, err
		}
		if a != info.Attributes {
			return nil, aws.NewError(kindQueueNameExists, "A queue already exists with the same name and a different value for attribute(s) %s", strings.Join(slices.Sorted(maps.Keys(in.Attributes)), ", "))
		}
		return queueURLResponse{QueueUrl: h.queueURL(c, in.QueueName)}, nil
	}
	a, err := h.applyAttributes(c, queue.DefaultAttributes(), in.Attributes)
	if err != nil {
		return nil, err
	}
	if _, err := h.engine.CreateTaggedQueue(in.QueueName, a, in.Tags); err != nil {
		return nil, err
	}
	return queueURLResponse{QueueUrl: h.queueURL(c, in.QueueName)}, nil
}

// applyAttributes returns a with the SQS attributes set replaced.
func (h *Handler) applyAttributes(c *call, a queue.Attributes, set map[string]string) (queue.Attributes, error) {
	seconds := func(name, v string, min, max time.Duration) (time.Duration, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		d := time.Duration(n) * time.Second
		if err != nil || d < min || d > max {
			return 0, aws.NewError(kindInvalidAttributeValue, "Invalid value for the parameter %s: %q is not an integer from %d to %d.", name, v, int64(min/time.Second), int64(max/time.Second))
		}
		return d, nil
	}
	var err error
	for _, name := range slices.Sorted(maps.Keys(set)) {
		v := set[name]
		switch name {
		case attrVisibilityTimeout:
			a.VisibilityTimeout, err = seconds(name, v, 0, queue.MaxVisibilityTimeout)
		case attrRetention:
			a.Retention, err = seconds(name, v, queue.MinRetention, queue.MaxRetention)
		case attrDelay:
			a.Delay, err = seconds(name, v, 0, queue.MaxDelay)
		case attrReceiveWait:
			a.ReceiveWait, err = seconds(name, v, 0, queue.MaxReceiveWait)
		case attrMaxMessageSize:
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil || n < queue.MinMessageSize || n > queue.MaxMessageSize {
				err = aws.NewError(kindInvalidAttributeValue, "Invalid value for the parameter %s: %q is not an integer from %d to %d.", name, v, queue.MinMessageSize, queue.MaxMessageSize)
			}
			a.MaxMessageSize = n
		case attrRedrivePolicy:
			a.DeadLetter, a.MaxReceives, err = h.parseRedrivePolicy(c, v)
		case attrFifoQueue:
			// Checked against the name at creation; the engine refuses a
			// change of kind later.
			if v != "true" && v != "false" {
				err = aws.NewError(kindInvalidAttributeValue, "Invalid value for the parameter FifoQueue.")
			}
			a.FIFO = v == "true"
		case attrContentDedup, attrDedupScope, attrThroughputLimit:
			if !a.FIFO && set[attrFifoQueue] != "true" {
				err = aws.NewError(kindInvalidAttributeName, "Unknown Attribute %s.", name)
				break
			}
			switch {
			case name == attrContentDedup && (v == "true" || v == "false"):
				a.ContentDedup = v == "true"
			case name == attrDedupScope && (v == "messageGroup" || v == "queue"):
				a.DedupPerGroup = v == "messageGroup"
			case name == attrThroughputLimit && (v == "perMessageGroupId" || v == "perQueue"):
				a.ThroughputPerGroup = v == "perMessageGroupId"
			default:
				err = aws.NewError(kindInvalidAttributeValue, "Invalid value for the parameter %s.", name)
			}
		case attrSSE:
			if v != "true" && v != "false" {
				err = aws.NewError(kindInvalidAttributeValue, "Invalid value for the parameter SqsManagedSseEnabled.")
			}
			a.ManagedSSE = v == "true"
		case attrPolicy:
			if v != "" && !json.Valid([]byte(v)) || len(v) > maxPolicy {
				err = aws.NewError(kindInvalidAttributeValue, "Invalid value for the parameter Policy.")
			}
			a.Policy = v
		case attrKMSKey:
			if len(v) > 2048 {
				err = aws.NewError(kindInvalidAttributeValue, "Invalid value for the parameter KmsMasterKeyId.")
			}
			a.KMSKeyID = v
		case attrKMSReuse:
			var d time.Duration
			d, err = seconds(name, v, time.Minute, 24*time.Hour)
			a.KMSReuseSeconds = int(d / time.Second)
		default:
			err = aws.NewError(kindInvalidAttributeName, "Unknown Attribute %s.", name)
		}
		if err != nil {
			return a, err
		}
	}
	return a, nil
}

// redrivePolicy is the JSON of the RedrivePolicy attribute. SQS takes
// maxReceiveCount as a string or a number.
type redrivePolicy struct {
	DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
	MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
}

// parseRedrivePolicy returns the dead-letter queue and receive count of a
// RedrivePolicy; "" clears it.
func (h *Handler) parseRedrivePolicy(c *call, v string) (string, int, error) {
	if v == "" {
		return "", 0, nil
	}
	bad := func(why string) (string, int, error) {
		return "", 0, aws.NewError(kindInvalidAttributeValue, "Invalid value for the parameter RedrivePolicy. Reason: %s.", why)
	}
	var p redrivePolicy
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return bad("Redrive policy is not a valid JSON map")
	}
	m := arnRE.FindStringSubmatch(p.DeadLetterTargetArn)
	if m == nil {
		return bad("Dead letter target ARN is not a valid SQS queue ARN")
	}
	if m[1] != h.cfg.AccountID {
		return bad("Dead letter target owner is not this account")
	}
	raw := strings.Trim(string(p.MaxReceiveCount), `"`)
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > queue.MaxMaxReceives {
		return bad("Invalid value for maxReceiveCount: " + raw + ", valid values are from 1 to 1000 both inclusive")
	}
	if err := h.authorize(c, m[2]); err != nil {
		return "", 0, err
	}
	return m[2], n, nil
}

func (h *Handler) getQueueURL(c *call, in *getQueueURLRequest) (any, error) {
	if in.QueueName == "" {
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter QueueName.")
	}
	if in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != h.cfg.AccountID {
		return nil, aws.NewError(kindQueueDoesNotExist, "The specified queue does not exist.")
	}
	if err := h.authorize(c, in.QueueName); err != nil {
		return nil, err
	}
	if _, err := h.engine.Queue(in.QueueName); err != nil {
		return nil, err
	}
	return queueURLResponse{QueueUrl: h.queueURL(c, in.QueueName)}, nil
}

// listQueues lists the queues the caller's key may use, by name; a
// NextToken is the base64 of the last name of the previous page.
func (h *Handler) listQueues(c *call, in *listQueuesRequest) (any, error) {
	var names []string
	for _, info := range h.engine.Queues() { // sorted by name
		names = append(names, info.Name)
	}
	urls, next, err := h.pageQueues(c, names, in.MaxResults, in.NextToken, func(name string) bool {
		return strings.HasPrefix(name, in.QueueNamePrefix)
	})
	if err != nil {
		return nil, err
	}
	return listQueuesResponse{QueueUrls: urls, NextToken: next}, nil
}

// pageQueues returns one page of the URLs of names (sorted) that keep
// accepts and the caller's key may use, as SQS lists queues: at most
// maxResults (1 to 1000; 1000 when nil), after the name nextToken holds.
// When maxResults is given and more follow, next is the base64 of the
// page's last name.
func (h *Handler) pageQueues(c *call, names []string, maxResults *int64, nextToken string, keep func(string) bool) (urls []string, next string, err error) {
	limit := 1000
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return nil, "", aws.NewError(aws.InvalidParameterValue, "Value %d for parameter MaxResults is invalid. Reason: must be between 1 and 1000.", *maxResults)
		}
		limit = int(*maxResults)
	}
	var after string
	if nextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(nextToken)
		if err != nil {
			return nil, "", aws.NewError(aws.InvalidParameterValue, "Invalid NextToken value.")
		}
		after = string(b)
	}
	urls = []string{}
	last := ""
	for _, name := range names {
		if name <= after || !keep(name) || !c.key.Allowed("queue", name, "read") {
			continue
		}
		if len(urls) == limit {
			if maxResults != nil {
				next = base64.RawURLEncoding.EncodeToString([]byte(last))
			}
			break
		}
		urls = append(urls, h.queueURL(c, name))
		last = name
	}
	return urls, next, nil
}

func (h *Handler) deleteQueue(c *call, in *queueURLRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := h.engine.DeleteQueue(name); err != nil {
		return nil, err
	}
	h.tasks.forget(name)
	return empty{}, nil
}

func (h *Handler) tagQueue(c *call, in *tagQueueRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter Tags.")
	}
	return empty{}, h.engine.TagQueue(name, in.Tags)
}

func (h *Handler) untagQueue(c *call, in *untagQueueRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter TagKeys.")
	}
	return empty{}, h.engine.UntagQueue(name, in.TagKeys)
}

func (h *Handler) listQueueTags(c *call, in *queueURLRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	info, err := h.engine.Queue(name)
	if err != nil {
		return nil, err
	}
	return listQueueTagsResponse{Tags: info.Tags}, nil
}

func (h *Handler) purgeQueue(c *call, in *queueURLRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	_, err = h.engine.Purge(name)
	return empty{}, err
}

func (h *Handler) getQueueAttributes(c *call, in *getQueueAttributesRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range in.AttributeNames {
		switch {
		case n == "All":
			for _, a := range readableAttrs {
				want[a] = true
			}
			for _, a := range fifoAttrs {
				want[a] = true
			}
		case slices.Contains(readableAttrs, n):
			want[n] = true
		case slices.Contains(fifoAttrs, n):
			want[n] = true // a standard queue does not report them, as in SQS
		default:
			return nil, aws.NewError(kindInvalidAttributeName, "Unknown Attribute %s.", n)
		}
	}
	info, err := h.engine.Queue(name)
	if err != nil {
		return nil, err
	}
	all := h.queueAttributes(info)
	out := attributesResponse{Attributes: map[string]string{}}
	for n := range want {
		if v, ok := all[n]; ok {
			out.Attributes[n] = v
		}
	}
	return out, nil
}

// queueAttributes are a queue's SQS attributes.
func (h *Handler) queueAttributes(info queue.Info) map[string]string {
	a := info.Attributes
	secs := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
	m := map[string]string{
		attrVisible:           strconv.Itoa(info.Stats.Visible),
		attrNotVisible:        strconv.Itoa(info.Stats.InFlight),
		attrDelayed:           strconv.Itoa(info.Stats.Delayed),
		attrCreated:           strconv.FormatInt(info.CreatedAt.Unix(), 10),
		attrQueueArn:          h.queueARN(info.Name),
		attrVisibilityTimeout: secs(a.VisibilityTimeout),
		attrRetention:         secs(a.Retention),
		attrDelay:             secs(a.Delay),
		attrReceiveWait:       secs(a.ReceiveWait),
		attrMaxMessageSize:    strconv.FormatInt(a.MaxMessageSize, 10),
		attrSSE:               strconv.FormatBool(a.ManagedSSE),
		attrModified:          strconv.FormatInt(info.ModifiedAt.Unix(), 10),
	}
	if a.Policy != "" {
		m[attrPolicy] = a.Policy
	}
	if a.KMSKeyID != "" {
		m[attrKMSKey] = a.KMSKeyID
		m[attrKMSReuse] = "300"
	}
	if a.KMSReuseSeconds != 0 {
		m[attrKMSReuse] = strconv.Itoa(a.KMSReuseSeconds)
	}
	if a.FIFO {
		m[attrFifoQueue], m[attrContentDedup] = "true", strconv.FormatBool(a.ContentDedup)
		m[attrDedupScope], m[attrThroughputLimit] = a.DedupScope(), a.ThroughputLimit()
	}
	if a.DeadLetter != "" {
		b, _ := json.Marshal(struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     int    `json:"maxReceiveCount"`
		}{h.queueARN(a.DeadLetter), a.MaxReceives})
		m[attrRedrivePolicy] = string(b)
	}
	return m
}

// maxPolicy bounds a queue's Policy, as SQS's 20 KiB.
const maxPolicy = 20 << 10

// policyDoc is a queue policy as AddPermission writes it.
type policyDoc struct {
	Version   string            `json:"Version"`
	ID        string            `json:"Id,omitempty"`
	Statement []json.RawMessage `json:"Statement"`
}

type policyStatement struct {
	Sid       string              `json:"Sid"`
	Effect    string              `json:"Effect"`
	Principal map[string][]string `json:"Principal"`
	Action    []string            `json:"Action"`
	Resource  string              `json:"Resource"`
}

// editPolicy changes a queue's Policy with fn, which gets its statements.
// Docket authorizes with ACL tokens, not with the policy, which it keeps
// and reports for the clients that manage it.
func (h *Handler) editPolicy(c *call, rawURL string, fn func(arn string, doc *policyDoc) error) error {
	name, err := h.queueName(c, rawURL)
	if err != nil {
		return err
	}
	info, err := h.engine.Queue(name)
	if err != nil {
		return err
	}
	arn := h.queueARN(name)
	doc := policyDoc{Version: "2012-10-17", ID: arn + "/SQSDefaultPolicy"}
	if info.Attributes.Policy != "" {
		if err := json.Unmarshal([]byte(info.Attributes.Policy), &doc); err != nil {
			return aws.NewError(kindInvalidAttributeValue, "The queue's Policy is not a policy document AddPermission can edit: %v", err)
		}
	}
	if err := fn(arn, &doc); err != nil {
		return err
	}
	a := info.Attributes
	a.Policy = ""
	if len(doc.Statement) > 0 {
		b, _ := json.Marshal(doc)
		a.Policy = string(b)
	}
	if len(a.Policy) > maxPolicy {
		return aws.NewError(kindOverLimit, "the queue's policy would be over %d bytes", maxPolicy)
	}
	return h.engine.SetAttributes(name, a)
}

func statementSid(raw json.RawMessage) string {
	var st struct{ Sid string }
	json.Unmarshal(raw, &st)
	return st.Sid
}

func (h *Handler) addPermission(c *call, in *addPermissionRequest) (any, error) {
	switch {
	case in.Label == "" || len(in.Label) > 80 || !validBatchID(in.Label):
		return nil, aws.NewError(aws.InvalidParameterValue, "Value %s for parameter Label is invalid. Reason: Must be 1 to 80 alphanumeric characters, hyphens or underscores.", in.Label)
	case len(in.AWSAccountIds) == 0:
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter AWSAccountIds.")
	case len(in.Actions) == 0:
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter Actions.")
	}
	return empty{}, h.editPolicy(c, in.QueueUrl, func(arn string, doc *policyDoc) error {
		for _, st := range doc.Statement {
			if statementSid(st) == in.Label {
				return aws.NewError(aws.InvalidParameterValue, "Value %s for parameter Label is invalid. Reason: Already exists.", in.Label)
			}
		}
		st := policyStatement{Sid: in.Label, Effect: "Allow", Principal: map[string][]string{"AWS": {}}, Resource: arn}
		for _, id := range in.AWSAccountIds {
			st.Principal["AWS"] = append(st.Principal["AWS"], "arn:aws:iam::"+id+":root")
		}
		for _, a := range in.Actions {
			st.Action = append(st.Action, "SQS:"+a)
		}
		b, _ := json.Marshal(st)
		doc.Statement = append(doc.Statement, b)
		return nil
	})
}

func (h *Handler) removePermission(c *call, in *removePermissionRequest) (any, error) {
	if in.Label == "" {
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter Label.")
	}
	return empty{}, h.editPolicy(c, in.QueueUrl, func(_ string, doc *policyDoc) error {
		for i, st := range doc.Statement {
			if statementSid(st) == in.Label {
				doc.Statement = slices.Delete(doc.Statement, i, i+1)
				return nil
			}
		}
		return aws.NewError(aws.InvalidParameterValue, "Value %s for parameter Label is invalid. Reason: can't find label.", in.Label)
	})
}

func (h *Handler) setQueueAttributes(c *call, in *setQueueAttributesRequest) (any, error) {
	name, err := h.queueName(c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, aws.NewError(aws.MissingParameter, "The request must contain the parameter Attributes.")
	}
	info, err := h.engine.Queue(name)
	if err != nil {
		return nil, err
	}
	a, err := h.applyAttributes(c, info.Attributes, in.Attributes)
	if err != nil {
		return nil, err
	}
	return empty{}, h.engine.SetAttributes(name, a)
}
