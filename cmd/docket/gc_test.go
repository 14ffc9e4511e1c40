package main

import "testing"

func TestGOGCFor(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		live uint64
		want int
	}{
		{0, 100},
		{4 * MiB, 1600}, // small heap: 64 MiB of headroom
		{32 * MiB, 200}, // still 64 MiB
		{64 * MiB, 100}, // headroom = live
		{96 * MiB, 100}, // at the cap
		{192 * MiB, 50}, // capped at 96 MiB
		{960 * MiB, 25}, // never below 25
	}
	for _, tt := range tests {
		if got := gogcFor(tt.live); got != tt.want {
			t.Errorf("gogcFor(%d MiB) = %d, want %d", tt.live/MiB, got, tt.want)
		}
	}
}
