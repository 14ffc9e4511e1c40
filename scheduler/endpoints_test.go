package scheduler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docketd/docket/internal/pubsub/snsverify"
	"github.com/docketd/docket/internal/pubsub/webhook"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/acl"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// loopback lets deliveries reach test endpoints on 127.0.0.1.
var loopback = webhook.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// delivery is one request an endpoint received.
type delivery struct {
	header http.Header
	body   string
}

// endpoint is an HTTP subscriber: it records every request and answers
// fail's status (200 when 0) to the next failN of them.
type endpoint struct {
	*httptest.Server
	got   chan delivery
	failN atomic.Int64
	fail  atomic.Int64
}

func newEndpoint(t *testing.T) *endpoint {
	e := &endpoint{got: make(chan delivery, 100)}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.got <- delivery{header: r.Header.Clone(), body: string(b)}
		if e.failN.Add(-1) >= 0 {
			w.WriteHeader(int(e.fail.Load()))
		}
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-e.got:
		return d
	case <-time.After(20 * time.Second):
		t.Fatal("the endpoint received nothing")
	}
	return delivery{}
}

func (e *endpoint) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-e.got:
		t.Fatalf("unexpected delivery %s: %.200s", got.header.Get("x-amz-sns-message-type"), got.body)
	case <-time.After(d):
	}
}

// verify checks a message's signature as SNS's subscribers do, with the
// certificate fetched from base (its SigningCertURL's path).
func verify(t *testing.T, m snsverify.Message, base string) {
	t.Helper()
	if !strings.HasSuffix(m.SigningCertURL, scheduler.SigningCertPath) {
		t.Fatalf("SigningCertURL %q", m.SigningCertURL)
	}
	resp, err := http.Get(base + scheduler.SigningCertPath)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := m.Verify(certPEM); err != nil {
		t.Fatalf("the %s's signature does not verify: %v", m.Type, err)
	}
}

func decodeSNS(t *testing.T, d delivery) snsverify.Message {
	t.Helper()
	m, err := snsverify.Parse([]byte(d.body))
	if err != nil {
		t.Fatalf("%s: %v", d.body, err)
	}
	if m.Type != d.header.Get("x-amz-sns-message-type") || m.MessageId != d.header.Get("x-amz-sns-message-id") ||
		m.TopicArn != d.header.Get("x-amz-sns-topic-arn") {
		t.Fatalf("headers %v do not match the message %+v", d.header, m)
	}
	return m
}

// local turns a link in a message (made with the server's default public
// URL) into one to the test server at base.
func local(link, base string) string {
	return base + strings.TrimPrefix(link, "http://"+api.DefaultAddr)
}

