package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/errdefs"
)

func fifoAttrs(mod func(*Attributes)) func(*Attributes) {
	return func(a *Attributes) {
		a.FIFO, a.ContentDedup = true, true
		if mod != nil {
			mod(a)
		}
	}
}

func sendGroup(t testing.TB, e *Engine, queue, group string, bodies ...string) []SendResult {
	t.Helper()
	in := make([]SendInput, len(bodies))
	for i, b := range bodies {
		in[i] = SendInput{Body: []byte(b), Group: group}
	}
	res, err := e.Send(queue, in)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("Send: %v", r.Err)
		}
	}
	return res
}

func bodiesOf(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Body)
	}
	return out
}

func receiveBodies(t testing.TB, e *Engine, queue string, max int) []Message {
	t.Helper()
	msgs, err := e.Receive(context.Background(), queue, ReceiveOptions{Max: max, Wait: dur(0)})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// A FIFO queue hands out each group's messages in order and nothing more
// of a group while one of its messages is in flight; groups are
// independent, a receive takes one group's run and then the next's, and a
// restart keeps all of it.
func TestFIFOGroupsInOrder(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, Config{})
	mustCreate(t, e, "orders.fifo", fifoAttrs(nil))
	sendGroup(t, e, "orders.fifo", "a", "a1", "a2", "a3")
	sendGroup(t, e, "orders.fifo", "b", "b1", "b2")
	wantStats(t, e, "orders.fifo", 5, 0, 0)

	got := receiveBodies(t, e, "orders.fifo", 2)
	if !slices.Equal(bodiesOf(got), []string{"a1", "a2"}) || got[0].Group != "a" || got[0].Seq >= got[1].Seq {
		t.Fatalf("first receive %v (%+v)", bodiesOf(got), got)
	}
	if b := bodiesOf(receiveBodies(t, e, "orders.fifo", 10)); !slices.Equal(b, []string{"b1", "b2"}) {
		t.Fatalf("second receive %v, want group b (a is in flight)", b)
	}
	if b := receiveBodies(t, e, "orders.fifo", 10); len(b) != 0 {
		t.Fatalf("third receive %v, want nothing: both groups in flight", bodiesOf(b))
	}
	mustDelete(t, e, "orders.fifo", got[0].Receipt)
	if b := receiveBodies(t, e, "orders.fifo", 10); len(b) != 0 {
		t.Fatalf("a2 is still in flight, yet %v", bodiesOf(b))
	}
	mustDelete(t, e, "orders.fifo", got[1].Receipt)
	wantStats(t, e, "orders.fifo", 1, 2, 0)
	e.Close()

	e = openEngine(t, dir, Config{})
	wantStats(t, e, "orders.fifo", 1, 2, 0)
	if b := bodiesOf(receiveBodies(t, e, "orders.fifo", 10)); !slices.Equal(b, []string{"a3"}) {
		t.Fatalf("after a restart %v, want a3 (b still in flight)", b)
	}
	groups, _ := e.Groups("orders.fifo")
	if len(groups) != 2 || groups[0] != (GroupCount{Group: "a", Messages: 1, InFlight: 1}) {
		t.Errorf("Groups = %+v", groups)
	}
}

