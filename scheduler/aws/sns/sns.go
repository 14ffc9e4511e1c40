// Package sns serves Docket's topics over the Amazon SNS API, so that the
// AWS CLI, boto3 and aws-sdk-go-v2 work against a Docket server unchanged.
// SNS speaks the query protocol only: a form POST of Action=<Action>&
// Version=2010-03-31 to "/", signed with SigV4 for the service "sns",
// answered in XML. It is a thin transport: each action decodes its
// parameters, calls one method of the control layer ([scheduler.Server])
// as the identity of the request's access key, and encodes the answer or
// maps the error onto SNS's codes.
//
// Topics are arn:aws:sns:REGION:ACCOUNT:NAME; a subscription is its
// topic's ARN and its ID. A queue is subscribed by its SQS ARN
// (arn:aws:sqs:REGION:ACCOUNT:NAME), an HTTP(S) endpoint by its URL; it
// confirms with the SubscribeURL of the SubscriptionConfirmation it is
// sent, a GET that needs no signature (the token is the credential), as
// does the UnsubscribeURL of its notifications unless it confirmed with
// AuthenticateOnUnsubscribe. A function of this server is subscribed by
// its Lambda ARN (protocol lambda), confirmed at once. Email and other
// protocols are refused with InvalidParameter.
package sns

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/msgchars"
	"github.com/docketd/docket/internal/promreg"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/aws"
)

// namespace is the XML namespace of SNS's answers.
const namespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// MaxRequestBody bounds a request: PublishBatch's ten messages of 256 KiB
// each, form-escaped (three bytes for one), and their attributes.
const MaxRequestBody = 8 << 20

// SNS's errors.
var (
	kindInvalidParameter = aws.Kind{Status: http.StatusBadRequest, Code: "InvalidParameter", QueryCode: "InvalidParameter"}
	kindNotFound         = aws.Kind{Status: http.StatusNotFound, Code: "NotFound", QueryCode: "NotFound"}
	kindAuthorization    = aws.Kind{Status: http.StatusForbidden, Code: "AuthorizationError", QueryCode: "AuthorizationError"}
	kindInternal         = aws.Kind{Status: http.StatusInternalServerError, Code: "InternalError", QueryCode: "InternalError"}
	kindTooManyEntries   = aws.Kind{Status: http.StatusBadRequest, Code: "TooManyEntriesInBatchRequest", QueryCode: "TooManyEntriesInBatchRequest"}
	kindEmptyBatch       = aws.Kind{Status: http.StatusBadRequest, Code: "EmptyBatchRequest", QueryCode: "EmptyBatchRequest"}
	kindDistinctIDs      = aws.Kind{Status: http.StatusBadRequest, Code: "BatchEntryIdsNotDistinct", QueryCode: "BatchEntryIdsNotDistinct"}
	kindBatchTooLong     = aws.Kind{Status: http.StatusBadRequest, Code: "BatchRequestTooLong", QueryCode: "BatchRequestTooLong"}
	kindTagLimit         = aws.Kind{Status: http.StatusBadRequest, Code: "TagLimitExceeded", QueryCode: "TagLimitExceeded"}
	kindUnavailable      = aws.Kind{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", QueryCode: "ServiceUnavailable"}
)

// Server is what the handler needs of the control layer.
type Server interface {
	AWSIdentity(k aws.Key) scheduler.Identity
	TopicARN(name string) string
	SubscriptionARN(topic, id string) string
	CreateTopic(ctx context.Context, caller scheduler.Identity, in api.TopicSettings) (api.Topic, error)
	GetTopic(ctx context.Context, caller scheduler.Identity, name string) (api.Topic, error)
	ListTopics(ctx context.Context, caller scheduler.Identity) api.TopicList
	DeleteTopic(ctx context.Context, caller scheduler.Identity, name string) error
	SetTopicAttribute(ctx context.Context, caller scheduler.Identity, name, attr, value string) error
	TagTopic(ctx context.Context, caller scheduler.Identity, name string, set map[string]string, remove []string) error
	Subscribe(ctx context.Context, caller scheduler.Identity, topic string, in api.SubscribeRequest) (api.Subscription, error)
	Unsubscribe(ctx context.Context, caller scheduler.Identity, id string) error
	ConfirmSubscription(ctx context.Context, topic, token string, authenticated, authOnUnsubscribe bool) (api.Subscription, error)
	UnsubscribeByURL(ctx context.Context, id string) error
	GetSubscription(ctx context.Context, caller scheduler.Identity, id string) (api.Subscription, error)
	ListSubscriptions(ctx context.Context, caller scheduler.Identity) []api.Subscription
	TopicSubscriptions(ctx context.Context, caller scheduler.Identity, topic string) (api.SubscriptionList, error)
	SetSubscriptionAttribute(ctx context.Context, caller scheduler.Identity, id, attr, value string) error
	Publish(ctx context.Context, caller scheduler.Identity, topic string, in api.PublishRequest) (api.PublishResponse, error)
	PublishBatch(ctx context.Context, caller scheduler.Identity, topic string, msgs []api.PublishRequest) ([]api.PublishResult, error)
}

// Config configures a [Handler].
type Config struct {
	Server Server
	// Keys are the access keys requests are signed with.
	Keys aws.KeyStore
	// AllowUnsigned lets requests without a signature in, with every
	// capability; only for an explicit operator flag.
	AllowUnsigned bool
	// Region and AccountID make queue ARNs; defaults us-east-1 and
	// 000000000000.
	Region, AccountID string
	Now               func() time.Time
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
}

// Handler serves SNS's query protocol.
type Handler struct {
	cfg      Config
	srv      Server
	verify   *aws.Verifier
	logger   *slog.Logger
	query    aws.QueryProtocol
	requests *prometheus.CounterVec
}

// New returns a handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, srv: cfg.Server, logger: cfg.Logger.With("component", "sns"),
		verify: aws.NewVerifier(aws.VerifierConfig{Service: "sns", Keys: cfg.Keys, Now: cfg.Now}),
		query:  aws.QueryProtocol{Namespace: namespace},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_sns_requests_total",
			Help: "Requests to the SNS-compatible endpoint, by action and outcome (ok or the SNS error code).",
		}, []string{"action", "outcome"}),
	}
	h.requests = promreg.Register(cfg.Registerer, h.requests)
	return h
}

