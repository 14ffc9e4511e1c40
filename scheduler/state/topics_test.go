package state

import (
	"path/filepath"
	"testing"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
)

// Topics and their subscriptions: a subscription needs its topic, a
// topic's deletion takes its subscriptions, and a restart loads both.
func TestTopics(t *testing.T) {
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(UpsertSubscriptions{Subscriptions: []*Subscription{{ID: "s1", Topic: "orders", Protocol: ProtocolSQS, Endpoint: "q"}}}); errdefs.Code(err, "") != "topic_not_found" {
		t.Fatalf("a subscription to no topic: %v", err)
	}
	mustApply(t, s, UpsertTopic{Topic: &Topic{Name: "orders"}})
	mustApply(t, s, UpsertTopic{Topic: &Topic{Name: "other"}})
	mustApply(t, s, UpsertSubscriptions{Subscriptions: []*Subscription{
		{ID: "s1", Topic: "orders", Protocol: ProtocolSQS, Endpoint: "q"},
		{ID: "s2", Topic: "orders", Protocol: ProtocolHTTPS, Endpoint: "https://h/"},
		{ID: "s3", Topic: "other", Protocol: ProtocolSQS, Endpoint: "q"},
	}})
	if _, err := s.Apply(UpsertSubscriptions{Subscriptions: []*Subscription{{ID: "s1", Topic: "other", Protocol: ProtocolSQS, Endpoint: "q"}}}); errdefs.Code(err, "") != "subscription_exists" {
		t.Fatalf("moving a subscription to another topic: %v", err)
	}
	if _, err := s.Apply(UpsertSubscriptions{Subscriptions: []*Subscription{{ID: "s9", Topic: "other", Protocol: "smtp", Endpoint: "x"}}}); errdefs.Code(err, "") != "invalid_protocol" {
		t.Fatalf("an unknown protocol: %v", err)
	}
	mustApply(t, s, DeleteTopic{Name: "orders"})
	s.View(func(r *Reader) {
		if r.Topic("orders") != nil || r.Subscription("s1") != nil || r.Subscription("s2") != nil || len(r.TopicSubscriptions("orders")) != 0 {
			t.Error("the deleted topic or its subscriptions are left")
		}
		if subs := r.TopicSubscriptions("other"); len(subs) != 1 || subs[0].ID != "s3" {
			t.Errorf("other's subscriptions %+v", subs)
		}
	})
	if s, err = Open(db, nil); err != nil { // a restart: loaded from the store
		t.Fatal(err)
	}
	s.View(func(r *Reader) {
		if len(r.Topics()) != 1 || r.Topic("other") == nil || len(r.Subscriptions()) != 1 || r.Subscription("s3").Endpoint != "q" {
			t.Errorf("after a restart: topics %+v, subscriptions %+v", r.Topics(), r.Subscriptions())
		}
	})
}