// metric is the value of a counter or gauge, or the count of a histogram, of s with
// the given labels.
func metric(t *testing.T, s *scheduler.Server, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// An HTTP endpoint confirms its subscription with the SubscribeURL of the
// signed SubscriptionConfirmation it is sent, then receives each publish
// that passes its filter policy as a signed notification with SNS's
// headers; a failed attempt is retried as its delivery policy says, one
// whose retries are spent goes to its dead-letter queue, raw delivery
// sends the message alone, and the UnsubscribeURL ends it.
func TestEndpointSubscription(t *testing.T) {
	s, cl, base := newCluster(t, scheduler.Config{Endpoints: loopback})
	ctx := context.Background()
	ep := newEndpoint(t)
	if _, err := cl.CreateTopic(ctx, api.TopicSettings{Name: "orders"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "undelivered"}); err != nil {
		t.Fatal(err)
	}
	sub, err := cl.Subscribe(ctx, "orders", api.SubscribeRequest{Protocol: "http", Endpoint: ep.URL + "/hook?x=1",
		FilterPolicy: `{"kind": ["paid"]}`, DeadLetterQueue: "undelivered",
		DeliveryPolicy: `{"healthyRetryPolicy": {"numRetries": 3, "numNoDelayRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}`})
	if err != nil || !sub.Pending {
		t.Fatalf("subscribe: %+v, %v", sub, err)
	}
	// Nothing reaches a pending subscription.
	if res, err := cl.Publish(ctx, "orders", api.PublishRequest{Message: "early",
		Attributes: map[string]api.MessageAttribute{"kind": {Type: "String", Value: "paid"}}}); err != nil || res.Delivered != 0 {
		t.Fatalf("publish before the confirmation: %+v, %v", res, err)
	}

	d := ep.next(t)
	c := decodeSNS(t, d)
	if c.Type != "SubscriptionConfirmation" || c.Token == "" || !strings.Contains(c.SubscribeURL, "Action=ConfirmSubscription") ||
		d.header.Get("User-Agent") != "Amazon Simple Notification Service Agent" {
		t.Fatalf("confirmation %+v, headers %v", c, d.header)
	}
	verify(t, c, base)
	if _, err := cl.ConfirmSubscription(ctx, "orders", "not-the-token"); errCode(err) != "invalid_token" {
		t.Errorf("confirm with a wrong token: %v", err)
	}
	// The SubscribeURL needs no credentials: its token is one.
	resp, err := http.Get(local(c.SubscribeURL, base))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<SubscriptionArn>"+sub.ARN+"</SubscriptionArn>") {
		t.Fatalf("GET SubscribeURL: %d %s", resp.StatusCode, b)
	}
	if subs, _ := cl.Subscriptions(ctx, "orders"); len(subs) != 1 || subs[0].Pending {
		t.Fatalf("after confirming: %+v", subs)
	}

	publish := func(msg, kind string) *api.PublishResponse {
		t.Helper()
		res, err := cl.Publish(ctx, "orders", api.PublishRequest{Message: msg, Subject: "s",
			Attributes: map[string]api.MessageAttribute{"kind": {Type: "String", Value: kind}}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := publish("refund <1>", "refund"); res.Delivered != 0 || res.Filtered != 1 {
		t.Errorf("a filtered publish: %+v", res)
	}
	res := publish(`{"order": "<1>"}`, "paid")
	d = ep.next(t)
	n := decodeSNS(t, d)
	if n.Type != "Notification" || n.MessageId != res.MessageID || n.Message != `{"order": "<1>"}` || n.Subject != "s" ||
		n.MessageAttributes["kind"].Value != "paid" || d.header.Get("x-amz-sns-subscription-arn") != sub.ARN ||
		d.header.Get("Content-Type") != "text/plain; charset=UTF-8" || !strings.Contains(d.body, `"<1>`) {
		t.Fatalf("notification %+v, headers %v", n, d.header)
	}
	verify(t, n, base)
	ep.quiet(t, 200*time.Millisecond) // the filtered one never comes

	// Two failures, then a success: three attempts, two retries counted.
	ep.fail.Store(503)
	ep.failN.Store(2)
	res = publish("retried", "paid")
	for i := range 3 {
		if m := decodeSNS(t, ep.next(t)); m.MessageId != res.MessageID {
			t.Fatalf("attempt %d delivered %+v", i+1, m)
		}
	}
	ep.quiet(t, 200*time.Millisecond)
	if got := metric(t, s, "docket_topic_endpoint_retries_total", map[string]string{"reason": "status_5xx"}); got != 2 {
		t.Errorf("retries counted %v, want 2", got)
	}

	// Failing every attempt: four (the first and three retries), then the
	// dead-letter queue has it, with why.
	ep.fail.Store(500)
	ep.failN.Store(1000)
	res = publish("doomed", "paid")
	for range 4 {
		ep.next(t)
	}
	zero := specs.Duration(0)
	var dead []api.Message
	for deadline := time.Now().Add(20 * time.Second); len(dead) == 0 && time.Now().Before(deadline); {
		dead, err = cl.Receive(ctx, "undelivered", api.ReceiveRequest{Wait: &zero})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(dead) != 1 || !strings.Contains(dead[0].Body, res.MessageID) || dead[0].Attributes["ErrorCode"] != "status_5xx" {
		t.Fatalf("dead-letter queue: %+v", dead)
	}
	ep.quiet(t, 200*time.Millisecond)
	if got := metric(t, s, "docket_topic_deliveries_total", map[string]string{"protocol": "http", "outcome": "dead_lettered"}); got != 1 {
		t.Errorf("dead_lettered %v, want 1", got)
	}
	ep.failN.Store(0)

	// Raw delivery sends the message alone.
	if err := s.SetSubscriptionAttribute(ctx, scheduler.Identity{ACL: acl.Management(), Accessor: "test"}, sub.ID, "RawMessageDelivery", "true"); err != nil {
		t.Fatal(err)
	}
	publish("just this", "paid")
	if d = ep.next(t); d.body != "just this" || d.header.Get("x-amz-sns-rawdelivery") != "true" {
		t.Fatalf("raw delivery %q, headers %v", d.body, d.header)
	}
	for deadline := time.Now().Add(10 * time.Second); metric(t, s, "docket_topic_delivery_duration_seconds", map[string]string{"protocol": "http"}) != 3; {
		if time.Now().After(deadline) {
			t.Fatalf("delivery latency observed %v times, want 3", metric(t, s, "docket_topic_delivery_duration_seconds", map[string]string{"protocol": "http"}))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The UnsubscribeURL of a notification ends the subscription, with no
	// credentials; its outbox goes with it.
	resp, err = http.Get(local(n.UnsubscribeURL, base))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET UnsubscribeURL: %d", resp.StatusCode)
	}
	if subs, _ := cl.Subscriptions(ctx, "orders"); len(subs) != 0 {
		t.Fatalf("after unsubscribing: %+v", subs)
	}
	for deadline := time.Now().Add(10 * time.Second); len(s.Queues().Outboxes()) != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("outboxes left: %v", s.Queues().Outboxes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	publish("after", "paid")
	ep.quiet(t, 200*time.Millisecond)
}

// The server connects to no address its endpoint policy refuses: a
// literal one is refused when subscribing, and a name that resolves to
// one fails every attempt without a connection.
func TestEndpointAddressPolicy(t *testing.T) {
	s, cl, _ := newCluster(t, scheduler.Config{})
	ctx := context.Background()
	ep := newEndpoint(t)
	if _, err := cl.CreateTopic(ctx, api.TopicSettings{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{ep.URL, "http://169.254.169.254/latest/meta-data/", "http://[::1]:80/"} {
		if _, err := cl.Subscribe(ctx, "t", api.SubscribeRequest{Protocol: "http", Endpoint: url}); errCode(err) != "invalid_endpoint" {
			t.Errorf("subscribe %s: %v, want invalid_endpoint", url, err)
		}
	}
	port := ep.URL[strings.LastIndex(ep.URL, ":")+1:]
	if _, err := cl.Subscribe(ctx, "t", api.SubscribeRequest{Protocol: "http", Endpoint: "http://localhost:" + port + "/",
		DeliveryPolicy: `{"healthyRetryPolicy": {"numRetries": 1, "numNoDelayRetries": 1}}`}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); metric(t, s, "docket_topic_endpoint_retries_total", map[string]string{"reason": "refused_address"}) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("no refused attempt counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ep.quiet(t, 100*time.Millisecond)
	for url, code := range map[string]string{"ftp://example.test/": "invalid_endpoint", "http:/x": "invalid_endpoint",
		"https://example.test/#frag": "invalid_endpoint", "https://" + strings.Repeat("a", 2100) + ".test/": "invalid_endpoint"} {
		proto := "https"
		if !strings.HasPrefix(url, "https") {
			proto = "http"
		}
		if _, err := cl.Subscribe(ctx, "t", api.SubscribeRequest{Protocol: proto, Endpoint: url}); errCode(err) != code {
			t.Errorf("subscribe %.40s: %v, want %s", url, err, code)
		}
	}
}

// A publish acknowledged while its endpoint is down is delivered after a
// restart: the endpoint's outbox is durable like any queue.
func TestEndpointDeliverySurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	ep := newEndpoint(t)
	ep.fail.Store(503)
	ep.failN.Store(1 << 30)
	ctx := context.Background()
	start := func() (*scheduler.Server, func()) {
		s, err := scheduler.New(scheduler.Config{DataDir: dir, Endpoints: loopback})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			})
		}
		t.Cleanup(stop)
		return s, stop
	}
	s, stop := start()
	id := scheduler.Identity{ACL: acl.Management(), Accessor: "test"}
	if _, err := s.CreateTopic(ctx, id, api.TopicSettings{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, id, "t", api.SubscribeRequest{Protocol: "http", Endpoint: ep.URL,
		DeliveryPolicy: `{"healthyRetryPolicy": {"numRetries": 50, "minDelayTarget": 1, "maxDelayTarget": 1}}`})
	if err != nil {
		t.Fatal(err)
	}
	c := decodeSNS(t, ep.next(t)) // the confirmation, refused
	if _, err := s.ConfirmSubscription(ctx, "t", c.Token, true, false); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 5 {
		res, err := s.Publish(ctx, id, "t", api.PublishRequest{Message: fmt.Sprint("m", i)})
		if err != nil || res.Delivered != 1 {
			t.Fatalf("publish: %+v, %v", res, err)
		}
		ids = append(ids, res.MessageID)
	}
	stop()
	for len(ep.got) > 0 {
		<-ep.got
	}
	ep.failN.Store(0)
	s, _ = start()
	seen := map[string]bool{}
	for len(seen) < len(ids) {
		m := decodeSNS(t, ep.next(t))
		if m.Type == "Notification" {
			seen[m.MessageId] = true
		}
	}
	for _, want := range ids {
		if !seen[want] {
			t.Errorf("publish %s not delivered after the restart", want)
		}
	}
	got, err := s.GetSubscription(ctx, id, sub.ID)
	if err != nil || got.Pending || !got.ConfirmedAuthenticated || !strings.Contains(got.EffectiveDeliveryPolicy, `"numRetries":50`) {
		t.Errorf("subscription after the restart: %+v, %v", got, err)
	}
}
