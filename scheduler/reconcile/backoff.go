package reconcile

import "time"

// withDefaults fills the zero fields of b and keeps MaxDelay from falling
// below Delay, so that a half-configured backoff still behaves sensibly.
func (b Backoff) withDefaults() Backoff {
	if b.Delay <= 0 {
		b.Delay = DefaultDelay
	}
	if b.MaxDelay <= 0 {
		b.MaxDelay = DefaultMaxDelay
	}
	if b.MaxDelay < b.Delay {
		b.MaxDelay = b.Delay
	}
	return b
}

// after returns how long to wait before replacing an allocation that is the
// failures-th consecutive failure of its index: Delay * 2^(failures-1),
// capped at MaxDelay. It doubles step by step and stops at the cap, so a
// long run of failures cannot overflow the duration.
func (b Backoff) after(failures int) time.Duration {
	d := b.Delay
	for i := 1; i < failures && d < b.MaxDelay; i++ {
		d *= 2
	}
	return min(d, b.MaxDelay)
}
