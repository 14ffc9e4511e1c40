package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// Config configures a [Run]. Zero fields take the defaults noted.
type Config struct {
	// Restarts is how many times the server is stopped (by SIGKILL or
	// SIGTERM, chosen at random, both used) and started again; default 10.
	// The clients run in every life but the last, which only checks and
	// drains.
	Restarts int
	// Duration is how long the clients run, spread over the lives;
	// default 40s.
	Duration time.Duration
	// Seed makes the run's choices and bodies; 0 takes one from the clock.
	Seed uint64
	// Senders is how many clients send at once; default 4.
	Senders int
	// SendRate bounds the bytes sent per second by all senders together;
	// 0 is unbounded. The server compacts one segment per maintenance
	// interval, so about a segment per second keeps its log's size, and
	// the disk it needs, bounded.
	SendRate int64
	// StopTimeout is how long the server may take to exit after SIGTERM;
	// default 15s.
	StopTimeout time.Duration
	// DrainTimeout bounds the final drain; default 2m.
	DrainTimeout time.Duration
	// DiskFullDir, if set, is a directory on the same small file system as
	// the server's data directory: in the middle of the run the soak fills
	// that file system with a file there and checks that the server
	// refuses writes, reports itself degraded, keeps serving reads, and
	// recovers once the file is gone, without a restart. Empty skips the
	// phase.
	DiskFullDir string
	// MinCompactions fails a run in which the servers compacted their
	// logs fewer times: such a run did not test what it is for.
	MinCompactions int
	// Logf, if set, receives a line of progress per life.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Restarts <= 0 {
		c.Restarts = 10
	}
	if c.Duration <= 0 {
		c.Duration = 40 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Senders <= 0 {
		c.Senders = 4
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 15 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 2 * time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// The queues the soak drives.
const (
	// workQueue is received eagerly with a short visibility timeout; a
	// message received maxReceives times moves to dlqQueue.
	workQueue = "soak-work"
	// holdQueue is received slowly, so that a backlog lives through many
	// compactions and restarts.
	holdQueue   = "soak-hold"
	dlqQueue    = "soak-dlq"
	maxReceives = 3
	// maxMessage is the queues' max_message_size, and the largest body.
	maxMessage = 256 << 10

	// Senders stop adding to a queue whose acknowledged, undeleted
	// messages reach its cap, so that the data stays bounded.
	workCap = 600
	holdCap = 300
)

// poison reports whether receivers of workQueue leave the message of key
// alone until it is dead-lettered.
func poison(key uint64) bool { return key%11 == 0 }

// Run drives the server that ctl controls through cfg.Restarts restarts
// and returns what it found. Its error means the run could not go on (the
// server did not start, the queues could not be made, ctx ended); the
// findings are in the report either way. A server still running then is
// the caller's to end.
func Run(ctx context.Context, ctl Controller, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	f := newFindings()
	d := &driver{
		start:      time.Now(),
		cfg:        cfg,
		ctl:        ctl,
		f:          f,
		ledger:     newLedger(cfg.Seed, f),
		fan:        newFanout(cfg.Seed),
		fifo:       newFIFOLedger(),
		pace:       &pacer{rate: float64(cfg.SendRate)},
		errs:       map[string]int{},
		signals:    map[string]int{},
		diskFull:   "skipped",
		metricLife: make([]int, cfg.Restarts+1),
	}
	defer d.fan.hook.Close()
	d.ledger.SetDeadLetter(workQueue, dlqQueue)
	err := d.run(ctx)
	return d.report(time.Since(d.start)), err
}

// driver is one run.
type driver struct {
	start  time.Time
	cfg    Config
	ctl    Controller
	f      *findings
	ledger *ledger
	pace   *pacer
	token  string // the management token, bootstrapped in the first life
	fan    *fanout
	fifo   *fifoLedger
	// fanPartial counts publishes found in only some of their queues.
	fanPartial int

	mu          sync.Mutex
	errs        map[string]int // failed client calls by operation and answer
	signals     map[string]int // lives ended, by signal
	diskFull    string         // the disk-full phase: skipped, ok or failed
	metricLife  []int          // the compaction counter's last value in each life
	metricFound bool           // the server exports the counter
}

// logf reports progress, with the time since the run began.
func (d *driver) logf(format string, args ...any) {
	d.cfg.Logf("%6.1fs "+format, append([]any{time.Since(d.start).Seconds()}, args...)...)
}

// lifePlan is what happens in one life.
type lifePlan struct {
	length   time.Duration
	end      syscall.Signal
	diskFull bool
}

// plan chooses each life's length and end: lengths vary around the
// average, signals are random but both are used.
func (d *driver) plan() []lifePlan {
	rng := rand.New(rand.NewPCG(d.cfg.Seed, 0x9e3779b97f4a7c15))
	n := d.cfg.Restarts
	p := make([]lifePlan, n)
	kills := 0
	for i := range p {
		p[i].length = time.Duration(float64(d.cfg.Duration) / float64(n) * (0.6 + 0.8*rng.Float64()))
		p[i].end = syscall.SIGTERM
		if rng.IntN(2) == 0 {
			p[i].end = syscall.SIGKILL
			kills++
		}
	}
	if n >= 2 && kills == 0 {
		p[rng.IntN(n)].end = syscall.SIGKILL
	} else if n >= 2 && kills == n {
		p[rng.IntN(n)].end = syscall.SIGTERM
	}
	if d.cfg.DiskFullDir != "" {
		p[n/2].diskFull = true
	}
	return p
}

func (d *driver) run(ctx context.Context) error {
	plan := d.plan()
	for life := 0; ; life++ {
		t0 := time.Now()
		addr, err := d.ctl.Start(ctx)
		if err != nil {
			d.f.add(ChildFailure, "life %d: %v", life, err)
			return fmt.Errorf("life %d: %w", life, err)
		}
		cl := api.NewClient(addr).WithToken(d.token)
		if life == 0 {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			boot, err := cl.Bootstrap(cctx)
			if err == nil {
				d.token = boot.SecretID
				cl = cl.WithToken(d.token)
				err = createQueues(cctx, cl)
			}
			if err == nil {
				err = d.createFanout(cctx, cl)
			}
			if err == nil {
				err = createFIFO(cctx, cl)
			}
			cancel()
			if err != nil {
				d.ctl.Kill()
				return err
			}
		} else {
			d.checkRestart(ctx, cl, life, plan[life-1].end, time.Since(t0))
		}
		if life == len(plan) {
			d.finalDrain(ctx, cl)
			d.checkFanout(ctx, cl)
			d.checkFIFODrained(ctx, cl)
			d.scrape(ctx, cl, life)
			if err := d.ctl.Stop(d.cfg.StopTimeout); err != nil {
				d.f.add(ChildFailure, "life %d (the last, stopped with SIGTERM): %v", life, err)
			}
			lost := d.ledger.Settle()
			d.logf("final drain: %d messages; %d acknowledged sends lost", d.ledger.Stats().FinalDrained, lost)
			return nil
		}
		d.runLife(ctx, cl, life, plan[life])
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// createQueues makes the soak's queues: the dead-letter queue first, since
// the work queue names it.
func createQueues(ctx context.Context, cl *api.Client) error {
	size := specs.Size(maxMessage)
	for _, q := range []struct {
		name string
		vt   time.Duration
		dlq  bool
	}{{dlqQueue, time.Second, false}, {holdQueue, 2 * time.Second, false}, {workQueue, time.Second, true}} {
		vt := specs.Duration(q.vt)
		s := api.QueueSettings{Name: q.name, VisibilityTimeout: &vt, MaxMessageSize: &size}
		if q.dlq {
			n, dlq := maxReceives, dlqQueue
			s.MaxReceives, s.DeadLetter = &n, &dlq
		}
		if _, err := cl.CreateQueue(ctx, s); err != nil {
			return fmt.Errorf("soak: create queue %s: %w", q.name, err)
		}
	}
	return nil
}

// runLife runs the clients for one life of the server and ends it with
// p.end while they still run.
func (d *driver) runLife(ctx context.Context, cl *api.Client, life int, p lifePlan) {
	wctx, stop := context.WithCancel(ctx)
	var g errgroup.Group
	for i := range d.cfg.Senders {
		g.Go(func() error { d.sender(wctx, cl, life, i); return nil })
	}
	g.Go(func() error { d.publisher(wctx, cl, life); return nil })
	g.Go(func() error { d.fifoSender(wctx, cl); return nil })
	g.Go(func() error { d.fifoReceiver(wctx, cl); return nil })
	for i, q := range []string{workQueue, workQueue, holdQueue, dlqQueue} {
		g.Go(func() error { d.receiver(wctx, cl, q, life, i); return nil })
	}
	g.Go(func() error {
		for sleep(wctx, 500*time.Millisecond) == nil {
			d.scrape(wctx, cl, life)
		}
		return nil
	})

	if p.diskFull {
		sleep(ctx, p.length/2)
		d.diskFullPhase(ctx, cl, life)
		sleep(ctx, p.length/2)
	} else {
		sleep(ctx, p.length)
	}
	d.scrape(ctx, cl, life)
	held := d.ledger.MustHold()
	var err error
	if p.end == syscall.SIGKILL {
		err = d.ctl.Kill()
	} else {
		err = d.ctl.Stop(d.cfg.StopTimeout)
	}
	if err != nil {
		d.f.add(ChildFailure, "life %d (ended by %s): %v", life, sigName(p.end), err)
	}
	stop()
	g.Wait()
	d.mu.Lock()
	d.signals[sigName(p.end)]++
	d.mu.Unlock()
	d.logf("life %d: ran %s, %s; about %d messages held; %d compactions logged so far",
		life, p.length.Round(time.Millisecond), sigName(p.end), held, d.ctl.CompactionsLogged())
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// checkRestart checks the server right after a restart, before any client
// runs: it is healthy, every queue is there, and it holds at least the
// messages whose sends were acknowledged and whose deletes were never
// attempted.
func (d *driver) checkRestart(ctx context.Context, cl *api.Client, life int, after syscall.Signal, took time.Duration) {
	if h, err := d.health(ctx, cl); err != nil || h.Code != 200 || h.Status != "ok" {
		d.f.add(ChildFailure, "life %d: health after a restart: %v %v, want 200 ok", life, h, err)
	}
	qs, err := d.queues(ctx, cl)
	if err != nil {
		d.f.add(Unexpected, "life %d: list queues after a restart: %v", life, err)
		return
	}
	held := 0
	found := map[string]bool{}
	for _, q := range qs {
		switch q.Name {
		case workQueue, holdQueue, dlqQueue:
			found[q.Name] = true
			held += q.Stats.Visible + q.Stats.InFlight + q.Stats.Delayed
		}
	}
	for _, q := range []string{workQueue, holdQueue, dlqQueue} {
		if !found[q] {
			d.f.add(MissingAtRestart, "queue %s missing after restart %d (%s)", q, life, sigName(after))
		}
	}
	acked := d.fanStats().Acked
	for _, q := range qs {
		if slices.Contains(fanQueues, q.Name) {
			if n := q.Stats.Visible + q.Stats.InFlight + q.Stats.Delayed; n < acked {
				d.f.addN(MissingAtRestart, acked-n, "after restart %d (%s) queue %s holds %d publishes, but %d were acknowledged",
					life, sigName(after), q.Name, n, acked)
			}
		}
	}
	must := d.ledger.MustHold()
	if held < must {
		d.f.addN(MissingAtRestart, must-held, "after restart %d (%s) the server holds %d messages, but %d sends were acknowledged and not deleted",
			life, sigName(after), held, must)
	}
	d.logf("life %d: up in %s after %s; holds %d messages, must hold at least %d",
		life, took.Round(time.Millisecond), sigName(after), held, must)
}

// scrape records the server's compaction counter for this life.
func (d *driver) scrape(ctx context.Context, cl *api.Client, life int) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	n, ok, err := scrapeCompactions(ctx, cl)
	if err != nil || !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.metricFound = true
	d.metricLife[life] = max(d.metricLife[life], n)
}

// sender sends batches of 1 to 10 messages of mixed sizes until ctx ends.
func (d *driver) sender(ctx context.Context, cl *api.Client, life, idx int) {
	rng := rand.New(rand.NewPCG(d.cfg.Seed, uint64(life)<<32|uint64(idx)))
	for ctx.Err() == nil {
		q := d.pickQueue(rng)
		if q == "" {
			sleep(ctx, 20*time.Millisecond)
			continue
		}
		sizes := make([]int, 1+rng.IntN(10))
		total := 0
		for i := range sizes {
			sizes[i] = messageSize(rng)
			total += sizes[i]
		}
		if d.pace.wait(ctx, total) != nil {
			return
		}
		msgs := make([]api.SendMessage, len(sizes))
		keys := make([]uint64, len(sizes))
		for i, size := range sizes {
			keys[i], msgs[i].Body = d.ledger.NewMessage(q, size)
		}
		var res []api.SendResult
		err := d.call(ctx, "send", func(ctx context.Context) (err error) {
			res, err = cl.Send(ctx, q, msgs...)
			return err
		})
		if err != nil {
			d.clientError("send", err)
			d.backOff(ctx, err)
			continue
		}
		if len(res) != len(msgs) {
			d.f.add(Unexpected, "a send of %d messages answered %d results", len(msgs), len(res))
			continue
		}
		for i, r := range res {
			if r.Error != nil {
				d.clientError("send entry", r.Error)
				continue
			}
			d.ledger.SendAcked(keys[i], r.ID)
		}
	}
}

// pickQueue chooses where the next batch goes: a quarter to the hold
// queue, the rest to the work queue, neither past its cap.
func (d *driver) pickQueue(rng *rand.Rand) string {
	if rng.IntN(4) == 0 && d.ledger.Outstanding(holdQueue) < holdCap {
		return holdQueue
	}
	if d.ledger.Outstanding(workQueue) < workCap {
		return workQueue
	}
	return ""
}

// messageSize draws a body size from 100 bytes to maxMessage: mostly
// small, a fifth medium, some large, some exactly the limit.
func messageSize(rng *rand.Rand) int {
	switch p := rng.IntN(100); {
	case p < 2:
		return maxMessage
	case p < 10:
		return 64<<10 + rng.IntN(maxMessage-64<<10)
	case p < 30:
		return 2<<10 + rng.IntN(62<<10)
	default:
		return 100 + rng.IntN(2<<10-100)
	}
}

// receiver receives from queue until ctx ends and deletes most of what it
// gets. It leaves some messages to come back when their visibility timeout
// runs out, never deletes poison messages from the work queue (they go to
// the dead-letter queue), and receives the hold queue slowly.
func (d *driver) receiver(ctx context.Context, cl *api.Client, queue string, life, idx int) {
	rng := rand.New(rand.NewPCG(d.cfg.Seed^0x5bd1e995, uint64(life)<<32|uint64(idx)))
	wait := specs.Duration(500 * time.Millisecond)
	for ctx.Err() == nil {
		if queue == holdQueue && sleep(ctx, 200*time.Millisecond) != nil {
			return
		}
		start := d.ledger.Tick()
		var msgs []api.Message
		err := d.call(ctx, "receive", func(ctx context.Context) (err error) {
			msgs, err = cl.Receive(ctx, queue, api.ReceiveRequest{Max: 10, Wait: &wait})
			return err
		})
		if err != nil {
			d.clientError("receive", err)
			d.backOff(ctx, err)
			continue
		}
		var del []api.Message
		for _, m := range msgs {
			d.ledger.Received(queue, m, start, false)
			if !leave(queue, m, rng) {
				del = append(del, m)
			}
		}
		d.delete(ctx, cl, queue, del)
	}
}

// leave decides whether a receiver leaves a message for later.
func leave(queue string, m api.Message, rng *rand.Rand) bool {
	switch queue {
	case workQueue:
		if key, ok := bodyKey(m.Body); ok && poison(key) {
			return true
		}
		return rng.IntN(100) < 15
	case holdQueue:
		return rng.IntN(2) == 0
	default:
		return rng.IntN(10) == 0
	}
}

// delete deletes msgs from queue and records each outcome.
func (d *driver) delete(ctx context.Context, cl *api.Client, queue string, msgs []api.Message) {
	if len(msgs) == 0 {
		return
	}
	receipts := make([]string, len(msgs))
	for i, m := range msgs {
		receipts[i] = m.Receipt
	}
	var res []api.DeleteResult
	err := d.call(ctx, "delete", func(ctx context.Context) (err error) {
		res, err = cl.Delete(ctx, queue, receipts...)
		return err
	})
	if err == nil && len(res) != len(msgs) {
		d.f.add(Unexpected, "a delete of %d receipts answered %d results", len(msgs), len(res))
		err = errors.New("wrong number of results")
	}
	if err != nil {
		d.clientError("delete", err)
		for _, m := range msgs {
			d.ledger.Deleted(m.ID, DeleteUnknown)
		}
		return
	}
	for i, r := range res {
		switch {
		case r.Error == nil:
			d.ledger.Deleted(msgs[i].ID, DeleteAcked)
		case r.Error.Code == "receipt_outdated":
			d.ledger.Deleted(msgs[i].ID, DeleteRefused)
		default:
			d.f.add(Unexpected, "delete of message %s from %s: %v", msgs[i].ID, queue, r.Error)
			d.ledger.Deleted(msgs[i].ID, DeleteUnknown)
		}
	}
}

// callTimeout bounds every call to the server: a server that takes longer
// to answer hangs.
const callTimeout = 20 * time.Second

// call runs one call to the server with callTimeout, and records a hang.
func (d *driver) call(ctx context.Context, op string, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := f(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		d.f.add(Hung, "the server did not answer a %s within %s", op, callTimeout)
	}
	return err
}

func (d *driver) queues(ctx context.Context, cl *api.Client) (qs []api.Queue, err error) {
	err = d.call(ctx, "list of queues", func(ctx context.Context) error {
		qs, err = cl.Queues(ctx)
		return err
	})
	return qs, err
}

func (d *driver) health(ctx context.Context, cl *api.Client) (h healthState, err error) {
	err = d.call(ctx, "health check", func(ctx context.Context) error {
		h, err = getHealth(ctx, cl)
		return err
	})
	return h, err
}

// backOff pauses a client after a failed call: briefly after an answer,
// longer when the server did not answer (it is probably down).
func (d *driver) backOff(ctx context.Context, err error) {
	var ae *api.Error
	if errors.As(err, &ae) {
		sleep(ctx, 50*time.Millisecond)
	} else {
		sleep(ctx, 250*time.Millisecond)
	}
}

// clientError counts a failed call by operation and answer.
func (d *driver) clientError(op string, err error) {
	label := op + ": no answer"
	var ae *api.Error
	if errors.As(err, &ae) {
		label = fmt.Sprintf("%s: %d %s", op, ae.Status, ae.Code)
	}
	d.mu.Lock()
	d.errs[label]++
	d.mu.Unlock()
}

// finalDrain receives and deletes everything left in the soak's queues,
// waiting for in-flight messages to come back, until the server reports
// them all empty.
func (d *driver) finalDrain(ctx context.Context, cl *api.Client) {
	deadline := time.Now().Add(d.cfg.DrainTimeout)
	zero, vt := specs.Duration(0), specs.Duration(30*time.Second)
	for {
		for _, q := range []string{workQueue, holdQueue, dlqQueue} {
			for {
				start := d.ledger.Tick()
				var msgs []api.Message
				err := d.call(ctx, "receive", func(ctx context.Context) (err error) {
					msgs, err = cl.Receive(ctx, q, api.ReceiveRequest{Max: 10, Wait: &zero, VisibilityTimeout: &vt})
					return err
				})
				if err != nil {
					d.f.add(Harness, "final drain: receive from %s: %v", q, err)
					return
				}
				if len(msgs) == 0 {
					break
				}
				for _, m := range msgs {
					d.ledger.Received(q, m, start, true)
				}
				d.delete(ctx, cl, q, msgs)
			}
		}
		qs, err := d.queues(ctx, cl)
		if err != nil {
			d.f.add(Harness, "final drain: list queues: %v", err)
			return
		}
		left := 0
		for _, q := range qs {
			switch q.Name {
			case workQueue, holdQueue, dlqQueue:
				left += q.Stats.Visible + q.Stats.InFlight + q.Stats.Delayed
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			d.f.add(Harness, "final drain: %d messages still in the queues after %s", left, d.cfg.DrainTimeout)
			return
		}
		if sleep(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
}

// pacer spreads sends so that all senders together send at most rate
// bytes per second; a zero rate does not pace.
type pacer struct {
	rate float64

	mu   sync.Mutex
	next time.Time
}

func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	p.mu.Unlock()
	return sleep(ctx, time.Until(at))
}

// sleep waits for d or until ctx ends, and returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errorSummary lists failed calls, most frequent first.
func errorSummary(errs map[string]int) string {
	type kv struct {
		k string
		n int
	}
	var l []kv
	for k, n := range errs {
		l = append(l, kv{k, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].k < l[j].k })
	var parts []string
	for _, e := range l {
		parts = append(parts, fmt.Sprintf("%s ×%d", e.k, e.n))
	}
	return strings.Join(parts, ", ")
}
