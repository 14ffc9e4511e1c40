package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/acltest"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// newTestServer starts a Server with its real handler on a loopback port.
func newTestServer(t testing.TB) (*API, *api.Client, string) {
	t.Helper()
	return newCluster(t, scheduler.Config{})
}

// newCluster starts a server with the given config and its API on a
// loopback port.
func newCluster(t testing.TB, cfg scheduler.Config) (*API, *api.Client, string) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	a := New(s)
	boot, err := s.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(acltest.Credentials(a.Handler(), boot.SecretID))
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
	})
	return a, api.NewClient(hs.URL), hs.URL
}

// call sends a raw request and returns the status and body.
func call(t testing.TB, base, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func errorCode(t testing.TB, body []byte) string {
	t.Helper()
	var er api.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil {
		t.Fatalf("error body %q is not an error response: %v", body, err)
	}
	if er.Error.Message == "" {
		t.Errorf("error body %s has no message", body)
	}
	return er.Error.Code
}

func TestQueueAPIBadInput(t *testing.T) {
	_, _, base := newTestServer(t)
	setup := []struct{ method, path, body string }{
		{"POST", "/v1/queues", `{"name":"dead"}`},
		{"POST", "/v1/queues", `{"name":"work","max_receives":3,"dead_letter":"dead","max_message_size":"1KiB"}`},
	}
	for _, s := range setup {
		if status, body := call(t, base, s.method, s.path, s.body); status != http.StatusCreated {
			t.Fatalf("%s %s: got %d %s, want 201", s.method, s.path, status, body)
		}
	}
	big := strings.Repeat("x", 1025)
	eleven := `{"messages":[` + strings.TrimSuffix(strings.Repeat(`{"body":"x"},`, 11), ",") + `]}`
	tests := []struct {
		name               string
		method, path, body string
		status             int
		code               string
		contains           string
	}{
		{"unknown queue", "GET", "/v1/queues/nope", "", 404, "queue_not_found", "nope"},
		{"send to unknown queue", "POST", "/v1/queues/nope/messages", `{"body":"x"}`, 404, "queue_not_found", ""},
		{"message over the limit", "POST", "/v1/queues/work/messages", `{"body":"` + big + `"}`, 413, "message_too_large", "1024"},
		{"empty body", "POST", "/v1/queues/work/messages", `{"body":""}`, 400, "empty_body", ""},
		{"batch over 10", "POST", "/v1/queues/work/messages", eleven, 400, "batch_too_large", "11"},
		{"invalid name", "POST", "/v1/queues", `{"name":"no spaces"}`, 400, "invalid_queue_name", ""},
		{"malformed JSON", "POST", "/v1/queues", `{"name": "x",}`, 400, "invalid_json", "offset 14"},
		{"truncated JSON", "POST", "/v1/queues", `{"name": "x"`, 400, "invalid_json", "offset"},
		{"wrong type", "POST", "/v1/queues", `{"name": 5}`, 400, "invalid_json", "offset"},
		{"unknown field", "POST", "/v1/queues", `{"name": "x", "colour": "red"}`, 400, "invalid_json", "colour"},
		{"trailing data", "POST", "/v1/queues", `{"name": "x"} {}`, 400, "invalid_json", "offset"},
		{"bad duration", "POST", "/v1/queues", `{"name": "x", "retention": "forever"}`, 400, "invalid_json", ""},
		{"visibility over 12h", "POST", "/v1/queues", `{"name": "x", "visibility_timeout": "13h"}`, 400, "invalid_attribute", "12h"},
		{"conflicting create", "POST", "/v1/queues", `{"name": "dead", "visibility_timeout": "1m"}`, 409, "queue_exists", ""},
		{"wait over 20s", "POST", "/v1/queues/work/receive", `{"wait":"21s"}`, 400, "invalid_wait", "20s"},
		{"receive visibility over 12h", "POST", "/v1/queues/work/receive", `{"visibility_timeout":"13h"}`, 400, "invalid_visibility_timeout", ""},
		{"receive max 11", "POST", "/v1/queues/work/receive", `{"max":11}`, 400, "invalid_max", ""},
		{"visibility with a bad receipt", "POST", "/v1/queues/work/visibility", `{"receipt":"nope","timeout":"1s"}`, 400, "invalid_receipt", ""},
		{"delete a dead-letter target", "DELETE", "/v1/queues/dead", "", 409, "queue_in_use", "work"},
		{"rename by PATCH", "PATCH", "/v1/queues/work", `{"name":"other"}`, 400, "invalid_request", ""},
		{"no route", "GET", "/v1/nothing", "", 404, "route_not_found", ""},
		{"wrong method", "PUT", "/v1/queues/work", "", 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, base, tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Fatalf("got status %d (%s), want %d", status, body, tt.status)
			}
			if code := errorCode(t, body); code != tt.code {
				t.Errorf("got code %q, want %q (%s)", code, tt.code, body)
			}
			if !bytes.Contains(body, []byte(tt.contains)) {
				t.Errorf("body %s does not mention %q", body, tt.contains)
			}
		})
	}
	// Nothing above was half-applied: the failed creates left no queue and
	// the failed sends no message.
	status, body := call(t, base, "GET", "/v1/queues", "")
	var list api.QueueList
	if err := json.Unmarshal(body, &list); err != nil || status != 200 {
		t.Fatalf("list: %d %s", status, body)
	}
	if len(list.Queues) != 2 {
		t.Fatalf("got %d queues, want dead and work only", len(list.Queues))
	}
	for _, q := range list.Queues {
		if q.Stats.Sent != 0 || q.Stats.Visible != 0 {
			t.Errorf("queue %s got %d sent, %d visible; want none", q.Name, q.Stats.Sent, q.Stats.Visible)
		}
		if q.Name == "dead" && q.VisibilityTimeout.Std() != 30*time.Second {
			t.Errorf("the conflicting create changed dead's visibility timeout to %s", q.VisibilityTimeout)
		}
	}
}

