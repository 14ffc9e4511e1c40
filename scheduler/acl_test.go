package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
)

func errCode(err error) string {
	if e, ok := err.(*api.Error); ok {
		return e.Code
	}
	return fmt.Sprint(err)
}

// A node is its secret's: registering needs node:write, the answer
// carries a secret issued once, and heartbeats, the allocation watch,
// status reports and registering again need it — a management token
// without it included.
func TestNodeSecret(t *testing.T) {
	_, base, root := newSecureCluster(t, scheduler.Config{})
	ctx := context.Background()
	admin := api.NewClient(base).WithToken(root)
	if _, err := admin.ApplyPolicy(ctx, api.ACLPolicy{Name: "agent", Rules: `node "*" { capabilities = ["read", "write"] }`}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ApplyPolicy(ctx, api.ACLPolicy{Name: "viewer", Rules: `node "*" { capabilities = ["read"] }`}); err != nil {
		t.Fatal(err)
	}
	agentTok, _ := admin.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"agent"}})
	viewerTok, _ := admin.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"viewer"}})
	reg := api.RegisterNodeRequest{ID: "n1", Name: "n1", OS: "linux", Arch: "amd64", CPU: 4000, Memory: 4096, Class: "general"}
	if _, err := api.NewClient(base).WithToken(viewerTok.SecretID).RegisterNode(ctx, reg); errCode(err) != "permission_denied" {
		t.Fatalf("register with node:read only: %v", err)
	}
	agent := api.NewClient(base).WithToken(agentTok.SecretID)
	res, err := agent.RegisterNode(ctx, reg)
	if err != nil || len(res.NodeSecret) < 32 {
		t.Fatalf("register: %+v, %v; want a node secret", res, err)
	}
	own := agent.WithNodeSecret(res.NodeSecret)
	for name, cl := range map[string]*api.Client{
		"no secret": agent, "a wrong secret": agent.WithNodeSecret(strings.Repeat("x", 36)),
		"the management token without the secret": admin,
	} {
		if _, err := cl.Heartbeat(ctx, "n1", api.HeartbeatRequest{Healthy: true}); errCode(err) != "node_secret_mismatch" {
			t.Errorf("heartbeat with %s: %v, want node_secret_mismatch", name, err)
		}
		if _, err := cl.NodeAllocations(ctx, "n1", api.QueryOptions{}); errCode(err) != "node_secret_mismatch" {
			t.Errorf("allocation watch with %s: %v, want node_secret_mismatch", name, err)
		}
		if _, err := cl.RegisterNode(ctx, reg); errCode(err) != "node_secret_mismatch" {
			t.Errorf("registering n1 again with %s: %v, want node_secret_mismatch", name, err)
		}
	}
	if _, err := own.Heartbeat(ctx, "n1", api.HeartbeatRequest{Healthy: true}); err != nil {
		t.Errorf("heartbeat with the node's secret: %v", err)
	}
	again, err := own.RegisterNode(ctx, reg)
	if err != nil || again.NodeSecret != "" {
		t.Errorf("registering again with the secret: %+v, %v; want no new secret", again, err)
	}
	// The node's allocation: only its agent, with the secret, reports it.
	if _, err := admin.RegisterJobs(ctx, parseFile(t, webJob, map[string]string{"n": "1"})); err != nil {
		t.Fatal(err)
	}
	var alloc string
	waitFor(t, 5*time.Second, func() error {
		na, err := own.NodeAllocations(ctx, "n1", api.QueryOptions{})
		if err != nil || len(na.Allocations) == 0 {
			return fmt.Errorf("no allocation on n1 yet (%v)", err)
		}
		alloc = na.Allocations[0].ID
		return nil
	})
	running := api.AllocStatusRequest{ClientStatus: "running", Node: "n1"}
	if err := agent.UpdateAllocStatus(ctx, alloc, running); errCode(err) != "node_secret_mismatch" {
		t.Errorf("status report without the secret: %v", err)
	}
	if err := api.NewClient(base).WithToken(viewerTok.SecretID).WithNodeSecret(res.NodeSecret).UpdateAllocStatus(ctx, alloc, running); errCode(err) != "permission_denied" {
		t.Errorf("status report with node:read only: %v", err)
	}
	if err := own.UpdateAllocStatus(ctx, alloc, running); err != nil {
		t.Errorf("status report with the secret: %v", err)
	}
}

