package scheduler

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/msgchars"
	"github.com/docketd/docket/internal/pubsub/delivery"
	"github.com/docketd/docket/internal/pubsub/filter"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/acl"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// Topics: publish/subscribe in front of the queues. A topic's definition
// and subscriptions are control-plane records (scheduler/state); a
// publish computes, for each subscription whose filter policy the message
// passes, the message its queue gets (as published, or in SNS's JSON
// envelope), and hands them all to the queue engine in one record, so
// that after any crash the publish is in every matching queue or in none.

// SNS's limits.
const (
	// MaxPublishSize is the largest message a publish takes: its body,
	// attribute names, types and values.
	MaxPublishSize = 256 << 10
	// MaxPublishAttributes is the most message attributes a publish has.
	MaxPublishAttributes = 10
	maxSubjectLength     = 100
)

func checkTopicName(name string) error {
	if !specs.ValidTopicName(name) {
		return errdefs.New(errdefs.ErrInvalid, "invalid_topic_name", "topic name %q: %s", name, specs.TopicNameRule)
	}
	return nil
}

func topicNotFound(name string) error {
	return errdefs.New(errdefs.ErrNotFound, "topic_not_found", "topic %q does not exist", name)
}

// TopicARN is a topic's ARN as SNS clients expect it.
func (s *Server) TopicARN(name string) string {
	return "arn:aws:sns:" + s.sqsRegion() + ":" + s.accountID() + ":" + name
}

// SubscriptionARN is a subscription's ARN: its topic's and its ID.
func (s *Server) SubscriptionARN(topic, id string) string { return s.TopicARN(topic) + ":" + id }

func (s *Server) apiTopic(rd *state.Reader, t *state.Topic) api.Topic {
	return api.Topic{Name: t.Name, ARN: s.TopicARN(t.Name), Attributes: t.Attributes, Tags: t.Tags,
		Subscriptions: len(rd.TopicSubscriptions(t.Name)), CreateIndex: t.CreateIndex, ModifyIndex: t.ModifyIndex}
}

func (s *Server) apiSubscription(sub *state.Subscription) api.Subscription {
	return api.Subscription{ID: sub.ID, ARN: s.SubscriptionARN(sub.Topic, sub.ID), Topic: sub.Topic, Protocol: sub.Protocol,
		Endpoint: sub.Endpoint, Raw: sub.Raw, FilterPolicy: sub.FilterPolicy, FilterScope: sub.FilterScope, Pending: sub.Pending,
		DeliveryPolicy: sub.DeliveryPolicy, DeadLetterQueue: sub.DeadLetterQueue, ConfirmedAuthenticated: sub.ConfirmedAuthenticated}
}

// CreateTopic creates a topic, or changes the attributes and tags of the
// one of that name (SNS's CreateTopic is idempotent).
func (s *Server) CreateTopic(ctx context.Context, caller Identity, in api.TopicSettings) (api.Topic, error) {
	if err := caller.can("topic", in.Name, "write"); err != nil {
		return api.Topic{}, err
	}
	if err := checkTopicName(in.Name); err != nil {
		return api.Topic{}, err
	}
	if err := checkTopicAttributes(in.Name, in.Attributes); err != nil {
		return api.Topic{}, err
	}
	if _, err := s.state.Apply(state.UpsertTopic{Topic: &state.Topic{Name: in.Name, Attributes: in.Attributes, Tags: in.Tags}}); err != nil {
		return api.Topic{}, err
	}
	return s.GetTopic(ctx, caller, in.Name)
}

// GetTopic returns a topic.
func (s *Server) GetTopic(ctx context.Context, caller Identity, name string) (api.Topic, error) {
	var out api.Topic
	var found bool
	s.state.View(func(rd *state.Reader) {
		if t := rd.Topic(name); t != nil {
			out, found = s.apiTopic(rd, t), true
		}
	})
	if !found {
		return api.Topic{}, topicNotFound(name)
	}
	return out, nil
}

// ListTopics lists the topics the caller may read.
func (s *Server) ListTopics(ctx context.Context, caller Identity) api.TopicList {
	out := api.TopicList{Topics: []api.Topic{}}
	s.state.View(func(rd *state.Reader) {
		for _, t := range rd.Topics() {
			if caller.ACL.Allowed("topic", t.Name, "read") {
				out.Topics = append(out.Topics, s.apiTopic(rd, t))
			}
		}
	})
	return out
}

// DeleteTopic deletes a topic and its subscriptions.
func (s *Server) DeleteTopic(ctx context.Context, caller Identity, name string) error {
	if err := caller.can("topic", name, "write"); err != nil {
		return err
	}
	var ids []string
	s.state.View(func(rd *state.Reader) {
		for _, sub := range rd.TopicSubscriptions(name) {
			ids = append(ids, sub.ID)
		}
	})
	_, err := s.state.Apply(state.DeleteTopic{Name: name})
	s.policies.forget(ids...)
	return err
}

