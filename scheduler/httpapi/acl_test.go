package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/acltest"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/acl"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// newACLServer starts a server with its API on a loopback port that adds
// no credentials, bootstraps it, and returns its address and a client
// with the management token.
func newACLServer(t testing.TB) (string, *api.Client) {
	t.Helper()
	s := runScheduler(t, scheduler.Config{})
	hs := httptest.NewServer(New(s).Handler())
	t.Cleanup(func() { hs.Close() })
	// Before the bootstrap, every route but the health check (and the
	// bootstrap) answers 401.
	if code, body := callWith(t, hs.URL, "", "GET", "/v1/queues"); code != http.StatusUnauthorized || !strings.Contains(body, "acl_token_missing") || !strings.Contains(body, "bootstrap") {
		t.Fatalf("before the bootstrap: %d %s", code, body)
	}
	if code, _ := callWith(t, hs.URL, "", "GET", "/v1/health"); code != http.StatusOK {
		t.Fatalf("health before the bootstrap: %d", code)
	}
	root := api.NewClient(hs.URL)
	boot, err := root.Bootstrap(context.Background())
	if err != nil || boot.SecretID == "" || boot.AccessorID == "" || boot.Type != api.TokenManagement {
		t.Fatalf("bootstrap: %+v, %v", boot, err)
	}
	if _, err := root.Bootstrap(context.Background()); apiCode(err) != "acl_bootstrapped" {
		t.Fatalf("second bootstrap: %v, want acl_bootstrapped", err)
	}
	return hs.URL, root.WithToken(boot.SecretID)
}

func apiCode(err error) string {
	if e, ok := err.(*api.Error); ok {
		return e.Code
	}
	return fmt.Sprint(err)
}