// action is one SNS action: it reads its parameters and answers with a
// result to encode as XML.
type action func(h *Handler, c *call) (any, error)

var actions = map[string]action{
	"CreateTopic":               (*Handler).createTopic,
	"DeleteTopic":               (*Handler).deleteTopic,
	"ListTopics":                (*Handler).listTopics,
	"GetTopicAttributes":        (*Handler).getTopicAttributes,
	"SetTopicAttributes":        (*Handler).setTopicAttributes,
	"Subscribe":                 (*Handler).subscribe,
	"ConfirmSubscription":       (*Handler).confirmSubscription,
	"Unsubscribe":               (*Handler).unsubscribe,
	"ListSubscriptions":         (*Handler).listSubscriptions,
	"ListSubscriptionsByTopic":  (*Handler).listSubscriptionsByTopic,
	"GetSubscriptionAttributes": (*Handler).getSubscriptionAttributes,
	"SetSubscriptionAttributes": (*Handler).setSubscriptionAttributes,
	"Publish":                   (*Handler).publish,
	"PublishBatch":              (*Handler).publishBatch,
	"TagResource":               (*Handler).tagResource,
	"UntagResource":             (*Handler).untagResource,
	"ListTagsForResource":       (*Handler).listTagsForResource,
}

// IsSNSRequest reports whether r is an SNS request: a form POST whose
// Action is one of SNS's. It reads the form's body and puts it back.
func IsSNSRequest(r *http.Request) bool {
	if !aws.IsFormPost(r) {
		return false
	}
	a, tooLarge, err := aws.PeekAction(r, MaxRequestBody)
	return err == nil && !tooLarge && actions[a] != nil
}

// IsSubscriberLink reports whether r is a link SNS gives an endpoint to
// follow: a GET of "/" with Action ConfirmSubscription (SubscribeURL) or
// Unsubscribe (UnsubscribeURL).
func IsSubscriberLink(r *http.Request) bool {
	if r.Method != http.MethodGet || r.URL.Path != "/" {
		return false
	}
	a := r.URL.Query().Get("Action")
	return a == "ConfirmSubscription" || a == "Unsubscribe"
}

// call is one request being served.
type call struct {
	ctx    context.Context
	caller scheduler.Identity
	form   url.Values
	// signed is set for a request signed with a key of the server's.
	signed bool
}

func (c *call) get(name string) string { return c.form.Get(name) }

