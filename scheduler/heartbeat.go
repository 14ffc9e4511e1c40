package scheduler

import (
	"sync"
	"time"
)

// heartbeats keeps one timer per ready node: a heartbeat resets it, and
// when it runs out the node is marked down. Heartbeats themselves are not
// written to the state — only the status changes they cause — so a
// thousand nodes heartbeating cost no disk writes.
type heartbeats struct {
	ttl, grace time.Duration
	expire     func(nodeID string)

	mu     sync.Mutex
	timers map[string]*time.Timer
}

func newHeartbeats(ttl, grace time.Duration, expire func(string)) *heartbeats {
	return &heartbeats{ttl: ttl, grace: grace, expire: expire, timers: map[string]*time.Timer{}}
}

// reset (re)starts a node's timer: it must heartbeat again within the TTL
// plus the grace period.
func (h *heartbeats) reset(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.timers[id]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(h.ttl+h.grace, func() {
		h.mu.Lock()
		current := h.timers[id] == t
		if current {
			delete(h.timers, id)
		}
		h.mu.Unlock()
		if current {
			h.expire(id)
		}
	})
	h.timers[id] = t
}

func (h *heartbeats) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, t := range h.timers {
		t.Stop()
		delete(h.timers, id)
	}
}
