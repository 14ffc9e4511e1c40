package api

// TopicSettings are what POST /v1/topics takes.
type TopicSettings struct {
	Name string `json:"name"`
	// Attributes are SNS's settable topic attributes (DisplayName, ...).
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// Topic is a topic with the number of its subscriptions.
type Topic struct {
	Name          string            `json:"name"`
	ARN           string            `json:"arn"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	Subscriptions int               `json:"subscriptions"`
	CreateIndex   uint64            `json:"create_index"`
	ModifyIndex   uint64            `json:"modify_index"`
}

// TopicList is the answer of GET /v1/topics.
type TopicList struct {
	Topics []Topic `json:"topics"`
}

// SubscribeRequest is the body of POST /v1/topics/{name}/subscriptions.
type SubscribeRequest struct {
	// Protocol is "sqs", for which Endpoint names a queue of this server,
	// "lambda", for which it names a function of this server (its ARN or
	// name), invoked with Lambda's SNS event, or "http" or "https", for
	// which it is the URL notifications are POSTed to once the endpoint
	// has confirmed the subscription.
	Protocol string `json:"protocol"`
	Endpoint string `json:"endpoint"`
	// Raw delivers messages as published instead of in SNS's envelope.
	Raw bool `json:"raw,omitempty"`
	// FilterPolicy is an SNS filter policy (JSON), on FilterScope:
	// MessageAttributes (the default) or MessageBody.
	FilterPolicy string `json:"filter_policy,omitempty"`
	FilterScope  string `json:"filter_scope,omitempty"`
	// DeliveryPolicy is an HTTP(S) subscription's SNS delivery policy
	// (JSON): its retries, throttle and Content-Type.
	DeliveryPolicy string `json:"delivery_policy,omitempty"`
	// DeadLetterQueue is the queue of this server that takes an HTTP(S)
	// subscription's notifications once its retries are spent (SNS's
	// RedrivePolicy); without one they are dropped.
	DeadLetterQueue string `json:"dead_letter_queue,omitempty"`
}

// ConfirmRequest is the body of POST /v1/topics/{name}/confirm: the token
// of the SubscriptionConfirmation an HTTP(S) endpoint received.
type ConfirmRequest struct {
	Token string `json:"token"`
}

// Subscription is one subscription of a topic.
type Subscription struct {
	ID           string `json:"id"`
	ARN          string `json:"arn"`
	Topic        string `json:"topic"`
	Protocol     string `json:"protocol"`
	Endpoint     string `json:"endpoint"`
	Raw          bool   `json:"raw,omitempty"`
	FilterPolicy string `json:"filter_policy,omitempty"`
	FilterScope  string `json:"filter_scope,omitempty"`
	// Pending is set until an HTTP(S) endpoint confirms.
	Pending         bool   `json:"pending,omitempty"`
	DeliveryPolicy  string `json:"delivery_policy,omitempty"`
	DeadLetterQueue string `json:"dead_letter_queue,omitempty"`
	// EffectiveDeliveryPolicy is an HTTP(S) subscription's policy with the
	// topic's and SNS's defaults filled in (JSON).
	EffectiveDeliveryPolicy string `json:"effective_delivery_policy,omitempty"`
	// ConfirmedAuthenticated is set when the endpoint's confirmation was
	// a signed request.
	ConfirmedAuthenticated bool `json:"confirmed_authenticated,omitempty"`
}

// SubscriptionList is the answer of GET /v1/topics/{name}/subscriptions.
type SubscriptionList struct {
	Subscriptions []Subscription `json:"subscriptions"`
}

// MessageAttribute is a typed attribute of a published message: Type is
// String, Number, Binary (Value in base64) or String.Array (a JSON
// array), perhaps with a custom label (Number.float).
type MessageAttribute struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// PublishRequest is the body of POST /v1/topics/{name}/publish.
type PublishRequest struct {
	Message    string                      `json:"message"`
	Subject    string                      `json:"subject,omitempty"`
	Attributes map[string]MessageAttribute `json:"attributes,omitempty"`
	// Group is the message group: required on a FIFO topic, whose FIFO
	// queues keep the group's order; on a standard topic it names the
	// tenant of fair queues. DedupID is a FIFO topic's deduplication id.
	Group   string `json:"group,omitempty"`
	DedupID string `json:"dedup_id,omitempty"`
}

// MaxPublishBatch is the most messages one batch publish takes, as SNS's
// PublishBatch.
const MaxPublishBatch = 10

// PublishBatchRequest is the body of POST /v1/topics/{name}/publish-batch:
// up to MaxPublishBatch messages, published together.
type PublishBatchRequest struct {
	Messages []PublishRequest `json:"messages"`
}

// PublishBatchResponse reports each message of a batch publish, in order:
// its publish, or why it was refused.
type PublishBatchResponse struct {
	Results []PublishResult `json:"results"`
}

// PublishResult is one message of a batch publish.
type PublishResult struct {
	PublishResponse
	Error *Error `json:"error,omitempty"`
}

// PublishResponse reports a publish: its message ID, and how many
// subscriptions it was delivered to and filtered out of.
type PublishResponse struct {
	MessageID string `json:"message_id"`
	Delivered int    `json:"delivered"`
	Filtered  int    `json:"filtered"`
}