// A message whose visibility timeout runs out comes back first: its group
// resumes with it, not after it.
func TestFIFOVisibilityTimeoutKeepsOrder(t *testing.T) {
	c := &stoppedClock{}
	c.ns.Store(time.Now().UnixNano())
	e := openEngine(t, t.TempDir(), Config{Now: c.now})
	mustCreate(t, e, "q.fifo", fifoAttrs(nil))
	sendGroup(t, e, "q.fifo", "g", "1", "2")
	if b := bodiesOf(receiveBodies(t, e, "q.fifo", 1)); !slices.Equal(b, []string{"1"}) {
		t.Fatalf("got %v", b)
	}
	c.advance(31 * time.Second)
	got := receiveBodies(t, e, "q.fifo", 10)
	if !slices.Equal(bodiesOf(got), []string{"1", "2"}) || got[0].ReceiveCount != 2 {
		t.Fatalf("after the timeout %v (%+v)", bodiesOf(got), got)
	}
	if err := e.ChangeVisibility("q.fifo", got[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	if b := receiveBodies(t, e, "q.fifo", 10); len(b) != 0 {
		t.Fatalf("2 is in flight, yet %v", bodiesOf(b))
	}
}

// A deduplication id is remembered for five minutes, across a restart
// and compaction after its message was deleted: a send within the window
// answers with the first message's id and stores nothing.
func TestFIFODeduplication(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	cfg := Config{SegmentSize: 16 << 10, Now: c.now}
	e := openEngine(t, dir, cfg)
	mustCreate(t, e, "q.fifo", fifoAttrs(nil))
	mustCreate(t, e, "scoped.fifo", fifoAttrs(func(a *Attributes) { a.DedupPerGroup = true }))
	first := sendGroup(t, e, "q.fifo", "g", "same body")
	again, _ := e.Send("q.fifo", []SendInput{{Body: []byte("same body"), Group: "other"},
		{Body: []byte("x"), Group: "g", DedupID: "id-1"}, {Body: []byte("y"), Group: "g", DedupID: "id-1"}})
	if !again[0].Duplicate || again[0].ID != first[0].ID || again[0].Seq != first[0].Seq {
		t.Fatalf("content duplicate: %+v, first %+v", again[0], first[0])
	}
	if again[1].Duplicate || !again[2].Duplicate || again[2].ID != again[1].ID {
		t.Fatalf("a batch's own duplicate: %+v", again[1:])
	}
	wantStats(t, e, "q.fifo", 2, 0, 0)
	// Scoped to the group, the same id in another group is another message.
	res, _ := e.Send("scoped.fifo", []SendInput{{Body: []byte("m"), Group: "a", DedupID: "d"}, {Body: []byte("m"), Group: "b", DedupID: "d"}})
	if res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("group-scoped: %+v", res)
	}
	for _, m := range receiveBodies(t, e, "q.fifo", 10) {
		mustDelete(t, e, "q.fifo", m.Receipt)
	}
	// Fill segments so the sends' segment is compacted away.
	mustCreate(t, e, "filler", nil)
	for i := range 60 {
		mustSend(t, e, "filler", strings.Repeat("f", 900)+fmt.Sprint(i))
		m := receiveBodies(t, e, "filler", 1)
		mustDelete(t, e, "filler", m[0].Receipt)
	}
	for range 4 {
		if err := e.Compact(true); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	e = openEngine(t, dir, cfg)
	res, _ = e.Send("q.fifo", []SendInput{{Body: []byte("same body"), Group: "g"}, {Body: []byte("z"), Group: "g", DedupID: "id-1"}})
	if !res[0].Duplicate || res[0].ID != first[0].ID || !res[1].Duplicate {
		t.Fatalf("after compaction and a restart: %+v", res)
	}
	wantStats(t, e, "q.fifo", 0, 0, 0)
	c.advance(DedupWindow + time.Second)
	res, _ = e.Send("q.fifo", []SendInput{{Body: []byte("same body"), Group: "g"}})
	if res[0].Duplicate || res[0].Err != nil {
		t.Fatalf("after the window: %+v", res)
	}
}

// Moving a FIFO message to its dead-letter queue (which must be FIFO)
// unblocks its group: the next message comes in the same receive, and the
// dead-letter queue keeps the group.
func TestFIFODeadLetterUnblocksGroup(t *testing.T) {
	e := newEngine(t)
	if _, err := e.CreateQueue("std", DefaultAttributes()); err != nil {
		t.Fatal(err)
	}
	bad := DefaultAttributes()
	bad.FIFO, bad.ContentDedup, bad.MaxReceives, bad.DeadLetter = true, true, 1, "std"
	if _, err := e.CreateQueue("q.fifo", bad); errdefs.Code(err, "") != "invalid_dead_letter" {
		t.Fatalf("a FIFO queue with a standard dead-letter queue: %v", err)
	}
	mustCreate(t, e, "dead.fifo", fifoAttrs(nil))
	mustCreate(t, e, "q.fifo", fifoAttrs(func(a *Attributes) { a.MaxReceives, a.DeadLetter = 1, "dead.fifo" }))
	sendGroup(t, e, "q.fifo", "g", "1", "2")
	got := receiveBodies(t, e, "q.fifo", 1)
	if err := e.ChangeVisibility("q.fifo", got[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	if b := bodiesOf(receiveBodies(t, e, "q.fifo", 1)); !slices.Equal(b, []string{"2"}) {
		t.Fatalf("after 1 went to the dead-letter queue: %v", b)
	}
	dead := receiveBodies(t, e, "dead.fifo", 10)
	if !slices.Equal(bodiesOf(dead), []string{"1"}) || dead[0].Group != "g" || dead[0].SourceQueue != "q.fifo" {
		t.Fatalf("dead-letter queue: %+v", dead)
	}
}

// A receive retried with its attempt id returns the same messages and
// receipts while they are in flight.
func TestFIFOReceiveAttempt(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q.fifo", fifoAttrs(nil))
	sendGroup(t, e, "q.fifo", "g", "1", "2")
	sendGroup(t, e, "q.fifo", "h", "3")
	opts := ReceiveOptions{Max: 2, Wait: dur(0), AttemptID: "try-1"}
	first, err := e.Receive(context.Background(), "q.fifo", opts)
	if err != nil || len(first) != 2 {
		t.Fatalf("%v %v", first, err)
	}
	again, err := e.Receive(context.Background(), "q.fifo", opts)
	if err != nil || len(again) != 2 || again[0].Receipt != first[0].Receipt || again[1].Receipt != first[1].Receipt {
		t.Fatalf("retried attempt: %+v, want %+v", again, first)
	}
	other, _ := e.Receive(context.Background(), "q.fifo", ReceiveOptions{Max: 10, Wait: dur(0), AttemptID: "try-2"})
	if !slices.Equal(bodiesOf(other), []string{"3"}) {
		t.Fatalf("another attempt: %v", bodiesOf(other))
	}
	mustDelete(t, e, "q.fifo", first[0].Receipt)
	if again, _ := e.Receive(context.Background(), "q.fifo", opts); len(again) != 0 {
		t.Fatalf("an attempt whose message was deleted took anew: %v", bodiesOf(again))
	}
}

func TestFIFOInputChecks(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "std", nil)
	mustCreate(t, e, "plain.fifo", func(a *Attributes) { a.FIFO = true })
	if _, err := e.CreateQueue("nofifo", Attributes{FIFO: true, VisibilityTimeout: time.Second, Retention: time.Hour, MaxMessageSize: 1024}); err == nil {
		t.Errorf("a FIFO queue without .fifo")
	}
	if _, err := e.CreateQueue("std2.fifo", DefaultAttributes()); err == nil {
		t.Errorf("a standard queue named .fifo")
	}
	a := DefaultAttributes()
	a.FIFO = true
	if err := e.SetAttributes("std", a); err == nil {
		t.Errorf("a standard queue turned FIFO")
	}
	d := time.Second
	for name, tt := range map[string]struct {
		queue string
		in    SendInput
		code  string
	}{
		"no group":          {"plain.fifo", SendInput{Body: []byte("x"), DedupID: "d"}, "missing_message_group_id"},
		"no dedup id":       {"plain.fifo", SendInput{Body: []byte("x"), Group: "g"}, "missing_deduplication_id"},
		"a message's delay": {"plain.fifo", SendInput{Body: []byte("x"), Group: "g", DedupID: "d", Delay: &d}, "invalid_delay"},
		"a bad group":       {"plain.fifo", SendInput{Body: []byte("x"), Group: "a b", DedupID: "d"}, "invalid_message_group_id"},
		"a long dedup id":   {"plain.fifo", SendInput{Body: []byte("x"), Group: "g", DedupID: strings.Repeat("d", 129)}, "invalid_message_deduplication_id"},
		"dedup on standard": {"std", SendInput{Body: []byte("x"), DedupID: "d"}, "invalid_parameter"},
	} {
		res, err := e.Send(tt.queue, []SendInput{tt.in})
		if err != nil || errdefs.Code(res[0].Err, "") != tt.code {
			t.Errorf("%s: %v %v, want %s", name, res, err, tt.code)
		}
	}
	// A group on a standard queue names a tenant: kept, not ordered.
	res, _ := e.Send("std", []SendInput{{Body: []byte("t"), Group: "tenant-1"}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if m := receiveBodies(t, e, "std", 1); len(m) != 1 || m[0].Group != "tenant-1" {
		t.Fatalf("standard queue's group: %+v", m)
	}
}

// Random sends, receives, deletes, visibility changes, compactions and
// restarts never
// deliver a group's message before the group's earlier messages are
// gone, nor a deduplicated send twice, nor lose an acknowledged send.
func TestFIFOPropertyOrder(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 77))
			dir := t.TempDir()
			c := &clock{}
			cfg := Config{SegmentSize: 16 << 10, Now: c.now}
			e := openEngine(t, dir, cfg)
			mustCreate(t, e, "q.fifo", fifoAttrs(func(a *Attributes) { a.VisibilityTimeout = time.Second }))
			sent := map[string][]uint64{} // group → seqs sent, in order
			gone := map[uint64]bool{}     // deleted
			seqGroup := map[uint64]string{}
			inFlight := map[uint64]string{} // seq → receipt
			dedups := map[string]uint64{}   // dedup id → seq
			for step := range 600 {
				switch op := rng.IntN(100); {
				case op < 40:
					g := fmt.Sprint("g", rng.IntN(4))
					id := fmt.Sprint("d", rng.IntN(300))
					res, err := e.Send("q.fifo", []SendInput{{Body: []byte(g + " " + id), Group: g, DedupID: id}})
					if err != nil || res[0].Err != nil {
						t.Fatalf("step %d send: %v %v", step, err, res)
					}
					if prev, ok := dedups[id]; ok {
						if !res[0].Duplicate || res[0].Seq != prev {
							t.Fatalf("step %d: dedup id %s sent again stored %+v, first %d", step, id, res[0], prev)
						}
						continue
					}
					if res[0].Duplicate {
						t.Fatalf("step %d: a new id %s deduplicated", step, id)
					}
					dedups[id] = res[0].Seq
					sent[g] = append(sent[g], res[0].Seq)
					seqGroup[res[0].Seq] = g
				case op < 70:
					msgs, err := e.Receive(context.Background(), "q.fifo", ReceiveOptions{Max: 1 + rng.IntN(10), Wait: dur(0)})
					if err != nil {
						t.Fatal(err)
					}
					batch := map[uint64]bool{} // a receive takes a group's run in order
					for _, m := range msgs {
						g := seqGroup[m.Seq]
						if m.Group != g {
							t.Fatalf("step %d: message %d of group %q came as %q", step, m.Seq, g, m.Group)
						}
						for _, earlier := range sent[g] {
							if earlier >= m.Seq {
								break
							}
							if !gone[earlier] && !batch[earlier] {
								if _, held := inFlight[earlier]; held {
									t.Fatalf("step %d: %d of group %s delivered while %d is in flight", step, m.Seq, g, earlier)
								}
								t.Fatalf("step %d: %d of group %s delivered before %d", step, m.Seq, g, earlier)
							}
						}
						inFlight[m.Seq] = m.Receipt
						batch[m.Seq] = true
					}
				case op < 85:
					for seq, r := range inFlight {
						if rng.IntN(2) == 0 {
							res, err := e.Delete("q.fifo", []string{r})
							if err != nil {
								t.Fatal(err)
							}
							if res[0] == nil {
								gone[seq] = true
							}
							delete(inFlight, seq)
						}
					}
				case op < 92:
					for seq, r := range inFlight {
						e.ChangeVisibility("q.fifo", r, 0)
						delete(inFlight, seq)
						break
					}
				case op < 96:
					c.advance(1100 * time.Millisecond) // in-flight messages come back
					clear(inFlight)
				case op < 98:
					if err := e.Compact(true); err != nil {
						t.Fatal(err)
					}
				default:
					e.Close()
					e = openEngine(t, dir, cfg)
				}
			}
			// Nothing acknowledged is lost: the queue holds every message not
			// deleted.
			want := 0
			for _, seqs := range sent {
				for _, s := range seqs {
					if !gone[s] {
						want++
					}
				}
			}
			st, _ := e.Stats("q.fifo")
			if n := st.Visible + st.InFlight + st.Delayed; n != want {
				t.Fatalf("the queue holds %d messages, want %d", n, want)
			}
		})
	}
}

