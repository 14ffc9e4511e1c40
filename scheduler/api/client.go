package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/docketd/docket/specs"
)

// DefaultAddr is where the server listens unless told otherwise, and where
// the CLI looks for it unless DOCKET_ADDR says otherwise.
const DefaultAddr = "127.0.0.1:3625"

// Client calls a Docket server's HTTP API.
type Client struct {
	base       string
	schemeless bool // the address came without a scheme (http:// assumed)
	hc         *http.Client
	token      string
	nodeSecret string
}

// TokenHeader and NodeSecretHeader carry a request's ACL token (or
// "Authorization: Bearer TOKEN") and, on an agent's calls for its node,
// the node's secret.
const (
	TokenHeader      = "X-Docket-Token"
	NodeSecretHeader = "X-Docket-Node-Secret"
)

// WithToken returns a client like c that sends token with every request.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// TokenSecret is the token the client sends.
func (c *Client) TokenSecret() string { return c.token }

// WithNodeSecret returns a client like c that sends a node's secret with
// every request: an agent's client, once its node is registered.
func (c *Client) WithNodeSecret(secret string) *Client {
	cc := *c
	cc.nodeSecret = secret
	return &cc
}

// roundTrip sends req with the client's credentials.
func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	if c.token != "" {
		req.Header.Set(TokenHeader, c.token)
	}
	if c.nodeSecret != "" {
		req.Header.Set(NodeSecretHeader, c.nodeSecret)
	}
	return c.hc.Do(req)
}

// NewClient returns a client for the server at addr: "host:port" or a URL.
func NewClient(addr string) *Client {
	if addr == "" {
		addr = DefaultAddr
	}
	schemeless := !strings.Contains(addr, "://")
	if schemeless {
		addr = "http://" + addr
	}
	return &Client{base: strings.TrimRight(addr, "/"), schemeless: schemeless, hc: &http.Client{Transport: newTransport(nil)}}
}

func newTransport(cfg *tls.Config) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	tr.TLSClientConfig = cfg
	return tr
}

// WithTLS returns a client like c that speaks TLS with cfg (see
// internal/pki's ClientConfig: the cluster's CA, the server's role name,
// perhaps a client certificate); an address given without a scheme then
// means https://. Connections are kept alive, so a client makes one
// handshake per connection it opens.
func (c *Client) WithTLS(cfg *tls.Config) *Client {
	cc := *c
	if cc.schemeless {
		cc.base = "https://" + strings.TrimPrefix(cc.base, "http://")
	}
	cc.hc = &http.Client{Transport: newTransport(cfg)}
	return &cc
}

// Addr returns the server's base URL.
func (c *Client) Addr() string { return c.base }

// Do sends a request with in as its JSON body (none when nil) and decodes a
// successful response into out (ignored when nil). An error response comes
// back as an *Error with its status.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

func queuePath(name string, rest ...string) string {
	p := "/v1/queues/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Health reports whether the server is up.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.Do(ctx, http.MethodGet, "/v1/health", nil, &h)
}

// CreateQueue creates a queue, or confirms an identical one exists.
func (c *Client) CreateQueue(ctx context.Context, s QueueSettings) (*QueueCreated, error) {
	var out QueueCreated
	return &out, c.Do(ctx, http.MethodPost, "/v1/queues", s, &out)
}

// UpdateQueue changes the settings s names and keeps the others.
func (c *Client) UpdateQueue(ctx context.Context, name string, s QueueSettings) (*Queue, error) {
	var out Queue
	return &out, c.Do(ctx, http.MethodPatch, queuePath(name), s, &out)
}

// Queues lists every queue with its figures.
func (c *Client) Queues(ctx context.Context) ([]Queue, error) {
	var out QueueList
	return out.Queues, c.Do(ctx, http.MethodGet, "/v1/queues", nil, &out)
}

// Queue describes one queue.
func (c *Client) Queue(ctx context.Context, name string) (*Queue, error) {
	var out Queue
	return &out, c.Do(ctx, http.MethodGet, queuePath(name), nil, &out)
}

// DeleteQueue removes a queue and its messages.
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, queuePath(name), nil, nil)
}

// Send sends up to ten messages; each has its own result.
func (c *Client) Send(ctx context.Context, queue string, msgs ...SendMessage) ([]SendResult, error) {
	var out SendResponse
	return out.Messages, c.Do(ctx, http.MethodPost, queuePath(queue, "messages"), SendRequest{Messages: msgs}, &out)
}