// A queue worker's token is a token scoped to its job's queue, and ends
// with its allocation.
func TestWorkerTokens(t *testing.T) {
	_, cl, base := newCluster(t, scheduler.Config{})
	ctx := context.Background()
	startNode(t, cl, "n1", 8000, 8192, nil, "")
	if _, err := cl.RegisterJobs(ctx, parseFile(t, scaledJob, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		cl.Send(ctx, "jobs", api.SendMessage{Body: fmt.Sprint(i)})
	}
	waitFor(t, 5*time.Second, func() error {
		if n := total(liveAllocs(t, cl, "workers")); n != 1 {
			return fmt.Errorf("%d workers, want 1", n)
		}
		return nil
	})
	runAll(t, cl, "workers")
	na, err := cl.NodeAllocations(ctx, "n1", api.QueryOptions{})
	if err != nil || len(na.Allocations) != 1 || na.Allocations[0].QueueToken == "" {
		t.Fatalf("worker allocations %+v, %v", na, err)
	}
	w := na.Allocations[0]
	worker := api.NewClient(base).WithToken(w.QueueToken)
	zero := specsDuration(0)
	if msgs, err := worker.Receive(ctx, "jobs", api.ReceiveRequest{Max: 1, Wait: &zero}); err != nil || len(msgs) != 1 {
		t.Errorf("the worker's receive: %v, %v", msgs, err)
	}
	if _, err := worker.Send(ctx, "jobs", api.SendMessage{Body: "more"}); err != nil {
		t.Errorf("the worker's send: %v", err)
	}
	if _, err := worker.Receive(ctx, "other", api.ReceiveRequest{Max: 1, Wait: &zero}); errCode(err) != "permission_denied" {
		t.Errorf("the worker on another queue: %v", err)
	}
	if _, _, err := worker.Jobs(ctx, api.QueryOptions{}); errCode(err) != "permission_denied" {
		t.Errorf("the worker listing jobs: %v", err)
	}
	if qs, err := worker.Queues(ctx); err != nil || len(qs) != 1 || qs[0].Name != "jobs" {
		t.Errorf("the worker's queue list: %+v, %v", qs, err)
	}
	if err := cl.UpdateAllocStatus(ctx, w.ID, api.AllocStatusRequest{ClientStatus: "complete", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.Receive(ctx, "jobs", api.ReceiveRequest{Max: 1, Wait: &zero}); errCode(err) != "acl_token_invalid" {
		t.Errorf("the worker's receive after its allocation ended: %v", err)
	}
}

// An expired token stays listed (as expired) for the garbage collector's
// age, then goes.
func TestExpiredTokensAreCollected(t *testing.T) {
	s, base, root := newSecureCluster(t, scheduler.Config{})
	ctx := context.Background()
	admin := api.NewClient(base).WithToken(root)
	if _, err := admin.ApplyPolicy(ctx, api.ACLPolicy{Name: "p", Rules: `queue "*" { capabilities = ["read"] }`}); err != nil {
		t.Fatal(err)
	}
	brief, err := admin.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"p"}, TTL: specsDuration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	lasting, err := admin.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"p"}, TTL: specsDuration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Collect(brief.ExpiresAt.Add(-time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Token(ctx, brief.AccessorID); err != nil {
		t.Fatalf("collected before its expiry: %v", err)
	}
	if _, err := s.Collect(brief.ExpiresAt.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Token(ctx, brief.AccessorID); errCode(err) != "acl_token_not_found" {
		t.Errorf("the expired token after collection: %v", err)
	}
	if _, err := admin.Token(ctx, lasting.AccessorID); err != nil {
		t.Errorf("a token not yet expired was collected: %v", err)
	}
}

// BenchmarkAuthenticate is a token check as every request makes it: a
// client token with a policy, resolved once and then found in the cache,
// and its capability checked on a queue.
func BenchmarkAuthenticate(b *testing.B) {
	s, _, root := newSecureCluster(b, scheduler.Config{})
	ctx := context.Background()
	id, err := s.Authenticate(root, "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.ApplyPolicy(ctx, id, api.ACLPolicy{Name: "p", Rules: `queue "orders-*" { capabilities = ["send", "receive"] }
job "*" { capabilities = ["read"] }`}); err != nil {
		b.Fatal(err)
	}
	tok, err := s.CreateToken(ctx, id, api.ACLTokenRequest{Policies: []string{"p"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		id, err := s.Authenticate(tok.SecretID, "")
		if err != nil || !id.ACL.Allowed("queue", "orders-7", "send") {
			b.Fatal("denied", err)
		}
	}
}
