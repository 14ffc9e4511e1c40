package scheduler

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/pubsub/delivery"
	"github.com/docketd/docket/internal/pubsub/webhook"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
)

// HTTP(S) endpoints subscribed to topics.
//
// Each such subscription has an outbox (internal/queue): a queue of the
// engine's own that a publish fans out to in the same record as the
// queues, so a publish's notifications for endpoints are as durable and
// as all-or-nothing as its queue deliveries. A deliverer per subscription
// receives from its outbox and POSTs each message to the endpoint: a 2xx
// settles it; anything else is retried after the delay the delivery
// policy gives for that attempt (the outbox's visibility timeout holds it
// meanwhile, so a crash mid-attempt retries too); once the attempts are
// spent it moves to the subscription's dead-letter queue, or is dropped.
//
// A subscription starts pending: its outbox's first message is the
// SubscriptionConfirmation whose SubscribeURL (or token, through
// ConfirmSubscription) confirms it; publishes reach it only then. The
// token is valid for three days, after which a subscription still pending
// is removed.
//
// The server connects only where Config.Endpoints lets it (see
// internal/pubsub/webhook): loopback, link-local (cloud metadata
// services), unspecified and multicast addresses are refused unless
// allowed.

// Limits of endpoint subscriptions.
const (
	maxEndpointURL   = 2048
	confirmValidity  = 3 * 24 * time.Hour
	endpointReceives = 10 // messages a deliverer takes at once
	// endpointUserAgent is SNS's, which endpoints may check.
	endpointUserAgent = "Amazon Simple Notification Service Agent"
)

// The headers of a delivery, kept as the outbox message's attributes.
const (
	hdrMessageType     = "x-amz-sns-message-type"
	hdrMessageID       = "x-amz-sns-message-id"
	hdrTopicARN        = "x-amz-sns-topic-arn"
	hdrSubscriptionARN = "x-amz-sns-subscription-arn"
	hdrRawDelivery     = "x-amz-sns-rawdelivery"
)

// isEndpoint reports whether a protocol's deliveries go through an
// outbox and its deliverer: HTTP(S) endpoints, and functions.
func isEndpoint(protocol string) bool {
	return protocol == state.ProtocolHTTP || protocol == state.ProtocolHTTPS || protocol == state.ProtocolLambda
}