func (c *call) required(name string) (string, error) {
	if v := c.form.Get(name); v != "" {
		return v, nil
	}
	return "", aws.NewError(kindInvalidParameter, "Invalid parameter: %s", name)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := "unknown"
	fail := func(e *aws.Error) {
		if e.Cause != nil {
			h.logger.Error("internal error", "action", name, "err", e.Cause)
		}
		h.requests.WithLabelValues(name, e.Code).Inc()
		h.query.WriteError(w, e)
	}
	body, aerr := aws.ReadBody(w, r, MaxRequestBody)
	if aerr != nil {
		fail(aerr)
		return
	}
	form, aerr := aws.ParseForm(r, body)
	if aerr != nil {
		fail(aerr)
		return
	}
	act := actions[form.Get("Action")]
	if act == nil {
		fail(aws.NewError(aws.InvalidAction, "The action %s is not valid for this web service.", form.Get("Action")))
		return
	}
	name = form.Get("Action")
	key := aws.Key{Access: aws.Everything, Accessor: "unsigned"}
	signed := r.Header.Get("Authorization") != "" || form.Get("X-Amz-Signature") != ""
	if signed || !h.cfg.AllowUnsigned {
		if !signed && (name == "ConfirmSubscription" || name == "Unsubscribe") {
			// An endpoint following its SubscribeURL or UnsubscribeURL:
			// the token, or the subscription's own ARN, is what it holds.
			key = aws.Key{Accessor: "subscriber"}
		} else {
			k, aerr := h.verify.Verify(r, body)
			if aerr != nil {
				fail(aerr)
				return
			}
			key = k
		}
	}
	c := &call{ctx: r.Context(), caller: h.srv.AWSIdentity(key), form: form, signed: key.Accessor != "subscriber"}
	out, err := act(h, c)
	if err != nil {
		fail(snsError(err))
		return
	}
	h.requests.WithLabelValues(name, "ok").Inc()
	h.writeResult(w, name, out)
}

// writeResult answers with SNS's XML: <ActionResponse><ActionResult>…
func (h *Handler) writeResult(w http.ResponseWriter, action string, out any) {
	id := aws.NewRequestID()
	type metadata struct {
		RequestID string `xml:"RequestId"`
	}
	type response struct {
		XMLName  xml.Name
		Xmlns    string   `xml:"xmlns,attr"`
		Result   any      `xml:",omitempty"`
		Metadata metadata `xml:"ResponseMetadata"`
	}
	resp := response{XMLName: xml.Name{Local: action + "Response"}, Xmlns: namespace, Metadata: metadata{id}}
	if out != nil {
		resp.Result = out
	}
	b, err := xml.Marshal(resp)
	if err != nil {
		h.query.WriteError(w, &aws.Error{Status: 500, Code: "InternalError", Message: "internal error"})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// snsError maps an error of the control layer onto SNS's.
func snsError(err error) *aws.Error {
	var ae *aws.Error
	if errors.As(err, &ae) {
		return ae
	}
	msg := err.Error()
	code := errdefs.Code(err, "")
	switch {
	case errors.Is(err, errdefs.ErrPermissionDenied), errors.Is(err, errdefs.ErrUnauthenticated):
		return aws.NewError(kindAuthorization, "User is not authorized to perform this action: %s", msg)
	case errors.Is(err, errdefs.ErrNotFound):
		switch code {
		case "topic_not_found":
			return aws.NewError(kindNotFound, "Topic does not exist")
		case "subscription_not_found":
			return aws.NewError(kindNotFound, "Subscription does not exist")
		case "queue_not_found":
			return aws.NewError(kindInvalidParameter, "Invalid parameter: Endpoint: the queue does not exist")
		}
		return aws.NewError(kindNotFound, "%s", msg)
	case code == "too_many_tags":
		return aws.NewError(kindTagLimit, "%s", msg)
	case code == msgchars.Code:
		return aws.NewError(kindInvalidParameter, "Invalid parameter: Message: %s", msg)
	case errors.Is(err, errdefs.ErrInvalid), errors.Is(err, errdefs.ErrTooLarge), errors.Is(err, errdefs.ErrConflict):
		if !strings.HasPrefix(msg, "Invalid parameter") {
			msg = "Invalid parameter: " + msg
		}
		return aws.NewError(kindInvalidParameter, "%s", msg)
	case errors.Is(err, errdefs.ErrStorageFull), errors.Is(err, errdefs.ErrStorageFailed),
		errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, errdefs.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return aws.NewError(kindUnavailable, "%s", msg)
	}
	e := aws.NewError(kindInternal, "internal error")
	e.Cause = err
	return e
}

// arnResource is the last part of an ARN of service whose resource has n
// parts (arn:aws:SERVICE:REGION:ACCOUNT:PART...); param names the
// parameter in the error.
func arnResource(arn, service string, n int, param string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 5+n || parts[0] != "arn" || parts[2] != service || parts[len(parts)-1] == "" {
		return "", aws.NewError(kindInvalidParameter, "Invalid parameter: %s", param)
	}
	return parts[len(parts)-1], nil
}

// topicName is the name of the topic an ARN names.
func topicName(arn string) (string, error) { return arnResource(arn, "sns", 1, "TopicArn") }

// subscriptionID is the ID of the subscription an ARN names: its topic's
// ARN and the ID.
func subscriptionID(arn string) (string, error) { return arnResource(arn, "sns", 2, "SubscriptionArn") }

// queueOfEndpoint is the queue an sqs subscription's endpoint (a queue
// ARN) names.
func queueOfEndpoint(endpoint string) (string, error) {
	return arnResource(endpoint, "sqs", 1, "SQS endpoint ARN")
}

func (h *Handler) queueARN(name string) string {
	return "arn:aws:sqs:" + h.cfg.Region + ":" + h.cfg.AccountID + ":" + name
}

// endpoint is a subscription's Endpoint as SNS gives it: a queue's ARN,
// or the URL.
func (h *Handler) endpoint(s api.Subscription) string {
	if s.Protocol == "sqs" {
		return h.queueARN(s.Endpoint)
	}
	return s.Endpoint
}

// entries reads a map of the form's PREFIX.entry.N.key/value.
func entries(form url.Values, prefix, keyName, valueName string) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		base := prefix + ".entry." + strconv.Itoa(i) + "."
		k, ok := form[base+keyName]
		if !ok {
			return out
		}
		out[k[0]] = form.Get(base + valueName)
	}
}

