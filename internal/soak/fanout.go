package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
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
const (
	fanTopic = "soak-fan"
	// fanCap bounds the publishes of a run, and fanMaxBody their size:
	// their queues are read only at the end, and must leave the disk-full
	// phase's small file system room.
	fanCap     = 1500
	fanMaxBody = 2048
)

var fanQueues = []string{"soak-fan-a", "soak-fan-b", "soak-fan-c"}

// fanout is what the publisher knows of its publishes.
type fanout struct {
	mu    sync.Mutex
	next  uint64
	tried map[uint64]bool // published, acknowledged or not
	acked map[uint64]bool
}

func newFanout() *fanout { return &fanout{tried: map[uint64]bool{}, acked: map[uint64]bool{}} }

// FanStats counts a run's publishes.
type FanStats struct {
	Published int `json:"published"`
	Acked     int `json:"acked"`
	// Partial counts publishes found in some but not all of their queues.
	Partial int `json:"partial"`
}

func createFanout(ctx context.Context, cl *api.Client) error {
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
	return nil
}

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
		if d.pace.wait(ctx, size*len(fanQueues)) != nil {
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
		if res.Delivered != len(fanQueues) {
			d.f.add(Unexpected, "publish %d delivered to %d queues, want %d", key, res.Delivered, len(fanQueues))
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
	d.fan.mu.Lock()
	defer d.fan.mu.Unlock()
	for key := range d.fan.tried {
		n := seen[key]
		switch {
		case d.fan.acked[key] && n < len(fanQueues):
			d.f.add(Lost, "acknowledged publish %d is in %d of its %d queues", key, n, len(fanQueues))
		case n > 0 && n < len(fanQueues):
			d.fanPartial++
			d.f.add(PartialPublish, "publish %d is in %d of its %d queues", key, n, len(fanQueues))
		}
	}
	for key := range seen {
		if !d.fan.tried[key] {
			d.f.add(WrongBody, "publish %d was never made", key)
		}
	}
}

func (d *driver) fanStats() FanStats {
	d.fan.mu.Lock()
	defer d.fan.mu.Unlock()
	return FanStats{Published: len(d.fan.tried), Acked: len(d.fan.acked), Partial: d.fanPartial}
}
