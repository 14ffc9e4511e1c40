package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// The soak's topic: every publish goes, raw, to three queues that nobody
// reads until the end, so that the final check sees where each publish
// landed: every acknowledged one in all three, and none in only some
// (the fan-out is one record: all or none, whenever the server died).
// It goes to an HTTP endpoint too, served here, which refuses a tenth of
// its deliveries so that retries run across the restarts: by the end
// every publish in the queues must have reached it, at least once, and
// nothing else. The child server must let deliveries reach loopback
// (--endpoint-allow 127.0.0.0/8).
const (
	fanTopic = "soak-fan"
	// fanCap bounds the publishes of a run, and fanMaxBody their size:
	// their queues are read only at the end, and must leave the disk-full
	// phase's small file system room.
	fanCap     = 1500
	fanMaxBody = 2048
)

var fanQueues = []string{"soak-fan-a", "soak-fan-b", "soak-fan-c"}

// fanout is what the publisher knows of its publishes, and what the
// endpoint received.
type fanout struct {
	mu     sync.Mutex
	next   uint64
	tried  map[uint64]bool // published, acknowledged or not
	acked  map[uint64]bool
	hooked map[uint64]int // deliveries to the endpoint
	// refused counts the deliveries the endpoint answered 500 on purpose.
	refused int
	rng     *rand.Rand
	tokens  chan string // SubscriptionConfirmations' tokens
	hook    *httptest.Server
}

// hookPolicy retries the endpoint's deliveries every second or two, long
// enough to outlast a run's restarts.
const hookPolicy = `{"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 1, "maxDelayTarget": 2, "backoffFunction": "linear"}}`

func newFanout(seed uint64) *fanout {
	f := &fanout{tried: map[uint64]bool{}, acked: map[uint64]bool{}, hooked: map[uint64]int{},
		rng: rand.New(rand.NewPCG(seed, 0x600c)), tokens: make(chan string, 4)}
	f.hook = httptest.NewServer(http.HandlerFunc(f.serveHook))
	return f
}