// members reads a list of the form's PREFIX.member.N(.FIELD).
func members(form url.Values, prefix string, field func(base string) bool) int {
	n := 0
	for i := 1; ; i++ {
		if !field(prefix + ".member." + strconv.Itoa(i)) {
			return n
		}
		n++
	}
}

// tags reads Tags.member.N.Key/Value.
func tags(form url.Values) map[string]string {
	out := map[string]string{}
	members(form, "Tags", func(base string) bool {
		k, ok := form[base+".Key"]
		if ok {
			out[k[0]] = form.Get(base + ".Value")
		}
		return ok
	})
	return out
}

type entry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func entryList(m map[string]string) []entry {
	out := make([]entry, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, entry{k, m[k]})
	}
	return out
}

type attributesResult struct {
	Attributes []entry `xml:"Attributes>entry"`
}

func (h *Handler) createTopic(c *call) (any, error) {
	name, err := c.required("Name")
	if err != nil {
		return nil, err
	}
	t, err := h.srv.CreateTopic(c.ctx, c.caller, api.TopicSettings{Name: name, Attributes: entries(c.form, "Attributes", "key", "value"), Tags: tags(c.form)})
	if err != nil {
		return nil, err
	}
	return struct {
		XMLName  xml.Name `xml:"CreateTopicResult"`
		TopicArn string
	}{TopicArn: t.ARN}, nil
}

func (h *Handler) deleteTopic(c *call) (any, error) {
	name, err := topicName(c.get("TopicArn"))
	if err != nil {
		return nil, err
	}
	return nil, h.srv.DeleteTopic(c.ctx, c.caller, name)
}

// pageSize is how many topics or subscriptions a list answers with, as
// SNS's pages of 100.
const pageSize = 100

// page returns the slice of n items that NextToken starts, and the token
// of the next page.
func page(token string, n int) (from, to int, next string, err error) {
	if token != "" {
		from, err = strconv.Atoi(token)
		if err != nil || from < 0 || from > n {
			return 0, 0, "", aws.NewError(kindInvalidParameter, "Invalid parameter: NextToken")
		}
	}
	to = min(from+pageSize, n)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}

func (h *Handler) listTopics(c *call) (any, error) {
	topics := h.srv.ListTopics(c.ctx, c.caller).Topics
	from, to, next, err := page(c.get("NextToken"), len(topics))
	if err != nil {
		return nil, err
	}
	type member struct {
		TopicArn string
	}
	out := struct {
		XMLName   xml.Name `xml:"ListTopicsResult"`
		Topics    []member `xml:"Topics>member"`
		NextToken string   `xml:",omitempty"`
	}{Topics: []member{}, NextToken: next}
	for _, t := range topics[from:to] {
		out.Topics = append(out.Topics, member{t.ARN})
	}
	return out, nil
}

