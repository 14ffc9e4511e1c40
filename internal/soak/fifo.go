package soak

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// The soak's FIFO queue: a sender puts numbered messages into a few
// groups, each with its own deduplication id, and sends again with the
// same id whatever got no answer (a crash can come between the commit and
// the answer); a receiver takes and deletes them. The checks: a group's
// message is never received while an earlier acknowledged one of the
// group is neither deleted nor possibly deleted (its delete got no
// answer), nothing is stored twice for one id (no index is deleted twice),
// and by the end every acknowledged send was received.
const (
	fifoQueue  = "soak-order.fifo"
	fifoGroups = 4
	fifoCap    = 2000 // messages a run sends
)

type fifoLedger struct {
	mu        sync.Mutex
	next      [fifoGroups]int          // the next index to send per group
	acked     [fifoGroups]map[int]bool // sends acknowledged
	deleted   [fifoGroups]map[int]bool // deletes acknowledged
	maybe     [fifoGroups]map[int]bool // deletes that got no answer
	pending   [fifoGroups]int          // an index sent without an answer, to send again; -1 for none
	received  int
	violation int
}

func newFIFOLedger() *fifoLedger {
	l := &fifoLedger{}
	for g := range fifoGroups {
		l.acked[g], l.deleted[g], l.maybe[g] = map[int]bool{}, map[int]bool{}, map[int]bool{}
		l.pending[g] = -1
	}
	return l
}

// FIFOStats counts a run's FIFO traffic.
type FIFOStats struct {
	Acked    int `json:"acked"`
	Received int `json:"received"`
	// OutOfOrder counts messages received while an earlier one of their
	// group was neither deleted nor possibly deleted.
	OutOfOrder int `json:"out_of_order"`
}

func createFIFO(ctx context.Context, cl *api.Client) error {
	yes, vt := true, specs.Duration(time.Second)
	_, err := cl.CreateQueue(ctx, api.QueueSettings{Name: fifoQueue, FIFO: &yes, VisibilityTimeout: &vt})
	if err != nil {
		return fmt.Errorf("soak: create queue %s: %w", fifoQueue, err)
	}
	return nil
}

// fifoSender sends numbered messages to the groups in turn; a send that
// got no answer is sent again, with the same deduplication id, before the
// group's next.
func (d *driver) fifoSender(ctx context.Context, cl *api.Client) {
	l := d.fifo
	for i := 0; ctx.Err() == nil; i++ {
		g := i % fifoGroups
		l.mu.Lock()
		n := l.pending[g]
		if n < 0 {
			total := 0
			for _, a := range l.acked {
				total += len(a)
			}
			if total >= fifoCap {
				l.mu.Unlock()
				return
			}
			n = l.next[g]
			l.next[g]++
		}
		l.mu.Unlock()
		if d.pace.wait(ctx, 64) != nil {
			return
		}
		id := fmt.Sprintf("g%d-%d", g, n)
		var res []api.SendResult
		err := d.call(ctx, "fifo send", func(ctx context.Context) (err error) {
			res, err = cl.Send(ctx, fifoQueue, api.SendMessage{Body: "fifo " + id, Group: "g" + strconv.Itoa(g), DedupID: id})
			return err
		})
		l.mu.Lock()
		if err != nil || res[0].Error != nil {
			l.pending[g] = n
		} else {
			l.pending[g] = -1
			l.acked[g][n] = true
		}
		l.mu.Unlock()
		if err != nil {
			d.clientError("fifo send", err)
			d.backOff(ctx, err)
		}
	}
}