// Subscribe subscribes a queue, a function or an HTTP(S) endpoint to a
// topic: it needs topic:subscribe on the topic, for a queue queue:send on
// it, whose messages the topic's publishers then write, and for a
// function function:invoke. An endpoint's subscription is pending until
// the endpoint confirms it (endpoints.go); a function's is confirmed.
func (s *Server) Subscribe(ctx context.Context, caller Identity, topic string, in api.SubscribeRequest) (api.Subscription, error) {
	if err := caller.can("topic", topic, "subscribe"); err != nil {
		return api.Subscription{}, err
	}
	switch in.Protocol {
	case state.ProtocolSQS:
		if err := caller.can("queue", in.Endpoint, "send"); err != nil {
			return api.Subscription{}, err
		}
		if strings.HasSuffix(topic, ".fifo") != strings.HasSuffix(in.Endpoint, queue.FIFOSuffix) {
			return api.Subscription{}, errdefs.New(errdefs.ErrInvalid, "invalid_endpoint",
				"Invalid parameter: Endpoint: a FIFO topic delivers to FIFO queues, and only a FIFO topic to them")
		}
		if _, err := s.queues.Queue(in.Endpoint); err != nil {
			return api.Subscription{}, err
		}
		if in.DeliveryPolicy != "" || in.DeadLetterQueue != "" {
			return api.Subscription{}, errdefs.New(errdefs.ErrInvalid, "invalid_attribute",
				"Invalid parameter: Attributes Reason: a queue's subscription takes neither a DeliveryPolicy nor a RedrivePolicy: its queue holds what it is sent")
		}
	case state.ProtocolHTTP, state.ProtocolHTTPS:
	case state.ProtocolLambda:
		name, err := s.subscribedFunction(caller, in.Endpoint)
		if err != nil {
			return api.Subscription{}, err
		}
		in.Endpoint = s.FunctionARN(name) // SNS names the function by its ARN
		if in.Raw {
			return api.Subscription{}, errdefs.New(errdefs.ErrInvalid, "invalid_attribute",
				"Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [true]. Must be false for lambda subscriptions")
		}
	default:
		return api.Subscription{}, errdefs.New(errdefs.ErrInvalid, "invalid_protocol",
			"Invalid parameter: Protocol: %q: this server delivers to its own queues (sqs), its functions (lambda) and to http and https endpoints", in.Protocol)
	}
	if err := checkFilterPolicy(in.FilterPolicy, in.FilterScope); err != nil {
		return api.Subscription{}, err
	}
	var existing *state.Subscription
	var found bool
	s.state.View(func(rd *state.Reader) {
		if found = rd.Topic(topic) != nil; !found {
			return
		}
		for _, sub := range rd.TopicSubscriptions(topic) {
			if sub.Protocol == in.Protocol && sub.Endpoint == in.Endpoint {
				existing = sub
			}
		}
	})
	if !found {
		return api.Subscription{}, topicNotFound(topic)
	}
	if isEndpoint(in.Protocol) {
		if strings.HasSuffix(topic, ".fifo") {
			return api.Subscription{}, errdefs.New(errdefs.ErrInvalid, "invalid_protocol",
				"Invalid parameter: Protocol: a FIFO topic delivers to SQS queues only")
		}
		return s.subscribeEndpoint(caller, topic, in, existing)
	}
	// SNS: subscribing the same endpoint again is the same subscription,
	// with the attributes given now.
	sub := &state.Subscription{ID: newID(), Topic: topic, Protocol: in.Protocol, Endpoint: in.Endpoint, Raw: in.Raw,
		FilterPolicy: in.FilterPolicy, FilterScope: in.FilterScope, Owner: caller.Accessor}
	if existing != nil {
		sub.ID = existing.ID
	}
	if _, err := s.state.Apply(state.UpsertSubscriptions{Subscriptions: []*state.Subscription{sub}}); err != nil {
		return api.Subscription{}, err
	}
	return s.apiSubscription(sub), nil
}

// checkFilterPolicy validates a filter policy on its scope.
func checkFilterPolicy(policy, scopeName string) error {
	scope, err := filter.ParseScope(scopeName)
	if err != nil {
		return errdefs.New(errdefs.ErrInvalid, "invalid_filter_policy", "Invalid parameter: Attributes Reason: %v", err)
	}
	if policy != "" {
		if _, err := filter.Parse([]byte(policy), scope); err != nil {
			return errdefs.New(errdefs.ErrInvalid, "invalid_filter_policy", "Invalid parameter: Attributes Reason: %v", err)
		}
	}
	return nil
}