func (h *Handler) getTopicAttributes(c *call) (any, error) {
	name, err := topicName(c.get("TopicArn"))
	if err != nil {
		return nil, err
	}
	if err := c.caller.Can("topic", name, "read"); err != nil {
		return nil, err
	}
	t, err := h.srv.GetTopic(c.ctx, c.caller, name)
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{}
	for k, v := range t.Attributes {
		attrs[k] = v
	}
	attrs["TopicArn"] = t.ARN
	attrs["Owner"] = h.cfg.AccountID
	attrs["SubscriptionsConfirmed"] = strconv.Itoa(t.Subscriptions)
	attrs["SubscriptionsPending"] = "0"
	attrs["SubscriptionsDeleted"] = "0"
	if _, ok := attrs["DisplayName"]; !ok {
		attrs["DisplayName"] = ""
	}
	if _, ok := attrs["SignatureVersion"]; !ok {
		attrs["SignatureVersion"] = "1"
	}
	return struct {
		XMLName xml.Name `xml:"GetTopicAttributesResult"`
		attributesResult
	}{attributesResult: attributesResult{entryList(attrs)}}, nil
}

func (h *Handler) setTopicAttributes(c *call) (any, error) {
	name, err := topicName(c.get("TopicArn"))
	if err != nil {
		return nil, err
	}
	attr, err := c.required("AttributeName")
	if err != nil {
		return nil, err
	}
	return nil, h.srv.SetTopicAttribute(c.ctx, c.caller, name, attr, c.get("AttributeValue"))
}

func (h *Handler) subscribe(c *call) (any, error) {
	topic, err := topicName(c.get("TopicArn"))
	if err != nil {
		return nil, err
	}
	protocol, err := c.required("Protocol")
	if err != nil {
		return nil, err
	}
	req := api.SubscribeRequest{Protocol: protocol, Endpoint: c.get("Endpoint")}
	switch protocol {
	case "sqs":
		if req.Endpoint, err = queueOfEndpoint(c.get("Endpoint")); err != nil {
			return nil, err
		}
	case "http", "https", "lambda":
		if req.Endpoint == "" {
			return nil, aws.NewError(kindInvalidParameter, "Invalid parameter: Endpoint")
		}
	default:
		return nil, aws.NewError(kindInvalidParameter, "Invalid parameter: Protocol: this server delivers to its own SQS queues (sqs), its functions (lambda) and to http and https endpoints, not %s", protocol)
	}
	for k, v := range entries(c.form, "Attributes", "key", "value") {
		switch k {
		case "RawMessageDelivery":
			raw, err := strconv.ParseBool(v)
			if err != nil {
				return nil, aws.NewError(kindInvalidParameter, "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [%s]. Must be true or false.", v)
			}
			req.Raw = raw
		case "FilterPolicy":
			req.FilterPolicy = v
		case "FilterPolicyScope":
			req.FilterScope = v
		case "DeliveryPolicy":
			req.DeliveryPolicy = v
		case "RedrivePolicy":
			if req.DeadLetterQueue, err = redriveQueue(v); err != nil {
				return nil, err
			}
		case "SubscriptionRoleArn":
			return nil, aws.NewError(kindInvalidParameter, "Invalid parameter: Attributes Reason: SubscriptionRoleArn is for Firehose subscriptions, which this server does not deliver to")
		default:
			return nil, aws.NewError(kindInvalidParameter, "Invalid parameter: Attributes Reason: Unknown attribute %s", k)
		}
	}
	sub, err := h.srv.Subscribe(c.ctx, c.caller, topic, req)
	if err != nil {
		return nil, err
	}
	arn := sub.ARN
	if sub.Pending && !strings.EqualFold(c.get("ReturnSubscriptionArn"), "true") {
		arn = "pending confirmation" // as SNS answers until the endpoint confirms
	}
	return struct {
		XMLName         xml.Name `xml:"SubscribeResult"`
		SubscriptionArn string
	}{SubscriptionArn: arn}, nil
}

