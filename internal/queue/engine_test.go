package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
)

// clock is a settable clock for tests that need to move time.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// stoppedClock is a clock that moves only when the test moves it: the
// same operations see the same times.
type stoppedClock struct{ ns atomic.Int64 }

func (c *stoppedClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *stoppedClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func openEngine(t testing.TB, dir string, cfg Config) *Engine {
	t.Helper()
	cfg.Dir = dir
	e, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newEngine(t testing.TB) *Engine {
	t.Helper()
	return openEngine(t, t.TempDir(), Config{})
}

func mustCreate(t testing.TB, e *Engine, name string, mod func(*Attributes)) {
	t.Helper()
	a := DefaultAttributes()
	if mod != nil {
		mod(&a)
	}
	if _, err := e.CreateQueue(name, a); err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
}

func mustSend(t testing.TB, e *Engine, queue string, bodies ...string) []string {
	t.Helper()
	in := make([]SendInput, len(bodies))
	for i, b := range bodies {
		in[i] = SendInput{Body: []byte(b)}
	}
	res, err := e.Send(queue, in)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("Send entry %d: %v", i, r.Err)
		}
		ids[i] = r.ID
	}
	return ids
}

func dur(d time.Duration) *time.Duration { return &d }

func mustReceive(t testing.TB, e *Engine, queue string, opts ReceiveOptions) []Message {
	t.Helper()
	if opts.Wait == nil {
		opts.Wait = dur(0)
	}
	msgs, err := e.Receive(context.Background(), queue, opts)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return msgs
}

func mustDelete(t testing.TB, e *Engine, queue string, receipts ...string) {
	t.Helper()
	res, err := e.Delete(queue, receipts)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for i, err := range res {
		if err != nil {
			t.Fatalf("Delete entry %d: %v", i, err)
		}
	}
}

func wantStats(t testing.TB, e *Engine, queue string, visible, inFlight, delayed int) Stats {
	t.Helper()
	s, err := e.Stats(queue)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if s.Visible != visible || s.InFlight != inFlight || s.Delayed != delayed {
		t.Fatalf("stats of %s: got visible=%d in_flight=%d delayed=%d, want %d %d %d",
			queue, s.Visible, s.InFlight, s.Delayed, visible, inFlight, delayed)
	}
	return s
}

