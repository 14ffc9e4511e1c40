package autoscale

import (
	"testing"
	"time"

	"github.com/docketd/docket/specs"
)

func TestWant(t *testing.T) {
	s := specs.Scaling{Min: 0, Max: 8, MessagesPerTask: 10}
	tests := []struct {
		f    Figures
		want int
	}{
		{Figures{}, 0},
		{Figures{Visible: 1}, 1},
		{Figures{Visible: 10}, 1},
		{Figures{Visible: 11}, 2},
		{Figures{Visible: 5, InFlight: 6}, 2},
		{Figures{Visible: 1000}, 8},
		// A FIFO queue: no more workers than groups hold messages.
		{Figures{Visible: 1000, Groups: 3}, 3},
		{Figures{Visible: 15, Groups: 100}, 2},
	}
	for _, tt := range tests {
		if got := Want(s, tt.f); got != tt.want {
			t.Errorf("Want(%+v) = %d, want %d", tt.f, got, tt.want)
		}
	}
	if got := Want(specs.Scaling{Min: 2, Max: 5, MessagesPerTask: 0}, Figures{}); got != 2 {
		t.Errorf("an idle queue with min 2: got %d, want 2", got)
	}
	if got := Want(specs.Scaling{Min: 2, Max: 5, MessagesPerTask: 1}, Figures{Visible: 50, Groups: 1}); got != 2 {
		t.Errorf("one group with min 2: got %d, want 2", got)
	}
}

func TestDecideScalesOutAtOnceAndInAfterCooldown(t *testing.T) {
	s := specs.Scaling{Min: 0, Max: 10, MessagesPerTask: 5, Cooldown: specs.Duration(30 * time.Second)}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at      time.Duration
		f       Figures
		current int
		want    Decision
	}{
		{0, Figures{Visible: 1}, 0, Decision{Desired: 1}},
		{time.Second, Figures{Visible: 23}, 1, Decision{Desired: 5}},
		// The backlog drops: keep 5 through the cooldown.
		{2 * time.Second, Figures{Visible: 2}, 5, Decision{Desired: 5, LowSince: t0.Add(2 * time.Second), RecheckAt: t0.Add(32 * time.Second)}},
		{20 * time.Second, Figures{Visible: 0, InFlight: 3}, 5, Decision{Desired: 5, LowSince: t0.Add(2 * time.Second), RecheckAt: t0.Add(32 * time.Second)}},
		// The cooldown has passed: down to what the backlog asks.
		{32 * time.Second, Figures{InFlight: 3}, 5, Decision{Desired: 1}},
		{40 * time.Second, Figures{}, 1, Decision{Desired: 1, LowSince: t0.Add(40 * time.Second), RecheckAt: t0.Add(70 * time.Second)}},
		{70 * time.Second, Figures{}, 1, Decision{Desired: 0}},
	}
	lowSince := time.Time{}
	for i, st := range steps {
		got := Decide(s, st.f, st.current, lowSince, t0.Add(st.at))
		if got != st.want {
			t.Fatalf("step %d: got %+v, want %+v", i, got, st.want)
		}
		lowSince = got.LowSince
	}
	// A burst during the cooldown resets it.
	d := Decide(s, Figures{Visible: 30}, 5, t0, t0.Add(10*time.Second))
	if d.Desired != 6 || !d.LowSince.IsZero() {
		t.Fatalf("burst during cooldown: got %+v, want 6 and the cooldown reset", d)
	}
}