// callWith sends a request with token (none if "") and acltest's node
// secret, waiting at most two seconds for the answer's headers.
func callWith(t testing.TB, base, token, method, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set(api.NodeSecretHeader, acltest.NodeSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, string(buf[:n])
}

// tokenWith makes a policy of one rule and a token carrying it.
func tokenWith(t testing.TB, root *api.Client, resource, capability string) string {
	t.Helper()
	name := resource + "-" + capability
	rule := fmt.Sprintf("%s \"*\" {\n  capabilities = [%q]\n}\n", resource, capability)
	if resource == "operator" || resource == "acl" {
		rule = fmt.Sprintf("%s {\n  capabilities = [%q]\n}\n", resource, capability)
	}
	if _, err := root.ApplyPolicy(context.Background(), api.ACLPolicy{Name: name, Rules: rule}); err != nil {
		t.Fatalf("policy %s: %v", name, err)
	}
	tok, err := root.CreateToken(context.Background(), api.ACLTokenRequest{Name: name, Policies: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.SecretID
}

// TestEveryRouteIsChecked walks the whole route table and calls every
// route without a token (401), with an unknown one (401), with a token
// whose policy grants every other capability of the route's resource but
// the one it needs (403), and with one that grants just that (neither).
// A route without a capability fails TestEveryRouteNamesItsCapability.
func TestEveryRouteIsChecked(t *testing.T) {
	base, root := newACLServer(t)
	ctx := context.Background()
	// Something for the routes to find: a queue, a node with acltest's
	// secret.
	if _, err := root.CreateQueue(ctx, api.QueueSettings{Name: "x1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.WithNodeSecret(acltest.NodeSecret).RegisterNode(ctx, api.RegisterNodeRequest{ID: "x1", Name: "x1", OS: "linux", Arch: "amd64", CPU: 1000, Memory: 1024}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	token := func(resource, capability string) string {
		key := resource + ":" + capability
		if tokens[key] == "" {
			tokens[key] = tokenWith(t, root, resource, capability)
		}
		return tokens[key]
	}
	wildcard := regexp.MustCompile(`\{\w+\}`)
	checked := 0
	for _, rt := range routes {
		if rt.need.Public() {
			continue
		}
		method, pattern, _ := strings.Cut(rt.pattern, " ")
		path := wildcard.ReplaceAllString(pattern, "x1")
		if rt.limits.hold > 0 {
			path += "?wait=0s" // an answer at once
		}
		t.Run(rt.pattern, func(t *testing.T) {
			if code, body := callWith(t, base, "", method, path); code != http.StatusUnauthorized || !strings.Contains(body, "acl_token_missing") {
				t.Errorf("no token: %d %s", code, body)
			}
			if code, body := callWith(t, base, "not-a-token", method, path); code != http.StatusUnauthorized || !strings.Contains(body, "acl_token_invalid") {
				t.Errorf("unknown token: %d %s", code, body)
			}
			for _, other := range acl.Capabilities(rt.need.Resource) {
				if other == rt.need.Capability {
					continue
				}
				if code, body := callWith(t, base, token(rt.need.Resource, other), method, path); code != http.StatusForbidden || !strings.Contains(body, "permission_denied") {
					t.Errorf("with %s:%s only: %d %s", rt.need.Resource, other, code, body)
				}
			}
			if code, body := callWith(t, base, token(rt.need.Resource, rt.need.Capability), method, path); code == http.StatusUnauthorized || code == http.StatusForbidden {
				t.Errorf("with %s:%s: %d %s", rt.need.Resource, rt.need.Capability, code, body)
			}
		})
		checked++
	}
	if checked < 30 {
		t.Errorf("checked %d routes; is the table empty?", checked)
	}
}

// Tokens in use: a policy's rules and globs decide, a deleted policy
// takes its grants away at once, a revoked token and an expired one stop
// working at once, lists show only what the token may read, and the
// metrics count the outcomes.
func TestTokensAndPolicies(t *testing.T) {
	base, root := newACLServer(t)
	ctx := context.Background()
	for _, q := range []string{"orders-1", "orders-2", "billing"} {
		if _, err := root.CreateQueue(ctx, api.QueueSettings{Name: q}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := root.ApplyPolicy(ctx, api.ACLPolicy{Name: "bad", Rules: `queue "x" { capabilities = ["fly"] }`}); apiCode(err) != "invalid_policy" || !strings.Contains(err.Error(), "bad.hcl:1") {
		t.Errorf("a policy with a mistake: %v, want invalid_policy with where", err)
	}
	if _, err := root.ApplyPolicy(ctx, api.ACLPolicy{Name: "orders", Rules: `
queue "orders-*" {
  capabilities = ["read", "send"]
}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"nope"}}); apiCode(err) != "acl_policy_not_found" {
		t.Errorf("a token with an unknown policy: %v", err)
	}
	tok, err := root.CreateToken(ctx, api.ACLTokenRequest{Name: "producer", Policies: []string{"orders"}})
	if err != nil || tok.SecretID == "" || tok.AccessorID == "" {
		t.Fatalf("create: %+v, %v", tok, err)
	}
	producer := api.NewClient(base).WithToken(tok.SecretID)
	if _, err := producer.Send(ctx, "orders-1", api.SendMessage{Body: "b"}); err != nil {
		t.Errorf("send to orders-1: %v", err)
	}
	if _, err := producer.Send(ctx, "billing", api.SendMessage{Body: "b"}); apiCode(err) != "permission_denied" {
		t.Errorf("send to billing: %v, want permission_denied", err)
	}
	if _, err := producer.Receive(ctx, "orders-1", api.ReceiveRequest{Max: 1}); apiCode(err) != "permission_denied" {
		t.Errorf("receive from orders-1: %v, want permission_denied", err)
	}
	qs, err := producer.Queues(ctx)
	if err != nil || len(qs) != 2 || qs[0].Name != "orders-1" || qs[1].Name != "orders-2" {
		t.Errorf("the producer's queue list: %+v, %v; want orders-1 and orders-2 only", qs, err)
	}
	if _, err := producer.CreateQueue(ctx, api.QueueSettings{Name: "orders-3"}); apiCode(err) != "permission_denied" {
		t.Errorf("create orders-3 without write: %v", err)
	}
	// The token shows no secret once made; the list neither.
	info, err := root.Token(ctx, tok.AccessorID)
	if err != nil || info.SecretID != "" || info.Name != "producer" || len(info.Policies) != 1 {
		t.Errorf("token info: %+v, %v", info, err)
	}
	list, _ := root.Tokens(ctx)
	b, _ := json.Marshal(list)
	if len(list) != 2 || strings.Contains(string(b), tok.SecretID) {
		t.Errorf("token list %s: want two tokens, no secrets", b)
	}
	// The policy gone, its grants go.
	if err := root.DeletePolicy(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.Send(ctx, "orders-1", api.SendMessage{Body: "b"}); apiCode(err) != "permission_denied" {
		t.Errorf("send after the policy was deleted: %v", err)
	}
	// Revoked: refused at once.
	if _, err := root.ApplyPolicy(ctx, api.ACLPolicy{Name: "orders", Rules: `queue "orders-*" { capabilities = ["send"] }`}); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.Send(ctx, "orders-1", api.SendMessage{Body: "b"}); err != nil {
		t.Errorf("send with the policy back: %v", err)
	}
	if err := root.DeleteToken(ctx, tok.AccessorID); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.Send(ctx, "orders-1", api.SendMessage{Body: "b"}); apiCode(err) != "acl_token_invalid" {
		t.Errorf("send with a revoked token: %v", err)
	}
	// Expired: refused once its time has come.
	short, err := root.CreateToken(ctx, api.ACLTokenRequest{Policies: []string{"orders"}, TTL: specs.Duration(time.Second)})
	if err != nil || short.ExpiresAt.IsZero() {
		t.Fatalf("a token with a ttl: %+v, %v", short, err)
	}
	brief := api.NewClient(base).WithToken(short.SecretID)
	for time.Now().Before(short.ExpiresAt) {
		if _, err := brief.Send(ctx, "orders-1", api.SendMessage{Body: "b"}); err != nil && time.Now().Before(short.ExpiresAt.Add(-100*time.Millisecond)) {
			t.Fatalf("send before the token expired: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := brief.Send(ctx, "orders-1", api.SendMessage{Body: "b"}); apiCode(err) != "acl_token_invalid" || !strings.Contains(err.Error(), "expired") {
		t.Errorf("send with an expired token: %v", err)
	}
	// Only acl:write makes tokens and policies.
	if _, err := brief.CreateToken(ctx, api.ACLTokenRequest{Type: api.TokenManagement}); apiCode(err) != "acl_token_invalid" {
		t.Errorf("an expired token making a management token: %v", err)
	}
	// The metrics count what was decided.
	metrics := metricsBody(t, base, root.TokenSecret())
	for _, outcome := range []string{"allowed", "denied", "invalid"} {
		if !regexp.MustCompile(`docket_acl_requests_total\{outcome="` + outcome + `"\} [1-9]`).MatchString(metrics) {
			t.Errorf("docket_acl_requests_total for %s is not counted", outcome)
		}
	}
}

func metricsBody(t testing.TB, base, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set(api.TokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}
