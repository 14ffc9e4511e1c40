package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestTopicCommands(t *testing.T) {
	env := startServer(t)
	run := cliRunner(t, env)
	run(0, "queue", "create", "billing")
	run(0, "queue", "create", "audit")
	if out := run(0, "topic", "create", "orders", "--attribute", "DisplayName=Orders"); !strings.Contains(out, "arn:aws:sns:us-east-1:000000000000:orders") {
		t.Errorf("topic create printed %q", out)
	}
	run(0, "topic", "subscribe", "orders", "--queue", "billing", "--raw", "--filter-policy", `{"kind":["paid"]}`)
	run(0, "topic", "subscribe", "orders", "--queue", "audit", "--filter-body", "--filter-policy", `{"total":[{"numeric":[">",100]}]}`)
	if out := run(1, "topic", "subscribe", "orders", "--queue", "billing", "--filter-policy", `{"kind":"paid"}`); !strings.Contains(out, `"kind" must be an object or an array`) {
		t.Errorf("a bad filter policy: %q", out)
	}
	if out := run(0, "topic", "publish", "orders", `{"total":150}`, "--attribute", "kind=paid", "--subject", "s"); !strings.Contains(out, "to 2 subscriptions (0 filtered out)") {
		t.Errorf("publish printed %q", out)
	}
	if out := run(0, "topic", "publish", "orders", `{"total":5}`, "--typed-attribute", "kind=String:refund"); !strings.Contains(out, "to 0 subscriptions (2 filtered out)") {
		t.Errorf("publish printed %q", out)
	}
	if out := run(1, "topic", "publish", "orders", "x", "--typed-attribute", "n=Number:many"); !strings.Contains(out, "invalid_attribute_value") {
		t.Errorf("a bad Number attribute: %q", out)
	}
	out := run(0, "topic", "status", "orders")
	for _, want := range []string{"Attribute DisplayName", "billing", "raw", `{"kind":["paid"]}`, "audit", "envelope", "body: "} {
		if !strings.Contains(out, want) {
			t.Errorf("topic status lacks %q:\n%s", want, out)
		}
	}
	if out := run(0, "queue", "receive", "billing"); !strings.Contains(out, `{"total":150}`) {
		t.Errorf("billing received %q", out)
	}
	if out := run(0, "queue", "receive", "audit"); !strings.Contains(out, "Notification") || !strings.Contains(out, "TopicArn") {
		t.Errorf("audit received %q", out)
	}
	var list []struct {
		Name          string `json:"name"`
		Subscriptions int    `json:"subscriptions"`
	}
	if err := json.Unmarshal([]byte(run(0, "topic", "list", "-o", "json")), &list); err != nil || len(list) != 1 || list[0].Subscriptions != 2 {
		t.Errorf("topic list -o json: %+v, %v", list, err)
	}
	var st struct {
		SubscriptionList []struct {
			ID       string `json:"id"`
			Endpoint string `json:"endpoint"`
		} `json:"subscription_list"`
	}
	if err := json.Unmarshal([]byte(run(0, "topic", "status", "orders", "-o", "json")), &st); err != nil || len(st.SubscriptionList) != 2 {
		t.Fatalf("topic status -o json: %+v, %v", st, err)
	}
	// A job file's topic: the plan says what it would make, the run
	// makes it, and a changed filter policy is an update.
	file := filepath.Join(t.TempDir(), "topics.hcl")
	hcl := `topic "orders" {
  subscription {
    queue         = "billing"
    raw           = true
    filter_policy = jsonencode({ kind = ["paid"] })
  }
}
topic "events" {
  subscription { queue = "audit" }
}
`
	if err := os.WriteFile(file, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	out = run(0, "job", "plan", file)
	if !regexp.MustCompile(`topic orders\s+none`).MatchString(out) || !regexp.MustCompile(`topic events\s+create\n\s+\+ queue audit`).MatchString(out) {
		t.Errorf("job plan printed:\n%s", out)
	}
	if out := run(0, "job", "run", file); !strings.Contains(out, `==> topic "events" created, 1 subscription registered`) {
		t.Errorf("job run printed:\n%s", out)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(hcl, `["paid"]`, `["paid", "settled"]`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run(0, "job", "plan", file); !regexp.MustCompile(`topic orders\s+update\n\s+~ queue billing`).MatchString(out) {
		t.Errorf("job plan of a changed filter policy printed:\n%s", out)
	}
	run(0, "topic", "delete", "events")

	run(0, "topic", "unsubscribe", st.SubscriptionList[0].ID)
	run(1, "topic", "unsubscribe", st.SubscriptionList[0].ID)
	run(0, "topic", "delete", "orders")
	run(1, "topic", "status", "orders")
}