// redriveQueue is the queue a RedrivePolicy's deadLetterTargetArn names
// ("" for an empty policy, which removes it).
func redriveQueue(policy string) (string, error) {
	if policy == "" {
		return "", nil
	}
	var p struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(policy), &p); err != nil || p.DeadLetterTargetArn == "" {
		return "", aws.NewError(kindInvalidParameter, "Invalid parameter: RedrivePolicy: must be a JSON object with deadLetterTargetArn")
	}
	q, err := queueOfEndpoint(p.DeadLetterTargetArn)
	if err != nil {
		return "", aws.NewError(kindInvalidParameter, "Invalid parameter: RedrivePolicy: deadLetterTargetArn must be an SQS queue ARN")
	}
	return q, nil
}

func (h *Handler) confirmSubscription(c *call) (any, error) {
	topic, err := topicName(c.get("TopicArn"))
	if err != nil {
		return nil, err
	}
	token, err := c.required("Token")
	if err != nil {
		return nil, err
	}
	sub, err := h.srv.ConfirmSubscription(c.ctx, topic, token, c.signed, strings.EqualFold(c.get("AuthenticateOnUnsubscribe"), "true"))
	if err != nil {
		return nil, err
	}
	return struct {
		XMLName         xml.Name `xml:"ConfirmSubscriptionResult"`
		SubscriptionArn string
	}{SubscriptionArn: sub.ARN}, nil
}

func (h *Handler) unsubscribe(c *call) (any, error) {
	id, err := subscriptionID(c.get("SubscriptionArn"))
	if err != nil {
		return nil, err
	}
	if !c.signed {
		return nil, h.srv.UnsubscribeByURL(c.ctx, id)
	}
	return nil, h.srv.Unsubscribe(c.ctx, c.caller, id)
}

type subscriptionMember struct {
	SubscriptionArn string
	Owner           string
	Protocol        string
	Endpoint        string
	TopicArn        string
}

func (h *Handler) subscriptionMembers(subs []api.Subscription, token string, result string) (any, error) {
	from, to, next, err := page(token, len(subs))
	if err != nil {
		return nil, err
	}
	out := struct {
		XMLName       xml.Name
		Subscriptions []subscriptionMember `xml:"Subscriptions>member"`
		NextToken     string               `xml:",omitempty"`
	}{XMLName: xml.Name{Local: result}, Subscriptions: []subscriptionMember{}, NextToken: next}
	for _, s := range subs[from:to] {
		arn := s.ARN
		if s.Pending {
			arn = "PendingConfirmation"
		}
		out.Subscriptions = append(out.Subscriptions, subscriptionMember{SubscriptionArn: arn, Owner: h.cfg.AccountID,
			Protocol: s.Protocol, Endpoint: h.endpoint(s), TopicArn: h.srv.TopicARN(s.Topic)})
	}
	return out, nil
}

func (h *Handler) listSubscriptions(c *call) (any, error) {
	return h.subscriptionMembers(h.srv.ListSubscriptions(c.ctx, c.caller), c.get("NextToken"), "ListSubscriptionsResult")
}

func (h *Handler) listSubscriptionsByTopic(c *call) (any, error) {
	topic, err := topicName(c.get("TopicArn"))
	if err != nil {
		return nil, err
	}
	if err := c.caller.Can("topic", topic, "read"); err != nil {
		return nil, err
	}
	subs, err := h.srv.TopicSubscriptions(c.ctx, c.caller, topic)
	if err != nil {
		return nil, err
	}
	return h.subscriptionMembers(subs.Subscriptions, c.get("NextToken"), "ListSubscriptionsByTopicResult")
}

func (h *Handler) getSubscriptionAttributes(c *call) (any, error) {
	id, err := subscriptionID(c.get("SubscriptionArn"))
	if err != nil {
		return nil, err
	}
	s, err := h.srv.GetSubscription(c.ctx, c.caller, id)
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{
		"SubscriptionArn": s.ARN, "TopicArn": h.srv.TopicARN(s.Topic), "Owner": h.cfg.AccountID,
		"Protocol": s.Protocol, "Endpoint": h.endpoint(s), "RawMessageDelivery": strconv.FormatBool(s.Raw),
		"PendingConfirmation": strconv.FormatBool(s.Pending), "ConfirmationWasAuthenticated": strconv.FormatBool(s.ConfirmedAuthenticated),
	}
	if s.DeliveryPolicy != "" {
		attrs["DeliveryPolicy"] = s.DeliveryPolicy
	}
	if s.EffectiveDeliveryPolicy != "" {
		attrs["EffectiveDeliveryPolicy"] = s.EffectiveDeliveryPolicy
	}
	if s.DeadLetterQueue != "" {
		b, _ := json.Marshal(map[string]string{"deadLetterTargetArn": h.queueARN(s.DeadLetterQueue)})
		attrs["RedrivePolicy"] = string(b)
	}
	if s.FilterPolicy != "" {
		attrs["FilterPolicy"] = s.FilterPolicy
		attrs["FilterPolicyScope"] = "MessageAttributes"
		if s.FilterScope != "" {
			attrs["FilterPolicyScope"] = s.FilterScope
		}
	}
	return struct {
		XMLName xml.Name `xml:"GetSubscriptionAttributesResult"`
		attributesResult
	}{attributesResult: attributesResult{entryList(attrs)}}, nil
}

