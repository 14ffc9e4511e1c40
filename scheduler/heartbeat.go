package scheduler

import (
	"time"
)

// heartbeats keeps one timer per ready node: a heartbeat resets it, and
// when it runs out the node is marked down. Heartbeats themselves are not
// written to the state — only the status changes they cause — so a
// thousand nodes heartbeating cost no disk writes.
type heartbeats struct {
	ttl, grace time.Duration
	expire     func(nodeID string)
	timers     timerSet
}

func newHeartbeats(ttl, grace time.Duration, expire func(string)) *heartbeats {
	return &heartbeats{ttl: ttl, grace: grace, expire: expire}
}

// reset (re)starts a node's timer: it must heartbeat again within the TTL
// plus the grace period.
func (h *heartbeats) reset(id string) {
	h.timers.after(id, h.ttl+h.grace, func() { h.expire(id) })
}

// stop cancels every timer and waits for an expiry in progress; no timer
// starts after it.
func (h *heartbeats) stop() { h.timers.stop() }