// serveHook is the endpoint: it hands confirmations' tokens on and
// records the publishes delivered, refusing one in ten.
func (f *fanout) serveHook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Header.Get("x-amz-sns-message-type") == "SubscriptionConfirmation" {
		var c struct{ Token string }
		json.Unmarshal(body, &c)
		select {
		case f.tokens <- c.Token:
		default:
		}
		return
	}
	fields := strings.Fields(string(body))
	key, err := strconv.ParseUint(fields[min(1, len(fields)-1)], 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.IntN(10) == 0 {
		f.refused++
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if len(fields) < 2 || fields[0] != "fan" || err != nil {
		key = 0 // not a publish: the final check reports it
	}
	f.hooked[key]++
}

// FanStats counts a run's publishes.
type FanStats struct {
	Published int `json:"published"`
	Acked     int `json:"acked"`
	// Partial counts publishes found in some but not all of their queues,
	// or in the queues but never at the endpoint, or the other way.
	Partial int `json:"partial"`
	// Hooked counts the publishes the endpoint received; HookRedelivered
	// the deliveries beyond each one's first (at least once, as SNS), and
	// HookRefused those it refused on purpose.
	Hooked          int `json:"hooked"`
	HookRedelivered int `json:"hook_redelivered"`
	HookRefused     int `json:"hook_refused"`
}

func (d *driver) createFanout(ctx context.Context, cl *api.Client) error {
	size := specs.Size(maxMessage)
	if _, err := cl.CreateTopic(ctx, api.TopicSettings{Name: fanTopic}); err != nil {
		return fmt.Errorf("soak: create topic: %w", err)
	}
	for _, q := range fanQueues {
		if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: q, MaxMessageSize: &size}); err != nil {
			return fmt.Errorf("soak: create queue %s: %w", q, err)
		}
		if _, err := cl.Subscribe(ctx, fanTopic, api.SubscribeRequest{Protocol: "sqs", Endpoint: q, Raw: true}); err != nil {
			return fmt.Errorf("soak: subscribe %s: %w", q, err)
		}
	}
	if _, err := cl.Subscribe(ctx, fanTopic, api.SubscribeRequest{Protocol: "http", Endpoint: d.fan.hook.URL + "/soak",
		Raw: true, DeliveryPolicy: hookPolicy}); err != nil {
		return fmt.Errorf("soak: subscribe the endpoint: %w", err)
	}
	select {
	case token := <-d.fan.tokens:
		if _, err := cl.ConfirmSubscription(ctx, fanTopic, token); err != nil {
			return fmt.Errorf("soak: confirm the endpoint: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("soak: the endpoint got no SubscriptionConfirmation: %w", ctx.Err())
	}
	return nil
}

// fanTargets is what each publish is delivered to: the queues and the
// endpoint.
var fanTargets = len(fanQueues) + 1

// publisher publishes messages of mixed small sizes until ctx ends or the run
// has published fanCap.
func (d *driver) publisher(ctx context.Context, cl *api.Client, life int) {
	rng := rand.New(rand.NewPCG(d.cfg.Seed, uint64(life)<<32|0xfa))
	for ctx.Err() == nil {
		d.fan.mu.Lock()
		if len(d.fan.tried) >= fanCap {
			d.fan.mu.Unlock()
			return
		}
		d.fan.next++
		key := d.fan.next
		d.fan.tried[key] = true
		d.fan.mu.Unlock()
		size := 40 + rng.IntN(fanMaxBody-40)
		if d.pace.wait(ctx, size*fanTargets) != nil {
			return
		}
		body := "fan " + strconv.FormatUint(key, 10) + " " + strings.Repeat("f", max(0, size-32))
		var res *api.PublishResponse
		err := d.call(ctx, "publish", func(ctx context.Context) (err error) {
			res, err = cl.Publish(ctx, fanTopic, api.PublishRequest{Message: body})
			return err
		})
		if err != nil {
			d.clientError("publish", err)
			d.backOff(ctx, err)
			continue
		}
		if res.Delivered != fanTargets {
			d.f.add(Unexpected, "publish %d delivered to %d subscriptions, want %d", key, res.Delivered, fanTargets)
			continue
		}
		d.fan.mu.Lock()
		d.fan.acked[key] = true
		d.fan.mu.Unlock()
	}
}

// checkFanout drains the topic's queues and checks where each publish
// landed: an acknowledged one in every queue, any one in all or none,
// none twice.
func (d *driver) checkFanout(ctx context.Context, cl *api.Client) {
	zero, vt := specs.Duration(0), specs.Duration(5*time.Minute)
	seen := map[uint64]int{} // key → queues it is in
	for _, q := range fanQueues {
		inQueue := map[uint64]bool{}
		for {
			var msgs []api.Message
			err := d.call(ctx, "receive", func(ctx context.Context) (err error) {
				msgs, err = cl.Receive(ctx, q, api.ReceiveRequest{Max: 10, Wait: &zero, VisibilityTimeout: &vt})
				return err
			})
			if err != nil {
				d.f.add(Harness, "fan-out check: receive from %s: %v", q, err)
				return
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				f := strings.Fields(m.Body)
				key, err := strconv.ParseUint(f[min(1, len(f)-1)], 10, 64)
				if len(f) < 2 || f[0] != "fan" || err != nil {
					d.f.add(WrongBody, "queue %s holds %.40q, not a publish", q, m.Body)
					continue
				}
				if inQueue[key] {
					d.f.add(Duplicate, "publish %d is in queue %s twice", key, q)
					continue
				}
				inQueue[key] = true
				seen[key]++
			}
			receipts := make([]string, len(msgs))
			for i, m := range msgs {
				receipts[i] = m.Receipt
			}
			d.call(ctx, "delete", func(ctx context.Context) error { _, err := cl.Delete(ctx, q, receipts...); return err })
		}
	}
	// The endpoint's deliveries run behind: wait for every publish that
	// is in the queues (retries come a second or two apart; one in flight
	// when the server was killed comes back after its outbox's timeout).
	waitFor := func() (missing int) {
		d.fan.mu.Lock()
		defer d.fan.mu.Unlock()
		for key, n := range seen {
			if n == len(fanQueues) && d.fan.hooked[key] == 0 {
				missing++
			}
		}
		return missing
	}
	for deadline := time.Now().Add(hookWait); waitFor() > 0 && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(50 * time.Millisecond)
	}
	d.fan.mu.Lock()
	defer d.fan.mu.Unlock()
	for key := range d.fan.tried {
		n, hooked := seen[key], d.fan.hooked[key] > 0
		switch {
		case d.fan.acked[key] && n < len(fanQueues):
			d.f.add(Lost, "acknowledged publish %d is in %d of its %d queues", key, n, len(fanQueues))
		case d.fan.acked[key] && !hooked:
			d.f.add(Lost, "acknowledged publish %d never reached the endpoint", key)
		case n > 0 && n < len(fanQueues):
			d.fanPartial++
			d.f.add(PartialPublish, "publish %d is in %d of its %d queues", key, n, len(fanQueues))
		case (n == len(fanQueues)) != hooked:
			d.fanPartial++
			d.f.add(PartialPublish, "publish %d is in %d of its queues, and reached the endpoint: %v", key, n, hooked)
		}
	}
	for key := range seen {
		if !d.fan.tried[key] {
			d.f.add(WrongBody, "publish %d was never made", key)
		}
	}
	for key := range d.fan.hooked {
		if !d.fan.tried[key] {
			d.f.add(WrongBody, "the endpoint received %d, never published", key)
		}
	}
}

// hookWait bounds the final wait for the endpoint's deliveries: past the
// outbox's timeout (20 s) and a few retries.
const hookWait = 60 * time.Second

func (d *driver) fanStats() FanStats {
	d.fan.mu.Lock()
	defer d.fan.mu.Unlock()
	st := FanStats{Published: len(d.fan.tried), Acked: len(d.fan.acked), Partial: d.fanPartial, HookRefused: d.fan.refused}
	for _, n := range d.fan.hooked {
		st.Hooked++
		st.HookRedelivered += n - 1
	}
	return st
}