func (h *Handler) setSubscriptionAttributes(c *call) (any, error) {
	id, err := subscriptionID(c.get("SubscriptionArn"))
	if err != nil {
		return nil, err
	}
	attr, err := c.required("AttributeName")
	if err != nil {
		return nil, err
	}
	value := c.get("AttributeValue")
	if attr == "RedrivePolicy" {
		if value, err = redriveQueue(value); err != nil {
			return nil, err
		}
	}
	return nil, h.srv.SetSubscriptionAttribute(c.ctx, c.caller, id, attr, value)
}

// publishInput reads one message's parameters: Message, Subject,
// MessageStructure and MessageAttributes, under prefix ("" for Publish,
// the entry's for PublishBatch).
func publishInput(form url.Values, prefix string) (api.PublishRequest, error) {
	in := api.PublishRequest{Message: form.Get(prefix + "Message"), Subject: form.Get(prefix + "Subject"),
		Group: form.Get(prefix + "MessageGroupId"), DedupID: form.Get(prefix + "MessageDeduplicationId")}
	if form.Get(prefix+"MessageStructure") == "json" {
		var m map[string]any
		if err := json.Unmarshal([]byte(in.Message), &m); err != nil {
			return in, aws.NewError(kindInvalidParameter, "Invalid parameter: Message Structure - JSON message body failed to parse")
		}
		msg, ok := m["sqs"].(string)
		if !ok {
			if msg, ok = m["default"].(string); !ok {
				return in, aws.NewError(kindInvalidParameter, "Invalid parameter: Message Structure - No default entry in JSON message body")
			}
		}
		in.Message = msg
	}
	for i := 1; ; i++ {
		base := prefix + "MessageAttributes.entry." + strconv.Itoa(i) + "."
		name, ok := form[base+"Name"]
		if !ok {
			break
		}
		if in.Attributes == nil {
			in.Attributes = map[string]api.MessageAttribute{}
		}
		typ := form.Get(base + "Value.DataType")
		if typ == "" {
			return in, aws.NewError(kindInvalidParameter, "Invalid parameter: The message attribute '%s' must contain non-empty message attribute type.", name[0])
		}
		value := form.Get(base + "Value.StringValue")
		if strings.HasPrefix(typ, "Binary") {
			value = form.Get(base + "Value.BinaryValue") // base64, as sent; the control layer checks it
		}
		in.Attributes[name[0]] = api.MessageAttribute{Type: typ, Value: value}
	}
	return in, nil
}