// registerTopic creates a job file's topic (keeping the attributes and
// tags an existing one has) and its queues' subscriptions, each the same
// subscription as the one its queue already has to the topic. Other
// subscriptions stay. created tells whether the topic is new.
func (s *Server) registerTopic(caller Identity, t *specs.Topic) (created bool, err error) {
	topic := &state.Topic{Name: t.Name}
	if strings.HasSuffix(t.Name, ".fifo") {
		topic.Attributes = map[string]string{"FifoTopic": "true"} // a job file's .fifo topic is FIFO
	}
	var existing map[string]*state.Subscription
	s.state.View(func(rd *state.Reader) {
		if old := rd.Topic(t.Name); old != nil {
			topic.Attributes, topic.Tags = old.Attributes, old.Tags
		}
		created = rd.Topic(t.Name) == nil
		existing = queueSubscriptions(rd, t.Name)
	})
	if _, err := s.state.Apply(state.UpsertTopic{Topic: topic}); err != nil {
		return false, err
	}
	subs := make([]*state.Subscription, 0, len(t.Subscriptions))
	for _, ts := range t.Subscriptions {
		sub := fileSubscription(t.Name, ts, caller.Accessor)
		if old := existing[ts.Queue]; old != nil {
			sub.ID = old.ID
		}
		subs = append(subs, sub)
	}
	if len(subs) == 0 {
		return created, nil
	}
	_, err = s.state.Apply(state.UpsertSubscriptions{Subscriptions: subs})
	return created, err
}

// queueSubscriptions are a topic's queue subscriptions by queue.
func queueSubscriptions(rd *state.Reader, topic string) map[string]*state.Subscription {
	out := map[string]*state.Subscription{}
	for _, sub := range rd.TopicSubscriptions(topic) {
		if sub.Protocol == state.ProtocolSQS {
			out[sub.Endpoint] = sub
		}
	}
	return out
}

// fileSubscription is the subscription a job file's subscription block
// makes, with a new ID.
func fileSubscription(topic string, ts *specs.TopicSubscription, owner string) *state.Subscription {
	return &state.Subscription{ID: newID(), Topic: topic, Protocol: state.ProtocolSQS, Endpoint: ts.Queue, Raw: ts.Raw,
		FilterPolicy: ts.FilterPolicy, FilterScope: ts.FilterScope, Owner: owner}
}

// topicChanges says what registering the file's topics would do.
func (s *Server) topicChanges(f *specs.File) []api.TopicChange {
	var out []api.TopicChange
	s.state.View(func(rd *state.Reader) {
		for _, t := range f.Topics {
			tc := api.TopicChange{Name: t.Name, Change: "none"}
			if rd.Topic(t.Name) == nil {
				tc.Change = "create"
			}
			existing := queueSubscriptions(rd, t.Name)
			for _, ts := range t.Subscriptions {
				want := fileSubscription(t.Name, ts, "")
				switch old := existing[ts.Queue]; {
				case old == nil:
					tc.Subscriptions = append(tc.Subscriptions, "+ queue "+ts.Queue)
				case old.Raw != want.Raw || old.FilterPolicy != want.FilterPolicy || old.FilterScope != want.FilterScope:
					tc.Subscriptions = append(tc.Subscriptions, "~ queue "+ts.Queue)
				}
			}
			if tc.Change == "none" && len(tc.Subscriptions) > 0 {
				tc.Change = "update"
			}
			out = append(out, tc)
		}
	})
	return out
}

// TopicSubscriptions lists a topic's subscriptions.
func (s *Server) TopicSubscriptions(ctx context.Context, caller Identity, topic string) (api.SubscriptionList, error) {
	out := api.SubscriptionList{Subscriptions: []api.Subscription{}}
	var found bool
	s.state.View(func(rd *state.Reader) {
		if found = rd.Topic(topic) != nil; found {
			for _, sub := range rd.TopicSubscriptions(topic) {
				out.Subscriptions = append(out.Subscriptions, s.apiSubscription(sub))
			}
		}
	})
	if !found {
		return out, topicNotFound(topic)
	}
	return out, nil
}

// Unsubscribe deletes a subscription; it needs topic:subscribe on its
// topic.
func (s *Server) Unsubscribe(ctx context.Context, caller Identity, id string) error {
	sub, err := s.subscription(id)
	if err != nil {
		return err
	}
	if err := caller.can("topic", sub.Topic, "subscribe"); err != nil {
		return err
	}
	_, err = s.state.Apply(state.DeleteSubscriptions{IDs: []string{id}})
	s.policies.forget(id)
	return err
}

// dropQueueSubscriptions removes the subscriptions that deliver to a
// queue that was deleted.
func (s *Server) dropQueueSubscriptions(queueName string) error {
	var ids []string
	s.state.View(func(rd *state.Reader) {
		for _, sub := range rd.Subscriptions() {
			if sub.Protocol == state.ProtocolSQS && sub.Endpoint == queueName {
				ids = append(ids, sub.ID)
			}
		}
	})
	if len(ids) == 0 {
		return nil
	}
	_, err := s.state.Apply(state.DeleteSubscriptions{IDs: ids})
	s.policies.forget(ids...)
	return err
}

// policies caches subscriptions' compiled filter policies by
// subscription ID, each for the version (ModifyIndex) it was compiled
// from; forget drops those of deleted subscriptions.
type policies struct{ m sync.Map }

type compiled struct {
	index  uint64
	policy *filter.Policy
	ok     bool
}