// checkEndpoint validates an HTTP(S) subscription's URL.
func (s *Server) checkEndpoint(protocol, endpoint string) error {
	bad := func(format string, args ...any) error {
		return errdefs.New(errdefs.ErrInvalid, "invalid_endpoint", "Invalid parameter: Endpoint: "+format, args...)
	}
	if len(endpoint) > maxEndpointURL {
		return bad("at most %d characters", maxEndpointURL)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return bad("%q is not an absolute %s URL", endpoint, protocol)
	}
	if u.Scheme != protocol {
		return bad("a %s subscription's URL must begin with %s://", protocol, protocol)
	}
	if u.Fragment != "" {
		return bad("the URL must not have a fragment")
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !s.endpoints.poster.Allowed(addr) {
		return bad("%s: %v", addr, webhook.ErrRefusedAddress)
	}
	return nil
}

// outboxAttributes are an outbox's: messages hidden while an attempt runs,
// kept up to SNS's hour of retries and more, as large as an envelope of
// SNS's largest message.
func (s *Server) outboxAttributes() queue.Attributes {
	a := queue.DefaultAttributes()
	a.VisibilityTimeout = s.cfg.Endpoints.AttemptTimeout() + 5*time.Second // an attempt's time, and its settling
	a.Retention = 4 * 24 * time.Hour
	a.MaxMessageSize = queue.MaxMessageSize
	return a
}

// subscribeEndpoint subscribes an HTTP(S) endpoint: the subscription is
// pending and its outbox holds the SubscriptionConfirmation. Subscribing
// a pending endpoint again sends a new confirmation (a new token); a
// confirmed one keeps its state and takes the attributes given.
func (s *Server) subscribeEndpoint(caller Identity, topic string, in api.SubscribeRequest, existing *state.Subscription) (api.Subscription, error) {
	fn := in.Protocol == state.ProtocolLambda // a function of this server: nothing to confirm
	if !fn {
		if err := s.checkEndpoint(in.Protocol, in.Endpoint); err != nil {
			return api.Subscription{}, err
		}
	}
	if err := s.checkEndpointSettings(caller, in.DeliveryPolicy, in.DeadLetterQueue); err != nil {
		return api.Subscription{}, err
	}
	sub := &state.Subscription{ID: newID(), Topic: topic, Protocol: in.Protocol, Endpoint: in.Endpoint, Raw: in.Raw,
		FilterPolicy: in.FilterPolicy, FilterScope: in.FilterScope, DeliveryPolicy: in.DeliveryPolicy,
		DeadLetterQueue: in.DeadLetterQueue, Owner: caller.Accessor, Pending: true}
	var token string
	if fn {
		sub.Pending = false
		if existing != nil {
			sub.ID = existing.ID
		}
	} else if existing != nil && !existing.Pending {
		sub.ID, sub.Pending, sub.ConfirmTokenHash = existing.ID, false, existing.ConfirmTokenHash
		sub.ConfirmedAuthenticated, sub.AuthOnUnsubscribe = existing.ConfirmedAuthenticated, existing.AuthOnUnsubscribe
	} else {
		if existing != nil {
			sub.ID = existing.ID
		}
		token = newConfirmToken()
		sub.ConfirmTokenHash = hashToken(token)
		sub.ConfirmBy = s.now().Add(confirmValidity).UnixNano()
	}
	// The subscription first, then its outbox: the outboxes that no
	// subscription has are removed (syncEndpoints), so an outbox made
	// first could be taken for one left over.
	if _, err := s.state.Apply(state.UpsertSubscriptions{Subscriptions: []*state.Subscription{sub}}); err != nil {
		return api.Subscription{}, err
	}
	ob, err := s.queues.CreateOutbox(sub.ID, s.outboxAttributes())
	if err != nil {
		return api.Subscription{}, err
	}
	if token != "" {
		msg, err := s.confirmation(sub, token)
		if err != nil {
			return api.Subscription{}, err
		}
		if _, err := ob.Send([]queue.SendInput{msg}); err != nil {
			return api.Subscription{}, err
		}
	}
	s.endpoints.kick()
	return s.apiSubscription(sub), nil
}

// checkEndpointSettings validates a subscription's delivery policy and
// dead-letter queue, which the caller must be able to send to.
func (s *Server) checkEndpointSettings(caller Identity, policy, dlq string) error {
	if policy != "" {
		if err := delivery.CheckSubscription(policy); err != nil {
			return errdefs.New(errdefs.ErrInvalid, "invalid_delivery_policy", "Invalid parameter: %v", err)
		}
	}
	if dlq != "" {
		if err := caller.can("queue", dlq, "send"); err != nil {
			return err
		}
		if _, err := s.queues.Queue(dlq); err != nil {
			return errdefs.New(errdefs.ErrInvalid, "invalid_redrive_policy",
				"Invalid parameter: RedrivePolicy: deadLetterTargetArn: the queue %q does not exist", dlq)
		}
	}
	return nil
}

func newConfirmToken() string {
	b := make([]byte, 64)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// confirmationMessage is SNS's SubscriptionConfirmation.
type confirmationMessage struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token"`
	TopicArn         string `json:"TopicArn"`
	Message          string `json:"Message"`
	SubscribeURL     string `json:"SubscribeURL"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
}

// confirmation makes the signed SubscriptionConfirmation of a
// subscription with token, as its outbox holds it.
func (s *Server) confirmation(sub *state.Subscription, token string) (queue.SendInput, error) {
	arn := s.TopicARN(sub.Topic)
	c := confirmationMessage{Type: "SubscriptionConfirmation", MessageID: newID(), Token: token, TopicArn: arn,
		Message:      "You have chosen to subscribe to the topic " + arn + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		SubscribeURL: s.publicURL() + "/?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(arn) + "&Token=" + token,
		Timestamp:    s.now().UTC().Format(snsTimestamp), SignatureVersion: s.signatureVersion(sub.Topic),
		SigningCertURL: s.publicURL() + SigningCertPath}
	sig, err := s.signer.sign(c.SignatureVersion, confirmationStringToSign(c.Type, c.Message, c.MessageID, c.SubscribeURL, c.Timestamp, c.Token, c.TopicArn))
	if err != nil {
		return queue.SendInput{}, errors.Join(errdefs.ErrInternal, err)
	}
	c.Signature = sig
	b, err := marshalEnvelope(c)
	if err != nil {
		return queue.SendInput{}, err
	}
	return queue.SendInput{Body: b, Attributes: deliveryHeaders("SubscriptionConfirmation", c.MessageID, arn, "", false)}, nil
}

// deliveryHeaders are the SNS headers of a delivery, as an outbox
// message's attributes (sorted by name).
func deliveryHeaders(typ, id, topicARN, subscriptionARN string, raw bool) []queue.Attr {
	attr := func(name, v string) queue.Attr { return queue.Attr{Name: name, Type: "String", Value: []byte(v)} }
	out := []queue.Attr{attr(hdrMessageID, id), attr(hdrMessageType, typ)}
	if raw {
		out = append(out, attr(hdrRawDelivery, "true"))
	}
	if subscriptionARN != "" {
		out = append(out, attr(hdrSubscriptionARN, subscriptionARN))
	}
	out = append(out, attr(hdrTopicARN, topicARN))
	sortAttrs(out)
	return out
}

// ConfirmSubscription confirms the pending subscription of topic whose
// SubscriptionConfirmation carried token; the token is the credential, so
// no capability is needed. authenticated tells whether the request was
// signed by a key of this server; with authOnUnsubscribe it makes
// unsubscribing need one too. Confirming again succeeds.
func (s *Server) ConfirmSubscription(ctx context.Context, topic, token string, authenticated, authOnUnsubscribe bool) (api.Subscription, error) {
	invalid := errdefs.New(errdefs.ErrInvalid, "invalid_token", "Invalid token")
	if token == "" || len(token) > 256 {
		return api.Subscription{}, invalid
	}
	hash := hashToken(token)
	var sub *state.Subscription
	var found bool
	s.state.View(func(rd *state.Reader) {
		if found = rd.Topic(topic) != nil; found {
			for _, c := range rd.TopicSubscriptions(topic) {
				if c.ConfirmTokenHash == hash {
					sub = c
				}
			}
		}
	})
	if !found {
		return api.Subscription{}, topicNotFound(topic)
	}
	if sub == nil || sub.Pending && s.now().UnixNano() > sub.ConfirmBy {
		return api.Subscription{}, invalid
	}
	if !sub.Pending {
		return s.apiSubscription(sub), nil
	}
	next := *sub
	next.Pending, next.ConfirmBy = false, 0
	next.ConfirmedAuthenticated = authenticated
	next.AuthOnUnsubscribe = authenticated && authOnUnsubscribe
	if _, err := s.state.Apply(state.UpsertSubscriptions{Subscriptions: []*state.Subscription{&next}}); err != nil {
		return api.Subscription{}, err
	}
	return s.apiSubscription(&next), nil
}

// UnsubscribeByURL removes an HTTP(S) subscription by its ARN alone, as
// the UnsubscribeURL of its notifications does, unless it was confirmed
// with AuthenticateOnUnsubscribe; a queue's subscription needs a token.
func (s *Server) UnsubscribeByURL(ctx context.Context, id string) error {
	var sub *state.Subscription
	s.state.View(func(rd *state.Reader) { sub = rd.Subscription(id) })
	if sub == nil {
		return subscriptionNotFound(id)
	}
	if !isEndpoint(sub.Protocol) || sub.Pending || sub.AuthOnUnsubscribe {
		return errdefs.New(errdefs.ErrUnauthenticated, "acl_token_missing",
			"unsubscribing %s needs a signed request", s.SubscriptionARN(sub.Topic, sub.ID))
	}
	_, err := s.state.Apply(state.DeleteSubscriptions{IDs: []string{id}})
	s.policies.forget(id)
	return err
}

func subscriptionNotFound(id string) error {
	return errdefs.New(errdefs.ErrNotFound, "subscription_not_found", "subscription %q does not exist", id)
}

// endpointTarget is what a publish puts in an HTTP(S) subscription's
// outbox: the body to POST (the envelope, or the message itself when raw)
// and its headers.
func (s *Server) endpointTarget(sub *state.Subscription, id string, envelope []byte, in api.PublishRequest) queue.PublishTarget {
	arn := s.SubscriptionARN(sub.Topic, sub.ID)
	body := envelope
	if sub.Raw {
		body = []byte(in.Message)
	}
	return queue.PublishTarget{Queue: queue.OutboxPrefix + sub.ID, Message: queue.SendInput{Body: body,
		Attributes: deliveryHeaders("Notification", id, s.TopicARN(sub.Topic), arn, sub.Raw)}}
}

// endpoints runs a deliverer per HTTP(S) subscription.
type endpoints struct {
	poster endpointPoster
	wake   chan struct{} // kick: the subscriptions may have changed

	mu      sync.Mutex
	running map[string]context.CancelFunc // by subscription ID
	wg      sync.WaitGroup
}

// endpointPoster makes one delivery attempt (internal/pubsub/webhook).
type endpointPoster interface {
	// Post POSTs body with header to url and returns "" when the
	// endpoint answered 2xx, else why not, as a metric label.
	Post(ctx context.Context, url string, header map[string]string, body []byte) string
	// Allowed reports whether deliveries may connect to addr.
	Allowed(addr netip.Addr) bool
}

func newEndpoints(cfg webhook.Config) *endpoints {
	return &endpoints{poster: webhook.New(cfg), wake: make(chan struct{}, 1), running: map[string]context.CancelFunc{}}
}

func (e *endpoints) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// runEndpoints keeps a deliverer running for every HTTP(S) subscription
// until ctx ends, removes the outboxes of subscriptions that are gone and
// the subscriptions left pending past their token.
func (s *Server) runEndpoints(ctx context.Context) error {
	defer s.endpoints.stopAll()
	for {
		var since uint64
		s.state.View(func(rd *state.Reader) { since = rd.TableIndex(state.TableTopics) })
		s.syncEndpoints(ctx)
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		go func() {
			select {
			case <-s.endpoints.wake:
				cancel()
			case <-wctx.Done():
			}
		}()
		s.state.WaitIndex(wctx, since, func(rd *state.Reader) uint64 { return rd.TableIndex(state.TableTopics) })
		cancel()
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (s *Server) syncEndpoints(ctx context.Context) {
	// The outboxes first: one made after this listing is not taken for
	// one left over, and every subscription is committed before its
	// outbox is made.
	outboxes := s.queues.Outboxes()
	want := map[string]bool{}
	var expired []string
	now := s.now().UnixNano()
	s.state.View(func(rd *state.Reader) {
		for _, sub := range rd.Subscriptions() {
			if !isEndpoint(sub.Protocol) {
				continue
			}
			if sub.Pending && sub.ConfirmBy != 0 && now > sub.ConfirmBy {
				expired = append(expired, sub.ID)
				continue
			}
			want[sub.ID] = true
		}
	})
	if len(expired) > 0 {
		if _, err := s.state.Apply(state.DeleteSubscriptions{IDs: expired}); err != nil {
			s.logger.Warn("remove unconfirmed subscriptions", "err", err)
		}
		s.policies.forget(expired...)
	}
	e := s.endpoints
	e.mu.Lock()
	for id, stop := range e.running {
		if !want[id] {
			stop()
			delete(e.running, id)
		}
	}
	for id := range want {
		if e.running[id] != nil {
			continue
		}
		if _, err := s.queues.CreateOutbox(id, s.outboxAttributes()); err != nil {
			s.logger.Warn("create outbox", "subscription", id, "err", err)
			continue
		}
		dctx, cancel := context.WithCancel(ctx)
		e.running[id] = cancel
		e.wg.Go(func() { s.deliverLoop(dctx, id) })
	}
	e.mu.Unlock()
	for _, id := range outboxes {
		if !want[id] {
			if err := s.queues.Outbox(id).Delete(); err != nil && errdefs.Code(err, "") != "queue_not_found" {
				s.logger.Warn("delete outbox", "subscription", id, "err", err)
			}
		}
	}
}

func (e *endpoints) stopAll() {
	e.mu.Lock()
	for id, stop := range e.running {
		stop()
		delete(e.running, id)
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// endpointSub is what a deliverer reads of its subscription each round.
type endpointSub struct {
	sub    *state.Subscription
	policy delivery.Policy
}

func (s *Server) endpointSub(id string) *endpointSub {
	var out *endpointSub
	s.state.View(func(rd *state.Reader) {
		sub := rd.Subscription(id)
		if sub == nil {
			return
		}
		var topicPolicy string
		if t := rd.Topic(sub.Topic); t != nil {
			topicPolicy = t.Attributes["DeliveryPolicy"]
		}
		p, err := delivery.Resolve(topicPolicy, sub.DeliveryPolicy)
		if err != nil {
			p = delivery.Default() // both were checked when set
		}
		out = &endpointSub{sub: sub, policy: p}
	})
	return out
}

// deliverLoop delivers one subscription's outbox until ctx ends.
func (s *Server) deliverLoop(ctx context.Context, id string) {
	ob := s.queues.Outbox(id)
	wait := 20 * time.Second
	var next time.Time // the throttle: when the next attempt may start
	for ctx.Err() == nil {
		es := s.endpointSub(id)
		if es == nil {
			return
		}
		msgs, err := ob.Receive(ctx, queue.ReceiveOptions{Max: endpointReceives, Wait: &wait}) // hidden for the outbox's timeout
		if err == nil && len(msgs) == 0 {
			select {
			case <-s.stopping:
				// Waits have stopped (the server is shutting down):
				// receives answer at once, so wait for the end instead
				// of spinning.
				<-ctx.Done()
				return
			default:
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Full disk, or the outbox not made yet: try again shortly.
			s.logger.Debug("receive from outbox", "subscription", id, "err", err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		var wg sync.WaitGroup
		for _, m := range msgs {
			if es.policy.MaxPerSecond > 0 {
				now := s.now()
				if next.After(now) && !sleepCtx(ctx, next.Sub(now)) {
					break
				}
				next = maxTime(now, next).Add(time.Second / time.Duration(es.policy.MaxPerSecond))
			}
			wg.Go(func() { s.attempt(ctx, ob, es, m) })
		}
		wg.Wait()
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// attempt POSTs one message to the endpoint and settles, retries or gives
// it up.
func (s *Server) attempt(ctx context.Context, ob *queue.Outbox, es *endpointSub, m queue.Message) {
	sub, p := es.sub, es.policy
	typ := headerOf(m, hdrMessageType)
	reason := s.post(ctx, sub, p, m)
	if ctx.Err() != nil {
		// Stopping: the message is tried again at once by whoever
		// delivers next (after a crash, once its timeout runs out).
		ob.Retry(m.Receipt, 0)
		return
	}
	if reason == "" {
		if _, err := ob.Settle([]string{m.Receipt}); err != nil {
			s.logger.Warn("settle delivered notification", "subscription", sub.ID, "err", err)
		}
		if typ == "Notification" {
			s.metrics.topicDeliveries.WithLabelValues(sub.Protocol, "ok").Inc()
			s.metrics.endpointLatency.WithLabelValues(sub.Protocol).Observe(s.now().Sub(m.SentAt).Seconds())
		}
		return
	}
	if m.ReceiveCount < p.Attempts() {
		s.metrics.endpointRetries.WithLabelValues(sub.Protocol, reason).Inc()
		if err := ob.Retry(m.Receipt, jitter(p.Delay(m.ReceiveCount))); err != nil {
			s.logger.Warn("schedule retry", "subscription", sub.ID, "err", err)
		}
		return
	}
	// Spent. A notification goes to the dead-letter queue if there is one
	// (SNS's RedrivePolicy), with why it failed; a confirmation is
	// dropped (subscribing again sends a new one).
	if typ == "Notification" && sub.DeadLetterQueue != "" {
		attr := func(name, v string) queue.Attr { return queue.Attr{Name: name, Type: "String", Value: []byte(v)} }
		err := ob.DeadLetter(m.Receipt, sub.DeadLetterQueue, []queue.Attr{attr("ErrorCode", reason),
			attr("ErrorMessage", "delivery to "+sub.Endpoint+" failed "+strconv.Itoa(m.ReceiveCount)+" times, the last: "+reason)})
		if err == nil {
			s.metrics.topicDeliveries.WithLabelValues(sub.Protocol, "dead_lettered").Inc()
			return
		}
		s.logger.Warn("move to the subscription's dead-letter queue", "subscription", sub.ID, "queue", sub.DeadLetterQueue, "err", err)
	}
	if _, err := ob.Settle([]string{m.Receipt}); err != nil {
		s.logger.Warn("drop undeliverable notification", "subscription", sub.ID, "err", err)
		return
	}
	if typ == "Notification" {
		s.metrics.topicDeliveries.WithLabelValues(sub.Protocol, "dropped").Inc()
	}
}

// jitter spreads a retry's delay by up to a tenth either way, as SNS
// jitters its retries.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + time.Duration((mrand.Float64()*0.2-0.1)*float64(d))
}

// headerOf is the value of m's attribute name ("" if it has none): an
// outbox message's delivery headers, an asynchronous invocation's request
// id and client context.
func headerOf(m queue.Message, name string) string {
	for _, a := range m.Attributes {
		if a.Name == name {
			return string(a.Value)
		}
	}
	return ""
}

// post makes one attempt; it returns "" when the endpoint answered 2xx,
// else why not, as a metric label.
func (s *Server) post(ctx context.Context, sub *state.Subscription, p delivery.Policy, m queue.Message) string {
	if sub.Protocol == state.ProtocolLambda {
		return s.invokeSubscribed(ctx, sub, m)
	}
	header := map[string]string{"Content-Type": p.ContentType, "User-Agent": endpointUserAgent}
	for _, a := range m.Attributes {
		if strings.HasPrefix(a.Name, "x-amz-sns-") {
			header[a.Name] = string(a.Value)
		}
	}
	return s.endpoints.poster.Post(ctx, sub.Endpoint, header, m.Body)
}

// marshalEnvelope encodes an SNS message as SNS does: without escaping
// <, > and &.
func marshalEnvelope(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, errors.Join(errdefs.ErrInternal, err)
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}