func (h *Handler) publish(c *call) (any, error) {
	arn := c.get("TopicArn")
	if arn == "" {
		arn = c.get("TargetArn")
	}
	if arn == "" {
		if c.get("PhoneNumber") != "" {
			return nil, aws.NewError(kindInvalidParameter, "Invalid parameter: PhoneNumber: SMS is not supported")
		}
		return nil, aws.NewError(kindInvalidParameter, "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
	}
	topic, err := topicName(arn)
	if err != nil {
		return nil, err
	}
	in, err := publishInput(c.form, "")
	if err != nil {
		return nil, err
	}
	res, err := h.srv.Publish(c.ctx, c.caller, topic, in)
	if err != nil {
		return nil, err
	}
	return struct {
		XMLName   xml.Name `xml:"PublishResult"`
		MessageId string
	}{MessageId: res.MessageID}, nil
}

// maxBatchEntries and maxBatchSize are PublishBatch's limits.
const (
	maxBatchEntries = 10
	maxBatchSize    = scheduler.MaxPublishSize
)

func (h *Handler) publishBatch(c *call) (any, error) {
	topic, err := topicName(c.get("TopicArn"))
	if err != nil {
		return nil, err
	}
	type ok struct {
		ID        string `xml:"Id"`
		MessageId string
	}
	type failed struct {
		ID          string `xml:"Id"`
		Code        string
		Message     string
		SenderFault bool
	}
	out := struct {
		XMLName    xml.Name `xml:"PublishBatchResult"`
		Successful []ok     `xml:"Successful>member"`
		Failed     []failed `xml:"Failed>member"`
	}{Successful: []ok{}, Failed: []failed{}}
	type batchEntry struct {
		id string
		in api.PublishRequest
	}
	var batch []batchEntry
	seen := map[string]bool{}
	size := 0
	var berr error
	n := members(c.form, "PublishBatchRequestEntries", func(base string) bool {
		id, present := c.form[base+".Id"]
		if !present {
			return false
		}
		if berr != nil {
			return true
		}
		if seen[id[0]] {
			berr = aws.NewError(kindDistinctIDs, "Two or more batch entries in the request have the same Id.")
			return true
		}
		seen[id[0]] = true
		in, err := publishInput(c.form, base+".")
		if err != nil {
			berr = err
			return true
		}
		size += len(in.Message)
		batch = append(batch, batchEntry{id[0], in})
		return true
	})
	switch {
	case berr != nil:
		return nil, berr
	case n == 0:
		return nil, aws.NewError(kindEmptyBatch, "The batch request doesn't contain any entries")
	case n > maxBatchEntries:
		return nil, aws.NewError(kindTooManyEntries, "The batch request contains more entries than permissible.")
	case size > maxBatchSize:
		return nil, aws.NewError(kindBatchTooLong, "The length of all the messages put together is more than the limit.")
	}
	msgs := make([]api.PublishRequest, len(batch))
	for i, e := range batch {
		msgs[i] = e.in
	}
	// One record for the batch; the whole batch fails as SNS's does for
	// an unknown topic, a missing permission or the server's own trouble.
	res, err := h.srv.PublishBatch(c.ctx, c.caller, topic, msgs)
	if err != nil {
		return nil, err
	}
	for i, r := range res {
		if r.Error != nil {
			// A refused message is the sender's: its content or a queue's
			// limits.
			msg := r.Error.Message
			if !strings.HasPrefix(msg, "Invalid parameter") {
				msg = "Invalid parameter: " + msg
			}
			out.Failed = append(out.Failed, failed{ID: batch[i].id, Code: kindInvalidParameter.Code, Message: msg, SenderFault: true})
			continue
		}
		out.Successful = append(out.Successful, ok{ID: batch[i].id, MessageId: r.MessageID})
	}
	return out, nil
}

// resourceTopic is the topic a tagging action's ResourceArn names.
func resourceTopic(c *call) (string, error) {
	name, err := topicName(c.get("ResourceArn"))
	if err != nil {
		return "", aws.NewError(kindInvalidParameter, "Invalid parameter: ResourceArn")
	}
	return name, nil
}

func (h *Handler) tagResource(c *call) (any, error) {
	name, err := resourceTopic(c)
	if err != nil {
		return nil, err
	}
	set := tags(c.form)
	if len(set) == 0 {
		return nil, aws.NewError(kindInvalidParameter, "Invalid parameter: Tags")
	}
	return struct {
		XMLName xml.Name `xml:"TagResourceResult"`
	}{}, h.srv.TagTopic(c.ctx, c.caller, name, set, nil)
}

func (h *Handler) untagResource(c *call) (any, error) {
	name, err := resourceTopic(c)
	if err != nil {
		return nil, err
	}
	var keys []string
	members(c.form, "TagKeys", func(base string) bool {
		k, ok := c.form[base]
		if ok {
			keys = append(keys, k[0])
		}
		return ok
	})
	return struct {
		XMLName xml.Name `xml:"UntagResourceResult"`
	}{}, h.srv.TagTopic(c.ctx, c.caller, name, nil, keys)
}

func (h *Handler) listTagsForResource(c *call) (any, error) {
	name, err := resourceTopic(c)
	if err != nil {
		return nil, err
	}
	if err := c.caller.Can("topic", name, "read"); err != nil {
		return nil, err
	}
	t, err := h.srv.GetTopic(c.ctx, c.caller, name)
	if err != nil {
		return nil, err
	}
	type tag struct{ Key, Value string }
	out := struct {
		XMLName xml.Name `xml:"ListTagsForResourceResult"`
		Tags    []tag    `xml:"Tags>member"`
	}{Tags: []tag{}}
	for _, k := range slices.Sorted(maps.Keys(t.Tags)) {
		out.Tags = append(out.Tags, tag{k, t.Tags[k]})
	}
	return out, nil
}