// passes reports whether a message passes a subscription's filter
// policy. A policy that does not parse (it was checked when the
// subscription was made) lets nothing through rather than everything.
func (p *policies) passes(sub *state.Subscription, m *filter.Message) bool {
	if sub.FilterPolicy == "" {
		return true
	}
	v, ok := p.m.Load(sub.ID)
	if !ok || v.(compiled).index != sub.ModifyIndex {
		c := compiled{index: sub.ModifyIndex}
		scope, err := filter.ParseScope(sub.FilterScope)
		if err == nil {
			c.policy, err = filter.Parse([]byte(sub.FilterPolicy), scope)
		}
		c.ok = err == nil
		p.m.Store(sub.ID, c)
		v = c
	}
	c := v.(compiled)
	return c.ok && c.policy.Match(m)
}

func (p *policies) forget(ids ...string) {
	for _, id := range ids {
		p.m.Delete(id)
	}
}

// checkPublish validates a publish as SNS does, and returns its message
// prepared for filtering and its attributes in the queue engine's form.
func checkPublish(in api.PublishRequest) (*filter.Message, []queue.Attr, error) {
	if in.Message == "" {
		return nil, nil, errdefs.New(errdefs.ErrInvalid, "empty_message", "Invalid parameter: Empty message")
	}
	if len(in.Attributes) > MaxPublishAttributes {
		return nil, nil, errdefs.New(errdefs.ErrInvalid, "too_many_attributes",
			"Invalid parameter: MessageAttributes: a message has at most %d attributes, got %d", MaxPublishAttributes, len(in.Attributes))
	}
	if utf8.RuneCountInString(in.Subject) > maxSubjectLength || strings.ContainsAny(in.Subject, "\n\r") {
		return nil, nil, errdefs.New(errdefs.ErrInvalid, "invalid_subject",
			"Invalid parameter: Subject: at most %d characters, on one line", maxSubjectLength)
	}
	if err := msgchars.Check([]byte(in.Message)); err != nil {
		return nil, nil, err
	}
	size := len(in.Message)
	fattrs := make(map[string]filter.Attribute, len(in.Attributes))
	attrs := make([]queue.Attr, 0, len(in.Attributes))
	for name, a := range in.Attributes {
		size += len(name) + len(a.Type) + len(a.Value)
		if name == "" || len(name) > 256 {
			return nil, nil, errdefs.New(errdefs.ErrInvalid, "invalid_attribute_name",
				"Invalid parameter: MessageAttributes: attribute name %q must be 1 to 256 characters", name)
		}
		base, _, _ := strings.Cut(a.Type, ".")
		value := []byte(a.Value)
		switch {
		case a.Type == "String.Array":
			var elems []any
			if json.Unmarshal(value, &elems) != nil {
				return nil, nil, attrError(name, "String.Array must be a JSON array of strings, numbers, booleans and nulls")
			}
			for _, e := range elems {
				switch e.(type) {
				case string, float64, bool, nil:
				default:
					return nil, nil, attrError(name, "String.Array must be a JSON array of strings, numbers, booleans and nulls")
				}
			}
		case base == "String":
			if err := msgchars.Check(value); err != nil {
				return nil, nil, attrError(name, err.Error())
			}
		case base == "Number":
			f, err := strconv.ParseFloat(a.Value, 64)
			if err != nil || f > 1e9 || f < -1e9 {
				return nil, nil, attrError(name, "Number must be a number from -1e9 to 1e9")
			}
		case base == "Binary":
			b, err := base64.StdEncoding.DecodeString(a.Value)
			if err != nil {
				return nil, nil, attrError(name, "Binary must be base64")
			}
			value = b
		default:
			return nil, nil, errdefs.New(errdefs.ErrInvalid, "invalid_attribute_type",
				"Invalid parameter: MessageAttributes: the data type of %q must be String, Number, Binary or String.Array, got %q", name, a.Type)
		}
		if a.Value == "" {
			return nil, nil, attrError(name, "the value must not be empty")
		}
		fattrs[name] = filter.Attribute{Type: a.Type, Value: a.Value}
		attrs = append(attrs, queue.Attr{Name: name, Type: a.Type, Value: value})
	}
	if size > MaxPublishSize {
		return nil, nil, errdefs.New(errdefs.ErrTooLarge, "message_too_large",
			"Invalid parameter: Message too long: %d bytes, the limit is %d", size, MaxPublishSize)
	}
	sortAttrs(attrs)
	return filter.NewMessage(fattrs, []byte(in.Message)), attrs, nil
}

func attrError(name, why string) error {
	return errdefs.New(errdefs.ErrInvalid, "invalid_attribute_value", "Invalid parameter: MessageAttributes: %q: %s", name, why)
}

func sortAttrs(attrs []queue.Attr) {
	slices.SortFunc(attrs, func(a, b queue.Attr) int { return cmp.Compare(a.Name, b.Name) })
}

// envelope is SNS's JSON form of a notification, as a queue subscribed
// without raw delivery receives it.
type envelope struct {
	Type              string                       `json:"Type"`
	MessageID         string                       `json:"MessageId"`
	TopicArn          string                       `json:"TopicArn"`
	Subject           string                       `json:"Subject,omitempty"`
	Message           string                       `json:"Message"`
	Timestamp         string                       `json:"Timestamp"`
	SignatureVersion  string                       `json:"SignatureVersion"`
	Signature         string                       `json:"Signature"`
	SigningCertURL    string                       `json:"SigningCertURL"`
	UnsubscribeURL    string                       `json:"UnsubscribeURL"`
	MessageAttributes map[string]envelopeAttribute `json:"MessageAttributes,omitempty"`
}