// Receive receives up to req.Max messages, long-polling up to req.Wait.
func (c *Client) Receive(ctx context.Context, queue string, req ReceiveRequest) ([]Message, error) {
	var out ReceiveResponse
	return out.Messages, c.Do(ctx, http.MethodPost, queuePath(queue, "receive"), req, &out)
}

// Delete deletes messages by receipt; each receipt has its own result.
func (c *Client) Delete(ctx context.Context, queue string, receipts ...string) ([]DeleteResult, error) {
	var out DeleteResponse
	return out.Results, c.Do(ctx, http.MethodPost, queuePath(queue, "delete"), DeleteRequest{Receipts: receipts}, &out)
}

// ChangeVisibility hides a received message for timeout from now.
func (c *Client) ChangeVisibility(ctx context.Context, queue, receipt string, timeout time.Duration) error {
	return c.Do(ctx, http.MethodPost, queuePath(queue, "visibility"),
		VisibilityRequest{Receipt: receipt, Timeout: specs.Duration(timeout)}, nil)
}

// Purge deletes every message of a queue.
func (c *Client) Purge(ctx context.Context, queue string) (int, error) {
	var out PurgeResponse
	return out.Purged, c.Do(ctx, http.MethodPost, queuePath(queue, "purge"), nil, &out)
}

// Redrive moves up to max messages (all when 0) of a dead-letter queue back
// to their source queues.
func (c *Client) Redrive(ctx context.Context, queue string, max int) (int, error) {
	var out RedriveResponse
	return out.Moved, c.Do(ctx, http.MethodPost, queuePath(queue, "redrive"), RedriveRequest{Max: max}, &out)
}

// Request sends a request with the client's credentials and returns the
// response as it is, for paths the client has no method for (such as
// /metrics). The caller closes its body.
func (c *Client) Request(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	return c.roundTrip(req)
}

// CreateTopic creates a topic, or updates the one of that name.
func (c *Client) CreateTopic(ctx context.Context, s TopicSettings) (*Topic, error) {
	var out Topic
	return &out, c.Do(ctx, http.MethodPost, "/v1/topics", s, &out)
}

// Topics lists the topics.
func (c *Client) Topics(ctx context.Context) ([]Topic, error) {
	var out TopicList
	return out.Topics, c.Do(ctx, http.MethodGet, "/v1/topics", nil, &out)
}

// Topic returns one topic.
func (c *Client) Topic(ctx context.Context, name string) (*Topic, error) {
	var out Topic
	return &out, c.Do(ctx, http.MethodGet, "/v1/topics/"+url.PathEscape(name), nil, &out)
}

// DeleteTopic deletes a topic and its subscriptions.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/topics/"+url.PathEscape(name), nil, nil)
}

// Publish publishes a message to a topic.
func (c *Client) Publish(ctx context.Context, topic string, req PublishRequest) (*PublishResponse, error) {
	var out PublishResponse
	return &out, c.Do(ctx, http.MethodPost, "/v1/topics/"+url.PathEscape(topic)+"/publish", req, &out)
}

// PublishBatch publishes up to MaxPublishBatch messages to a topic
// together; each has its own result.
func (c *Client) PublishBatch(ctx context.Context, topic string, msgs ...PublishRequest) ([]PublishResult, error) {
	var out PublishBatchResponse
	err := c.Do(ctx, http.MethodPost, "/v1/topics/"+url.PathEscape(topic)+"/publish-batch", PublishBatchRequest{Messages: msgs}, &out)
	return out.Results, err
}

// Subscribe subscribes an endpoint to a topic.
func (c *Client) Subscribe(ctx context.Context, topic string, req SubscribeRequest) (*Subscription, error) {
	var out Subscription
	return &out, c.Do(ctx, http.MethodPost, "/v1/topics/"+url.PathEscape(topic)+"/subscriptions", req, &out)
}

// ConfirmSubscription confirms an HTTP(S) subscription of topic with the
// token of its SubscriptionConfirmation.
func (c *Client) ConfirmSubscription(ctx context.Context, topic, token string) (*Subscription, error) {
	var out Subscription
	return &out, c.Do(ctx, http.MethodPost, "/v1/topics/"+url.PathEscape(topic)+"/confirm", ConfirmRequest{Token: token}, &out)
}

// Subscriptions lists a topic's subscriptions.
func (c *Client) Subscriptions(ctx context.Context, topic string) ([]Subscription, error) {
	var out SubscriptionList
	return out.Subscriptions, c.Do(ctx, http.MethodGet, "/v1/topics/"+url.PathEscape(topic)+"/subscriptions", nil, &out)
}

// Unsubscribe deletes a subscription.
func (c *Client) Unsubscribe(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/subscriptions/"+url.PathEscape(id), nil, nil)
}