// fifoReceiver receives, checks the order and deletes.
func (d *driver) fifoReceiver(ctx context.Context, cl *api.Client) {
	zero := specs.Duration(0)
	for ctx.Err() == nil {
		var msgs []api.Message
		err := d.call(ctx, "fifo receive", func(ctx context.Context) (err error) {
			msgs, err = cl.Receive(ctx, fifoQueue, api.ReceiveRequest{Max: 10, Wait: &zero})
			return err
		})
		if err != nil {
			d.clientError("fifo receive", err)
			d.backOff(ctx, err)
			continue
		}
		if len(msgs) == 0 {
			sleep(ctx, 20*time.Millisecond)
			continue
		}
		d.checkFIFO(msgs)
		receipts := make([]string, len(msgs))
		for i, m := range msgs {
			receipts[i] = m.Receipt
		}
		var res []api.DeleteResult
		err = d.call(ctx, "fifo delete", func(ctx context.Context) (err error) {
			res, err = cl.Delete(ctx, fifoQueue, receipts...)
			return err
		})
		l := d.fifo
		l.mu.Lock()
		for i, m := range msgs {
			g, n, ok := fifoKey(m.Body)
			if !ok {
				continue
			}
			switch {
			case err != nil:
				l.maybe[g][n] = true
			case res[i].Error == nil:
				if l.deleted[g][n] {
					l.violation++
					d.f.add(Duplicate, "FIFO message %s deleted twice: stored twice for one deduplication id", m.Body)
				}
				l.deleted[g][n] = true
			}
		}
		l.mu.Unlock()
		if err != nil {
			d.clientError("fifo delete", err)
			d.backOff(ctx, err)
		}
	}
}

func fifoKey(body string) (group, n int, ok bool) {
	f := strings.Fields(body)
	if len(f) != 2 || f[0] != "fifo" {
		return 0, 0, false
	}
	gs, ns, found := strings.Cut(f[1], "-")
	g, err1 := strconv.Atoi(strings.TrimPrefix(gs, "g"))
	n, err2 := strconv.Atoi(ns)
	return g, n, found && err1 == nil && err2 == nil && g >= 0 && g < fifoGroups
}

// checkFIFO checks a receive: each message's earlier acknowledged sends
// of its group are deleted, possibly deleted, or earlier in this receive.
func (d *driver) checkFIFO(msgs []api.Message) {
	l := d.fifo
	l.mu.Lock()
	defer l.mu.Unlock()
	inBatch := map[[2]int]bool{}
	for _, m := range msgs {
		g, n, ok := fifoKey(m.Body)
		if !ok {
			d.f.add(WrongBody, "FIFO queue holds %.40q", m.Body)
			continue
		}
		l.received++
		for earlier := range l.acked[g] {
			if earlier < n && !l.deleted[g][earlier] && !l.maybe[g][earlier] && !inBatch[[2]int{g, earlier}] {
				l.violation++
				d.f.add(Unexpected, "FIFO group g%d: message %d received while %d, acknowledged before it, is still there", g, n, earlier)
				break
			}
		}
		inBatch[[2]int{g, n}] = true
	}
}

// checkFIFODrained is the final check: every acknowledged send was
// received and deleted (or possibly deleted), once the queue is drained.
func (d *driver) checkFIFODrained(ctx context.Context, cl *api.Client) {
	drain, stop := context.WithTimeout(ctx, 30*time.Second)
	go d.fifoReceiver(drain, cl)
	for drain.Err() == nil {
		q, err := cl.Queue(drain, fifoQueue)
		if err == nil && q.Stats.Visible+q.Stats.InFlight+q.Stats.Delayed == 0 {
			break
		}
		sleep(drain, 50*time.Millisecond)
	}
	stop()
	l := d.fifo
	l.mu.Lock()
	defer l.mu.Unlock()
	for g := range fifoGroups {
		for n := range l.acked[g] {
			if !l.deleted[g][n] && !l.maybe[g][n] {
				d.f.add(Lost, "acknowledged FIFO send g%d-%d was never received", g, n)
			}
		}
	}
}

func (d *driver) fifoStats() FIFOStats {
	l := d.fifo
	l.mu.Lock()
	defer l.mu.Unlock()
	st := FIFOStats{Received: l.received, OutOfOrder: l.violation}
	for _, a := range l.acked {
		st.Acked += len(a)
	}
	return st
}
