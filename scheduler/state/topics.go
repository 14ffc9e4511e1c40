package state

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/docketd/docket/internal/errdefs"
)

// The publish/subscribe records: topics by name, and their subscriptions
// by ID. The messages a publish delivers to queues live in the queue
// engine (one record per publish, see internal/queue); what is here is
// the configuration that says where they go.
const (
	bucketTopics        = "topics"
	bucketSubscriptions = "subscriptions"

	// TableTopics is the index of every change to topics and their
	// subscriptions.
	TableTopics = "topics"
)

// Subscription protocols.
const (
	ProtocolSQS   = "sqs" // a queue of this server, named by Endpoint
	ProtocolHTTP  = "http"
	ProtocolHTTPS = "https"
	// ProtocolLambda delivers to a function of this server, named by its
	// ARN in Endpoint, as Lambda's SNS event.
	ProtocolLambda = "lambda"
)

// Topic is a named topic.
type Topic struct {
	Name string `json:"name"`
	// Attributes are SNS's settable topic attributes (DisplayName,
	// DeliveryPolicy, ...), as given.
	Attributes  map[string]string `json:"attributes,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	CreateIndex uint64            `json:"create_index"`
	ModifyIndex uint64            `json:"modify_index"`
}

// Subscription delivers a topic's messages that pass its filter policy to
// one endpoint.
type Subscription struct {
	ID       string `json:"id"`
	Topic    string `json:"topic"`
	Protocol string `json:"protocol"`
	// Endpoint is the queue's name for ProtocolSQS, else the URL.
	Endpoint string `json:"endpoint"`
	// Raw delivers the message as published, not in SNS's JSON envelope.
	Raw bool `json:"raw,omitempty"`
	// FilterPolicy is the policy's JSON as given ("" for none), on
	// FilterScope (MessageAttributes or MessageBody).
	FilterPolicy string `json:"filter_policy,omitempty"`
	FilterScope  string `json:"filter_scope,omitempty"`
	// DeadLetterQueue, if set, takes what could not be delivered.
	DeadLetterQueue string `json:"dead_letter_queue,omitempty"`
	// DeliveryPolicy is an HTTP(S) subscription's SNS delivery policy as
	// given ("" for the topic's or SNS's defaults).
	DeliveryPolicy string `json:"delivery_policy,omitempty"`
	// Pending is set for an HTTP(S) subscription until its endpoint
	// confirms it; ConfirmTokenHash is the SHA-256 of the token it must
	// bring.
	Pending          bool   `json:"pending,omitempty"`
	ConfirmTokenHash string `json:"confirm_token_hash,omitempty"`
	// ConfirmBy is when a pending subscription's token expires (Unix
	// nanoseconds): an unconfirmed subscription is removed then.
	ConfirmBy int64 `json:"confirm_by,omitempty"`
	// ConfirmedAuthenticated is set when the confirmation was a signed
	// request; AuthOnUnsubscribe, when it asked that unsubscribing be one
	// too (else the UnsubscribeURL of an endpoint's notifications works
	// without a signature, as in SNS).
	ConfirmedAuthenticated bool `json:"confirmed_authenticated,omitempty"`
	AuthOnUnsubscribe      bool `json:"auth_on_unsubscribe,omitempty"`
	// Owner is the accessor of the token that subscribed.
	Owner       string `json:"owner,omitempty"`
	CreateIndex uint64 `json:"create_index"`
	ModifyIndex uint64 `json:"modify_index"`
}

// UpsertTopic creates a topic or changes its attributes and tags.
type UpsertTopic struct {
	Topic *Topic `json:"topic"`
}

// DeleteTopic removes a topic and every subscription to it.
type DeleteTopic struct {
	Name string `json:"name"`
}

// UpsertSubscriptions creates or changes subscriptions; each one's topic
// must exist.
type UpsertSubscriptions struct {
	Subscriptions []*Subscription `json:"subscriptions"`
}

// DeleteSubscriptions removes subscriptions. IDs that do not exist are
// skipped: a queue's deletion removes the subscriptions it had, whichever
// are left.
type DeleteSubscriptions struct {
	IDs []string `json:"ids"`
}

func (UpsertTopic) command() string         { return "UpsertTopic" }
func (DeleteTopic) command() string         { return "DeleteTopic" }
func (UpsertSubscriptions) command() string { return "UpsertSubscriptions" }
func (DeleteSubscriptions) command() string { return "DeleteSubscriptions" }

// topicTables are the topics in memory, with each topic's subscriptions.
type topicTables struct {
	topics  map[string]*Topic
	subs    map[string]*Subscription
	byTopic map[string]map[string]*Subscription
}

func newTopicTables() topicTables {
	return topicTables{topics: map[string]*Topic{}, subs: map[string]*Subscription{}, byTopic: map[string]map[string]*Subscription{}}
}

func (t *topicTables) putSub(s *Subscription) {
	t.subs[s.ID] = s
	m := t.byTopic[s.Topic]
	if m == nil {
		m = map[string]*Subscription{}
		t.byTopic[s.Topic] = m
	}
	m[s.ID] = s
}

func (t *topicTables) dropSub(s *Subscription) {
	delete(t.subs, s.ID)
	if m := t.byTopic[s.Topic]; m != nil {
		delete(m, s.ID)
		if len(m) == 0 {
			delete(t.byTopic, s.Topic)
		}
	}
}

// loadTopics reads the topics and subscriptions from the store.
func (s *State) loadTopics(db Store) error {
	err := db.ForEach(bucketTopics, func(key string, v []byte) error {
		var t Topic
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("state: %s/%s: %w", bucketTopics, key, err)
		}
		s.topics.topics[t.Name] = &t
		return nil
	})
	if err != nil {
		return err
	}
	return db.ForEach(bucketSubscriptions, func(key string, v []byte) error {
		var sub Subscription
		if err := json.Unmarshal(v, &sub); err != nil {
			return fmt.Errorf("state: %s/%s: %w", bucketSubscriptions, key, err)
		}
		s.topics.putSub(&sub)
		return nil
	})
}

func (tx *applyTx) upsertTopic(c UpsertTopic) (Result, error) {
	s := tx.s
	if c.Topic == nil || c.Topic.Name == "" {
		return Result{}, errdefs.New(errdefs.ErrInvalid, "invalid_topic", "a topic needs a name")
	}
	old := s.topics.topics[c.Topic.Name]
	t := *c.Topic
	t.Attributes, t.Tags = maps.Clone(c.Topic.Attributes), maps.Clone(c.Topic.Tags)
	t.CreateIndex, t.ModifyIndex = tx.index, tx.index
	if old != nil {
		t.CreateIndex = old.CreateIndex
	}
	s.topics.topics[t.Name] = &t
	tx.undo = append(tx.undo, func() {
		if old == nil {
			delete(s.topics.topics, t.Name)
		} else {
			s.topics.topics[t.Name] = old
		}
	})
	tx.put(bucketTopics, t.Name, &t)
	tx.touch(TableTopics)
	return Result{}, nil
}

func (tx *applyTx) deleteTopic(c DeleteTopic) (Result, error) {
	s := tx.s
	old := s.topics.topics[c.Name]
	if old == nil {
		return Result{}, notFound("topic_not_found", "topic %q does not exist", c.Name)
	}
	// Its subscriptions go with it, in ID order.
	for _, id := range slices.Sorted(maps.Keys(s.topics.byTopic[c.Name])) {
		tx.dropSubscription(s.topics.subs[id])
	}
	delete(s.topics.topics, c.Name)
	tx.undo = append(tx.undo, func() { s.topics.topics[c.Name] = old })
	tx.ws.Delete(bucketTopics, c.Name)
	tx.touch(TableTopics)
	return Result{}, nil
}

func (tx *applyTx) upsertSubscriptions(c UpsertSubscriptions) (Result, error) {
	s := tx.s
	for _, cs := range c.Subscriptions {
		if cs == nil || cs.ID == "" {
			return Result{}, errdefs.New(errdefs.ErrInvalid, "invalid_subscription", "a subscription needs an ID")
		}
		if s.topics.topics[cs.Topic] == nil {
			return Result{}, notFound("topic_not_found", "topic %q does not exist", cs.Topic)
		}
		switch cs.Protocol {
		case ProtocolSQS, ProtocolHTTP, ProtocolHTTPS, ProtocolLambda:
		default:
			return Result{}, errdefs.New(errdefs.ErrInvalid, "invalid_protocol", "subscription protocol %q: want sqs, http, https or lambda", cs.Protocol)
		}
		old := s.topics.subs[cs.ID]
		if old != nil && old.Topic != cs.Topic {
			return Result{}, errdefs.New(errdefs.ErrConflict, "subscription_exists", "subscription %s belongs to topic %s", cs.ID, old.Topic)
		}
		sub := *cs
		sub.CreateIndex, sub.ModifyIndex = tx.index, tx.index
		if old != nil {
			sub.CreateIndex = old.CreateIndex
			s.topics.dropSub(old)
		}
		s.topics.putSub(&sub)
		tx.undo = append(tx.undo, func() {
			s.topics.dropSub(&sub)
			if old != nil {
				s.topics.putSub(old)
			}
		})
		tx.put(bucketSubscriptions, sub.ID, &sub)
		tx.touch(TableTopics)
	}
	return Result{}, nil
}

func (tx *applyTx) deleteSubscriptions(c DeleteSubscriptions) (Result, error) {
	for _, id := range c.IDs {
		if sub := tx.s.topics.subs[id]; sub != nil {
			tx.dropSubscription(sub)
		}
	}
	return Result{}, nil
}

func (tx *applyTx) dropSubscription(sub *Subscription) {
	s := tx.s
	s.topics.dropSub(sub)
	tx.undo = append(tx.undo, func() { s.topics.putSub(sub) })
	tx.ws.Delete(bucketSubscriptions, sub.ID)
	tx.touch(TableTopics)
}

// Topic returns the topic called name, or nil. It is shared: do not
// modify it.
func (r *Reader) Topic(name string) *Topic { return r.s.topics.topics[name] }

// Topics returns every topic by name.
func (r *Reader) Topics() []*Topic {
	out := make([]*Topic, 0, len(r.s.topics.topics))
	for _, name := range slices.Sorted(maps.Keys(r.s.topics.topics)) {
		out = append(out, r.s.topics.topics[name])
	}
	return out
}

// Subscription returns the subscription with id, or nil. It is shared.
func (r *Reader) Subscription(id string) *Subscription { return r.s.topics.subs[id] }

// TopicSubscriptions returns a topic's subscriptions by ID.
func (r *Reader) TopicSubscriptions(topic string) []*Subscription {
	m := r.s.topics.byTopic[topic]
	out := make([]*Subscription, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

// Subscriptions returns every subscription by ID.
func (r *Reader) Subscriptions() []*Subscription {
	out := make([]*Subscription, 0, len(r.s.topics.subs))
	for _, id := range slices.Sorted(maps.Keys(r.s.topics.subs)) {
		out = append(out, r.s.topics.subs[id])
	}
	return out
}
