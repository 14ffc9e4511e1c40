package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
)

// An outbox is a queue only through its handle: the queue API neither
// lists nor reaches it, a queue cannot name it as its dead-letter queue,
// and a publish fans out to it and to queues in one record that a restart
// keeps.
func TestOutboxIsHiddenFromTheQueueAPI(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, Config{})
	mustCreate(t, e, "billing", nil)
	if _, err := e.CreateOutbox("~bad", DefaultAttributes()); errdefs.Code(err, "") != "invalid_queue_name" {
		t.Fatalf("CreateOutbox with a bad id: %v", err)
	}
	ob, err := e.CreateOutbox("sub1", DefaultAttributes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateOutbox("sub1", DefaultAttributes()); err != nil {
		t.Fatalf("CreateOutbox again: %v", err)
	}
	name := ob.Name()
	if _, err := e.CreateQueue(name, DefaultAttributes()); errdefs.Code(err, "") != "invalid_queue_name" {
		t.Fatalf("CreateQueue(%q): %v", name, err)
	}
	for what, err := range map[string]error{
		"Queue":            func() error { _, err := e.Queue(name); return err }(),
		"Stats":            func() error { _, err := e.Stats(name); return err }(),
		"Send":             func() error { _, err := e.Send(name, []SendInput{{Body: []byte("x")}}); return err }(),
		"Receive":          func() error { _, err := e.Receive(context.Background(), name, ReceiveOptions{}); return err }(),
		"Delete":           func() error { _, err := e.Delete(name, []string{"r"}); return err }(),
		"ChangeVisibility": e.ChangeVisibility(name, "r", 0),
		"Purge":            func() error { _, err := e.Purge(name); return err }(),
		"SetAttributes":    e.SetAttributes(name, DefaultAttributes()),
		"DeleteQueue":      e.DeleteQueue(name),
	} {
		if errdefs.Code(err, "") != "queue_not_found" {
			t.Errorf("%s(%q): %v, want queue_not_found", what, name, err)
		}
	}
	for _, in := range e.Queues() {
		if in.Name == name {
			t.Errorf("Queues lists the outbox")
		}
	}
	a := DefaultAttributes()
	a.MaxReceives, a.DeadLetter = 3, name
	if _, err := e.CreateQueue("other", a); err == nil {
		t.Errorf("a queue took the outbox as its dead_letter")
	}
	if got := e.Outboxes(); !slices.Equal(got, []string{"sub1"}) {
		t.Errorf("Outboxes = %v", got)
	}
	if _, err := e.Publish([]PublishTarget{{Queue: "billing", Message: SendInput{Body: []byte("q")}},
		{Queue: name, Message: SendInput{Body: []byte("o")}}}); err != nil {
		t.Fatal(err)
	}
	e.Close()

	e = openEngine(t, dir, Config{})
	ob = e.Outbox("sub1")
	wantStats(t, e, "billing", 1, 0, 0)
	msgs, err := ob.Receive(context.Background(), ReceiveOptions{VisibilityTimeout: dur(time.Minute)})
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != "o" {
		t.Fatalf("outbox receive after a restart: %v, %v", msgs, err)
	}
	// Retry makes it visible again after the delay; the next receive
	// counts a second attempt.
	if err := ob.Retry(msgs[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	msgs, err = ob.Receive(context.Background(), ReceiveOptions{})
	if err != nil || len(msgs) != 1 || msgs[0].ReceiveCount != 2 {
		t.Fatalf("second receive: %v, %v", msgs, err)
	}
	mustCreate(t, e, "dlq", nil)
	if err := ob.DeadLetter(msgs[0].Receipt, "dlq", []Attr{{Name: "why", Type: "String", Value: []byte("gave up")}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := ob.Stats(); st.Visible+st.InFlight != 0 {
		t.Errorf("outbox still holds %+v", st)
	}
	got := mustReceive(t, e, "dlq", ReceiveOptions{})
	if len(got) != 1 || string(got[0].Body) != "o" || len(got[0].Attributes) != 1 || got[0].Attributes[0].Name != "why" {
		t.Fatalf("dead-lettered: %+v", got)
	}
	if _, err := ob.Send([]SendInput{{Body: []byte("p")}}); err != nil {
		t.Fatal(err)
	}
	msgs, _ = ob.Receive(context.Background(), ReceiveOptions{})
	if res, err := ob.Settle([]string{msgs[0].Receipt}); err != nil || res[0] != nil {
		t.Fatalf("Settle: %v %v", res, err)
	}
	if err := ob.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Stats(); errdefs.Code(err, "") != "queue_not_found" {
		t.Errorf("Stats of a deleted outbox: %v", err)
	}
	if len(e.Outboxes()) != 0 {
		t.Errorf("Outboxes after delete = %v", e.Outboxes())
	}
}