// OnePerGroup takes one message of each group, oldest group first.
func TestFIFOOnePerGroup(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q.fifo", fifoAttrs(nil))
	sendGroup(t, e, "q.fifo", "a", "a1", "a2")
	sendGroup(t, e, "q.fifo", "b", "b1", "b2")
	got, err := e.Receive(context.Background(), "q.fifo", ReceiveOptions{Max: 10, Wait: dur(0), OnePerGroup: true})
	if err != nil || !slices.Equal(bodiesOf(got), []string{"a1", "b1"}) {
		t.Fatalf("%v %v", bodiesOf(got), err)
	}
	mustDelete(t, e, "q.fifo", got[1].Receipt)
	got, _ = e.Receive(context.Background(), "q.fifo", ReceiveOptions{Max: 10, Wait: dur(0), OnePerGroup: true})
	if !slices.Equal(bodiesOf(got), []string{"b2"}) {
		t.Fatalf("after b1 was deleted: %v", bodiesOf(got))
	}
}

// A fair queue: on a standard queue a message group is a tenant, and a
// receive serves the tenants with the least in flight first. A noisy
// tenant with 10,000 queued and 100 in flight does not delay a quiet
// tenant's message: the first receive after it is sent returns it first
// (the bound: one receive). The noisy tenant's messages keep their order
// and none is lost.
func TestFairQueueQuietTenantFirst(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, Config{})
	mustCreate(t, e, "shared", nil)
	for i := 0; i < 10000; i += MaxBatch {
		in := make([]SendInput, MaxBatch)
		for j := range in {
			in[j] = SendInput{Body: []byte(fmt.Sprint("noisy ", i+j)), Group: "noisy"}
		}
		if _, err := e.Send("shared", in); err != nil {
			t.Fatal(err)
		}
	}
	last := -1
	for range 10 {
		for _, m := range receiveBodies(t, e, "shared", 10) {
			var n int
			fmt.Sscanf(string(m.Body), "noisy %d", &n)
			if n != last+1 {
				t.Fatalf("noisy message %d after %d", n, last)
			}
			last = n
		}
	}
	sendGroup(t, e, "shared", "quiet", "quiet 0")
	got := receiveBodies(t, e, "shared", 10)
	if len(got) != 10 || string(got[0].Body) != "quiet 0" {
		t.Fatalf("the quiet tenant's message came %v", bodiesOf(got)[:min(3, len(got))])
	}
	// Both with nothing in flight: oldest first, then the other tenant,
	// as each pick counts against its tenant.
	e.Close()
	e = openEngine(t, dir, Config{})
	mustCreate(t, e, "fresh", nil)
	sendGroup(t, e, "fresh", "a", "a0", "a1", "a2")
	sendGroup(t, e, "fresh", "b", "b0", "b1")
	if b := bodiesOf(receiveBodies(t, e, "fresh", 10)); !slices.Equal(b, []string{"a0", "b0", "a1", "b1", "a2"}) {
		t.Fatalf("two idle tenants: %v", b)
	}
	st, _ := e.Stats("shared")
	if st.Visible+st.InFlight != 10001 {
		t.Fatalf("shared holds %+v, want all 10,001", st)
	}
}

// A FIFO queue's figures count its groups.
func TestFIFOStatsGroups(t *testing.T) {
	e := newEngine(t)
	mustCreate(t, e, "q.fifo", fifoAttrs(nil))
	sendGroup(t, e, "q.fifo", "a", "1", "2")
	sendGroup(t, e, "q.fifo", "b", "3")
	if st, _ := e.Stats("q.fifo"); st.Groups != 2 || st.Visible != 3 {
		t.Fatalf("stats %+v", st)
	}
}