type envelopeAttribute struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// Publish delivers a message to every queue and HTTP(S) endpoint
// subscribed to the topic whose filter policy it passes, in one durable
// record: after any crash it is in all of them (an endpoint's outbox for
// the endpoint) or in none.
func (s *Server) Publish(ctx context.Context, caller Identity, topic string, in api.PublishRequest) (api.PublishResponse, error) {
	res, err := s.publish(caller, topic, []api.PublishRequest{in})
	if err != nil {
		return api.PublishResponse{}, err
	}
	if res[0].err != nil {
		return api.PublishResponse{}, res[0].err
	}
	return res[0].PublishResponse, nil
}

// PublishBatch publishes up to api.MaxPublishBatch messages to a topic in
// one durable record, as SNS's PublishBatch: a message that is refused
// has its error and the rest are published; the call fails only for what
// fails all of them (an unknown topic, a missing capability, the disk).
// The messages together are at most MaxPublishSize, as in SNS.
func (s *Server) PublishBatch(ctx context.Context, caller Identity, topic string, msgs []api.PublishRequest) ([]api.PublishResult, error) {
	if len(msgs) == 0 || len(msgs) > api.MaxPublishBatch {
		return nil, errdefs.New(errdefs.ErrInvalid, "invalid_batch", "a batch publishes 1 to %d messages, got %d", api.MaxPublishBatch, len(msgs))
	}
	size := 0
	for _, m := range msgs {
		size += len(m.Message)
		for name, a := range m.Attributes {
			size += len(name) + len(a.Type) + len(a.Value)
		}
	}
	if size > MaxPublishSize {
		return nil, errdefs.New(errdefs.ErrTooLarge, "batch_too_large",
			"Invalid parameter: the batch's messages are %d bytes together, the limit is %d", size, MaxPublishSize)
	}
	res, err := s.publish(caller, topic, msgs)
	if err != nil {
		return nil, err
	}
	out := make([]api.PublishResult, len(res))
	for i, r := range res {
		out[i].PublishResponse = r.PublishResponse
		if r.err != nil {
			out[i] = api.PublishResult{Error: APIError(r.err)}
		}
	}
	return out, nil
}

