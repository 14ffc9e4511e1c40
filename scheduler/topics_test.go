package scheduler_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/pubsub/snsverify"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// A topic delivers each publish to the queues whose subscriptions' filter
// policies it passes: raw, or in SNS's envelope; a deleted queue takes
// its subscriptions with it.
func TestTopicsPublish(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	ctx := context.Background()
	for _, q := range []string{"billing", "audit", "refunds"} {
		if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: q}); err != nil {
			t.Fatal(err)
		}
	}
	topic, err := cl.CreateTopic(ctx, api.TopicSettings{Name: "orders", Attributes: map[string]string{"DisplayName": "Orders"}})
	if err != nil || topic.ARN != "arn:aws:sns:us-east-1:000000000000:orders" {
		t.Fatalf("create topic: %+v, %v", topic, err)
	}
	subscribe := func(queue string, raw bool, policy string) *api.Subscription {
		t.Helper()
		sub, err := cl.Subscribe(ctx, "orders", api.SubscribeRequest{Protocol: "sqs", Endpoint: queue, Raw: raw, FilterPolicy: policy})
		if err != nil {
			t.Fatalf("subscribe %s: %v", queue, err)
		}
		return sub
	}
	subscribe("billing", true, `{"kind":["paid"],"total":[{"numeric":[">",0]}]}`)
	subscribe("audit", false, "")
	subscribe("refunds", true, `{"kind":["refund"]}`)
	again := subscribe("refunds", true, `{"kind":["refund"]}`)
	if subs, _ := cl.Subscriptions(ctx, "orders"); len(subs) != 3 {
		t.Fatalf("subscribing twice made a second subscription: %+v", subs)
	}
	if !strings.HasPrefix(again.ARN, topic.ARN+":") {
		t.Errorf("subscription ARN %q", again.ARN)
	}

	res, err := cl.Publish(ctx, "orders", api.PublishRequest{Message: `{"order":1}`, Subject: "paid",
		Attributes: map[string]api.MessageAttribute{"kind": {Type: "String", Value: "paid"}, "total": {Type: "Number", Value: "12.5"}}})
	if err != nil || res.Delivered != 2 || res.Filtered != 1 || res.MessageID == "" {
		t.Fatalf("publish: %+v, %v; want 2 delivered, 1 filtered", res, err)
	}
	zero := specs.Duration(0)
	receive := func(q string) []api.Message {
		t.Helper()
		msgs, err := cl.Receive(ctx, q, api.ReceiveRequest{Max: 10, Wait: &zero})
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	if m := receive("billing"); len(m) != 1 || m[0].Body != `{"order":1}` || m[0].Attributes["kind"] != "paid" {
		t.Errorf("billing (raw) got %+v", m)
	}
	if m := receive("refunds"); len(m) != 0 {
		t.Errorf("refunds got %+v, want nothing (filtered)", m)
	}
	m := receive("audit")
	if len(m) != 1 {
		t.Fatalf("audit got %+v", m)
	}
	var env struct {
		Type, MessageId, TopicArn, Subject, Message, Timestamp      string
		SignatureVersion, Signature, SigningCertURL, UnsubscribeURL string
		MessageAttributes                                           map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(m[0].Body), &env); err != nil {
		t.Fatalf("audit's envelope %s: %v", m[0].Body, err)
	}
	if env.Type != "Notification" || env.MessageId != res.MessageID || env.TopicArn != topic.ARN || env.Message != `{"order":1}` ||
		env.Subject != "paid" || env.MessageAttributes["total"].Value != "12.5" || env.MessageAttributes["total"].Type != "Number" || len(env.Timestamp) != 24 {
		t.Errorf("envelope %+v", env)
	}
	// The signature verifies, as a subscriber checks it: with the
	// certificate at SigningCertURL, over SNS's string to sign.
	if env.SignatureVersion != "1" || !strings.HasSuffix(env.SigningCertURL, scheduler.SigningCertPath) ||
		!strings.Contains(env.UnsubscribeURL, "Action=Unsubscribe&SubscriptionArn=") {
		t.Errorf("envelope links %+v", env)
	}
	sm, err := snsverify.Parse([]byte(m[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	verify(t, sm, base)

	// Bad publishes are refused with a reason.
	for _, tt := range []struct {
		req  api.PublishRequest
		code string
	}{
		{api.PublishRequest{}, "empty_message"},
		{api.PublishRequest{Message: strings.Repeat("x", scheduler.MaxPublishSize+1)}, "message_too_large"},
		{api.PublishRequest{Message: "m", Attributes: map[string]api.MessageAttribute{"n": {Type: "Number", Value: "many"}}}, "invalid_attribute_value"},
		{api.PublishRequest{Message: "m", Attributes: map[string]api.MessageAttribute{"n": {Type: "Date", Value: "x"}}}, "invalid_attribute_type"},
		{api.PublishRequest{Message: "m", Attributes: map[string]api.MessageAttribute{"a": {Type: "String.Array", Value: `[[1]]`}}}, "invalid_attribute_value"},
		{api.PublishRequest{Message: "m", Subject: "two\nlines"}, "invalid_subject"},
	} {
		if _, err := cl.Publish(ctx, "orders", tt.req); errCode(err) != tt.code {
			t.Errorf("publish %+.60v: %v, want %s", tt.req, err, tt.code)
		}
	}
	if _, err := cl.Publish(ctx, "nope", api.PublishRequest{Message: "m"}); errCode(err) != "topic_not_found" {
		t.Errorf("publish to no topic: %v", err)
	}
	if _, err := cl.Subscribe(ctx, "orders", api.SubscribeRequest{Protocol: "sqs", Endpoint: "billing", FilterPolicy: `{"a":"b"}`}); errCode(err) != "invalid_filter_policy" {
		t.Errorf("subscribe with a bad filter policy: %v", err)
	}
	if _, err := cl.Subscribe(ctx, "orders", api.SubscribeRequest{Protocol: "sqs", Endpoint: "nope"}); errCode(err) != "queue_not_found" {
		t.Errorf("subscribe a missing queue: %v", err)
	}

	// Deleting a queue removes its subscriptions.
	if err := cl.DeleteQueue(ctx, "audit"); err != nil {
		t.Fatal(err)
	}
	if subs, _ := cl.Subscriptions(ctx, "orders"); len(subs) != 2 {
		t.Errorf("after deleting audit: %+v", subs)
	}
	res, err = cl.Publish(ctx, "orders", api.PublishRequest{Message: "refund 1", Attributes: map[string]api.MessageAttribute{"kind": {Type: "String", Value: "refund"}}})
	if err != nil || res.Delivered != 1 {
		t.Fatalf("publish a refund: %+v, %v", res, err)
	}
	if m := receive("refunds"); len(m) != 1 || m[0].Body != "refund 1" {
		t.Errorf("refunds got %+v", m)
	}
	if err := cl.Unsubscribe(ctx, again.ID); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if topics, _ := cl.Topics(ctx); len(topics) != 0 {
		t.Errorf("topics after delete: %+v", topics)
	}
}

// Publishing needs topic:publish; subscribing needs topic:subscribe and
// queue:send on the queue.
func TestTopicsNeedCapabilities(t *testing.T) {
	_, base, root := newSecureCluster(t, scheduler.Config{})
	ctx := context.Background()
	admin := api.NewClient(base).WithToken(root)
	admin.CreateQueue(ctx, api.QueueSettings{Name: "mine"})
	admin.CreateQueue(ctx, api.QueueSettings{Name: "theirs"})
	admin.CreateTopic(ctx, api.TopicSettings{Name: "events"})
	admin.ApplyPolicy(ctx, api.ACLPolicy{Name: "sub", Rules: `topic "events" { capabilities = ["subscribe", "read"] }
queue "mine" { capabilities = ["send"] }`})
	tok, err := admin.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"sub"}})
	if err != nil {
		t.Fatal(err)
	}
	cl := api.NewClient(base).WithToken(tok.SecretID)
	if _, err := cl.Subscribe(ctx, "events", api.SubscribeRequest{Protocol: "sqs", Endpoint: "mine"}); err != nil {
		t.Errorf("subscribe its own queue: %v", err)
	}
	if _, err := cl.Subscribe(ctx, "events", api.SubscribeRequest{Protocol: "sqs", Endpoint: "theirs"}); errCode(err) != "permission_denied" {
		t.Errorf("subscribe another's queue: %v", err)
	}
	if _, err := cl.Publish(ctx, "events", api.PublishRequest{Message: "m"}); errCode(err) != "permission_denied" {
		t.Errorf("publish without topic:publish: %v", err)
	}
	if _, err := cl.Subscribe(ctx, "events", api.SubscribeRequest{Protocol: "email", Endpoint: "ops@example.test"}); errCode(err) != "invalid_protocol" {
		t.Errorf("an email subscription: %v", err)
	}
}