func TestCreateQueue(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "dead", nil)
	a := DefaultAttributes()
	a.MaxReceives, a.DeadLetter = 3, "dead"
	tests := []struct {
		name     string
		queue    string
		attrs    Attributes
		created  bool
		wantErr  error
		wantCode string
	}{
		{"new", "work", a, true, nil, ""},
		{"identical again", "work", a, false, nil, ""},
		{"different attributes", "work", DefaultAttributes(), false, errdefs.ErrConflict, "queue_exists"},
		{"bad name", "has space", a, false, errdefs.ErrInvalid, "invalid_queue_name"},
		{"name too long", strings.Repeat("a", 81), a, false, errdefs.ErrInvalid, "invalid_queue_name"},
		{"empty name", "", a, false, errdefs.ErrInvalid, "invalid_queue_name"},
		{"non-ASCII name", "queué", a, false, errdefs.ErrInvalid, "invalid_queue_name"},
		{"longest name", strings.Repeat("Z", 78) + "-_", DefaultAttributes(), true, nil, ""},
		{"missing dead letter", "other", func() Attributes { b := a; b.DeadLetter = "nope"; return b }(), false, errdefs.ErrInvalid, "dead_letter_not_found"},
		{"own dead letter", "self", func() Attributes { b := a; b.DeadLetter = "self"; return b }(), false, errdefs.ErrInvalid, "invalid_attribute"},
		{"visibility over 12h", "vt", func() Attributes { b := DefaultAttributes(); b.VisibilityTimeout = 13 * time.Hour; return b }(), false, errdefs.ErrInvalid, "invalid_attribute"},
		{"wait over 20s", "wait", func() Attributes { b := DefaultAttributes(); b.ReceiveWait = 21 * time.Second; return b }(), false, errdefs.ErrInvalid, "invalid_attribute"},
		{"dead letter without max receives", "dl", func() Attributes { b := DefaultAttributes(); b.DeadLetter = "dead"; return b }(), false, errdefs.ErrInvalid, "invalid_attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := e.CreateQueue(tt.queue, tt.attrs)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if code := errdefs.Code(err, ""); code != tt.wantCode {
				t.Errorf("got code %q, want %q", code, tt.wantCode)
			}
			if created != tt.created {
				t.Errorf("got created %v, want %v", created, tt.created)
			}
		})
	}
	err := e.DeleteQueue("dead")
	if !errors.Is(err, errdefs.ErrConflict) || errdefs.Code(err, "") != "queue_in_use" {
		t.Fatalf("deleting a dead-letter target: got %v, want queue_in_use conflict", err)
	}
	for _, q := range []string{"work", strings.Repeat("Z", 78) + "-_"} {
		if err := e.DeleteQueue(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DeleteQueue("dead"); err != nil {
		t.Fatalf("deleting a dead-letter queue no longer used: %v", err)
	}
	if _, err := e.Stats("work"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("stats of a deleted queue: got %v, want not found", err)
	}
	if got := len(e.Queues()); got != 0 {
		t.Fatalf("got %d queues after deleting all, want 0", got)
	}
}

func TestSendReceiveDelete(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	res, err := e.Send("q", []SendInput{
		{Body: []byte("one"), Attributes: []Attr{{Name: "kind", Type: "String", Value: []byte("a")}}},
		{Body: []byte("two")},
		{Body: []byte("three")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantStats(t, e, "q", 3, 0, 0)
	msgs := mustReceive(t, e, "q", ReceiveOptions{Max: 10})
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3", len(msgs))
	}
	for i, m := range msgs {
		if m.ID != res[i].ID {
			t.Errorf("message %d: got id %s, want %s (oldest first)", i, m.ID, res[i].ID)
		}
		if m.ReceiveCount != 1 {
			t.Errorf("message %d: got receive count %d, want 1", i, m.ReceiveCount)
		}
	}
	if string(msgs[0].Body) != "one" || len(msgs[0].Attributes) != 1 || string(msgs[0].Attributes[0].Value) != "a" {
		t.Errorf("got body %q attributes %+v, want one with kind=a", msgs[0].Body, msgs[0].Attributes)
	}
	wantStats(t, e, "q", 0, 3, 0)
	if again := mustReceive(t, e, "q", ReceiveOptions{Max: 10}); len(again) != 0 {
		t.Fatalf("received %d hidden messages, want 0", len(again))
	}
	mustDelete(t, e, "q", msgs[0].Receipt, msgs[1].Receipt)
	// Deleting again is harmless; a garbage receipt is not.
	results, err := e.Delete("q", []string{msgs[0].Receipt, "garbage"})
	if err != nil {
		t.Fatal(err)
	}
	if results[0] != nil {
		t.Errorf("second delete of the same receipt: got %v, want success", results[0])
	}
	if errdefs.Code(results[1], "") != "invalid_receipt" {
		t.Errorf("garbage receipt: got %v, want invalid_receipt", results[1])
	}
	s := wantStats(t, e, "q", 0, 1, 0)
	want := Totals{Sent: 3, Received: 3, Deleted: 2}
	if s.Totals != want {
		t.Errorf("got totals %+v, want %+v", s.Totals, want)
	}
}

func TestBatchLimitsAndPartialFailure(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", func(a *Attributes) { a.MaxMessageSize = 1024 })
	res, err := e.Send("q", []SendInput{
		{Body: []byte("fits")},
		{Body: make([]byte, 1025)},
		{Body: []byte("bad delay"), Delay: dur(16 * time.Minute)},
		{Body: []byte("bad attribute"), Attributes: []Attr{{Name: "a b", Type: "String"}}},
		{Body: []byte("also fits")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := []string{"", "message_too_large", "invalid_delay", "invalid_attribute_name", ""}
	for i, r := range res {
		if got := errdefs.Code(r.Err, ""); got != wantCodes[i] {
			t.Errorf("entry %d: got code %q (%v), want %q", i, got, r.Err, wantCodes[i])
		}
		if (r.ID == "") != (wantCodes[i] != "") {
			t.Errorf("entry %d: got id %q with error %v", i, r.ID, r.Err)
		}
	}
	if !errors.Is(res[1].Err, errdefs.ErrTooLarge) {
		t.Errorf("oversized entry: got %v, want ErrTooLarge", res[1].Err)
	}
	wantStats(t, e, "q", 2, 0, 0)
	if _, err := e.Send("q", make([]SendInput, 11)); errdefs.Code(err, "") != "batch_too_large" {
		t.Errorf("11 entries: got %v, want batch_too_large", err)
	}
	if _, err := e.Send("nope", []SendInput{{Body: []byte("x")}}); errdefs.Code(err, "") != "queue_not_found" {
		t.Errorf("unknown queue: got %v, want queue_not_found", err)
	}
	if _, err := e.Receive(context.Background(), "q", ReceiveOptions{Max: 11}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("max 11: got %v, want invalid", err)
	}
	if _, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(21 * time.Second)}); errdefs.Code(err, "") != "invalid_wait" {
		t.Errorf("wait 21s: got %v, want invalid_wait", err)
	}
}

func TestVisibilityTimeoutAndOutdatedReceipt(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	mustSend(t, e, "q", "x")
	first := mustReceive(t, e, "q", ReceiveOptions{VisibilityTimeout: dur(50 * time.Millisecond)})
	if len(first) != 1 {
		t.Fatalf("got %d messages, want 1", len(first))
	}
	// The timer makes it visible again; a waiting receiver gets it.
	second, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(20 * time.Second)})
	if err != nil || len(second) != 1 {
		t.Fatalf("got %d messages, %v; want the message back after its visibility timeout", len(second), err)
	}
	if second[0].ReceiveCount != 2 || second[0].ID != first[0].ID {
		t.Fatalf("got %s count %d, want %s count 2", second[0].ID, second[0].ReceiveCount, first[0].ID)
	}
	res, err := e.Delete("q", []string{first[0].Receipt})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0], errdefs.ErrOutdated) {
		t.Fatalf("delete with the first receipt: got %v, want outdated", res[0])
	}
	if err := e.ChangeVisibility("q", first[0].Receipt, time.Minute); !errors.Is(err, errdefs.ErrOutdated) {
		t.Fatalf("change visibility with the first receipt: got %v, want outdated", err)
	}
	// Visibility 0 makes it visible at once.
	if err := e.ChangeVisibility("q", second[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	wantStats(t, e, "q", 1, 0, 0)
	if err := e.ChangeVisibility("q", second[0].Receipt, time.Minute); errdefs.Code(err, "") != "message_not_in_flight" {
		t.Fatalf("change visibility of a visible message: got %v, want message_not_in_flight", err)
	}
	third := mustReceive(t, e, "q", ReceiveOptions{})
	if err := e.ChangeVisibility("q", third[0].Receipt, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantStats(t, e, "q", 0, 1, 0)
	mustDelete(t, e, "q", third[0].Receipt)
	wantStats(t, e, "q", 0, 0, 0)
}

func TestLongPollWakesOnSend(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	got := make(chan []Message, 1)
	errc := make(chan error, 1)
	w, err := e.Watch("q")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	go func() {
		m, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(20 * time.Second)})
		errc <- err
		got <- m
	}()
	mustSend(t, e, "q", "wake up")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Had the receiver not been woken it would have returned nothing
	// after its 20 s wait.
	if m := <-got; len(m) != 1 || string(m[0].Body) != "wake up" {
		t.Fatalf("got %v, want the message sent while waiting", m)
	}
	select {
	case <-w.C:
	default:
		t.Fatal("watcher was not signalled by the send")
	}
}

func TestReceiveHonoursContext(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Receive(ctx, "q", ReceiveOptions{Wait: dur(20 * time.Second)})
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// StopWaits ends a waiting receive with no messages and makes later ones
// answer at once, still with the messages there are.
func TestStopWaits(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	type result struct {
		msgs []Message
		err  error
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(20 * time.Second)})
		done <- result{msgs, err}
	}()
	time.Sleep(20 * time.Millisecond) // most likely waiting by now; either way it must end
	e.StopWaits()
	select {
	case r := <-done:
		if r.err != nil || len(r.msgs) != 0 {
			t.Fatalf("the waiting receive got %v, %v; want nothing", r.msgs, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the receive still waits after StopWaits")
	}
	go func() {
		msgs, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(20 * time.Second)})
		done <- result{msgs, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || len(r.msgs) != 0 {
			t.Fatalf("a receive after StopWaits got %v, %v; want nothing", r.msgs, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a receive after StopWaits waited")
	}
	mustSend(t, e, "q", "m")
	if msgs, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(20 * time.Second)}); err != nil || len(msgs) != 1 {
		t.Fatalf("got %v, %v; want the message sent", msgs, err)
	}
}

func TestDelayedMessage(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	if _, err := e.Send("q", []SendInput{{Body: []byte("later"), Delay: dur(100 * time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	wantStats(t, e, "q", 0, 0, 1)
	msgs, err := e.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(20 * time.Second)})
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != "later" {
		t.Fatalf("got %v, %v; want the delayed message once its delay passed", msgs, err)
	}
}

func TestDeadLetterAndRedrive(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "dead", nil)
	mustCreate(t, e, "q", func(a *Attributes) { a.MaxReceives, a.DeadLetter = 2, "dead" })
	if _, err := e.Send("q", []SendInput{{Body: []byte("poison"), Attributes: []Attr{{Name: "k", Type: "String", Value: []byte("v")}}}}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		m := mustReceive(t, e, "q", ReceiveOptions{})
		if len(m) != 1 || m[0].ReceiveCount != i {
			t.Fatalf("receive %d: got %+v", i, m)
		}
		if err := e.ChangeVisibility("q", m[0].Receipt, 0); err != nil {
			t.Fatal(err)
		}
	}
	if m := mustReceive(t, e, "q", ReceiveOptions{}); len(m) != 0 {
		t.Fatalf("third receive past max_receives 2: got %d messages, want 0", len(m))
	}
	wantStats(t, e, "q", 0, 0, 0)
	s := wantStats(t, e, "dead", 1, 0, 0)
	if s.Totals.Sent != 1 {
		t.Errorf("dead-letter queue totals: got %+v, want 1 sent", s.Totals)
	}
	qs, _ := e.Stats("q")
	if qs.Totals.DeadLettered != 1 {
		t.Errorf("source totals: got %+v, want 1 dead-lettered", qs.Totals)
	}
	dm := mustReceive(t, e, "dead", ReceiveOptions{VisibilityTimeout: dur(0)})
	if len(dm) != 1 || string(dm[0].Body) != "poison" || dm[0].SourceQueue != "q" ||
		len(dm[0].Attributes) != 1 || string(dm[0].Attributes[0].Value) != "v" || dm[0].ReceiveCount != 1 {
		t.Fatalf("got %+v, want the poison message with its attribute, from q", dm)
	}
	n, err := e.Redrive("dead", 0)
	if err != nil || n != 1 {
		t.Fatalf("Redrive: got %d, %v; want 1", n, err)
	}
	wantStats(t, e, "dead", 0, 0, 0)
	back := mustReceive(t, e, "q", ReceiveOptions{})
	if len(back) != 1 || string(back[0].Body) != "poison" || back[0].ReceiveCount != 1 || back[0].SourceQueue != "" {
		t.Fatalf("after redrive got %+v, want the message with a fresh receive count", back)
	}
}

func TestPurge(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	mustSend(t, e, "q", "a", "b", "c")
	mustReceive(t, e, "q", ReceiveOptions{})
	n, err := e.Purge("q")
	if err != nil || n != 3 {
		t.Fatalf("Purge: got %d, %v; want 3", n, err)
	}
	wantStats(t, e, "q", 0, 0, 0)
	mustSend(t, e, "q", "after")
	wantStats(t, e, "q", 1, 0, 0)
}

func TestRetentionExpiry(t *testing.T) {
	var c clock
	e := openEngine(t, t.TempDir(), Config{Now: c.now})
	mustCreate(t, e, "q", func(a *Attributes) { a.Retention = time.Minute })
	mustSend(t, e, "q", "old")
	c.advance(30 * time.Second)
	mustSend(t, e, "q", "young")
	c.advance(31 * time.Second)
	if err := e.expire(); err != nil {
		t.Fatal(err)
	}
	s := wantStats(t, e, "q", 1, 0, 0)
	if s.Totals.Expired != 1 {
		t.Errorf("got %d expired, want 1", s.Totals.Expired)
	}
	if m := mustReceive(t, e, "q", ReceiveOptions{}); len(m) != 1 || string(m[0].Body) != "young" {
		t.Fatalf("got %v, want only the young message", m)
	}
}

// TestRestartRebuildsIndex checks that every state a message can be in
// survives a restart: visible, delayed, in flight with its count, deleted,
// dead-lettered, purged, and that receipts stay valid or outdated.
func TestRestartRebuildsIndex(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, Config{})
	mustCreate(t, e, "dead", nil)
	mustCreate(t, e, "q", func(a *Attributes) { a.MaxReceives, a.DeadLetter = 2, "dead" })
	mustCreate(t, e, "gone", nil)
	mustCreate(t, e, "purged", nil)
	mustSend(t, e, "gone", "x")
	mustSend(t, e, "purged", "y")
	if _, err := e.Purge("purged"); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteQueue("gone"); err != nil {
		t.Fatal(err)
	}
	ids := mustSend(t, e, "q", "deleted", "in-flight", "to-dead", "visible")
	if _, err := e.Send("q", []SendInput{{Body: []byte("delayed"), Delay: dur(10 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	got := mustReceive(t, e, "q", ReceiveOptions{Max: 3, VisibilityTimeout: dur(time.Hour)})
	mustDelete(t, e, "q", got[0].Receipt)
	if err := e.ChangeVisibility("q", got[2].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	if m := mustReceive(t, e, "q", ReceiveOptions{VisibilityTimeout: dur(0)}); len(m) != 1 || m[0].ReceiveCount != 2 {
		t.Fatalf("got %+v, want to-dead received a second time", m)
	}
	// The next receive dead-letters "to-dead" (2 receives = max) and takes
	// "visible", leaving it visible.
	vis := mustReceive(t, e, "q", ReceiveOptions{Max: 2, VisibilityTimeout: dur(0)})
	if len(vis) != 1 || vis[0].ID != ids[3] {
		t.Fatalf("got %+v, want only the visible message", vis)
	}
	before := e.Queues()
	e.Close()

	e2 := openEngine(t, dir, Config{})
	after := e2.Queues()
	if len(after) != len(before) {
		t.Fatalf("got %d queues after restart, want %d", len(after), len(before))
	}
	for i := range after {
		b, a := before[i], after[i]
		b.Stats.Totals, a.Stats.Totals = Totals{}, Totals{}
		b.Stats.OldestAge, a.Stats.OldestAge = 0, 0
		b.Stats.LastChange, a.Stats.LastChange = time.Time{}, time.Time{}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("queue %s after restart:\n got %+v\nwant %+v", b.Name, a, b)
		}
	}
	wantStats(t, e2, "q", 1, 1, 1)
	wantStats(t, e2, "dead", 1, 0, 0)
	wantStats(t, e2, "purged", 0, 0, 0)
	// The in-flight message's receipt still works; the visible message's
	// first receipt is outdated once it is received again.
	if err := e2.ChangeVisibility("q", got[1].Receipt, time.Hour); err != nil {
		t.Fatalf("receipt of an in-flight message after restart: %v", err)
	}
	again := mustReceive(t, e2, "q", ReceiveOptions{})
	if len(again) != 1 || again[0].ID != ids[3] || again[0].ReceiveCount != 2 {
		t.Fatalf("got %+v, want the visible message with receive count 2", again)
	}
	if res, _ := e2.Delete("q", []string{vis[0].Receipt}); !errors.Is(res[0], errdefs.ErrOutdated) {
		t.Fatalf("old receipt after restart: got %v, want outdated", res[0])
	}
	dm := mustReceive(t, e2, "dead", ReceiveOptions{})
	if len(dm) != 1 || string(dm[0].Body) != "to-dead" || dm[0].SourceQueue != "q" {
		t.Fatalf("got %+v, want to-dead from q", dm)
	}
	// New ids never repeat old ones.
	newIDs := mustSend(t, e2, "q", "new")
	for _, id := range ids {
		if id == newIDs[0] {
			t.Fatalf("id %s reused after restart", id)
		}
	}
}

func TestCompactionKeepsLiveMessages(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentSize: 16 << 10}
	e := openEngine(t, dir, cfg)
	mustCreate(t, e, "dead", nil)
	mustCreate(t, e, "q", func(a *Attributes) { a.MaxReceives, a.DeadLetter = 1, "dead" })
	body := strings.Repeat("x", 500)
	keep := map[string]bool{}
	var keptReceipts []string
	for i := 0; i < 200; i++ {
		ids := mustSend(t, e, "q", fmt.Sprintf("%d%s", i, body))
		if i%50 == 0 {
			keep[ids[0]] = true
		}
	}
	for n := 0; n < 200; {
		msgs := mustReceive(t, e, "q", ReceiveOptions{Max: 10, VisibilityTimeout: dur(time.Hour)})
		n += len(msgs)
		for _, m := range msgs {
			if keep[m.ID] {
				keptReceipts = append(keptReceipts, m.Receipt)
				continue
			}
			mustDelete(t, e, "q", m.Receipt)
		}
	}
	// Dead-letter one of the kept messages so that a moved message crosses
	// compaction too.
	if err := e.ChangeVisibility("q", keptReceipts[0], 0); err != nil {
		t.Fatal(err)
	}
	if m := mustReceive(t, e, "q", ReceiveOptions{}); len(m) != 0 {
		t.Fatalf("got %d messages, want the kept one dead-lettered", len(m))
	}
	wantStats(t, e, "dead", 1, 0, 0)
	segsBefore, _ := e.log().Segments()
	for i := 0; i < len(segsBefore); i++ {
		if err := e.Compact(true); err != nil {
			t.Fatal(err)
		}
	}
	segsAfter, _ := e.log().Segments()
	if len(segsAfter) >= len(segsBefore) {
		t.Fatalf("got %d segments after compaction, want fewer than %d", len(segsAfter), len(segsBefore))
	}
	e.Close()
	e2 := openEngine(t, dir, cfg)
	wantStats(t, e2, "q", 0, len(keep)-1, 0)
	wantStats(t, e2, "dead", 1, 0, 0)
	dm := mustReceive(t, e2, "dead", ReceiveOptions{})
	if len(dm) != 1 || dm[0].SourceQueue != "q" || len(dm[0].Body) != len(body)+1 {
		t.Fatalf("dead-lettered message after compaction: got %+v", dm)
	}
	// The in-flight receipts still work after compaction and restart.
	for _, r := range keptReceipts[1:] {
		if err := e2.ChangeVisibility("q", r, time.Hour); err != nil {
			t.Fatalf("receipt after compaction: %v", err)
		}
	}
	ids := mustSend(t, e2, "q", "fresh")
	for id := range keep {
		if id == ids[0] {
			t.Fatalf("id %s reused after compaction", id)
		}
	}
}

// TestConcurrentDeliveryExactlyOnce runs senders and receivers at once with
// a visibility timeout longer than the test: every message must be
// received exactly once and deleted.
func TestConcurrentDeliveryExactlyOnce(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", func(a *Attributes) { a.VisibilityTimeout = time.Hour })
	const senders, perSender = 8, 200
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perSender; i += 10 {
				in := make([]SendInput, 10)
				for j := range in {
					in[j] = SendInput{Body: []byte(fmt.Sprintf("%d-%d", s, i+j))}
				}
				if _, err := e.Send("q", in); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var received atomic.Int64
	for r := 0; r < 8; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for received.Load() < senders*perSender {
				msgs, err := e.Receive(context.Background(), "q", ReceiveOptions{Max: 10, Wait: dur(100 * time.Millisecond)})
				if err != nil {
					t.Error(err)
					return
				}
				receipts := make([]string, 0, len(msgs))
				mu.Lock()
				for _, m := range msgs {
					seen[string(m.Body)]++
					receipts = append(receipts, m.Receipt)
				}
				mu.Unlock()
				received.Add(int64(len(msgs)))
				if len(receipts) > 0 {
					mustDelete(t, e, "q", receipts...)
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != senders*perSender {
		t.Fatalf("got %d distinct messages, want %d", len(seen), senders*perSender)
	}
	for body, n := range seen {
		if n != 1 {
			t.Fatalf("message %s received %d times, want once", body, n)
		}
	}
	wantStats(t, e, "q", 0, 0, 0)
}

// TestSendRefusesCharactersSQSRefuses checks that a body or a string
// attribute with bytes outside SQS's character set is refused, not
// altered: the body is stored as given or not at all.
func TestSendRefusesCharactersSQSRefuses(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q", nil)
	tests := []struct {
		name string
		in   SendInput
		want bool // accepted
	}{
		{"plain", SendInput{Body: []byte("hello\tworld\n")}, true},
		{"unicode", SendInput{Body: []byte("grüße 🙂")}, true},
		{"invalid utf-8", SendInput{Body: []byte("bad \xff byte")}, false},
		{"nul", SendInput{Body: []byte("nul \x00")}, false},
		{"control", SendInput{Body: []byte("bell \x07")}, false},
		{"surrogate", SendInput{Body: []byte("\xed\xa0\x80")}, false},
		{"bad string attribute", SendInput{Body: []byte("ok"), Attributes: []Attr{{Name: "a", Type: "String", Value: []byte("\xfe")}}}, false},
		{"binary attribute", SendInput{Body: []byte("ok"), Attributes: []Attr{{Name: "a", Type: "Binary", Value: []byte("\xfe\x00")}}}, true},
	}
	for _, tt := range tests {
		res, err := e.Send("q", []SendInput{tt.in})
		if err != nil {
			t.Fatalf("%s: Send: %v", tt.name, err)
		}
		if got := res[0].Err == nil; got != tt.want {
			t.Errorf("%s: accepted %v (%v), want %v", tt.name, got, res[0].Err, tt.want)
		}
		if !tt.want && errdefs.Code(res[0].Err, "") != "invalid_message_contents" {
			t.Errorf("%s: code %q, want invalid_message_contents", tt.name, errdefs.Code(res[0].Err, ""))
		}
	}
}

// TestRedriveOfManyMessagesReplays redrives more messages from one source
// than replay takes in one move record (1<<16): one record held them all,
// and the log that held it could not be opened again.
func TestRedriveOfManyMessagesReplays(t *testing.T) {
	e := openEngine(t, t.TempDir(), Config{SegmentSize: 1 << 20})
	mustCreate(t, e, "dead", nil)
	mustCreate(t, e, "work", func(a *Attributes) { a.MaxReceives, a.DeadLetter = 1, "dead" })
	work, _ := e.queue("work")
	dead, _ := e.queue("dead")
	// Dead-lettered messages as compaction writes them: whole, with their
	// source. Writing them so is quicker than dead-lettering each.
	const n = 1<<16 + 100
	for sent := 0; sent < n; {
		dead.mu.Lock()
		now := e.now().UnixNano()
		var msgs []message
		var recs [][]byte
		for ; sent < n && len(msgs) < 4096; sent++ {
			m := message{queue: dead.id, seq: e.nextSeq.Add(1) - 1, sentAt: now, visibleAt: now,
				source: work.id, body: []byte("x")}
			msgs = append(msgs, m)
			recs = append(recs, encodeMessage(&m))
		}
		c, pos, err := e.enqueue(recs...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range msgs {
			e.applyMessage(dead, pos[i], uint32(len(recs[i])), &msgs[i], now)
		}
		dead.mu.Unlock()
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if moved, err := e.Redrive("dead", 0); err != nil || moved != n {
		t.Fatalf("Redrive: got %d, %v; want %d", moved, err, n)
	}
	wantStats(t, e, "work", n, 0, 0)
	checkReplay(t, e)
}
