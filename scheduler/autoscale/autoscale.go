// Package autoscale is the pure policy that turns a queue's figures into a
// job's desired count. The scheduler calls it on every queue event
// (arrival, receive, delete, visibility change) — never on a timer of its
// own but for the cooldown — and commits the decision.
package autoscale

import (
	"time"

	"github.com/docketd/docket/specs"
)

// Figures are the queue figures the policy reads.
type Figures struct {
	Visible  int // waiting to be received
	InFlight int // received, not yet deleted
	// Groups is, for a FIFO queue, how many message groups hold messages
	// (0 for a standard queue): a group's messages go one batch at a
	// time, so no more workers than groups can be busy at once.
	Groups int
}

// Decision is the policy's answer.
type Decision struct {
	// Desired is the count the job should have now.
	Desired int
	// LowSince is when the backlog first asked for fewer tasks than run;
	// zero while it does not. The caller keeps it for the next call.
	LowSince time.Time
	// RecheckAt, if set, is when the cooldown ends: the caller must call
	// again then even if no event arrives, so that scale-in happens.
	RecheckAt time.Time
}

// Want is the count the backlog asks for: one task per MessagesPerTask
// messages waiting or in flight, within the job's bounds.
func Want(s specs.Scaling, f Figures) int {
	per := max(s.MessagesPerTask, 1)
	backlog := max(f.Visible, 0) + max(f.InFlight, 0)
	want := (backlog + per - 1) / per
	if f.Groups > 0 {
		want = min(want, f.Groups) // the per-group backlog
	}
	return min(max(want, s.Min), s.Max)
}

// Decide returns the count a queue-scaled job should run. Scaling out is
// immediate: the first message to an idle job starts a task at once.
// Scaling in waits until the backlog has asked for fewer tasks for the
// whole cooldown, so a short lull does not stop workers that would be
// needed again a moment later.
func Decide(s specs.Scaling, f Figures, current int, lowSince, now time.Time) Decision {
	want := Want(s, f)
	switch {
	case want >= current:
		return Decision{Desired: want}
	case lowSince.IsZero():
		lowSince = now
	}
	end := lowSince.Add(s.Cooldown.Std())
	if !now.Before(end) {
		return Decision{Desired: want}
	}
	return Decision{Desired: current, LowSince: lowSince, RecheckAt: end}
}