// A batch publish publishes its valid messages together and reports each
// one refused, by its own checks or a subscribed queue's limits, without
// failing the others.
func TestTopicsPublishBatch(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
	ctx := context.Background()
	size := specs.Size(1024)
	for _, q := range []api.QueueSettings{{Name: "all"}, {Name: "tiny", MaxMessageSize: &size}} {
		if _, err := cl.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.CreateTopic(ctx, api.TopicSettings{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"all", "tiny"} {
		if _, err := cl.Subscribe(ctx, "t", api.SubscribeRequest{Protocol: "sqs", Endpoint: q, Raw: true}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := cl.PublishBatch(ctx, "t", api.PublishRequest{Message: "one"}, api.PublishRequest{},
		api.PublishRequest{Message: strings.Repeat("x", 2000)}, api.PublishRequest{Message: "four"})
	if err != nil || len(res) != 4 {
		t.Fatalf("PublishBatch: %+v, %v", res, err)
	}
	for i, wantErr := range []string{"", "empty_message", "message_too_large", ""} {
		got := ""
		if res[i].Error != nil {
			got = res[i].Error.Code
		}
		if got != wantErr || (wantErr == "" && (res[i].MessageID == "" || res[i].Delivered != 2)) {
			t.Errorf("message %d: %+v %+v, want error %q", i, res[i], res[i].Error, wantErr)
		}
	}
	zero := specs.Duration(0)
	for _, q := range []string{"all", "tiny"} {
		msgs, err := cl.Receive(ctx, q, api.ReceiveRequest{Max: 10, Wait: &zero})
		if err != nil || len(msgs) != 2 {
			t.Fatalf("%s holds %+v, %v; want the two valid messages", q, msgs, err)
		}
	}
	if _, err := cl.PublishBatch(ctx, "t", make([]api.PublishRequest, 11)...); errCode(err) != "invalid_batch" {
		t.Errorf("eleven messages: %v", err)
	}
	big := api.PublishRequest{Message: strings.Repeat("y", scheduler.MaxPublishSize/2+1)}
	if _, err := cl.PublishBatch(ctx, "t", big, big); errCode(err) != "batch_too_large" {
		t.Errorf("a batch over 256 KiB: %v", err)
	}
	if _, err := cl.PublishBatch(ctx, "none", api.PublishRequest{Message: "m"}); errCode(err) != "topic_not_found" {
		t.Errorf("an unknown topic: %v", err)
	}
}

// A FIFO topic fans out to FIFO queues keeping each group's order, and a
// publish again within five minutes (content-based deduplication) is
// stored nowhere.
func TestFIFOTopic(t *testing.T) {
	_, cl, _ := newCluster(t, scheduler.Config{})
	ctx := context.Background()
	yes := true
	for _, q := range []string{"a.fifo", "b.fifo"} {
		if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: q, FIFO: &yes}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "std"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateTopic(ctx, api.TopicSettings{Name: "orders.fifo"}); errCode(err) != "invalid_attribute" {
		t.Errorf("a .fifo topic without FifoTopic: %v", err)
	}
	if _, err := cl.CreateTopic(ctx, api.TopicSettings{Name: "orders.fifo", Attributes: map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"a.fifo", "b.fifo"} {
		if _, err := cl.Subscribe(ctx, "orders.fifo", api.SubscribeRequest{Protocol: "sqs", Endpoint: q, Raw: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Subscribe(ctx, "orders.fifo", api.SubscribeRequest{Protocol: "sqs", Endpoint: "std"}); errCode(err) != "invalid_endpoint" {
		t.Errorf("a standard queue on a FIFO topic: %v", err)
	}
	if _, err := cl.Subscribe(ctx, "orders.fifo", api.SubscribeRequest{Protocol: "https", Endpoint: "https://example.test/"}); errCode(err) != "invalid_protocol" {
		t.Errorf("an endpoint on a FIFO topic: %v", err)
	}
	if _, err := cl.Publish(ctx, "orders.fifo", api.PublishRequest{Message: "x"}); errCode(err) != "missing_message_group_id" {
		t.Errorf("a publish without a group: %v", err)
	}
	for _, m := range []string{"g1", "g2", "g1", "g3"} { // the second g1 is a duplicate
		if _, err := cl.Publish(ctx, "orders.fifo", api.PublishRequest{Message: m, Group: "g"}); err != nil {
			t.Fatal(err)
		}
	}
	zero := specs.Duration(0)
	for _, q := range []string{"a.fifo", "b.fifo"} {
		msgs, err := cl.Receive(ctx, q, api.ReceiveRequest{Max: 10, Wait: &zero})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, m.Body+"/"+m.Group)
		}
		if strings.Join(got, ",") != "g1/g,g2/g,g3/g" {
			t.Errorf("%s received %v, want g1, g2, g3 in group g once each", q, got)
		}
	}
	if _, err := cl.Publish(ctx, "orders.fifo", api.PublishRequest{Message: "d", Group: "g", DedupID: "id-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateTopic(ctx, api.TopicSettings{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Publish(ctx, "plain", api.PublishRequest{Message: "x", DedupID: "d"}); errCode(err) != "invalid_parameter" {
		t.Errorf("a deduplication id on a standard topic: %v", err)
	}
}