// checkTopicFIFO checks a publish's group and deduplication id against
// its topic, and returns the deduplication id its FIFO queues get: the
// given one, or with ContentBasedDeduplication the message's SHA-256.
func checkTopicFIFO(t *state.Topic, in api.PublishRequest) (string, error) {
	if in.Group != "" {
		if err := queue.CheckGroupID("message_group_id", in.Group); err != nil {
			return "", errdefs.New(errdefs.ErrInvalid, "invalid_message_group_id", "Invalid parameter: MessageGroupId: %v", err)
		}
	}
	if !topicFIFO(t) {
		if in.DedupID != "" {
			return "", errdefs.New(errdefs.ErrInvalid, "invalid_parameter",
				"Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
		}
		return "", nil
	}
	if in.Group == "" {
		return "", errdefs.New(errdefs.ErrInvalid, "missing_message_group_id", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
	}
	if in.DedupID != "" {
		if err := queue.CheckGroupID("message_deduplication_id", in.DedupID); err != nil {
			return "", errdefs.New(errdefs.ErrInvalid, "invalid_message_deduplication_id", "Invalid parameter: MessageDeduplicationId: %v", err)
		}
		return in.DedupID, nil
	}
	if t.Attributes["ContentBasedDeduplication"] != "true" {
		return "", errdefs.New(errdefs.ErrInvalid, "missing_deduplication_id",
			"Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
	}
	return queue.ContentDedupID([]byte(in.Message)), nil
}

// published is one message's outcome in publish.
type published struct {
	api.PublishResponse
	err error // the message was refused
}

// publish publishes msgs, the valid ones together in one record.
func (s *Server) publish(caller Identity, topic string, msgs []api.PublishRequest) ([]published, error) {
	if err := caller.can("topic", topic, "publish"); err != nil {
		return nil, err
	}
	var subs []*state.Subscription
	var t *state.Topic
	s.state.View(func(rd *state.Reader) {
		if t = rd.Topic(topic); t != nil {
			subs = rd.TopicSubscriptions(topic)
		}
	})
	if t == nil {
		return nil, topicNotFound(topic)
	}
	now := s.now().UTC()
	out := make([]published, len(msgs))
	var targets []queue.PublishTarget
	from := make([]int, len(msgs)+1) // message i's targets are targets[from[i]:from[i+1]]
	for i, in := range msgs {
		from[i] = len(targets)
		fm, attrs, err := checkPublish(in)
		if err == nil {
			in.DedupID, err = checkTopicFIFO(t, in)
		}
		if err != nil {
			out[i].err = err
			continue
		}
		out[i].MessageID = newID()
		if targets, err = s.publishTargetsOf(t, subs, &out[i].PublishResponse, in, fm, attrs, now, targets); err != nil {
			return nil, err
		}
		out[i].Delivered = len(targets) - from[i]
	}
	from[len(msgs)] = len(targets)
	if len(targets) > 0 {
		err := s.publishTargets(slices.Clone(targets)) // it may leave out missing queues in place
		if err != nil && (errors.Is(err, errdefs.ErrInvalid) || errors.Is(err, errdefs.ErrTooLarge)) && len(msgs) > 1 {
			// A message some queue's limits refuse: publish each on its
			// own, so that only it fails.
			for i := range msgs {
				if out[i].err == nil && from[i] < from[i+1] {
					if perr := s.publishTargets(targets[from[i]:from[i+1]]); perr != nil {
						if !errors.Is(perr, errdefs.ErrInvalid) && !errors.Is(perr, errdefs.ErrTooLarge) {
							return nil, perr
						}
						out[i] = published{err: perr}
					}
				}
			}
			err = nil
		}
		if err != nil {
			return nil, err
		}
	}
	queued := 0
	for i, r := range out {
		if r.err != nil {
			continue
		}
		s.metrics.topicPublishes.Inc()
		for _, tg := range targets[from[i]:from[i+1]] {
			if !queue.IsOutbox(tg.Queue) {
				queued++
			}
		}
	}
	s.metrics.topicDeliveries.WithLabelValues(state.ProtocolSQS, "ok").Add(float64(queued))
	s.metrics.publishLatency.Observe(s.now().Sub(now).Seconds())
	return out, nil
}

// publishTargetsOf appends to targets what one message published to t
// delivers, each subscription its own form of it, and counts the
// subscriptions its filter policies kept it from in res.
func (s *Server) publishTargetsOf(t *state.Topic, subs []*state.Subscription, res *api.PublishResponse, in api.PublishRequest,
	fm *filter.Message, attrs []queue.Attr, now time.Time, targets []queue.PublishTarget) ([]queue.PublishTarget, error) {
	var env *envelope
	for _, sub := range subs {
		if sub.Pending {
			continue
		}
		if !s.policies.passes(sub, fm) {
			res.Filtered++
			s.metrics.topicFiltered.Inc()
			continue
		}
		var body []byte
		if !sub.Raw || isEndpoint(sub.Protocol) {
			if env == nil {
				// Signed once: the signature does not cover the one field
				// that differs by subscription, UnsubscribeURL.
				var err error
				if env, err = s.envelope(t, res.MessageID, now, in); err != nil {
					return nil, err
				}
			}
			env.UnsubscribeURL = s.publicURL() + "/?Action=Unsubscribe&SubscriptionArn=" + url.QueryEscape(s.SubscriptionARN(t.Name, sub.ID))
			var err error
			if body, err = marshalEnvelope(env); err != nil {
				return nil, err
			}
		}
		if isEndpoint(sub.Protocol) {
			targets = append(targets, s.endpointTarget(sub, res.MessageID, body, in))
			continue
		}
		msg := queue.SendInput{Body: []byte(in.Message), Attributes: attrs}
		if !sub.Raw {
			msg = queue.SendInput{Body: body}
		}
		// The group goes to every queue (a FIFO queue's order, a fair
		// queue's tenant), the deduplication id to FIFO queues.
		msg.Group = in.Group
		if strings.HasSuffix(sub.Endpoint, queue.FIFOSuffix) {
			msg.DedupID = in.DedupID
		}
		targets = append(targets, queue.PublishTarget{Queue: sub.Endpoint, Message: msg})
	}
	return targets, nil
}

// publishTargets hands a publish to the queue engine. A queue deleted
// since its subscription was read is left out (its subscription goes
// with it) and the rest published.
func (s *Server) publishTargets(targets []queue.PublishTarget) error {
	for {
		_, err := s.queues.Publish(targets)
		if errdefs.Code(err, "") != "queue_not_found" {
			return err
		}
		kept := targets[:0]
		for _, t := range targets {
			if s.targetExists(t.Queue) {
				kept = append(kept, t)
			} else {
				s.metrics.topicDeliveries.WithLabelValues(state.ProtocolSQS, "queue_missing").Inc()
			}
		}
		if len(kept) == len(targets) {
			return err // not for a missing queue of ours
		}
		if targets = kept; len(targets) == 0 {
			return nil
		}
	}
}

// targetExists reports whether a publish target, a queue or an outbox, is
// there.
func (s *Server) targetExists(name string) bool {
	if queue.IsOutbox(name) {
		_, err := s.queues.Outbox(strings.TrimPrefix(name, queue.OutboxPrefix)).Stats()
		return err == nil
	}
	return s.queueExists(name)
}

// snsTimestamp is the layout of SNS's Timestamp fields.
const snsTimestamp = "2006-01-02T15:04:05.000Z"

// signatureVersion is the SignatureVersion a topic's notifications are
// signed with: its attribute's, 1 (SHA1withRSA) by default or 2
// (SHA256withRSA).
func (s *Server) signatureVersion(topic string) string {
	v := "1"
	s.state.View(func(rd *state.Reader) {
		if t := rd.Topic(topic); t != nil {
			v = topicSignatureVersion(t)
		}
	})
	return v
}

func topicSignatureVersion(t *state.Topic) string {
	if t.Attributes["SignatureVersion"] == "2" {
		return "2"
	}
	return "1"
}

// envelope makes SNS's JSON envelope of a publish, signed as the topic's
// SignatureVersion attribute asks; UnsubscribeURL is the caller's to fill
// in.
func (s *Server) envelope(t *state.Topic, id string, at time.Time, in api.PublishRequest) (*envelope, error) {
	e := &envelope{Type: "Notification", MessageID: id, TopicArn: s.TopicARN(t.Name), Subject: in.Subject,
		Message: in.Message, Timestamp: at.Format(snsTimestamp),
		SignatureVersion: topicSignatureVersion(t), SigningCertURL: s.publicURL() + SigningCertPath}
	if len(in.Attributes) > 0 {
		e.MessageAttributes = make(map[string]envelopeAttribute, len(in.Attributes))
		for name, a := range in.Attributes {
			e.MessageAttributes[name] = envelopeAttribute{Type: a.Type, Value: a.Value}
		}
	}
	sig, err := s.signer.sign(e.SignatureVersion, stringToSign(e.Message, e.MessageID, e.Subject, e.Timestamp, e.TopicArn))
	if err != nil {
		return nil, errors.Join(errdefs.ErrInternal, err)
	}
	e.Signature = sig
	return e, nil
}

// publicURL is the server's base URL for links in notifications.
func (s *Server) publicURL() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	return "http://" + api.DefaultAddr
}

// AWSIdentity is the identity a request signed with an access key acts
// as on the control layer: an ACL token's policies, every capability for
// an unscoped operator key, and none for a key scoped to queues (which
// reaches no topic).
func (s *Server) AWSIdentity(k aws.Key) Identity {
	id := Identity{ACL: acl.New(), Accessor: k.Accessor}
	switch a := k.Access.(type) {
	case *acl.ACL:
		id.ACL = a
	default:
		if k.Access == aws.Everything {
			id.ACL = acl.Management()
		}
	}
	return id
}

// updateTopic changes a topic's attributes and tags with fn, which may
// change the maps it is given (copies).
func (s *Server) updateTopic(caller Identity, name string, fn func(attrs, tags map[string]string)) error {
	if err := caller.can("topic", name, "write"); err != nil {
		return err
	}
	var t *state.Topic
	s.state.View(func(rd *state.Reader) { t = rd.Topic(name) })
	if t == nil {
		return topicNotFound(name)
	}
	next := &state.Topic{Name: name, Attributes: maps.Clone(t.Attributes), Tags: maps.Clone(t.Tags)}
	if next.Attributes == nil {
		next.Attributes = map[string]string{}
	}
	if next.Tags == nil {
		next.Tags = map[string]string{}
	}
	fn(next.Attributes, next.Tags)
	_, err := s.state.Apply(state.UpsertTopic{Topic: next})
	return err
}

// topicAttributes are the attributes of a topic SNS lets a client set.
var topicAttributes = map[string]bool{"DisplayName": true, "Policy": true, "DeliveryPolicy": true,
	"SignatureVersion": true, "TracingConfig": true, "KmsMasterKeyId": true, "DataProtectionPolicy": true,
	"FifoTopic": true, "ContentBasedDeduplication": true}

// checkTopicAttribute checks one attribute of topic name as SNS does.
func checkTopicAttribute(name, attr, value string) error {
	bad := func(format string, args ...any) error {
		return errdefs.New(errdefs.ErrInvalid, "invalid_attribute", "Invalid parameter: "+format, args...)
	}
	fifo := strings.HasSuffix(name, ".fifo")
	switch {
	case !topicAttributes[attr]:
		return bad("AttributeName: %q is not an attribute of a topic", attr)
	case attr == "SignatureVersion" && value != "" && value != "1" && value != "2":
		return bad("SignatureVersion must be 1 or 2")
	case attr == "FifoTopic" && value != strconv.FormatBool(fifo):
		return bad("Attributes Reason: FifoTopic must be true exactly for a topic whose name ends in .fifo")
	case attr == "ContentBasedDeduplication" && (!fifo || value != "true" && value != "false"):
		return bad("Attributes Reason: ContentBasedDeduplication is true or false, for FIFO topics")
	case attr == "DeliveryPolicy" && value != "":
		if err := delivery.CheckTopic(value); err != nil {
			return errdefs.New(errdefs.ErrInvalid, "invalid_delivery_policy", "Invalid parameter: %v", err)
		}
	}
	return nil
}

// checkTopicAttributes checks a new topic's attributes: a FIFO topic's
// name ends in .fifo and it says FifoTopic=true.
func checkTopicAttributes(name string, attrs map[string]string) error {
	for k, v := range attrs {
		if err := checkTopicAttribute(name, k, v); err != nil {
			return err
		}
	}
	if strings.HasSuffix(name, ".fifo") && attrs["FifoTopic"] != "true" {
		return errdefs.New(errdefs.ErrInvalid, "invalid_attribute", "Invalid parameter: Topic Name: a topic named .fifo is a FIFO topic: set FifoTopic=true")
	}
	return nil
}

// topicFIFO reports whether t is a FIFO topic.
func topicFIFO(t *state.Topic) bool { return t.Attributes["FifoTopic"] == "true" }

// SetTopicAttribute sets one of a topic's attributes ("" removes it).
func (s *Server) SetTopicAttribute(ctx context.Context, caller Identity, name, attr, value string) error {
	if attr == "FifoTopic" {
		return errdefs.New(errdefs.ErrInvalid, "invalid_attribute", "Invalid parameter: FifoTopic is set when the topic is created")
	}
	if err := checkTopicAttribute(name, attr, value); err != nil {
		return err
	}
	return s.updateTopic(caller, name, func(attrs, _ map[string]string) {
		if value == "" {
			delete(attrs, attr)
		} else {
			attrs[attr] = value
		}
	})
}

// MaxTopicTags is the most tags a topic has, as in SNS.
const MaxTopicTags = 50

// TagTopic sets and removes tags of a topic.
func (s *Server) TagTopic(ctx context.Context, caller Identity, name string, set map[string]string, remove []string) error {
	var err error
	uerr := s.updateTopic(caller, name, func(_, tags map[string]string) {
		maps.Copy(tags, set)
		for _, k := range remove {
			delete(tags, k)
		}
		if len(tags) > MaxTopicTags {
			err = errdefs.New(errdefs.ErrInvalid, "too_many_tags", "Could not complete request: tag quota of per resource exceeded (%d)", MaxTopicTags)
		}
	})
	if err != nil {
		return err
	}
	return uerr
}

// GetSubscription returns a subscription; it needs topic:read on its
// topic.
func (s *Server) GetSubscription(ctx context.Context, caller Identity, id string) (api.Subscription, error) {
	sub, err := s.subscription(id)
	if err != nil {
		return api.Subscription{}, err
	}
	if err := caller.can("topic", sub.Topic, "read"); err != nil {
		return api.Subscription{}, err
	}
	out := s.apiSubscription(sub)
	if isEndpoint(sub.Protocol) {
		if es := s.endpointSub(id); es != nil {
			out.EffectiveDeliveryPolicy = es.policy.JSON()
		}
	}
	return out, nil
}

// ListSubscriptions lists the subscriptions of every topic the caller
// may read.
func (s *Server) ListSubscriptions(ctx context.Context, caller Identity) []api.Subscription {
	out := []api.Subscription{}
	s.state.View(func(rd *state.Reader) {
		for _, sub := range rd.Subscriptions() {
			if caller.ACL.Allowed("topic", sub.Topic, "read") {
				out = append(out, s.apiSubscription(sub))
			}
		}
	})
	return out
}

// SetSubscriptionAttribute sets RawMessageDelivery, FilterPolicy or
// FilterPolicyScope of a subscription, and DeliveryPolicy or the
// dead-letter queue (RedrivePolicy, as the queue's name) of an HTTP(S)
// one; it needs topic:subscribe.
func (s *Server) SetSubscriptionAttribute(ctx context.Context, caller Identity, id, attr, value string) error {
	old, err := s.subscription(id)
	if err != nil {
		return err
	}
	if err := caller.can("topic", old.Topic, "subscribe"); err != nil {
		return err
	}
	sub := *old
	switch attr {
	case "RawMessageDelivery":
		raw, err := strconv.ParseBool(value)
		if err != nil {
			return errdefs.New(errdefs.ErrInvalid, "invalid_attribute", "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [%s]. Must be true or false.", value)
		}
		sub.Raw = raw
	case "FilterPolicy":
		sub.FilterPolicy = value
	case "FilterPolicyScope":
		sub.FilterScope = value
	case "DeliveryPolicy", "RedrivePolicy":
		if !isEndpoint(sub.Protocol) {
			return errdefs.New(errdefs.ErrInvalid, "invalid_attribute",
				"Invalid parameter: AttributeName: %s is for http and https subscriptions; a queue holds what it is sent", attr)
		}
		if attr == "DeliveryPolicy" {
			sub.DeliveryPolicy = value
		} else {
			sub.DeadLetterQueue = value
		}
		if err := s.checkEndpointSettings(caller, sub.DeliveryPolicy, sub.DeadLetterQueue); err != nil {
			return err
		}
	default:
		return errdefs.New(errdefs.ErrInvalid, "invalid_attribute", "Invalid parameter: AttributeName: %q is not an attribute of a subscription that can be set", attr)
	}
	if err := checkFilterPolicy(sub.FilterPolicy, sub.FilterScope); err != nil {
		return err
	}
	_, err = s.state.Apply(state.UpsertSubscriptions{Subscriptions: []*state.Subscription{&sub}})
	return err
}

// subscription returns the subscription id, or subscription_not_found.
func (s *Server) subscription(id string) (*state.Subscription, error) {
	var sub *state.Subscription
	s.state.View(func(rd *state.Reader) { sub = rd.Subscription(id) })
	if sub == nil {
		return nil, subscriptionNotFound(id)
	}
	return sub, nil
}