func TestQueueAPIFlow(t *testing.T) {
	_, cl, base := newTestServer(t)
	ctx := context.Background()
	if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "dead"}); err != nil {
		t.Fatal(err)
	}
	two := 2
	dl := "dead"
	res, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "work", MaxReceives: &two, DeadLetter: &dl})
	if err != nil || !res.Created {
		t.Fatalf("create: %+v, %v", res, err)
	}
	again, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "work", MaxReceives: &two, DeadLetter: &dl})
	if err != nil || again.Created {
		t.Fatalf("identical create: got %+v, %v; want success, not created", again, err)
	}
	// Batch with one bad entry: the others are stored.
	sent, err := cl.Send(ctx, "work",
		api.SendMessage{Body: "a", Attributes: map[string]string{"kind": "test"}},
		api.SendMessage{Body: ""},
		api.SendMessage{Body: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if sent[0].ID == "" || sent[1].Error == nil || sent[1].Error.Code != "empty_body" || sent[2].ID == "" {
		t.Fatalf("got results %+v, want ok, empty_body, ok", sent)
	}
	zero := specs.Duration(0)
	msgs, err := cl.Receive(ctx, "work", api.ReceiveRequest{Max: 10, Wait: &zero})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("receive: got %d messages, %v; want 2", len(msgs), err)
	}
	if msgs[0].Body != "a" || msgs[0].Attributes["kind"] != "test" || msgs[0].ReceiveCount != 1 || msgs[0].ID != sent[0].ID {
		t.Errorf("got %+v, want message a with kind=test", msgs[0])
	}
	dres, err := cl.Delete(ctx, "work", msgs[0].Receipt, "garbage")
	if err != nil {
		t.Fatal(err)
	}
	if dres[0].Error != nil || dres[1].Error == nil || dres[1].Error.Code != "invalid_receipt" {
		t.Fatalf("delete results %+v, want ok and invalid_receipt", dres)
	}
	// Make c visible again twice: its third receive dead-letters it.
	if err := cl.ChangeVisibility(ctx, "work", msgs[1].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	m2, _ := cl.Receive(ctx, "work", api.ReceiveRequest{Wait: &zero, VisibilityTimeout: &zero})
	if len(m2) != 1 || m2[0].ReceiveCount != 2 {
		t.Fatalf("second receive: %+v", m2)
	}
	if m3, _ := cl.Receive(ctx, "work", api.ReceiveRequest{Wait: &zero}); len(m3) != 0 {
		t.Fatalf("third receive: got %+v, want c dead-lettered", m3)
	}
	q, err := cl.Queue(ctx, "dead")
	if err != nil || q.Stats.Visible != 1 {
		t.Fatalf("dead: %+v, %v; want 1 visible", q, err)
	}
	moved, err := cl.Redrive(ctx, "dead", 0)
	if err != nil || moved != 1 {
		t.Fatalf("redrive: %d, %v", moved, err)
	}
	n, err := cl.Purge(ctx, "work")
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	ten := specs.Duration(10 * time.Minute)
	upd, err := cl.UpdateQueue(ctx, "work", api.QueueSettings{VisibilityTimeout: &ten})
	if err != nil || upd.VisibilityTimeout.Std() != 10*time.Minute || upd.MaxReceives != 2 {
		t.Fatalf("update: %+v, %v; want visibility 10m and max_receives kept", upd, err)
	}
	// Metrics carry the queue figures in Prometheus text.
	status, body := call(t, base, "GET", "/metrics", "")
	for _, want := range []string{
		`docket_queue_messages{queue="work",state="visible"} 0`,
		`docket_queue_sent_total{queue="work"} 3`,
		`docket_queue_dead_lettered_total{queue="work"} 1`,
		`docket_queue_purged_total{queue="work"} 1`,
		`docket_queue_commit_duration_seconds_count`,
		`docket_http_request_duration_seconds_bucket{code="200",method="POST",route="POST /v1/queues/{name}/receive"`,
	} {
		if status != 200 || !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if h, err := cl.Health(ctx); err != nil || h.Status != "ok" {
		t.Errorf("health: %+v, %v", h, err)
	}
	if err := cl.DeleteQueue(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Queue(ctx, "work"); err == nil {
		t.Fatal("deleted queue still answers")
	}
}

func TestLongPollOverHTTP(t *testing.T) {
	_, cl, _ := newTestServer(t)
	ctx := context.Background()
	if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan []api.Message, 1)
	go func() {
		wait := specs.Duration(20 * time.Second)
		m, err := cl.Receive(ctx, "q", api.ReceiveRequest{Wait: &wait})
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	if _, err := cl.Send(ctx, "q", api.SendMessage{Body: "ping"}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; len(m) != 1 || m[0].Body != "ping" {
		t.Fatalf("got %+v, want ping delivered to the waiting receiver", m)
	}
}
